import type { User } from '@natter/client';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import type { ChatStore } from '../store.js';
import { Dialog } from './Dialog.js';

type Visibility = 'everyone' | 'contacts' | 'nobody';

/** Privacy (who sees your last seen, whether you send read receipts), blocked people, sign out. */
export function Settings({ store, onClose, onSignOut }: { store: ChatStore; onClose: () => void; onSignOut: () => void }) {
  const [visibility, setVisibility] = useState<Visibility | null>(null);
  const [receipts, setReceipts] = useState<boolean | null>(null);
  const [blocked, setBlocked] = useState<User[]>([]);
  const [note, setNote] = useState<string | null>(null);

  useEffect(() => {
    api.me(store.client).then((me) => {
      setVisibility(me.last_seen_visibility);
      setReceipts(me.share_read_receipts);
    }, () => setNote('Could not load your settings'));
    api.blocks(store.client).then(setBlocked, () => undefined);
  }, [store]);

  const save = (patch: { last_seen_visibility?: Visibility; share_read_receipts?: boolean }) =>
    api.updateMe(store.client, patch).then(
      (me) => {
        setVisibility(me.last_seen_visibility);
        setReceipts(me.share_read_receipts);
        setNote('Saved');
      },
      (err: unknown) => setNote(err instanceof Error ? err.message : 'Could not save'),
    );

  const unblock = (u: User) =>
    api.unblock(store.client, u.id).then(
      () => setBlocked((all) => all.filter((b) => b.id !== u.id)),
      (err: unknown) => setNote(err instanceof Error ? err.message : 'Could not unblock'),
    );

  return (
    <Dialog title="Settings" onClose={onClose}>
      <section aria-labelledby="privacy-title">
        <h3 id="privacy-title">Privacy</h3>
        <label>
          Who sees when I was last online
          <select
            value={visibility ?? 'everyone'}
            disabled={visibility === null}
            onChange={(e) => void save({ last_seen_visibility: (e.currentTarget as HTMLSelectElement).value as Visibility })}
          >
            <option value="everyone">Everyone</option>
            <option value="contacts">People I chat with</option>
            <option value="nobody">Nobody</option>
          </select>
        </label>
        <label class="check">
          <input
            type="checkbox"
            checked={receipts ?? true}
            disabled={receipts === null}
            onChange={(e) => void save({ share_read_receipts: (e.currentTarget as HTMLInputElement).checked })}
          />
          Send read receipts
        </label>
        {note && <p role="status" class="hint">{note}</p>}
      </section>
      <section aria-labelledby="blocked-title">
        <h3 id="blocked-title">Blocked people</h3>
        {blocked.length === 0 ? (
          <p class="hint">You block nobody.</p>
        ) : (
          <ul class="people">
            {blocked.map((u) => (
              <li key={u.id} class="person">
                <span>{u.username}</span>
                <button type="button" onClick={() => void unblock(u)}>
                  Unblock {u.username}
                </button>
              </li>
            ))}
          </ul>
        )}
      </section>
      <button type="button" class="danger" onClick={onSignOut}>
        Sign out
      </button>
    </Dialog>
  );
}
