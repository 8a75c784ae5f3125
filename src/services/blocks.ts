import { LRUCache } from 'lru-cache';
import { CACHE_CHANNEL, type Bus } from '../bus/bus.js';
import { AppError, notFound } from '../domain/errors.js';
import { toUser } from '../domain/users.js';
import type { Block } from '../schemas/users.js';
import type { Db } from '../store/database.js';
import {
  blockedAt,
  blockersAmong,
  blockRelations,
  deleteBlock,
  directBlockOf,
  insertBlock,
  listBlocked,
} from '../store/blocks.repository.js';
import { contactIds } from '../store/conversations.repository.js';
import { findUserById } from '../store/users.repository.js';
import { fetchFresh } from './node-cache.js';

/** Who one user blocks, and who blocks them. */
export interface BlockRelations {
  blocks: ReadonlySet<number>;
  blockedBy: ReadonlySet<number>;
}

export interface BlockPage {
  blocks: Block[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
}

/**
 * Blocking. While A blocks B, B cannot open a direct conversation with A, send into their
 * direct conversation or put A in a group (`blocked`); B sees A offline with no last_seen
 * and never sees A's reads; typing and presence frames between them stop both ways. In
 * groups they share, both stay members and messages flow.
 *
 * Two kinds of answer, on purpose:
 * - Refusals (`assertNotBlockedBy`, `assertMaySendTo`) read the database, so a block
 *   refuses the next send on every node at once.
 * - What is shown (presence in user objects, read receipts, which frames go where) asks
 *   `relations`, a per-node cache. A change drops it here before the reply and on every
 *   other node through the cache channel (a `user_changed` for each of the two users:
 *   what each may see of the other changed), as with a change of privacy settings; the
 *   entries also expire after `ttlMs`, which bounds staleness if the bus lost that event.
 *   History statuses are computed by the database itself (store/message-views.ts).
 */
export class BlocksService {
  private readonly relationsCache: LRUCache<number, BlockRelations>;
  /** Conversations known to be groups: a type never changes, so a send to one needs no block check. */
  private readonly groups: LRUCache<number, true>;

  constructor(
    private readonly db: Db,
    private readonly bus: Bus | undefined,
    opts: { ttlMs: number; max: number },
    /** Told when a block between two users changed, for each of them (drops cached copies on every node). */
    private readonly onChange: (userId: number) => Promise<void> | void = () => {},
  ) {
    this.relationsCache = new LRUCache<number, BlockRelations>({
      max: opts.max,
      ttl: opts.ttlMs,
      fetchMethod: async (userId) => {
        const { blocks, blockedBy } = await blockRelations(this.db, userId);
        return { blocks: new Set(blocks), blockedBy: new Set(blockedBy) };
      },
    });
    this.groups = new LRUCache<number, true>({ max: opts.max });
  }

  /** Listens on the cache channel for blocks changed through other nodes. */
  async start(): Promise<void> {
    await this.bus?.subscribe(CACHE_CHANNEL, (event) => {
      if (event.kind === 'user_changed') this.relationsCache.delete(event.userId);
    });
  }

  /**
   * `blockerId` blocks `targetId`. Idempotent: created false when they already did.
   * Throws validation_failed (yourself, field `id`), not_found (no such user).
   */
  async block(blockerId: number, targetId: number): Promise<{ block: Block; created: boolean }> {
    const target = await this.requireOther(blockerId, targetId);
    const created = await insertBlock(this.db, blockerId, targetId);
    if (created) await this.changed(blockerId, targetId);
    const [at, contacts] = await Promise.all([blockedAt(this.db, blockerId, targetId), contactIds(this.db, blockerId, [targetId])]);
    return {
      block: {
        user: toUser(target, { id: blockerId, contact: contacts.length > 0 }),
        // Lifted by a concurrent request meanwhile: it was blocked until just now.
        blocked_at: (at ?? new Date()).toISOString(),
      },
      created,
    };
  }

  /** Lifts the block; idempotent (no block is no error). Throws validation_failed, not_found as `block`. */
  async unblock(blockerId: number, targetId: number): Promise<void> {
    await this.requireOther(blockerId, targetId);
    if (await deleteBlock(this.db, blockerId, targetId)) await this.changed(blockerId, targetId);
  }

