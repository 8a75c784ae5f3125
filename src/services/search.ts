import { AppError } from '../domain/errors.js';
import { endsInPrefix, highlightHtml } from '../domain/search.js';
import type { Message } from '../schemas/messages.js';
import type { SearchPage } from '../schemas/search.js';
import type { Db } from '../store/database.js';
import type { ViewRow } from '../store/message-views.js';
import { searchMessages } from '../store/search.repository.js';
import type { Access } from './access.js';

export interface SearchInput {
  q: string;
  conversationId?: number;
  senderId?: number;
  /** ISO-8601 times, as the schema checked them. */
  before?: string;
  after?: string;
  limit: number;
  cursor?: string;
}

/** Rows read with what the caller sees of them → wire messages, in the order given (MessagesService.view). */
export type ViewMessages = (callerId: number, rows: ViewRow[]) => Promise<Message[]>;

/** Full-text search over the messages a user can read. */
export class SearchService {
  constructor(
    private readonly db: Db,
    private readonly access: Access,
    /** The text search configuration (SEARCH_LANGUAGE) messages.search is built with. */
    private readonly language: string,
    private readonly view: ViewMessages,
  ) {}

  /**
   * Messages matching `q` in the caller's conversations, newest first, `limit` a page;
   * never deleted messages nor those the caller hid. A query that holds no words (only
   * punctuation, only stop words) finds nothing. Throws validation_failed (`q` blank, a
   * bad `cursor`), not_found (`conversationId` not the caller's, or no such conversation).
   */
  async messages(callerId: number, input: SearchInput): Promise<SearchPage> {
    if (input.q.trim() === '') throw new AppError('validation_failed', 'q must hold something to search for', { field: 'q' });
    const belowId = input.cursor === undefined ? undefined : decodeCursor(input.cursor);
    const before = time(input.before, 'before');
    const after = time(input.after, 'after');
    if (input.conversationId !== undefined) await this.access.requireMember(callerId, input.conversationId);
    const rows = await searchMessages(this.db, {
      callerId,
      language: this.language,
      q: input.q,
      prefix: endsInPrefix(input.q),
      conversationId: input.conversationId,
      senderId: input.senderId,
      before,
      after,
      belowId,
      limit: input.limit + 1,
    });
    const page = rows.slice(0, input.limit);
    const messages = await this.view(callerId, page);
    return {
      results: page.map((row, i) => ({ message: messages[i]!, highlight: highlightHtml(row.headline) })),
      next_cursor: rows.length > input.limit ? encodeCursor(page.at(-1)!.id) : null,
    };
  }
}

/**
 * A time the schema accepted as date-time; a leap second (`23:59:60Z`) passes that check
 * but is no time a Date holds.
 */
function time(iso: string | undefined, field: string): Date | undefined {
  if (iso === undefined) return undefined;
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) throw new AppError('validation_failed', `${field} must be a valid date time`, { field });
  return at;
}

/** Opaque to clients: `s:<id of the page's last message>`, base64url. */
const encodeCursor = (id: number) => Buffer.from(`s:${id}`).toString('base64url');

function decodeCursor(cursor: string): number {
  const m = /^s:(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString());
  const id = Number(m?.[1]);
  if (!m || !Number.isSafeInteger(id)) throw new AppError('validation_failed', 'cursor is not valid', { field: 'cursor' });
  return id;
}
