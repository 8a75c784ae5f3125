import { AppError, notFound } from '../domain/errors.js';
import { toMe, toUser } from '../domain/users.js';
import type { Me, User } from '../schemas/users.js';
import type { Db } from '../store/database.js';
import type { BlocksService } from './blocks.js';
import { contactIds } from '../store/conversations.repository.js';
import {
  findUserById,
  listUsers,
  UniqueViolation,
  updateUser,
  type UserRow,
} from '../store/users.repository.js';

export function uniqueViolationToAppError(err: unknown): never {
  if (err instanceof UniqueViolation) {
    throw err.field === 'email'
      ? new AppError('email_taken', 'Email is already registered', { field: 'email' })
      : new AppError('username_taken', 'Username is already taken', { field: 'username' });
  }
  throw err;
}

export type ProfileChanges = Partial<
  Pick<Me, 'username' | 'phone' | 'avatar' | 'last_seen_visibility' | 'share_read_receipts'>
>;

export interface UserPage {
  users: User[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
}

export class UsersService {
  constructor(
    private readonly db: Db,
    private readonly blocks: BlocksService,
    /** Told when a profile changed, so cached copies are dropped (on every node). */
    private readonly onProfileChange: (userId: number) => Promise<void> | void = () => {},
  ) {}

  async me(userId: number): Promise<Me> {
    const row = await findUserById(this.db, userId);
    // The session check passed, so only a deleted account gets here.
    if (!row) throw new AppError('unauthorized', 'Account no longer exists');
    return toMe(row);
  }

  async get(viewerId: number, userId: number): Promise<User> {
    const row = await findUserById(this.db, userId);
    if (!row) throw notFound('User');
    const [contacts, { blockedBy }] = await Promise.all([contactIds(this.db, viewerId, [row.id]), this.blocks.relations(viewerId)]);
    return toUser(row, { id: viewerId, contact: contacts.length > 0, blocked: blockedBy.has(row.id) });
  }

  /** Applies the given fields only; `null` clears phone or avatar. */
  async update(userId: number, changes: ProfileChanges): Promise<Me> {
    // Copy the profile fields one by one: the request body may carry anything else
    // (email, password_hash, id, status...), and none of that may reach the row.
    const clean: ProfileChanges = {};
    if (changes.username !== undefined) clean.username = changes.username;
    if (changes.phone !== undefined) clean.phone = changes.phone?.trim() || null;
    if (changes.avatar !== undefined) clean.avatar = changes.avatar?.trim() || null;
    if (changes.last_seen_visibility !== undefined) clean.last_seen_visibility = changes.last_seen_visibility;
    if (changes.share_read_receipts !== undefined) clean.share_read_receipts = changes.share_read_receipts;
    if (Object.keys(clean).length === 0) return this.me(userId);
    let row: UserRow | undefined;
    try {
      row = await updateUser(this.db, userId, clean);
    } catch (err) {
      uniqueViolationToAppError(err);
    }
    if (!row) throw new AppError('unauthorized', 'Account no longer exists');
    await this.onProfileChange(userId);
    return toMe(row);
  }

  /** Everyone but the caller, by id; cursor is opaque to clients. */
  async list(callerId: number, opts: { search?: string; limit: number; cursor?: string }): Promise<UserPage> {
    const afterId = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor);
    const rows = await listUsers(this.db, {
      excludeId: callerId,
      search: opts.search?.trim() || undefined,
      afterId,
      limit: opts.limit + 1,
    });
    const page = rows.slice(0, opts.limit);
    const more = rows.length > opts.limit;
    const [contactList, { blockedBy }] = await Promise.all([
      contactIds(this.db, callerId, page.map((r) => r.id)),
      this.blocks.relations(callerId),
    ]);
    const contacts = new Set(contactList);
    return {
      users: page.map((r) => toUser(r, { id: callerId, contact: contacts.has(r.id), blocked: blockedBy.has(r.id) })),
      next_cursor: more ? encodeCursor(page.at(-1)!.id) : null,
    };
  }
}

const encodeCursor = (id: number) => Buffer.from(`u:${id}`).toString('base64url');

function decodeCursor(cursor: string): number {
  const m = /^u:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString());
  const id = m ? Number(m[1]) : NaN;
  // A number past 2^53 would reach SQL as "1e+46" and fail the query.
  if (!Number.isSafeInteger(id)) throw new AppError('validation_failed', 'cursor is not valid', { field: 'cursor' });
  return id;
}
