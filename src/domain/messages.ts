import type { Message, ReactionSummary } from '../schemas/messages.js';
import { toAttachment, type AttachmentLinks, type StoredAttachment } from './attachments.js';
import type { MessageStatus } from '../schemas/receipts.js';
import type { CallInfo } from './calls.js';
import type { SystemEvent } from './system-messages.js';
import { toUser, type UserRecord } from './users.js';

/**
 * Message rules, once, with no I/O: their kinds, the stored → wire conversion, the sender
 * as a viewer sees them, receipts (how pointers move, the read-receipt privacy rule, which
 * receipt frames go to whom) and the status a viewer sees. The unread count is the one
 * rule left in SQL (store/conversations.repository.ts: after the read pointer, not your
 * own, not deleted), as counting is the database's job.
 */

/** The types a client sends. */
export const MESSAGE_TYPES = ['text', 'image', 'video', 'audio', 'file'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];
/**
 * Every type a message has: also `system` (domain/system-messages.ts) and `call` (a call's
 * record, domain/calls.ts), which only natter writes.
 */
export const STORED_MESSAGE_TYPES = [...MESSAGE_TYPES, 'system', 'call'] as const;
export type StoredMessageType = (typeof STORED_MESSAGE_TYPES)[number];

/** A stored message, as the store reads it. */
export interface MessageRecord {
  id: number;
  conversation_id: number;
  seq: number;
  mod_seq: number;
  sender_id: number | null;
  client_id: string | null;
  type: StoredMessageType;
  content: string;
  media_url: string | null;
  reply_to_id: number | null;
  edited_at: Date | null;
  deleted_at: Date | null;
  attachments: StoredAttachment[] | null;
  system: SystemEvent | null;
  call: CallInfo | null;
  created_at: Date;
  updated_at: Date;
}

/**
 * The sender as `viewerId` sees them (undefined: a frame for all members alike, who are
 * all contacts of the sender); `blocksViewer`: the sender blocks the viewer, who then sees
 * no presence of theirs. A page converts each distinct sender once and shares the object
 * between its messages.
 */
export function senderView(sender: UserRecord | undefined, viewerId?: number, blocksViewer = false) {
  return sender ? toUser(sender, { id: viewerId, contact: true, blocked: blocksViewer }) : null;
}

/**
 * The one stored → wire conversion for messages; `status` as the viewer sees it. Its
 * attachments get freshly signed URLs, and `media_url` is the first one's, so clients
 * written for the seed show the media of a message sent with attachments.
 */
