import type { Attachment, Conversation, Message, OutboxEntry } from '@natter/client';
import { useState } from 'preact/hooks';
import { callLabel } from '../calls.js';
import { bytes, timeOf } from '../format.js';
import type { ChatStore } from '../store.js';
import { Icon } from './Icon.js';

const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮', '😢'];

const TICKS = {
  sent: { mark: '✓', label: 'Sent' },
  delivered: { mark: '✓✓', label: 'Delivered' },
  read: { mark: '✓✓', label: 'Read' },
} as const;

/** One message: who and when, its reply, text, attachments, reactions, ticks and actions. */
export function MessageItem(props: {
  store: ChatStore;
  conv: Conversation;
  message: Message;
  replyTo: Message | undefined;
  onReply: () => void;
  onEdit: () => void;
}) {
  const { store, conv, message: m } = props;
  const [menu, setMenu] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (m.type === 'system') {
    return (
      <li class="system" aria-label={m.content}>
        <span>{m.content}</span>
      </li>
    );
  }
  if (m.type === 'call' && m.call && m.deleted_at === null) return <CallItem store={store} message={m} />;
  const mine = m.sender_id === store.me?.id;
  const deleted = m.deleted_at !== null;
  const status = mine ? store.statusOf(m) : null;
  const run = (action: () => Promise<unknown>) => {
    setMenu(false);
    setError(null);
    action().catch((err: unknown) => setError(err instanceof Error ? err.message : 'That did not work'));
  };
  const react = (emoji: string, on: boolean) => run(() => store.client.react(conv.id, m.id, emoji, on));

  return (
    <li class={`message ${mine ? 'mine' : 'theirs'}`} aria-label={`${mine ? 'You' : (m.sender?.username ?? 'Deleted user')}: ${deleted ? 'message deleted' : m.content}`}>
      <div class="bubble">
        {conv.type === 'group' && !mine && <p class="sender">{m.sender?.username ?? 'Deleted user'}</p>}
        {props.replyTo && (
          <blockquote class="quote" aria-label={`Reply to ${props.replyTo.sender?.username ?? 'a message'}`}>
            <strong>{props.replyTo.sender?.username}</strong> {props.replyTo.deleted_at ? 'Message deleted' : props.replyTo.content || 'Attachment'}
          </blockquote>
        )}
        {!props.replyTo && m.reply_to_id && <blockquote class="quote">Reply to an earlier message</blockquote>}
        {deleted ? (
          <p class="content deleted">Message deleted</p>
        ) : (
          <>
            {m.attachments.map((a) => (
              <AttachmentView key={a.id} attachment={a} />
            ))}
            {m.content && <p class="content">{m.content}</p>}
          </>
        )}
        <p class="meta">
          {m.edited_at && !deleted && <span class="edited">edited</span>}
          <time dateTime={m.created_at}>{timeOf(m.created_at)}</time>
          {status && (
            <span class={`ticks ${status}`} aria-label={TICKS[status].label} title={TICKS[status].label}>
              {TICKS[status].mark}
            </span>
          )}
        </p>
        {m.reactions.length > 0 && (
          <ul class="reactions" aria-label="Reactions">
            {m.reactions.map((r) => (
              <li key={r.emoji}>
                <button
                  type="button"
                  class={r.me ? 'reaction me' : 'reaction'}
                  aria-pressed={r.me}
                  aria-label={`${r.emoji} ${r.count}`}
                  onClick={() => react(r.emoji, !r.me)}
                  disabled={deleted}
                >
                  {r.emoji} {r.count}
                </button>
              </li>
            ))}
          </ul>
        )}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </div>
      {!deleted && (
        <div class="actions">
          <button type="button" class="icon small" aria-label="Reply" title="Reply" onClick={props.onReply}>
            <Icon name="reply" size={16} />
          </button>
          <button type="button" class="icon small" aria-label="More actions" aria-expanded={menu} onClick={() => setMenu(!menu)}>
            <Icon name="more" size={16} />
          </button>
          {menu && (
            <div
              class="menu"
              role="group"
              aria-label="Message actions"
              onKeyDown={(e) => {
                if (e.key === 'Escape') setMenu(false);
              }}
              onFocusOut={(e) => {
                // Closes when focus (a click or Tab) leaves the message's actions.
                const next = e.relatedTarget as Node | null;
                if (!next || !(e.currentTarget as HTMLElement).parentElement?.contains(next)) setMenu(false);
              }}
            >
              <div class="quick" role="group" aria-label="React">
                {QUICK_REACTIONS.map((e) => (
                  <button key={e} type="button" class="icon small" aria-label={`React ${e}`} onClick={() => react(e, !m.reactions.some((r) => r.emoji === e && r.me))}>
                    {e}
                  </button>
                ))}
              </div>
              {mine && m.content !== '' && (
                <button type="button" onClick={() => { setMenu(false); props.onEdit(); }}>
                  Edit
                </button>
              )}
              {mine && (
                <button type="button" onClick={() => run(() => store.client.delete(conv.id, m.id, true))}>
                  Delete for everyone
                </button>
              )}
              <button type="button" onClick={() => run(() => store.client.delete(conv.id, m.id, false))}>
                Delete for me
              </button>
            </div>
          )}
        </div>
      )}
    </li>
  );
}

