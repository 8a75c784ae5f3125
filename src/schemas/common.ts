import { Type, type TSchema } from 'typebox';
import { ERROR_CODES } from '../domain/errors.js';

/**
 * The wire vocabulary's primitives, defined once and used by every REST route and every
 * WebSocket frame. Every number is bounded: ids and seqs are PostgreSQL bigints, and the
 * largest integer a JSON number carries exactly (2^53 − 1) is far inside that range, so
 * anything beyond it is refused at the edge (400 validation_failed naming the field)
 * instead of failing a query.
 */

/** The largest id or seq the API accepts: the largest integer a JSON number holds exactly. */
export const MAX_INTEGER = Number.MAX_SAFE_INTEGER;

/** A row id (users, conversations, messages): 1 … 2^53 − 1. */
export const Id = (extra: { description?: string } = {}) => Type.Integer({ minimum: 1, maximum: MAX_INTEGER, ...extra });

/** `/conversations/:id` and the routes below it. */
export const ConversationParams = Type.Object({ id: Id() });
/** `/conversations/:id/messages/:messageId` and the routes below it. */
export const MessageParams = Type.Object({ id: Id(), messageId: Id() });

/** A position in a conversation: 0 (nothing yet) … 2^53 − 1. */
export const Seq = (extra: { description?: string } = {}) => Type.Integer({ minimum: 0, maximum: MAX_INTEGER, ...extra });

/** How many items a page holds: 1 … 100, 50 when not given. */
export const PageLimit = () => Type.Integer({ minimum: 1, maximum: 100, default: 50, description: 'Items per page (1–100).' });

/** An opaque paging cursor, as the previous page's `next_cursor` gave it. */
export const Cursor = () => Type.String({ minLength: 1, maxLength: 128, description: '`next_cursor` of the previous page.' });

/** The client's own id for a message (unique per sender), which makes a send idempotent. */
export const ClientId = () =>
  Type.String({ minLength: 1, maxLength: 128, description: 'The client\'s id for this message (1–128 characters), unique per sender.' });

/** A URL of an avatar or a media file. */
export const Url = () => Type.String({ maxLength: 2048 });

/** An ISO-8601 time in UTC, as natter writes every time. */
export const Timestamp = (extra: { description?: string } = {}) => Type.String({ format: 'date-time', ...extra });

/**
 * Reply shapes that serialise fast. fast-json-stringify has to run a validator on every
 * value of an `anyOf` to pick the branch (a date-time format check per field per object,
 * profiled at several % of a history page); a type list or an enum needs none. Requests
 * keep TypeBox's usual unions: validating input is the point there.
 */

/** A string, integer or boolean reply field that may be null: `{"type": [T, "null"]}`. */
export function nullable<T>(schema: TSchema & { type: string }): ReturnType<typeof Type.Unsafe<T | null>> {
  return Type.Unsafe<T | null>({ ...schema, type: [schema.type, 'null'] });
}

/** One of a fixed set of strings, as `{"type":"string","enum":[…]}`. */
export function stringEnum<const V extends readonly string[]>(values: V, extra: Record<string, unknown> = {}) {
  return Type.Unsafe<V[number]>({ type: 'string', enum: [...values], ...extra });
}

/** A request field that may be null (the seed's clients send `null` for "none"). */
export const OrNull = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** The one error body: `{"error": "<message>", "code": "<code>"[, "field"]}`. */
export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'Human-readable message (clients may display it).' }),
    code: stringEnum(ERROR_CODES, { description: 'Machine-readable code, see docs/errors.md.' }),
    field: Type.Optional(Type.String({ description: 'The request field at fault, for validation errors.' })),
  },
  { $id: 'Error', title: 'Error' },
);

/** Standard error replies, by status, for a route's `response` map. */
export const errorResponses = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, Type.Ref('Error')]));

/** `{message}`: the seed's acknowledgement body (logout). */
export const MessageBody = Type.Object({ message: Type.String() });
