/** A user as every client sees it. Never carries the password hash. */
export interface User {
  id: number;
  username: string;
  email: string;
  phone: string | null;
  avatar: string | null;
  /** `offline` (and last_seen null) when the user hides their presence from the viewer. */
  status: 'online' | 'offline';
  last_seen: string | null;
  created_at: string;
  updated_at: string;
}

/** The caller's own view adds their privacy settings. */
export interface Me extends User {
  last_seen_visibility: LastSeenVisibility;
  share_read_receipts: boolean;
}

export const LAST_SEEN_VISIBILITY = ['everyone', 'contacts', 'nobody'] as const;
export type LastSeenVisibility = (typeof LAST_SEEN_VISIBILITY)[number];

export const USERNAME_PATTERN = '^[A-Za-z0-9_.-]{3,32}$';

/** Emails are compared case-insensitively and stored lower-case. */
export const normalizeEmail = (email: string) => email.trim().toLowerCase();
