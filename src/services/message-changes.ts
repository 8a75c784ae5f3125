import type { FastifyBaseLogger } from 'fastify';
import type { BlobStore } from '../blobs/blob-store.js';
import type { AttachmentLinks } from '../domain/attachments.js';
import type { Clock } from '../domain/clock.js';
import { AppError, notFound } from '../domain/errors.js';
import { messageStatus, senderView, summarizePointers, toMessage, type PointerSummary } from '../domain/messages.js';
import { MAX_REACTIONS_PER_USER, reactionEmoji } from '../domain/reactions.js';
import { toUser } from '../domain/users.js';
import type { DeleteScope, Message, ReactionSummary } from '../schemas/messages.js';
import { frames } from '../schemas/server-frames.js';
import type { User } from '../schemas/users.js';
import { participantsOf } from '../store/conversations.repository.js';
import { inTransaction, type Db, type Trx } from '../store/database.js';
import type { CallInfo, CallOutcome } from '../domain/calls.js';
import {
  applyCallUpdate,
  applyDelete,
  applyEdit,
  applyReaction,
  hide,
  hiddenBy,
  listEdits,
  reactionsBy,
  reactionsOf,
  reactors,
  takeModSeq,
} from '../store/message-changes.repository.js';
import type { ViewRow } from '../store/message-views.js';
import { findInConversation, findViewed, isVisibleTo, type MessageRow } from '../store/messages.repository.js';
import { findUsersByIds } from '../store/users.repository.js';
import type { Access } from './access.js';
import type { BlocksService } from './blocks.js';
import type { Fanout } from './fanout.js';
import type { MessagesService } from './messages.js';
import type { NodeCache } from './node-cache.js';

/** Earlier versions `edits` shows: the latest ones (a message edited more often keeps the rest unseen). */
export const EDITS_SHOWN = 100;

export interface ChangeOptions {
  /** How long after sending its sender may edit a message (ms); 0: no limit. */
  editWindowMs: number;
  maxContentBytes: number;
}

class RolledBack extends Error {}

/** A change that turned out to change nothing: the transaction is rolled back and the message returned as it is. */
class Unchanged extends Error {
  constructor(readonly row: MessageRow) {
    super('unchanged');
  }
}

/**
 * Changes to sent messages — edits, deletes (for everyone, or for me), reactions — over
 * REST and WebSocket alike. Each change commits in one transaction that takes the
 * conversation's next mod_seq and stamps the message with it, and is published after the
 * commit: `message_updated` (each member's own view of the message) or `reaction`.
 * Repeating a change (the same content, a reaction already there, a second delete)
 * changes nothing, takes no mod_seq and publishes nothing: it answers with the message as
 * it is. Refusals change nothing either.
 */
export class MessageChangesService {
  constructor(
    private readonly db: Db,
    private readonly access: Access,
    private readonly cache: NodeCache,
    private readonly fanout: Fanout,
    private readonly messages: MessagesService,
    private readonly blobs: BlobStore,
    private readonly links: AttachmentLinks,
    private readonly clock: Clock,
    private readonly opts: ChangeOptions,
    private readonly log: FastifyBaseLogger,
    private readonly blocks: BlocksService,
  ) {}

  /**
   * The sender replaces the content (text, or an attachment's caption), within the edit
   * window. Throws not_found, forbidden, edit_window_passed, message_deleted,
   * validation_failed, message_too_large.
   */
  async edit(callerId: number, conversationId: number, messageId: number, content: string): Promise<Message> {
    await this.access.requireMember(callerId, conversationId);
    if (Buffer.byteLength(content, 'utf8') > this.opts.maxContentBytes) {
      throw new AppError('message_too_large', `content is larger than ${this.opts.maxContentBytes} bytes`, { field: 'content' });
    }
    const row = await this.change(callerId, conversationId, messageId, async (trx, before, modSeq) => {
      refuseSystem(before);
      if (before.sender_id !== callerId) throw new AppError('forbidden', 'Only the sender can edit a message');
      if (before.deleted_at !== null) throw new AppError('message_deleted', 'The message was deleted');
      const window = this.opts.editWindowMs;
      if (window > 0 && this.clock.now() - before.created_at.getTime() > window) {
        throw new AppError('edit_window_passed', 'The message is too old to edit');
      }
      if (before.type === 'text' && (before.attachments?.length ?? 0) === 0 && content.trim() === '') {
        throw new AppError('validation_failed', 'content is required for a text message', { field: 'content' });
      }
      if (content === before.content) throw new Unchanged(before);
      return applyEdit(trx, before, content, modSeq);
    });
    if (row.changed) await this.publishUpdate(row.row);
    return row.message;
  }

