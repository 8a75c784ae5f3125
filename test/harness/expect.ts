import { expect } from 'vitest';
import type { Reply } from './app.js';

/** ISO-8601 UTC timestamps as natter writes them. */
export const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** The keys of a user object as other users see it. */
export const USER_KEYS = ['avatar', 'created_at', 'email', 'id', 'last_seen', 'phone', 'status', 'updated_at', 'username'];

/** The keys of a message object, sorted. */
export const MESSAGE_KEYS = [
  'attachments',
  'call',
  'client_id',
  'content',
  'conversation_id',
  'created_at',
  'deleted_at',
  'deleted_for',
  'edited_at',
  'id',
  'media_url',
  'mod_seq',
  'reactions',
  'reply_to_id',
  'sender',
  'sender_id',
  'seq',
  'status',
  'system',
  'type',
  'updated_at',
];

/** The typed fields every user object has, whoever looks at it. */
export function expectUserFields(user: any): void {
  expect(Number.isInteger(user.id)).toBe(true);
  expect(user.phone === null || typeof user.phone === 'string').toBe(true);
  expect(user.avatar === null || typeof user.avatar === 'string').toBe(true);
  expect(['online', 'offline']).toContain(user.status);
  expect(user.last_seen).toMatch(ISO);
  expect(user.created_at).toMatch(ISO);
  expect(user.updated_at).toMatch(ISO);
}

/** An error reply: the status, a JSON body with a non-empty `error` string and the `code`. */
export function expectError(res: Reply, status: number, code: string): void {
  expect(res.status, JSON.stringify(res.body)?.slice(0, 300)).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(typeof res.body.error).toBe('string');
  expect(res.body.error.length).toBeGreaterThan(0);
  expect(res.body.code).toBe(code);
}

/** Every reply body, however nested, must be free of anything password-like. */
export function expectNoPasswordKeys(value: unknown): void {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) stack.push(...v);
    else if (v && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        expect(k.toLowerCase()).not.toContain('password');
        stack.push(child);
      }
    }
  }
}
