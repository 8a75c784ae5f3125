import { Type, type TSchema } from 'typebox';

/**
 * Schema shapes for replies that serialise fast. fast-json-stringify has to run a
 * validator on every value of an `anyOf` to pick the branch (a date-time format check per
 * field per object, profiled at several % of a history page); a type list or an enum
 * needs none. Requests keep TypeBox's usual unions: validating input is the point there.
 */

/** A string, integer or boolean field that may be null: `{"type": [T, "null"]}`. */
export function nullable<T>(schema: TSchema & { type: string }): ReturnType<typeof Type.Unsafe<T | null>> {
  return Type.Unsafe<T | null>({ ...schema, type: [schema.type, 'null'] });
}

/** One of a fixed set of strings, as `{"type":"string","enum":[…]}`. */
export function stringEnum<const V extends readonly string[]>(values: V, extra: Record<string, unknown> = {}) {
  return Type.Unsafe<V[number]>({ type: 'string', enum: [...values], ...extra });
}