  /**
   * `everyone`: the sender turns the message into a tombstone (its attachments' files are
   * deleted after the commit). `me`: any member hides it from their own devices.
   * Throws not_found, forbidden.
   */
  async delete(callerId: number, conversationId: number, messageId: number, scope: DeleteScope): Promise<Message> {
    await this.access.requireMember(callerId, conversationId);
    if (scope === 'me') {
      const result = await this.change(callerId, conversationId, messageId, async (trx, before, modSeq) => {
        const at = await hide(trx, callerId, before, modSeq);
        if (at === undefined) throw new Unchanged(before);
        return before;
      });
      const { message } = result;
      if (result.changed) {
        const change = { conversation_id: conversationId, mod_seq: message.mod_seq };
        await this.fanout.toUsers([callerId], frames.messageUpdated(message), undefined, change);
      }
      return message;
    }
    let blobKeys: string[] = [];
    const result = await this.change(callerId, conversationId, messageId, async (trx, before, modSeq) => {
      refuseSystem(before);
      if (before.sender_id !== callerId) throw new AppError('forbidden', 'Only the sender can delete a message for everyone');
      if (before.deleted_at !== null) throw new Unchanged(before);
      const done = await applyDelete(trx, before, modSeq);
      blobKeys = done.blobKeys;
      return done.row;
    });
    if (result.changed) {
      await this.publishUpdate(result.row);
      await this.deleteBlobs(blobKeys);
    }
    return result.message;
  }

  /**
   * Adds (`on`) or removes one reaction of the caller. Throws not_found,
   * validation_failed (not one emoji), message_deleted, too_many_reactions.
   */
  async react(callerId: number, conversationId: number, messageId: number, emojiInput: string, on: boolean): Promise<Message> {
    await this.access.requireMember(callerId, conversationId);
    const emoji = reactionEmoji(emojiInput);
    let count = 0;
    const result = await this.change(callerId, conversationId, messageId, async (trx, before, modSeq) => {
      refuseSystem(before);
      if (before.deleted_at !== null) throw new AppError('message_deleted', 'The message was deleted');
      const mine = await reactionsBy(trx, before, callerId);
      if (mine.includes(emoji) === on) throw new Unchanged(before);
      if (on && mine.length >= MAX_REACTIONS_PER_USER) {
        throw new AppError('too_many_reactions', `At most ${MAX_REACTIONS_PER_USER} different reactions per message`, {
          field: 'emoji',
        });
      }
      const done = await applyReaction(trx, before, callerId, emoji, on, modSeq);
      count = done.count;
      return done.row;
    });
    if (result.changed) {
      const frame = frames.reaction({
        conversation_id: conversationId,
        message_id: messageId,
        user_id: callerId,
        emoji,
        on,
        count,
        mod_seq: result.row.mod_seq,
      });
      const change = { conversation_id: conversationId, mod_seq: result.row.mod_seq };
      // Read from the database, not the cached roster: only the members of the moment who
      // can see the message (a member who joined a group hiding its history cannot).
      const members = await participantsOf(this.db, [conversationId]);
      await this.fanout.toUsers(seeing(members, result.row).map((m) => m.id), frame, undefined, change);
    }
    return result.message;
  }

  /** The message's latest EDITS_SHOWN earlier versions, oldest first (none once deleted). Throws not_found. */
  async edits(callerId: number, conversationId: number, messageId: number): Promise<{ content: string; edited_at: string }[]> {
    await this.requireMessage(callerId, conversationId, messageId);
    const rows = await listEdits(this.db, conversationId, messageId, EDITS_SHOWN);
    return rows.map((r) => ({ content: r.content, edited_at: r.edited_at.toISOString() }));
  }

