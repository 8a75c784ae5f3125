import { typeFromAttachments, type AttachmentLinks } from '../domain/attachments.js';
import { AppError } from '../domain/errors.js';
import {
  MESSAGE_TYPES,
  messageStatus,
  senderView,
  summarizePointers,
  toMessage,
  type MessageType,
} from '../domain/messages.js';
import type { Message } from '../schemas/messages.js';
import { frames } from '../schemas/server-frames.js';
import type { Db } from '../store/database.js';
import type { ViewRow } from '../store/message-views.js';
import { isVisibleTo, listPage } from '../store/messages.repository.js';
import type { Access } from './access.js';
import type { AttachmentsService } from './attachments.js';
import type { BlockRelations, BlocksService } from './blocks.js';
import type { Fanout } from './fanout.js';
import type { MessageWriter, Written } from './message-writer.js';
import type { NodeCache } from './node-cache.js';

export interface SendInput {
  conversationId: number;
  content?: string | null;
  type?: string | null;
  clientId?: string | null;
  replyToId?: number | null;
  mediaUrl?: string | null;
  attachmentIds?: number[] | null;
}

export interface SendResult {
  message: Message;
  /** False: the sender's client_id was stored before, and `message` is that message. */
  created: boolean;
}

export interface HistoryPage {
  messages: Message[];
  has_more: boolean;
}

/**
 * Sending and reading messages. WebSocket `message` frames and
 * `POST /conversations/:id/messages` both call `send`, the one path for a message.
 */
export class MessagesService {
  constructor(
    private readonly db: Db,
    private readonly access: Access,
    private readonly cache: NodeCache,
    private readonly writer: MessageWriter,
    private readonly fanout: Fanout,
    private readonly attachments: AttachmentsService,
    private readonly links: AttachmentLinks,
    private readonly maxContentBytes: number,
    private readonly blocks: BlocksService,
  ) {}

  /**
   * validate → membership → commit (assigning seq; batched with concurrent sends by the
   * MessageWriter) → publish `new_message` to every socket of every member, the sender's
   * included.
   *
   * Resolves once the message is committed; nothing is published before that. With a
   * `clientId` the same sender sending again gets the stored message back with
   * `created: false`, and nothing is stored or published twice; a `clientId` the sender
   * already used in another conversation is refused (validation_failed).
   * Throws validation_failed, message_too_large, not_found (not a member, or no such
   * conversation), blocked (a direct conversation whose other member blocks the sender;
   * nothing is stored).
   */
  async send(senderId: number, input: SendInput): Promise<SendResult> {
    return (await this.submit(senderId, input)).committed;
  }

  /**
   * `send` in two steps, for a caller that must keep its sends in order without waiting
   * for each to commit (a WebSocket): resolves once the message is checked and holds its
   * place in its conversation's write queue — so a message submitted after it, to the
   * same conversation, gets a higher seq — and `committed` settles as `send` does.
   * `onRepeat` is called with the stored message when the client_id was used before, at
   * the moment a new message would be published, so a socket answered directly gets it
   * in its place among the others.
   */
  async submit(
    senderId: number,
    input: SendInput,
    onRepeat?: (message: Message) => void,
  ): Promise<{ committed: Promise<SendResult> }> {
    const ids = input.attachmentIds ?? [];
    const fields = this.validate(input, ids.length > 0);
    const roster = await this.access.requirePoster(senderId, input.conversationId);
    await this.blocks.assertMaySendTo(senderId, input.conversationId);
    const attachments = ids.length > 0 ? await this.attachments.forSend(senderId, input.conversationId, ids) : [];
    if (fields.replyToId !== null) {
      // As the sender sees the conversation: not a message from before they could see it.
      if (!(await isVisibleTo(this.db, senderId, input.conversationId, fields.replyToId))) {
        throw new AppError('validation_failed', 'reply_to_id must be a message of this conversation', {
          field: 'reply_to_id',
        });
      }
    }
    // Everything the fanout needs is at hand before the commit, so that once a batch
    // commits its messages are published at once, in commit (seq) order: no await stands
    // between the writer resolving and the publish calls.
    // The roster the sender was checked against goes with the message: if it changed
    // before the commit, the writer checks the sender again and names the members of
    // the moment (Written.memberIds), who get the message instead.
    const [sender, relations] = await Promise.all([this.cache.profile(senderId), this.blocks.relations(senderId)]);
    const written = this.writer.write({
      conversationId: input.conversationId,
      senderId,
      ...fields,
      type: fields.type ?? typeFromAttachments(attachments)!,
      attachments,
      rosterVersion: roster.version,
    });
    return {
      committed: written.then((w) =>
        this.published(senderId, input.conversationId, sender, roster.memberIds, relations, w, onRepeat),
      ),
    };
  }

