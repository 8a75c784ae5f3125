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

/**
 * A system event in words, for the message's `content`: what a client that knows
 * nothing of system messages shows. `names` holds the usernames of the actor and the
 * users it is about (an id without one shows as "someone").
 */
export function systemText(e: SystemEvent, names: Map<number, string>): string {
  const who = (id: number | null) => (id === null ? 'someone' : (names.get(id) ?? 'someone'));
  const actor = who(e.actor_id);
  const them = (e.user_ids ?? []).map(who).join(', ');
  switch (e.event) {
    case 'member_added':
      return `${actor} added ${them}`;
    case 'member_removed':
      return `${actor} removed ${them}`;
    case 'member_left':
      return `${actor} left`;
    case 'member_joined':
      return `${actor} joined using an invite link`;
    case 'role_changed':
      return `${actor} made ${them} ${e.role === 'admin' ? 'an admin' : 'a member'}`;
    case 'renamed':
      return `${actor} renamed the group to "${e.name ?? ''}"`;
    case 'info_changed':
      return `${actor} changed the group's info`;
    case 'owner_changed':
      return `${them} is now the group's owner`;
  }
}
