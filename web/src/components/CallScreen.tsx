import { useEffect, useRef, useState } from 'preact/hooks';
import { duration, type CallSession, type IncomingCall } from '../calls.js';
import type { ChatStore } from '../store.js';
import { Avatar } from './Avatar.js';
import { Icon } from './Icon.js';

/** What a call shows over the app: the incoming call (while it rings), or the call in progress. */
export function CallScreen({ store }: { store: ChatStore }) {
  const calls = store.calls;
  if (calls.current) return <CallView session={calls.current} />;
  if (calls.incoming) return <Incoming call={calls.incoming} onAccept={() => void calls.accept()} onDecline={() => calls.decline()} />;
  if (calls.error) {
    return (
      <p class="call-error" role="alert">
        {calls.error}
      </p>
    );
  }
  return null;
}

/**
 * A call screen is modal: the rest of the app is inert while it shows, focus moves to
 * `first` (and back where it was when the screen closes), Escape runs `onEscape`.
 */
function useModal(section: { current: HTMLElement | null }, first: { current: HTMLElement | null }, onEscape: () => void): void {
  const escape = useRef(onEscape);
  escape.current = onEscape;
  useEffect(() => {
    const el = section.current;
    if (!el) return;
    const before = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const made: Element[] = [];
    // Everything beside the screen, up to the body, goes inert.
    for (let node: Element | null = el; node && node !== document.body; node = node.parentElement) {
      for (const sib of Array.from(node.parentElement?.children ?? [])) {
        if (sib === node || sib.hasAttribute('inert') || sib.tagName === 'SCRIPT') continue;
        sib.setAttribute('inert', '');
        made.push(sib);
      }
    }
    first.current?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape') return;
      e.preventDefault();
      escape.current();
    };
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('keydown', onKey);
      for (const sib of made) sib.removeAttribute('inert');
      if (before?.isConnected) before.focus();
    };
  }, []);
}

function Incoming({ call, onAccept, onDecline }: { call: IncomingCall; onAccept: () => void; onDecline: () => void }) {
  const kind = call.invite.video ? 'Video call' : 'Voice call';
  const section = useRef<HTMLElement>(null);
  const accept = useRef<HTMLButtonElement>(null);
  useModal(section, accept, onDecline);
  return (
    <section ref={section} class="call incoming" role="dialog" aria-modal="true" aria-label={`Incoming ${kind.toLowerCase()} from ${call.name}`}>
      <Avatar name={call.name} />
      <h2>{call.name}</h2>
      <p class="call-status" role="status">
        Incoming {kind.toLowerCase()}…
      </p>
      <div class="call-actions">
        <button type="button" class="call-button decline" onClick={onDecline} aria-label="Decline">
          <Icon name="hangup" /> Decline
        </button>
        <button ref={accept} type="button" class="call-button accept" onClick={onAccept} aria-label="Accept">
          <Icon name={call.invite.video ? 'video' : 'phone'} /> Accept
        </button>
      </div>
    </section>
  );
}

const STATUS = { calling: 'Calling…', ringing: 'Ringing…', connecting: 'Connecting…', connected: 'Connected' } as const;

function CallView({ session: s }: { session: CallSession }) {
  const remote = useRef<HTMLVideoElement>(null);
  const local = useRef<HTMLVideoElement>(null);
  const [, tick] = useState(0);
  const section = useRef<HTMLElement>(null);
  const hangup = useRef<HTMLButtonElement>(null);
  useModal(section, hangup, () => s.hangup());

  useEffect(() => {
    if (remote.current && remote.current.srcObject !== s.remoteStream) remote.current.srcObject = s.remoteStream;
    if (local.current && local.current.srcObject !== s.localStream) local.current.srcObject = s.localStream;
  });

  // The duration counts once connected.
  useEffect(() => {
    if (s.connectedAt === null) return;
    const timer = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(timer);
  }, [s.connectedAt]);

  const kind = s.video ? 'Video call' : 'Voice call';
  return (
    <section ref={section} class={`call active ${s.video ? 'video' : 'voice'}`} role="dialog" aria-modal="true" aria-label={`${kind} with ${s.peerName}`}>
      <video ref={remote} class="remote-video" autoPlay playsInline aria-label={`${s.peerName}'s video`} hidden={!s.video} />
      {!s.video && <Avatar name={s.peerName} />}
      <div class="call-head">
        <h2>{s.peerName}</h2>
        <p class="call-status">
          {/* The ticking timer stays outside the live region (it would be read out every second). */}
          <span role="status">{STATUS[s.phase]}</span>
          {s.connectedAt !== null && <time class="call-timer"> · {duration(Date.now() - s.connectedAt)}</time>}
        </p>
      </div>
      {s.video && <video ref={local} class="local-video" autoPlay playsInline muted aria-label="Your camera" />}
      <div class="call-actions">
        <button type="button" class="call-button" aria-pressed={s.muted} onClick={() => s.toggleMute()}>
          <Icon name={s.muted ? 'mic-off' : 'mic'} /> Mute
        </button>
        {s.video && (
          <button type="button" class="call-button" aria-pressed={!s.cameraOn} onClick={() => s.toggleCamera()}>
            <Icon name={s.cameraOn ? 'video' : 'video-off'} /> Camera off
          </button>
        )}
        <button ref={hangup} type="button" class="call-button decline" onClick={() => s.hangup()} aria-label="Hang up">
          <Icon name="hangup" /> Hang up
        </button>
      </div>
    </section>
  );
}