  /**
   * After the commit: a new message is published; a repeated client_id gets the stored
   * message back (and `onRepeat` with it). No await comes before the publish or
   * `onRepeat`, so the messages of a batch go out in its order.
   */
  private async published(
    senderId: number,
    conversationId: number,
    sender: Parameters<typeof senderView>[0],
    members: number[],
    relations: BlockRelations,
    written: Written,
    onRepeat?: (message: Message) => void,
  ): Promise<SendResult> {
    const { row } = written;
    if (!written.created) {
      if (row.conversation_id !== conversationId) {
        // The client reused its id for a different message: answering with the other
        // conversation's message would drop this one silently.
        throw new AppError('validation_failed', 'client_id was already used for a message in another conversation', {
          field: 'client_id',
        });
      }
      const status = messageStatus(row, senderId, summarizePointers(senderId, written.participants, relations.blockedBy));
      const message = toMessage(row, senderView(sender, senderId), status, this.links);
      onRepeat?.(message);
      return { message, created: false };
    }
    const message = toMessage(row, senderView(sender), 'sent', this.links);
    await this.publishNew(message, sender, written.memberIds ?? members, relations);
    return { message, created: true };
  }

  /**
   * A committed message as `new_message` to `members`: those the sender blocks see the
   * sender without presence. Every publish starts before anything is awaited, so messages
   * published one after another leave in that order. The one way a new message (a system
   * message too) is published.
   */
  async publishNew(message: Message, sender: Parameters<typeof senderView>[0], members: number[], relations: BlockRelations): Promise<void> {
    const position = { conversation_id: message.conversation_id, seq: message.seq };
    if (relations.blocks.size === 0) return this.fanout.toUsers(members, frames.newMessage(message), position);
    const blocked = members.filter((id) => relations.blocks.has(id));
    const others = members.filter((id) => !relations.blocks.has(id));
    const unseen = { ...message, sender: senderView(sender, undefined, true) };
    await Promise.all([
      this.fanout.toUsers(others, frames.newMessage(message), position),
      blocked.length > 0 ? this.fanout.toUsers(blocked, frames.newMessage(unseen), position) : undefined,
    ]);
  }

  /**
   * A page of history, oldest first (see listPage for the paging rules). One query: the
   * membership check and the senders' profiles come from the per-node cache.
   */
  async history(
    callerId: number,
    conversationId: number,
    opts: { limit: number; beforeSeq?: number; afterSeq?: number },
  ): Promise<HistoryPage> {
    await this.access.requireMember(callerId, conversationId);
    const { rows, hasMore } = await listPage(this.db, conversationId, callerId, opts);
    // No rows is also what a former member sees (the page reads only what they may see):
    // tell them apart in the database, so a stale cached roster never answers 200.
    if (rows.length === 0) await this.access.confirmMember(callerId, conversationId);
    return { messages: await this.view(callerId, rows), has_more: hasMore };
  }

  /**
   * Messages read with what the caller sees of them (ViewRow: history, search, sync,
   * change answers) → wire messages, in the order given. Only the senders' profiles are
   * looked up, in the per-node cache.
   */
  async view(callerId: number, rows: ViewRow[]): Promise<Message[]> {
    const senderIds = [...new Set(rows.map((r) => r.sender_id))].filter((id): id is number => id !== null);
    const { blockedBy } = await this.blocks.relations(callerId);
    const senders = new Map(
      await Promise.all(
        senderIds.map(async (id) => [id, senderView(await this.cache.profile(id), callerId, blockedBy.has(id))] as const),
      ),
    );
    return rows.map((r) => viewedMessage(r, r.sender_id === null ? null : (senders.get(r.sender_id) ?? null), callerId, this.links));
  }

  /**
   * The fields of a send as stored. `type` stays undefined for a send with attachments
   * that names none: it becomes the first attachment's kind.
   */
  private validate(input: SendInput, withAttachments: boolean) {
    if (input.type != null && !(MESSAGE_TYPES as readonly string[]).includes(input.type)) {
      throw new AppError('validation_failed', `type must be one of ${MESSAGE_TYPES.join(', ')}`, { field: 'type' });
    }
    const type = (input.type ?? (withAttachments ? undefined : 'text')) as MessageType | undefined;
    const content = input.content ?? '';
    if (Buffer.byteLength(content, 'utf8') > this.maxContentBytes) {
      throw new AppError('message_too_large', `content is larger than ${this.maxContentBytes} bytes`, {
        field: 'content',
      });
    }
    const mediaUrl = input.mediaUrl?.trim() || null;
    if (withAttachments && mediaUrl !== null) {
      throw new AppError('validation_failed', 'send either attachment_ids or a media_url you host, not both', {
        field: 'media_url',
      });
    }
    if (!withAttachments && type === 'text' && content.trim() === '') {
      throw new AppError('validation_failed', 'content is required for a text message', { field: 'content' });
    }
    if (!withAttachments && type !== 'text' && mediaUrl === null) {
      throw new AppError('validation_failed', `media_url or attachment_ids is required for a ${type} message`, {
        field: 'media_url',
      });
    }
    // client_id's length is bounded by the schemas of both entry points (REST and WS).
    return { type, content, mediaUrl, clientId: input.clientId ?? null, replyToId: input.replyToId ?? null };
  }
}

/** A ViewRow as the wire message its viewer sees (their status, reactions and hide). */
export function viewedMessage(row: ViewRow, sender: Message['sender'], viewerId: number, links: AttachmentLinks): Message {
  const hidden = row.hidden_at === null ? undefined : { at: row.hidden_at, modSeq: row.hidden_mod_seq! };
  return toMessage(row, sender, messageStatus(row, viewerId, row), links, { reactions: row.reactions, hidden });
}
