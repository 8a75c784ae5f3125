import { Type, type Static } from 'typebox';
import { LAST_SEEN_VISIBILITY, USERNAME_PATTERN } from '../domain/users.js';
import { nullable, stringEnum, Timestamp, Url } from './common.js';

/** Users and accounts on the wire (registered by $id, used through Type.Ref in routes). */

export const userProperties = {
  id: Type.Integer(),
  username: Type.String(),
  email: Type.String(),
  phone: nullable<string>(Type.String()),
  avatar: nullable<string>(Type.String()),
  status: stringEnum(['online', 'offline'] as const),
  last_seen: nullable<string>(Timestamp({ description: 'null when the user hides it from you' })),
  created_at: Timestamp(),
  updated_at: Timestamp(),
};

/** A user as every client sees it. Never carries the password hash. */
export const UserSchema = Type.Object(userProperties, { $id: 'User', title: 'User' });
export type User = Static<typeof UserSchema>;

export const MeSchema = Type.Object(
  { ...userProperties, last_seen_visibility: stringEnum(LAST_SEEN_VISIBILITY), share_read_receipts: Type.Boolean() },
  { $id: 'Me', title: 'Me', description: 'The caller\'s own user object, with privacy settings.' },
);
/** The caller's own view adds their privacy settings. */
export type Me = Static<typeof MeSchema>;

export const AuthResultSchema = Type.Object({
  token: Type.String({ description: 'Access token (JWT) for `Authorization: Bearer`.' }),
  refresh_token: Type.String({ description: 'Exchange at /auth/refresh for a new pair; single use.' }),
  device_id: Type.String({
    description: 'This session\'s public id as a device: what call frames name it by (`from_device`, `call_selected`). The same for the session\'s life.',
  }),
  user: Type.Ref('Me'),
});

export const Username = Type.String({ pattern: USERNAME_PATTERN, description: '3–32 letters, digits, `_`, `.` or `-`.' });
export const Email = Type.String({ format: 'email', maxLength: 254 });
export const Phone = Type.String({ maxLength: 32 });
export const AvatarUrl = Url();
export const Visibility = Type.Union(LAST_SEEN_VISIBILITY.map((v) => Type.Literal(v)));

/** A user the caller blocks, and since when. */
export const BlockSchema = Type.Object({
  user: Type.Ref('User'),
  blocked_at: Timestamp(),
});
export type Block = { user: User; blocked_at: string };
