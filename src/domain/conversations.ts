/** Conversations: rules with no I/O. */

/** A direct conversation's unique key: the two user ids, smaller first. */
export const directKey = (a: number, b: number) => (a < b ? `${a}:${b}` : `${b}:${a}`);
