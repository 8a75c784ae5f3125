import type { Conversation, Message, NatterClient, User } from '@natter/client';

/** The caller's own user object, with the privacy settings. */
export type Me = User & { last_seen_visibility: 'everyone' | 'contacts' | 'nobody'; share_read_receipts: boolean };

/**
 * The REST calls the app makes besides the SDK's own methods, through the SDK's typed
 * `client.api` (openapi-fetch: every path, body and reply is checked against natter's
 * OpenAPI document). A refusal becomes an ApiError with natter's message and code.
 */

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status: number,
  ) {
    super(message);
  }
}

interface Result<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

async function unwrap<T>(call: Promise<Result<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (error !== undefined || data === undefined) {
    const body = (error ?? {}) as { error?: string; code?: string };
    throw new ApiError(body.error ?? `Request failed (${response.status})`, body.code ?? 'internal', response.status);
  }
  return data;
}

/** For calls answered 204 (no body). */
async function done(call: Promise<Result<unknown>>): Promise<void> {
  const { error, response } = await call;
  if (!response.ok) {
    const body = (error ?? {}) as { error?: string; code?: string };
    throw new ApiError(body.error ?? `Request failed (${response.status})`, body.code ?? 'internal', response.status);
  }
}

export const api = {
  async conversations(c: NatterClient): Promise<Conversation[]> {
    const page = await unwrap(c.api.GET('/api/v1/conversations', { params: { query: { limit: 100 } } }));
    return page.conversations as Conversation[];
  },

  async searchUsers(c: NatterClient, search: string): Promise<User[]> {
    const page = await unwrap(c.api.GET('/api/v1/users', { params: { query: { search, limit: 20 } } }));
    return page.users as User[];
  },

  async direct(c: NatterClient, userId: number): Promise<Conversation> {
    const reply = await unwrap(c.api.POST('/api/v1/conversations', { body: { type: 'direct', participant_id: userId } }));
    return reply.conversation as Conversation;
  },

  async group(c: NatterClient, name: string, userIds: number[]): Promise<Conversation> {
    const reply = await unwrap(
      c.api.POST('/api/v1/conversations', { body: { type: 'group', name, participant_ids: userIds } }),
    );
    return reply.conversation as Conversation;
  },

  async me(c: NatterClient): Promise<Me> {
    const reply = await unwrap(c.api.GET('/api/v1/users/me'));
    return reply.user as Me;
  },

  async updateMe(c: NatterClient, body: { last_seen_visibility?: Me['last_seen_visibility']; share_read_receipts?: boolean }): Promise<Me> {
    const reply = await unwrap(c.api.PATCH('/api/v1/users/me', { body }));
    return reply.user as Me;
  },

  async blocks(c: NatterClient): Promise<User[]> {
    const page = await unwrap(c.api.GET('/api/v1/users/me/blocks', { params: { query: { limit: 100 } } }));
    return page.blocks.map((b) => b.user as User);
  },

  async block(c: NatterClient, userId: number): Promise<void> {
    await unwrap(c.api.POST('/api/v1/users/{id}/block', { params: { path: { id: userId } } }));
  },

  async unblock(c: NatterClient, userId: number): Promise<void> {
    await done(c.api.DELETE('/api/v1/users/{id}/block', { params: { path: { id: userId } } }));
  },

  async addMembers(c: NatterClient, conversationId: number, userIds: number[]): Promise<Conversation> {
    const reply = await unwrap(
      c.api.POST('/api/v1/conversations/{id}/participants', { params: { path: { id: conversationId } }, body: { user_ids: userIds } }),
    );
    return reply.conversation as Conversation;
  },

  async removeMember(c: NatterClient, conversationId: number, userId: number): Promise<void> {
    await done(c.api.DELETE('/api/v1/conversations/{id}/participants/{userId}', { params: { path: { id: conversationId, userId } } }));
  },

  async setRole(c: NatterClient, conversationId: number, userId: number, role: 'owner' | 'admin' | 'member'): Promise<Conversation> {
    const reply = await unwrap(
      c.api.PATCH('/api/v1/conversations/{id}/participants/{userId}', { params: { path: { id: conversationId, userId } }, body: { role } }),
    );
    return reply.conversation as Conversation;
  },

  async renameGroup(c: NatterClient, conversationId: number, name: string): Promise<Conversation> {
    const reply = await unwrap(c.api.PATCH('/api/v1/conversations/{id}', { params: { path: { id: conversationId } }, body: { name } }));
    return reply.conversation as Conversation;
  },

  /** Messages after `seq`, oldest first (up to 100: a longer gap is paged by scrolling). */
  async after(c: NatterClient, conversationId: number, seq: number): Promise<Message[]> {
    const page = await unwrap(
      c.api.GET('/api/v1/conversations/{id}/messages', { params: { path: { id: conversationId }, query: { after_seq: seq, limit: 100 } } }),
    );
    return page.messages as Message[];
  },

  async searchMessages(c: NatterClient, q: string, conversationId?: number): Promise<{ message: Message; highlight: string }[]> {
    const query = conversationId === undefined ? { q, limit: 20 } : { q, conversation_id: conversationId, limit: 20 };
    const page = await unwrap(c.api.GET('/api/v1/search/messages', { params: { query } }));
    return page.results as { message: Message; highlight: string }[];
  },
};
