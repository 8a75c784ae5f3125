import type { Message } from '../schemas/messages.js';
import type { MessageStatus } from '../schemas/receipts.js';
import { toUser, type UserRecord } from './users.js';

/** Messages: their kinds and the one stored → wire conversion. No I/O. */

export const MESSAGE_TYPES = ['text', 'image', 'video', 'audio', 'file'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

/** A stored message, as the store reads it. */
export interface MessageRecord {
  id: number;
  conversation_id: number;
  seq: number;
  sender_id: number | null;
  client_id: string | null;
  type: MessageType;
  content: string;
  media_url: string | null;
  reply_to_id: number | null;
  edited_at: Date | null;
  deleted_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/**
 * The sender as `viewerId` sees them (undefined: a frame for all members alike, who are
 * all contacts of the sender). A page converts each distinct sender once and shares the
 * object between its messages.
 */
export function senderView(sender: UserRecord | undefined, viewerId?: number) {
  return sender ? toUser(sender, { id: viewerId, contact: true }) : null;
}

/** The one stored → wire conversion for messages; `status` as the viewer sees it. */
export function toMessage(row: MessageRecord, sender: Message['sender'], status: MessageStatus): Message {
  return {
    id: row.id,
    conversation_id: row.conversation_id,
    seq: row.seq,
    sender_id: row.sender_id,
    sender,
    content: row.content,
    type: row.type,
    status,
    media_url: row.media_url,
    reply_to_id: row.reply_to_id,
    client_id: row.client_id,
    edited_at: row.edited_at?.toISOString() ?? null,
    deleted_at: row.deleted_at?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}
