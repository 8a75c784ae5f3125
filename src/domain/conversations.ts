/** Conversations: rules with no I/O. */

/** A direct conversation's unique key: the two user ids, smaller first. */
export const directKey = (a: number, b: number) => (a < b ? `${a}:${b}` : `${b}:${a}`);

/**
 * Who is in a conversation and who may post there, at one roster version (it grows with
 * every change of either; see migrations/000006). `posterIds` null: every member may.
 */
export interface Roster {
  version: number;
  memberIds: number[];
  posterIds: number[] | null;
}

/** Whether a role may administer a group (add and remove members, change its settings). */
export const isAdmin = (role: string) => role === 'owner' || role === 'admin';

/** Whether the user is in the roster and may post (every member, or only admins). */
export const mayPost = (roster: Roster, userId: number) =>
  roster.memberIds.includes(userId) && (roster.posterIds === null || roster.posterIds.includes(userId));
