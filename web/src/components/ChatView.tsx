import type { Message, OutboxEntry } from '@natter/client';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { lastSeen } from '../format.js';
import type { ChatStore } from '../store.js';
import { Avatar } from './Avatar.js';
import { Composer, type Draft } from './Composer.js';
import { Icon } from './Icon.js';
import { InfoPanel } from './InfoPanel.js';
import { MessageItem, PendingItem } from './MessageItem.js';
import { SearchPanel } from './SearchPanel.js';

/**
 * One conversation: its history (oldest first, older pages loaded when scrolled to the
 * top), messages still in the outbox shown as pending, who is typing, and the composer.
 */
/** How near the top of the list (px) the next older page starts loading. */
const TOP_MARGIN_PX = 200;

export function ChatView(props: { store: ChatStore; conversationId: number; onBack: () => void; onLeft: () => void }) {
  const { store, conversationId: id } = props;
  const conv = store.conversation(id);
  const history = store.history(id);
  const pending = store.pending(id);
  const [draft, setDraft] = useState<Draft>({ kind: 'new' });
  const [panel, setPanel] = useState<'info' | 'search' | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const top = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const anchor = useRef<{ height: number; top: number } | null>(null);

  useEffect(() => {
    if (!store.histories.has(id)) void store.loadOlder(id);
  }, [store, id]);

  // Marks the conversation read whenever something new arrives while it is on screen.
  const lastSeq = history.messages.at(-1)?.seq ?? 0;
  useEffect(() => store.markSeen(id), [store, id, lastSeq, conv?.unread_count]);

  // Older pages: when the top of the list scrolls into view.
  useEffect(() => {
    const el = top.current;
    if (!el || !scroller.current) return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting) && store.history(id).messages.length > 0) loadOlder();
      },
      { root: scroller.current, rootMargin: `${TOP_MARGIN_PX}px 0px 0px 0px` },
    );
    observer.observe(el);
    return () => observer.disconnect();
    // The list (and so the sentinel) is there once the conversation is known.
  }, [store, id, conv !== undefined]);

  /** At the top with older pages to load, none loading and the last not failed (the button retries). */
  const nearTop = (el: HTMLElement) => {
    const h = store.history(id);
    return !h.loading && !h.failed && h.hasMore && h.messages.length > 0 && el.scrollTop < TOP_MARGIN_PX;
  };

  const loadOlder = () => {
    const el = scroller.current;
    if (el) anchor.current = { height: el.scrollHeight, top: el.scrollTop };
    void store.loadOlder(id);
  };

  // Keeps the view at the bottom for new messages, and in place when older ones load above.
  const count = history.messages.length + pending.length;
  const firstSeq = history.messages[0]?.seq;
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (anchor.current && !history.loading) {
      el.scrollTop = anchor.current.top + (el.scrollHeight - anchor.current.height);
      anchor.current = null;
    } else if (stick.current) {
      el.scrollTop = el.scrollHeight;
    }
    // The observer tells only when the top comes into view: if it is still in view once a
    // page is in (a first page too short to scroll, or the top reached while a page was
    // loading), the next page loads now, not at a scroll that may never come.
    if (nearTop(el)) loadOlder();
  }, [count, firstSeq, history.loading]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    // Also here: a scroll back to the top within the frame that put the older page in
    // place is one the observer never sees (it compares states frame by frame).
    if (nearTop(el)) loadOlder();
  };

  if (!conv) {
    return (
      <div class="empty">
        <p>{store.conversationsLoaded ? 'This conversation is not yours, or it is gone.' : 'Loading…'}</p>
      </div>
    );
  }

  const title = store.title(conv);
  const peer = conv.type === 'direct' ? store.peer(conv) : undefined;
  const typers = store.typers(id).map((u) => conv.participants.find((p) => p.id === u)?.username ?? 'someone');
  const byId = new Map(history.messages.map((m) => [m.id, m] as const));
  const subtitle = peer
    ? store.isOnline(peer.id)
      ? 'online'
      : lastSeen(store.client.presence.get(peer.id)?.last_seen ?? peer.last_seen)
    : `${conv.participants.length} members`;
  const me = store.me;
  const myRole = conv.participants.find((p) => p.id === me?.id)?.role;
  const canPost = conv.type === 'direct' || !conv.settings.only_admins_can_post || myRole !== 'member';

  return (
    <section class="chat" aria-label={`Chat with ${title}`}>
      <header class="bar chat-bar">
        <button type="button" class="icon back" onClick={props.onBack} aria-label="Back to chats" title="Back to chats">
          <Icon name="back" />
        </button>
        <Avatar name={title} online={peer ? store.isOnline(peer.id) : undefined} />
        <div class="chat-title">
          <h2>{title}</h2>
          <p class="subtitle" aria-live="polite">
            {typers.length > 0 ? <span class="typing">{typers.join(', ')} {typers.length > 1 ? 'are' : 'is'} typing…</span> : subtitle}
          </p>
        </div>
        {peer && (
          <>
            <button type="button" class="icon" aria-label="Voice call" title="Voice call" disabled={store.calls.busy || !store.online} onClick={() => void store.calls.call(id, false, title)}>
              <Icon name="phone" />
            </button>
            <button type="button" class="icon" aria-label="Video call" title="Video call" disabled={store.calls.busy || !store.online} onClick={() => void store.calls.call(id, true, title)}>
              <Icon name="video" />
            </button>
          </>
        )}
        <button type="button" class="icon" aria-label="Search messages" aria-pressed={panel === 'search'} onClick={() => setPanel(panel === 'search' ? null : 'search')}>
          <Icon name="search" />
        </button>
        <button type="button" class="icon" aria-label={conv.type === 'group' ? 'Group info' : 'Chat info'} aria-pressed={panel === 'info'} onClick={() => setPanel(panel === 'info' ? null : 'info')}>
          <Icon name="info" />
        </button>
      </header>
      <div class="chat-body">
        <div class="messages" ref={scroller} onScroll={onScroll}>
          <div ref={top} class="top-sentinel" />
          {history.hasMore && history.messages.length > 0 && (
            <button type="button" class="link load-older" onClick={loadOlder} disabled={history.loading}>
              {history.loading ? 'Loading…' : 'Load older messages'}
            </button>
          )}
          {!history.hasMore && history.messages.length > 0 && <p class="hint">This is the start of the conversation.</p>}
          <ol class="message-list" aria-label="Messages" aria-live="polite" aria-relevant="additions">
            {history.messages.map((m: Message) => (
              <MessageItem
                key={m.seq}
                store={store}
                conv={conv}
                message={m}
                replyTo={m.reply_to_id ? byId.get(m.reply_to_id) : undefined}
                onReply={() => setDraft({ kind: 'reply', to: m })}
                onEdit={() => setDraft({ kind: 'edit', message: m })}
              />
            ))}
            {pending.map((e: OutboxEntry) => (
              <PendingItem key={e.client_id} store={store} entry={e} />
            ))}
          </ol>
        </div>
        {panel === 'info' && <InfoPanel store={store} conv={conv} onClose={() => setPanel(null)} onLeft={props.onLeft} />}
        {panel === 'search' && <SearchPanel store={store} conv={conv} onClose={() => setPanel(null)} />}
      </div>
      {canPost ? (
        <Composer store={store} conv={conv} draft={draft} onDraft={setDraft} />
      ) : (
        <p class="hint composer-off">Only admins can send messages here.</p>
      )}
    </section>
  );
}
