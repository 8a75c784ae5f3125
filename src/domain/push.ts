/** What a push notification says, by PUSH_PREVIEW. */

export const PUSH_PREVIEWS = ['full', 'sender', 'none'] as const;
export type PushPreview = (typeof PUSH_PREVIEWS)[number];

/** Longest notification body, in characters (providers cut further to their payload limits). */
export const MAX_BODY_CHARS = 200;

const KIND_LABELS: Record<string, string> = {
  image: '📷 Photo',
  video: '🎥 Video',
  audio: '🎤 Audio',
  file: '📎 File',
};

export interface NotifiedMessage {
  conversationType: 'direct' | 'group';
  conversationName: string | null;
  senderName: string;
  /** The message's type; an attachment's kind names it when the type is text. */
  type: string;
  content: string;
  attachmentKinds: string[];
  /** Messages the notification stands for. */
  count: number;
}

/**
 * The title and body: `full` shows who and what ("Alice" / "See you at 8"; in a group
 * "Team" / "Alice: See you at 8"; an attachment as "📷 Photo" and its caption), `sender`
 * only who ("New message from Alice", not even the group), `none` nothing identifying
 * ("New message").
 */
export function notificationText(preview: PushPreview, m: NotifiedMessage): { title: string | null; body: string } {
  const many = m.count > 1;
  if (preview === 'none') return { title: null, body: many ? `${m.count} new messages` : 'New message' };
  if (preview === 'sender') {
    return { title: null, body: many ? `${m.count} new messages, the latest from ${m.senderName}` : `New message from ${m.senderName}` };
  }
  const body = cut(describe(m));
  return m.conversationType === 'group'
    ? { title: m.conversationName ?? 'Group', body: `${m.senderName}: ${body}` }
    : { title: m.senderName, body };
}

function describe(m: NotifiedMessage): string {
  const label = KIND_LABELS[m.type] ?? (m.attachmentKinds[0] !== undefined ? KIND_LABELS[m.attachmentKinds[0]] : undefined);
  const text = m.content.trim();
  if (label === undefined) return text;
  // A bare link (seed clients put the media URL in the text) is no caption.
  return text === '' || /^https?:\/\/\S+$/.test(text) ? label : `${label}: ${text}`;
}

/** At most MAX_BODY_CHARS characters (code points, so no emoji is cut in half), with an ellipsis. */
function cut(text: string): string {
  const chars = [...text];
  return chars.length <= MAX_BODY_CHARS ? text : `${chars.slice(0, MAX_BODY_CHARS - 1).join('')}…`;
}

/**
 * What a call's ring says: "Incoming call from Alice" ("Incoming video call from Alice")
 * with `full` and `sender` — the caller is all a ring has to show — and "Incoming call"
 * with `none`.
 */
export function callNotificationText(preview: PushPreview, call: { callerName: string; video: boolean }): { title: null; body: string } {
  const what = call.video ? 'Incoming video call' : 'Incoming call';
  return { title: null, body: preview === 'none' ? what : cut(`${what} from ${call.callerName}`) };
}
