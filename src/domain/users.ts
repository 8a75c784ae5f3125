import type { Me, User } from '../schemas/users.js';

/**
 * Users: who may see whose presence, and the one conversion from a stored user to the
 * user object clients see. No I/O.
 */

export const LAST_SEEN_VISIBILITY = ['everyone', 'contacts', 'nobody'] as const;
export type LastSeenVisibility = (typeof LAST_SEEN_VISIBILITY)[number];

export const USERNAME_PATTERN = '^[A-Za-z0-9_.-]{3,32}$';

/** Emails are compared case-insensitively and stored lower-case. */
export const normalizeEmail = (email: string) => email.trim().toLowerCase();

/** A stored user, as the store reads it (the password hash is never needed here). */
export interface UserRecord {
  id: number;
  username: string;
  email: string;
  phone: string | null;
  avatar: string | null;
  status: 'online' | 'offline';
  last_seen: Date;
  last_seen_visibility: LastSeenVisibility;
  share_read_receipts: boolean;
  created_at: Date;
  updated_at: Date;
}

/**
 * Who looks at a user: their id (undefined: everyone alike), whether they share a
 * conversation, and whether the user blocks them.
 */
export interface Viewer {
  id?: number;
  contact: boolean;
  /** The user blocks this viewer: to them the user is always offline, with no last_seen. */
  blocked?: boolean;
}

/**
 * Whether a viewer may see a user's status and last_seen: always themselves; never
 * someone the user blocks; others per the user's last_seen_visibility (`contacts` =
 * people sharing a conversation with them).
 */
export function presenceVisible(user: UserRecord, viewer: Viewer): boolean {
  if (viewer.id === user.id) return true;
  if (viewer.blocked) return false;
  if (user.last_seen_visibility === 'everyone') return true;
  return user.last_seen_visibility === 'contacts' && viewer.contact;
}

/**
 * The one stored → wire conversion for users. When presence is hidden from the viewer,
 * status reads offline and last_seen null. The default viewer is a contact: that is
 * everyone who sees a user inside a conversation.
 */
export function toUser(user: UserRecord, viewer: Viewer = { contact: true }): User {
  const visible = presenceVisible(user, viewer);
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    phone: user.phone,
    avatar: user.avatar,
    status: visible ? user.status : 'offline',
    last_seen: visible ? user.last_seen.toISOString() : null,
    created_at: user.created_at.toISOString(),
    updated_at: user.updated_at.toISOString(),
  };
}

/** The caller's own view: their privacy settings too. */
export function toMe(user: UserRecord): Me {
  return {
    ...toUser(user, { id: user.id, contact: true }),
    last_seen_visibility: user.last_seen_visibility,
    share_read_receipts: user.share_read_receipts,
  };
}