/** A call's record in the history: what kind, how it went, how long; kept current by message_updated. */
function CallItem({ store, message: m }: { store: ChatStore; message: Message }) {
  const call = m.call!;
  const me = store.me?.id;
  const label = callLabel(call, me);
  const mine = call.caller_id === me;
  const missed = !mine && call.outcome === 'missed';
  return (
    <li class={`message call-message ${mine ? 'mine' : 'theirs'}`} aria-label={label}>
      <div class={`bubble call-entry ${missed ? 'missed' : ''}`}>
        <Icon name={call.video ? 'video' : 'phone'} size={18} />
        <p class="content">{label}</p>
        <p class="meta">
          <time dateTime={m.created_at}>{timeOf(m.created_at)}</time>
        </p>
      </div>
    </li>
  );
}

function AttachmentView({ attachment: a }: { attachment: Attachment }) {
  if (a.kind === 'image') {
    return (
      <a class="attachment image" href={a.url} target="_blank" rel="noopener">
        <img src={a.thumbnail_url ?? a.url} alt={a.name} width={a.width ?? undefined} height={a.height ?? undefined} loading="lazy" />
      </a>
    );
  }
  if (a.kind === 'video') return <video class="attachment" src={a.url} controls preload="metadata" aria-label={a.name} />;
  if (a.kind === 'audio') return <audio class="attachment" src={a.url} controls preload="metadata" aria-label={a.name} />;
  return (
    <a class="attachment file" href={a.url} download={a.name}>
      <Icon name="file" size={16} /> {a.name} <span class="size">({bytes(a.size)})</span>
    </a>
  );
}

/** A message in the outbox: not yet acknowledged by the server (offline, or on its way). */
export function PendingItem({ store, entry }: { store: ChatStore; entry: OutboxEntry }) {
  const failed = entry.status === 'failed';
  return (
    <li class="message mine pending" aria-label={`You: ${entry.content}`}>
      <div class="bubble">
        {entry.content && <p class="content">{entry.content}</p>}
        {(entry.attachment_ids?.length ?? 0) > 0 && <p class="hint">with an attachment</p>}
        <p class="meta">
          {failed ? (
            <>
              <span class="error" role="alert">Not sent: {entry.error ?? 'refused'}</span>{' '}
              <button type="button" class="link" onClick={() => store.client.outbox.retry(entry.client_id)}>
                Retry
              </button>{' '}
              <button type="button" class="link" onClick={() => store.client.outbox.discard(entry.client_id)}>
                Discard
              </button>
            </>
          ) : (
            <span class="ticks pending" aria-label="Pending" title="Waiting to be sent">
              <Icon name="clock" size={14} />
            </span>
          )}
        </p>
      </div>
    </li>
  );
}