export function toMessage(
  row: MessageRecord,
  sender: Message['sender'],
  status: MessageStatus,
  links: AttachmentLinks,
  view: MessageView = {},
): Message {
  // A deleted message keeps its place (id, seq, sender, times) and loses everything it
  // said: deleted for everyone it is stored that way; hidden by the viewer it is shown so.
  const gone = view.hidden
    ? { at: view.hidden.at, for: 'me' as const }
    : row.deleted_at !== null
      ? { at: row.deleted_at, for: 'everyone' as const }
      : null;
  const attachments = gone ? [] : (row.attachments?.map((a) => toAttachment(a, links)) ?? []);
  return {
    id: row.id,
    conversation_id: row.conversation_id,
    seq: row.seq,
    // To the viewer who hid it, the hide is the message's latest change.
    mod_seq: view.hidden ? Math.max(row.mod_seq, view.hidden.modSeq) : row.mod_seq,
    sender_id: row.sender_id,
    sender,
    content: gone ? '' : row.content,
    type: row.type,
    status,
    media_url: gone ? null : (attachments[0]?.url ?? row.media_url),
    attachments,
    reactions: gone ? [] : (view.reactions ?? []),
    system: row.system,
    call: gone ? null : row.call,
    reply_to_id: row.reply_to_id,
    client_id: row.client_id,
    edited_at: row.edited_at?.toISOString() ?? null,
    deleted_at: gone?.at.toISOString() ?? null,
    deleted_for: gone?.for ?? null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** What of a message depends on who looks at it, besides its status. */
export interface MessageView {
  /** The reactions, with `me` for the viewer (none when absent). */
  reactions?: ReactionSummary[];
  /**
   * When the viewer deleted it for themselves, and that change's mod_seq (absent: they
   * did not). To them it is the message's latest change, so its mod_seq shows it.
   */
  hidden?: { at: Date; modSeq: number };
}

// Receipts. Each member has two pointers per conversation, delivered and read.
// Invariant: last_read_seq ≤ last_delivered_seq ≤ the conversation's last_seq; pointers
// only move forward.

export interface Pointers {
  last_delivered_seq: number;
  last_read_seq: number;
}

/**
 * Moves a member's pointers to `seq` for a `delivered` or `read` receipt: capped at the
 * conversation's last seq, never backwards, and reading implies delivered.
 */
export function advancePointers(before: Pointers, lastSeq: number, kind: 'delivered' | 'read', seq: number): Pointers {
  const target = Math.min(seq, lastSeq);
  return {
    last_delivered_seq: Math.max(before.last_delivered_seq, target),
    last_read_seq: kind === 'read' ? Math.max(before.last_read_seq, target) : before.last_read_seq,
  };
}

/**
 * The read-receipt privacy rule: a member who does not share read receipts shows others
 * as having read nothing (they still show what was delivered). Their own devices see
 * everything. A member who blocks someone shows that one reader the same (`sharesReadsWith`).
 */
export const readSeqShownToOthers = (lastReadSeq: number, sharesReads: boolean): number => (sharesReads ? lastReadSeq : 0);

/**
 * How far one message (by seq) got with one member, as others may see it
 * (`blocksReader`: the member blocks the one who asks).
 */
export function memberStatus(
  member: Pointers & { share_read_receipts: boolean },
  seq: number,
  blocksReader = false,
): MessageStatus {
  if (readSeqShownToOthers(member.last_read_seq, sharesReadsWith(member, blocksReader)) >= seq) return 'read';
  if (member.last_delivered_seq >= seq) return 'delivered';
  return 'sent';
}

/**
 * The `receipt` frames a pointer move produces: to the member's own devices the pointer
 * that moved (read over delivered); to the others the same, unless it is a read the
 * member keeps private, in which case they see the delivered pointer if that moved, and
 * nothing otherwise. Undefined: nothing moved, nothing to send.
 */
export function receiptsFor(
  before: Pointers,
  after: Pointers,
  sharesReads: boolean,
): { self: ReceiptNotice; others: ReceiptNotice | null } | undefined {
  const readMoved = after.last_read_seq > before.last_read_seq;
  const deliveredMoved = after.last_delivered_seq > before.last_delivered_seq;
  if (!readMoved && !deliveredMoved) return undefined;
  const read: ReceiptNotice = { status: 'read', seq: after.last_read_seq };
  const delivered: ReceiptNotice = { status: 'delivered', seq: after.last_delivered_seq };
  return {
    self: readMoved ? read : delivered,
    others: readMoved && sharesReads ? read : deliveredMoved ? delivered : null,
  };
}

const NOBODY: ReadonlySet<number> = new Set();

export interface ReceiptNotice {
  status: 'delivered' | 'read';
  seq: number;
}

/**
 * What one reader needs of the other members' pointers to derive message statuses, as
 * the store aggregates it (in SQL for a history page, from the rows elsewhere).
 */
export interface PointerSummary {
  /** The reader's own read pointer. */
  my_read_seq: number;
  /** How many other members there are. */
  others: number;
  /** Lowest read pointer among the others who share read receipts (null: none do). */
  others_min_shared_read_seq: number | null;
  /** Whether any other member keeps read receipts private. */
  others_hide_reads: boolean;
  /** Lowest delivered pointer among the others (null: no others). */
  others_min_delivered_seq: number | null;
}

/**
 * Whether a member's reads show to one reader: they share read receipts and do not block
 * that reader. The store applies the same rule in SQL (store/message-views.ts).
 */
export const sharesReadsWith = (member: { share_read_receipts: boolean }, blocksReader: boolean): boolean =>
  member.share_read_receipts && !blocksReader;

/**
 * The same summary from member rows (a conversation list, a repeated send); `blockers`:
 * the members who block the reader, whose reads the reader does not see.
 */
export function summarizePointers(
  readerId: number,
  members: (Pointers & { id: number; share_read_receipts: boolean })[],
  blockers: ReadonlySet<number> = NOBODY,
): PointerSummary {
  const others = members.filter((m) => m.id !== readerId);
  const sharing = others.filter((m) => sharesReadsWith(m, blockers.has(m.id)));
  return {
    my_read_seq: members.find((m) => m.id === readerId)?.last_read_seq ?? 0,
    others: others.length,
    others_min_shared_read_seq: sharing.length ? Math.min(...sharing.map((m) => m.last_read_seq)) : null,
    others_hide_reads: sharing.length < others.length,
    others_min_delivered_seq: others.length ? Math.min(...others.map((m) => m.last_delivered_seq)) : null,
  };
}

/**
 * A message's status as the reader sees it. Their own message: `read` once every other
 * member has read it (a private reader never counts as having read), `delivered` once
 * every other member has it, else `sent` (also with nobody else in the conversation).
 * Someone else's: `read` once the reader has read it, else `delivered`.
 */
export function messageStatus(
  message: { seq: number; sender_id: number | null },
  readerId: number,
  pointers: PointerSummary,
): MessageStatus {
  if (message.sender_id !== readerId) return pointers.my_read_seq >= message.seq ? 'read' : 'delivered';
  if (pointers.others === 0) return 'sent';
  // The lowest read pointer the others show: the privacy rule applied to the whole group.
  const othersRead = readSeqShownToOthers(pointers.others_min_shared_read_seq ?? 0, !pointers.others_hide_reads);
  if (othersRead >= message.seq) return 'read';
  if ((pointers.others_min_delivered_seq ?? 0) >= message.seq) return 'delivered';
  return 'sent';
}
