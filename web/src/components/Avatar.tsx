import { initials } from '../format.js';

/** Initials on a colour picked from the name, with a presence dot when `online` is known. */
export function Avatar({ name, online }: { name: string; online?: boolean | undefined }) {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)!) % 360;
  return (
    <span class="avatar" style={{ background: `hsl(${hash} 55% 45%)` }} aria-hidden={online === undefined ? 'true' : undefined}>
      <span aria-hidden="true">{initials(name)}</span>
      {online !== undefined && (
        <span class={`dot ${online ? 'online' : 'offline'}`} role="img" aria-label={online ? 'online' : 'offline'} />
      )}
    </span>
  );
}