  /** Who reacted with `emoji`, in reaction order, a page at a time. Throws not_found, validation_failed. */
  async reactors(
    callerId: number,
    conversationId: number,
    messageId: number,
    emojiInput: string,
    opts: { limit: number; cursor?: string },
  ): Promise<{ users: User[]; next_cursor: string | null }> {
    const emoji = reactionEmoji(emojiInput);
    await this.requireMessage(callerId, conversationId, messageId);
    const after = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor);
    const rows = await reactors(this.db, messageId, emoji, { limit: opts.limit + 1, after });
    const page = rows.slice(0, opts.limit);
    const [found, { blockedBy }] = await Promise.all([
      findUsersByIds(this.db, page.map((r) => r.user_id)),
      this.blocks.relations(callerId),
    ]);
    const users = new Map(found.map((u) => [u.id, u]));
    const last = page.at(-1);
    return {
      users: page.flatMap((r) => {
        const u = users.get(r.user_id);
        return u ? [toUser(u, { id: callerId, contact: true, blocked: blockedBy.has(u.id) })] : [];
      }),
      next_cursor: rows.length > opts.limit && last ? encodeCursor(last.at_us, last.user_id) : null,
    };
  }

  /** The message, unless the caller may not see it: not a member, or they hid it (it is gone for them). */
  private async requireMessage(callerId: number, conversationId: number, messageId: number): Promise<MessageRow> {
    await this.access.requireMember(callerId, conversationId);
    const row = await findViewed(this.db, callerId, conversationId, messageId);
    if (!row || row.hidden_at !== null) throw notFound('Message');
    return row;
  }

  /**
   * One change in one transaction: the conversation's next mod_seq, then the message
   * locked, then `apply`, then the message as the caller sees it now (read in the same
   * transaction, so the answer is this change, not a later one). An `Unchanged` thrown by
   * `apply` rolls it back (the mod_seq is not used) and answers with the message as it is.
   */
  private async change(
    callerId: number,
    conversationId: number,
    messageId: number,
    apply: (trx: Trx, before: MessageRow, modSeq: number) => Promise<MessageRow>,
  ): Promise<{ row: MessageRow; message: Message; changed: boolean }> {
    let result: { row: MessageRow; viewed: ViewRow | undefined; changed: boolean };
    try {
      result = await inTransaction(this.db, async (trx) => {
        const modSeq = await takeModSeq(trx, conversationId);
        const before = modSeq === undefined ? undefined : await findInConversation(trx, conversationId, messageId, { lock: true });
        // A message from before the caller's view of the conversation begins (they joined
        // a group that hides its history) is not there for them, whatever they try.
        if (modSeq === undefined || !before || !(await isVisibleTo(trx, callerId, conversationId, messageId))) {
          throw notFound('Message');
        }
        const row = await apply(trx, before, modSeq);
        const viewed = await findViewed(trx, callerId, conversationId, messageId);
        return { row, viewed, changed: true };
      });
    } catch (err) {
      if (!(err instanceof Unchanged)) throw err;
      result = { row: err.row, viewed: await findViewed(this.db, callerId, conversationId, messageId), changed: false };
    }
    if (!result.viewed) throw notFound('Message');
    const [message] = await this.messages.view(callerId, [result.viewed]);
    return { row: result.row, message: message!, changed: result.changed };
  }

  /**
   * natter's own change to a call record: its `call` becomes `call` unless the record has
   * moved past `fromOutcomes` already (an update that lost a race to a later one changes
   * nothing). Published as any change is. False when nothing changed.
   */
  async updateCallRecord(conversationId: number, messageId: number, call: CallInfo, fromOutcomes: readonly CallOutcome[]): Promise<boolean> {
    let row: MessageRow | undefined;
    try {
      row = await inTransaction(this.db, async (trx) => {
        const modSeq = await takeModSeq(trx, conversationId);
        const updated = modSeq === undefined ? undefined : await applyCallUpdate(trx, conversationId, messageId, call, modSeq, fromOutcomes);
        // Nothing to update: roll the mod_seq back rather than leave it taken for nothing.
        if (!updated) throw new RolledBack();
        return updated;
      });
    } catch (err) {
      if (err instanceof RolledBack) return false;
      throw err;
    }
    await this.publishUpdate(row);
    return true;
  }

  /**
   * `message_updated` to every member, each with the message as they see it (status and
   * `reactions[].me` differ, and to a member who hid it, it stays hidden). Members are
   * grouped by what makes their view differ, so each distinct view is built once and its
   * members share one publish: the work is linear in the members.
   */
  private async publishUpdate(row: MessageRow): Promise<void> {
    const [members, reactions, hidden, senderBlocks] = await Promise.all([
      participantsOf(this.db, [row.conversation_id]),
      reactionsOf(this.db, [row.id]),
      hiddenBy(this.db, row),
      row.sender_id === null ? undefined : this.blocks.relations(row.sender_id),
    ]);
    const sender = row.sender_id === null ? undefined : members.find((m) => m.id === row.sender_id) ?? (await this.cache.profile(row.sender_id));
    const summary = summarize(reactions);
    const emojiOf = new Map<number, Set<string>>();
    for (const r of reactions) emojiOf.set(r.user_id, (emojiOf.get(r.user_id) ?? new Set()).add(r.emoji));
    const views = new Map<string, { userIds: number[]; build: () => Message }>();
    for (const member of seeing(members, row)) {
      const isSender = member.id === row.sender_id;
      // Only the sender's status depends on the others' pointers (messageStatus reads
      // nothing but my_read_seq for anyone else's message).
      // (The sender does not see the reads of members who block them.)
      const pointers = isSender ? summarizePointers(member.id, members, senderBlocks?.blockedBy) : readerOnly(member.last_read_seq);
      const status = messageStatus(row, member.id, pointers);
      const hide = hidden.get(member.id);
      const mine = emojiOf.get(member.id) ?? new Set<string>();
      // A member the sender blocks sees the sender without presence.
      const unseen = senderBlocks?.blocks.has(member.id) ?? false;
      const key = JSON.stringify([isSender, status, [...mine].sort(), hide?.at.getTime(), hide?.modSeq, unseen]);
      const view = views.get(key);
      if (view) {
        view.userIds.push(member.id);
        continue;
      }
      views.set(key, {
        userIds: [member.id],
        build: () =>
          toMessage(row, senderView(sender, member.id, unseen), status, this.links, {
            reactions: summary.map((r) => ({ ...r, me: mine.has(r.emoji) })),
            hidden: hide,
          }),
      });
    }
    const change = { conversation_id: row.conversation_id, mod_seq: row.mod_seq };
    for (const { userIds, build } of views.values()) {
      await this.fanout.toUsers(userIds, frames.messageUpdated(build()), undefined, change);
    }
  }

  /** Deletes a tombstone's files; one that fails is logged and left (its row is gone, so nobody can read it). */
  private async deleteBlobs(keys: string[]): Promise<void> {
    for (const key of keys) {
      await this.blobs.delete(key).catch((err: unknown) => this.log.error({ err, key }, 'deleting a deleted message\'s file failed'));
    }
  }
}

