import { Type, type Static } from 'typebox';
import { ERROR_CODES } from '../domain/errors.js';
import { LAST_SEEN_VISIBILITY, USERNAME_PATTERN } from '../domain/users.js';
import { nullable, stringEnum } from './wire-types.js';

/** Wire schemas shared by routes; they drive validation, serialisation and OpenAPI. */

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'Human-readable message (clients may display it).' }),
    code: Type.Union(ERROR_CODES.map((c) => Type.Literal(c)), { description: 'Machine-readable code, see docs/errors.md.' }),
    field: Type.Optional(Type.String({ description: 'The request field at fault, for validation errors.' })),
  },
  { $id: 'Error', title: 'Error' },
);

const DateTime = Type.String({ format: 'date-time' });

export const userProperties = {
  id: Type.Integer(),
  username: Type.String(),
  email: Type.String(),
  phone: nullable<string>(Type.String()),
  avatar: nullable<string>(Type.String()),
  status: stringEnum(['online', 'offline'] as const),
  last_seen: nullable<string>(Type.String({ format: 'date-time', description: 'null when the user hides it from you' })),
  created_at: DateTime,
  updated_at: DateTime,
};

export const UserSchema = Type.Object(userProperties, { $id: 'User', title: 'User' });

const Visibility = Type.Union(LAST_SEEN_VISIBILITY.map((v) => Type.Literal(v)));

export const MeSchema = Type.Object(
  { ...userProperties, last_seen_visibility: stringEnum(LAST_SEEN_VISIBILITY), share_read_receipts: Type.Boolean() },
  { $id: 'Me', title: 'Me', description: 'The caller\'s own user object, with privacy settings.' },
);

export const AuthResultSchema = Type.Object({
  token: Type.String({ description: 'Access token (JWT) for `Authorization: Bearer`.' }),
  refresh_token: Type.String({ description: 'Exchange at /auth/refresh for a new pair; single use.' }),
  user: Type.Ref('Me'),
});

export const Username = Type.String({ pattern: USERNAME_PATTERN, description: '3–32 letters, digits, `_`, `.` or `-`.' });
export const Email = Type.String({ format: 'email', maxLength: 254 });
export const Phone = Type.String({ maxLength: 32 });
export const AvatarUrl = Type.String({ maxLength: 2048 });
export { Visibility };

export const MessageBody = Type.Object({ message: Type.String() });

/** Standard error replies, by status, for a route's `response` map. */
export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, Type.Ref('Error')]));

export type MeT = Static<typeof MeSchema>;
