import type { User } from '@natter/client';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import type { ChatStore } from '../store.js';
import { Avatar } from './Avatar.js';
import { Dialog } from './Dialog.js';

/** Find people by name: one click opens the direct chat, or tick several and name a group. */
export function NewChat({ store, onClose, onCreated }: { store: ChatStore; onClose: () => void; onCreated: (id: number) => void }) {
  const [mode, setMode] = useState<'direct' | 'group'>('direct');
  const [query, setQuery] = useState('');
  const [users, setUsers] = useState<User[]>([]);
  const [picked, setPicked] = useState<User[]>([]);
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let current = true;
    const timer = setTimeout(() => {
      api.searchUsers(store.client, query.trim()).then(
        (found) => current && setUsers(found),
        (err: unknown) => current && setError(err instanceof Error ? err.message : 'Search failed'),
      );
    }, 150);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [store, query]);

  const fail = (err: unknown) => setError(err instanceof Error ? err.message : 'That did not work');
  const openDirect = (u: User) =>
    api.direct(store.client, u.id).then((conv) => {
      store.upsertConversation(conv);
      onCreated(conv.id);
    }, fail);
  const createGroup = (e: Event) => {
    e.preventDefault();
    if (!name.trim()) return setError('Give the group a name');
    api.group(store.client, name.trim(), picked.map((u) => u.id)).then((conv) => {
      store.upsertConversation(conv);
      onCreated(conv.id);
    }, fail);
  };
  const toggle = (u: User) => setPicked((all) => (all.some((p) => p.id === u.id) ? all.filter((p) => p.id !== u.id) : [...all, u]));

  return (
    <Dialog title={mode === 'direct' ? 'New chat' : 'New group'} onClose={onClose}>
      <div class="tabs" role="group" aria-label="Kind of chat">
        <button type="button" aria-pressed={mode === 'direct'} onClick={() => setMode('direct')}>
          Direct
        </button>
        <button type="button" aria-pressed={mode === 'group'} onClick={() => setMode('group')}>
          Group
        </button>
      </div>
      <form onSubmit={mode === 'group' ? createGroup : (e) => e.preventDefault()}>
        {mode === 'group' && (
          <label>
            Group name
            <input value={name} maxLength={100} onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} />
          </label>
        )}
        <label>
          Search people
          <input type="search" value={query} autoFocus onInput={(e) => setQuery((e.currentTarget as HTMLInputElement).value)} />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <ul class="people" aria-label="People">
          {users.map((u) => (
            <li key={u.id}>
              {mode === 'direct' ? (
                <button type="button" class="person" onClick={() => void openDirect(u)}>
                  <Avatar name={u.username} online={u.status === 'online'} /> <span>{u.username}</span>
                </button>
              ) : (
                <label class="person">
                  <input type="checkbox" checked={picked.some((p) => p.id === u.id)} onChange={() => toggle(u)} />
                  <Avatar name={u.username} /> <span>{u.username}</span>
                </label>
              )}
            </li>
          ))}
          {users.length === 0 && <li class="hint">Nobody found.</li>}
        </ul>
        {mode === 'group' && (
          <button type="submit" class="primary">
            Create group{picked.length ? ` with ${picked.length}` : ''}
          </button>
        )}
      </form>
    </Dialog>
  );
}