/** The pointer summary of a member reading someone else's message: only their own read pointer counts. */
const readerOnly = (lastReadSeq: number): PointerSummary => ({
  my_read_seq: lastReadSeq,
  others: 0,
  others_min_shared_read_seq: null,
  others_hide_reads: false,
  others_min_delivered_seq: null,
});

/** Reactions in the order they were made → per emoji (first appearance first), `me` false for now. */
function summarize(reactions: { user_id: number; emoji: string }[]): ReactionSummary[] {
  const byEmoji = new Map<string, ReactionSummary>();
  for (const r of reactions) {
    const entry = byEmoji.get(r.emoji) ?? { emoji: r.emoji, count: 0, me: false };
    entry.count++;
    byEmoji.set(r.emoji, entry);
  }
  return [...byEmoji.values()];
}

/** Opaque to clients: `r:<reaction time in epoch microseconds>:<user id>`, base64url. */
const encodeCursor = (atMicros: number, userId: number) => Buffer.from(`r:${atMicros}:${userId}`).toString('base64url');

function decodeCursor(cursor: string): { atMicros: number; userId: number } {
  const m = /^r:(\d{1,17}):(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString());
  const atMicros = Number(m?.[1]);
  const userId = Number(m?.[2]);
  if (!m || !Number.isSafeInteger(atMicros) || !Number.isSafeInteger(userId)) {
    throw new AppError('validation_failed', 'cursor is not valid', { field: 'cursor' });
  }
  return { atMicros, userId };
}

/**
 * System messages (a group's changes, told) and call records are the conversation's
 * record: nobody edits, deletes for everyone or reacts to them (natter updates a call's).
 */
function refuseSystem(row: MessageRow): void {
  if (row.type === 'system') throw new AppError('forbidden', 'System messages cannot be changed');
  if (row.type === 'call') throw new AppError('forbidden', 'Call records cannot be changed');
}

/** The members who see the message: those whose view of the conversation begins before it. */
const seeing = <M extends { visible_from_seq: number }>(members: M[], row: MessageRow) =>
  members.filter((m) => m.visible_from_seq < row.seq);
