/**
 * A canonical UUID (8-4-4-4-12 hex digits). Session ids are UUIDs; anything else must be
 * refused before it reaches a `uuid` column, where PostgreSQL would fail the query.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (s: string): boolean => UUID.test(s);
