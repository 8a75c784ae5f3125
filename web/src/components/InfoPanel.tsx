import type { Conversation, User } from '@natter/client';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import type { ChatStore } from '../store.js';
import { Avatar } from './Avatar.js';
import { Icon } from './Icon.js';

/**
 * A group's members with their roles and the actions the caller's role allows (add,
 * remove, make admin, hand ownership over, rename, leave); for a direct chat, the other
 * person and block/unblock.
 */
export function InfoPanel({ store, conv, onClose, onLeft }: { store: ChatStore; conv: Conversation; onClose: () => void; onLeft: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const me = store.me;
  const myRole = conv.participants.find((p) => p.id === me?.id)?.role ?? 'member';
  const isAdmin = myRole === 'owner' || myRole === 'admin';
  const fail = (err: unknown) => setError(err instanceof Error ? err.message : 'That did not work');
  const refresh = (c: Conversation) => store.upsertConversation(c);

  return (
    <aside class="panel" aria-label={conv.type === 'group' ? 'Group info' : 'Chat info'}>
      <header class="bar">
        <h3>{conv.type === 'group' ? 'Group info' : 'Chat info'}</h3>
        <button type="button" class="icon" aria-label="Close info" onClick={onClose}>
          <Icon name="close" />
        </button>
      </header>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {conv.type === 'direct' ? (
        <DirectInfo store={store} conv={conv} onError={fail} />
      ) : (
        <>
          {(isAdmin || !conv.settings.only_admins_can_edit_info) && <Rename store={store} conv={conv} onDone={refresh} onError={fail} />}
          <h4>{conv.participants.length} members</h4>
          <ul class="people" aria-label="Members">
            {conv.participants.map((p) => (
              <li key={p.id} class="person">
                <Avatar name={p.username} online={store.isOnline(p.id)} />
                <span class="grow">
                  {p.username}
                  {p.id === me?.id ? ' (you)' : ''} {p.role !== 'member' && <span class="role">{p.role}</span>}
                </span>
                {p.id !== me?.id && myRole === 'owner' && (
                  <button type="button" class="small" onClick={() => void api.setRole(store.client, conv.id, p.id, p.role === 'admin' ? 'member' : 'admin').then(refresh, fail)}>
                    {p.role === 'admin' ? `Make ${p.username} a member` : `Make ${p.username} admin`}
                  </button>
                )}
                {p.id !== me?.id && isAdmin && p.role !== 'owner' && (myRole === 'owner' || p.role === 'member') && (
                  <button
                    type="button"
                    class="small danger"
                    onClick={() =>
                      void api.removeMember(store.client, conv.id, p.id).then(() => store.loadConversations(), fail)
                    }
                  >
                    Remove {p.username}
                  </button>
                )}
              </li>
            ))}
          </ul>
          {(isAdmin || !conv.settings.only_admins_can_add) && <AddMembers store={store} conv={conv} onDone={refresh} onError={fail} />}
          <button
            type="button"
            class="danger"
            onClick={() =>
              void api.removeMember(store.client, conv.id, me!.id).then(async () => {
                await store.loadConversations();
                onLeft();
              }, fail)
            }
          >
            Leave group
          </button>
        </>
      )}
    </aside>
  );
}

function DirectInfo({ store, conv, onError }: { store: ChatStore; conv: Conversation; onError: (e: unknown) => void }) {
  const peer = store.peer(conv);
  const [blocked, setBlocked] = useState<boolean | null>(null);
  useEffect(() => {
    api.blocks(store.client).then((list) => setBlocked(list.some((u) => u.id === peer?.id)), onError);
  }, [store, peer?.id]);
  if (!peer) return null;
  return (
    <div class="direct-info">
      <Avatar name={peer.username} online={store.isOnline(peer.id)} />
      <p>
        <strong>{peer.username}</strong>
      </p>
      <p class="hint">{peer.email}</p>
      {blocked !== null && (
        <button
          type="button"
          class={blocked ? '' : 'danger'}
          onClick={() =>
            void (blocked ? api.unblock(store.client, peer.id) : api.block(store.client, peer.id)).then(() => setBlocked(!blocked), onError)
          }
        >
          {blocked ? `Unblock ${peer.username}` : `Block ${peer.username}`}
        </button>
      )}
    </div>
  );
}

function Rename({ store, conv, onDone, onError }: { store: ChatStore; conv: Conversation; onDone: (c: Conversation) => void; onError: (e: unknown) => void }) {
  const [name, setName] = useState(conv.name ?? '');
  return (
    <form
      class="inline-form"
      onSubmit={(e) => {
        e.preventDefault();
        if (name.trim() && name.trim() !== conv.name) void api.renameGroup(store.client, conv.id, name.trim()).then(onDone, onError);
      }}
    >
      <label>
        Group name
        <input value={name} maxLength={100} onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} />
      </label>
      <button type="submit">Rename</button>
    </form>
  );
}

function AddMembers({ store, conv, onDone, onError }: { store: ChatStore; conv: Conversation; onDone: (c: Conversation) => void; onError: (e: unknown) => void }) {
  const [query, setQuery] = useState('');
  const [found, setFound] = useState<User[]>([]);
  useEffect(() => {
    if (!query.trim()) return setFound([]);
    let current = true;
    const timer = setTimeout(() => {
      api.searchUsers(store.client, query.trim()).then((users) => current && setFound(users.filter((u) => !conv.participants.some((p) => p.id === u.id))), onError);
    }, 150);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [store, query, conv.participants]);
  return (
    <div class="add-members">
      <label>
        Add people
        <input type="search" value={query} onInput={(e) => setQuery((e.currentTarget as HTMLInputElement).value)} />
      </label>
      <ul class="people">
        {found.map((u) => (
          <li key={u.id} class="person">
            <span class="grow">{u.username}</span>
            <button type="button" class="small" onClick={() => void api.addMembers(store.client, conv.id, [u.id]).then(onDone, onError)}>
              Add {u.username}
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
