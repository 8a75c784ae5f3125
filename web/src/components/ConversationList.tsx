import type { Conversation } from '@natter/client';
import { useState } from 'preact/hooks';
import { callLabel } from '../calls.js';
import { timeOf } from '../format.js';
import type { ChatStore } from '../store.js';
import { Avatar } from './Avatar.js';
import { Icon } from './Icon.js';

/** The conversations, latest activity first: last message, unread badge, presence, filter. */
export function ConversationList(props: {
  store: ChatStore;
  openId: number | null;
  onOpen: (id: number) => void;
  onNew: () => void;
  onSettings: () => void;
}) {
  const { store } = props;
  const [filter, setFilter] = useState('');
  const needle = filter.trim().toLowerCase();
  const shown = store.conversations.filter(
    (c) => !c.my_settings.archived && (!needle || store.title(c).toLowerCase().includes(needle)),
  );
  const me = store.me;

  return (
    <nav class="sidebar" aria-label="Conversations">
      <header class="bar">
        <h1 class="brand">natter</h1>
        <span class="me" title={me?.email}>
          {me?.username}
        </span>
        <button type="button" class="icon" onClick={props.onNew} aria-label="New chat" title="New chat">
          <Icon name="plus" />
        </button>
        <button type="button" class="icon" onClick={props.onSettings} aria-label="Settings" title="Settings">
          <Icon name="settings" />
        </button>
      </header>
      <div class="filter">
        <input
          type="search"
          placeholder="Search chats"
          aria-label="Search chats"
          value={filter}
          onInput={(e) => setFilter((e.currentTarget as HTMLInputElement).value)}
        />
      </div>
      {store.conversationsLoaded && shown.length === 0 && (
        <p class="hint">{needle ? 'No chat matches.' : 'No chats yet: start one with the + button.'}</p>
      )}
      <ul class="conversations">
        {shown.map((c) => (
          <Row key={c.id} store={store} conv={c} active={c.id === props.openId} onOpen={props.onOpen} />
        ))}
      </ul>
    </nav>
  );
}

function Row({ store, conv, active, onOpen }: { store: ChatStore; conv: Conversation; active: boolean; onOpen: (id: number) => void }) {
  const title = store.title(conv);
  const peer = conv.type === 'direct' ? store.peer(conv) : undefined;
  const online = peer ? store.isOnline(peer.id) : false;
  const last = conv.messages[0];
  const unread = active ? 0 : store.unread(conv.id);
  const typing = store.typers(conv.id).length > 0;
  let preview = '';
  if (typing) preview = 'typing…';
  else if (last) {
    const who = last.sender_id === store.me?.id ? 'You: ' : conv.type === 'group' && last.sender ? `${last.sender.username}: ` : '';
    const body = last.deleted_at ? 'Message deleted' : last.content || (last.attachments.length ? `Attachment: ${last.attachments[0]!.name}` : '');
    preview = last.type === 'system' ? last.content : last.type === 'call' && last.call ? callLabel(last.call, store.me?.id) : `${who}${body}`;
  }
  return (
    <li>
      <a
        href={`/c/${conv.id}`}
        class={`row ${active ? 'active' : ''}`}
        aria-current={active ? 'page' : undefined}
        onClick={(e) => {
          e.preventDefault();
          onOpen(conv.id);
        }}
      >
        <Avatar name={title} online={peer ? online : undefined} />
        <span class="row-main">
          <span class="row-top">
            <span class="row-title">{title}</span>
            <span class="row-time">{timeOf(last?.created_at ?? conv.last_message_at)}</span>
          </span>
          <span class="row-bottom">
            <span class={`row-preview ${typing ? 'typing' : ''}`}>{preview}</span>
            {conv.my_settings.muted_until && Date.parse(conv.my_settings.muted_until) > Date.now() && <span aria-label="muted" title="muted">🔕</span>}
            {unread > 0 && (
              <span class="badge" aria-label={`${unread} unread`}>
                {unread}
              </span>
            )}
          </span>
        </span>
      </a>
    </li>
  );
}
