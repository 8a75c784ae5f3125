/**
 * Valid sample values built from a JSON schema (an OpenAPI request schema or a WebSocket
 * frame schema), so a test can send a request that is valid in every field but the one it
 * studies. Knows the keywords natter's request schemas use; anything else is a test bug
 * and throws.
 */

export type Schema = Record<string, any>;

/** A value that satisfies `schema` (the smallest one that does). */
export function sample(schema: Schema): unknown {
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if (schema.anyOf || schema.oneOf) return sample((schema.anyOf ?? schema.oneOf)[0]);
  const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== 'null') : schema.type;
  switch (type) {
    case 'integer':
    case 'number':
      return schema.minimum ?? 1;
    case 'boolean':
      return true;
    case 'string':
      return 'x'.repeat(Math.max(1, schema.minLength ?? 1));
    case 'array':
      return schema.minItems ? Array.from({ length: schema.minItems }, () => sample(schema.items)) : [];
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const key of schema.required ?? []) out[key] = sample(schema.properties[key]);
      return out;
    }
    default:
      throw new Error(`no sample for schema ${JSON.stringify(schema).slice(0, 200)}`);
  }
}

/** An integer field somewhere in a body or frame: its path (`a.b`, `ids.0`) and where it sits. */
export interface IntegerField {
  /** Dotted path as error replies name it (array elements by index). */
  path: string;
  /** The object schema holding it (a union member, for unions), to build the rest of the value. */
  holder: Schema;
  key: string;
  /** The field is an array of integers (the test puts the big number in element 0). */
  array: boolean;
}

/** Whether an integer sits anywhere inside `schema`. */
export function containsInteger(schema: unknown): boolean {
  if (!schema || typeof schema !== 'object') return false;
  if ([(schema as Schema).type].flat().includes('integer')) return true;
  return Object.values(schema).some(containsInteger);
}

/**
 * Every integer property of an object schema, one level deep, union members included:
 * the property itself or the elements of an array of integers. An integer nested any
 * other way (an object, a record, an array of objects) throws unless its property is in
 * `handled` (the test tries it by hand), so a new shape cannot slip past the walk.
 */
export function integerFields(schema: Schema, handled: string[] = []): IntegerField[] {
  const out: IntegerField[] = [];
  const objects = schema.anyOf ?? schema.oneOf ?? [schema];
  for (const holder of objects) {
    for (const [key, prop] of Object.entries<Schema>(holder.properties ?? {})) {
      for (const branch of prop.anyOf ?? prop.oneOf ?? [prop]) {
        const types = [branch.type].flat();
        if (types.includes('integer')) out.push({ path: key, holder, key, array: false });
        else if (types.includes('array') && [branch.items?.type].flat().includes('integer')) {
          out.push({ path: `${key}.0`, holder, key, array: true });
        } else if (containsInteger(branch) && !handled.includes(key)) {
          throw new Error(`${key} holds an integer in a shape the walk does not know; try it by hand and list it as handled`);
        }
      }
    }
  }
  return out;
}

/** A valid value of `field.holder` with the field set to `value`. */
export function withField(field: IntegerField, value: number): Record<string, unknown> {
  const base = sample({ ...field.holder, type: 'object' }) as Record<string, unknown>;
  return { ...base, [field.key]: field.array ? [value] : value };
}
