/**
 * System messages: a change to a group told in the conversation, as a message of type
 * `system` that takes a seq like any other. `system` says what happened; `content` says
 * it in words, so a client that knows nothing of system messages shows a readable line.
 */
export const SYSTEM_EVENTS = [
  'member_added',
  'member_removed',
  'member_left',
  'member_joined',
  'role_changed',
  'renamed',
  'info_changed',
  'owner_changed',
] as const;
export type SystemEventName = (typeof SYSTEM_EVENTS)[number];

export const ROLES = ['owner', 'admin', 'member'] as const;
export type Role = (typeof ROLES)[number];

export interface SystemEvent {
  event: SystemEventName;
  /** Who made the change (null: their account is gone). */
  actor_id: number | null;
  /** Whom it was about (added, removed, whose role changed, the new owner). */
  user_ids?: number[];
  /** The group's new name (renamed). */
  name?: string;
  /** The new role (role_changed). */
  role?: Role;
}