  /** The users `blockerId` blocks, by user id, a page at a time; the cursor is opaque to clients. */
  async list(blockerId: number, opts: { limit: number; cursor?: string }): Promise<BlockPage> {
    const afterId = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor);
    const rows = await this.page(blockerId, { afterId, limit: opts.limit + 1 });
    const page = rows.slice(0, opts.limit);
    return { blocks: page, next_cursor: rows.length > opts.limit ? encodeCursor(page.at(-1)!.user.id) : null };
  }

  /**
   * Throws `blocked` when any of `targetIds` blocks `actorId`, for an action that would
   * bring the actor to them: opening a direct conversation, putting them in a group (at
   * creation, or by adding members). Reads the database, so it holds on every node at once.
   * `field` names the request field at fault.
   */
  async assertNotBlockedBy(actorId: number, targetIds: number[], field?: string): Promise<void> {
    const blockers = await blockersAmong(this.db, actorId, [...new Set(targetIds)]);
    if (blockers.length === 0) return;
    throw new AppError(
      'blocked',
      targetIds.length === 1
        ? 'This user does not accept conversations with you'
        : `User${blockers.length > 1 ? 's' : ''} ${blockers.join(', ')} do${blockers.length > 1 ? '' : 'es'} not accept conversations with you`,
      field === undefined ? undefined : { field },
    );
  }

  /**
   * Throws `blocked` when `conversationId` is a direct conversation whose other member
   * blocks `senderId`. The caller has checked membership. A group is remembered as one,
   * so sends to groups cost nothing after the first; a direct send costs one indexed query.
   */
  async assertMaySendTo(senderId: number, conversationId: number): Promise<void> {
    if (this.groups.has(conversationId)) return;
    const found = await directBlockOf(this.db, conversationId, senderId);
    if (found?.type === 'group') this.groups.set(conversationId, true);
    if (found?.blocked) throw new AppError('blocked', 'This user does not accept messages from you');
  }

  /** Who `userId` blocks and who blocks them, from the per-node cache (see the class comment). */
  async relations(userId: number): Promise<BlockRelations> {
    return (await fetchFresh(this.relationsCache, userId)) ?? NONE;
  }

  /** `userIds` without anyone who blocks `userId` or whom `userId` blocks. */
  async apartFrom(userId: number, userIds: number[]): Promise<number[]> {
    const { blocks, blockedBy } = await this.relations(userId);
    if (blocks.size === 0 && blockedBy.size === 0) return userIds;
    return userIds.filter((id) => !blocks.has(id) && !blockedBy.has(id));
  }

  private async requireOther(callerId: number, targetId: number) {
    if (targetId === callerId) throw new AppError('validation_failed', 'You cannot block yourself', { field: 'id' });
    const target = await findUserById(this.db, targetId);
    if (!target) throw notFound('User');
    return target;
  }

  private async changed(blockerId: number, blockedId: number): Promise<void> {
    this.relationsCache.delete(blockerId);
    this.relationsCache.delete(blockedId);
    await Promise.all([this.onChange(blockerId), this.onChange(blockedId)]);
  }

  /** Blocked users as the blocker sees them (their presence per the usual rules). */
  private async page(blockerId: number, opts: { afterId?: number; limit: number }): Promise<Block[]> {
    const rows = await listBlocked(this.db, blockerId, opts);
    const contacts = new Set(await contactIds(this.db, blockerId, rows.map((r) => r.id)));
    return rows.map((r) => ({
      user: toUser(r, { id: blockerId, contact: contacts.has(r.id) }),
      blocked_at: r.blocked_at.toISOString(),
    }));
  }
}

const NONE: BlockRelations = { blocks: new Set(), blockedBy: new Set() };

const encodeCursor = (id: number) => Buffer.from(`b:${id}`).toString('base64url');

function decodeCursor(cursor: string): number {
  const m = /^b:(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString());
  const id = m ? Number(m[1]) : NaN;
  if (!Number.isSafeInteger(id)) throw new AppError('validation_failed', 'cursor is not valid', { field: 'cursor' });
  return id;
}
