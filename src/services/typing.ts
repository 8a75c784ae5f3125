import { frames } from '../schemas/server-frames.js';
import type { Access } from './access.js';
import type { BlocksService } from './blocks.js';
import type { Fanout } from './fanout.js';
import type { NodeCache } from './node-cache.js';

/**
 * Typing indicators. Each `typing` frame is forwarded to the other participants (but none
 * with a block between them and the typist, either way); a user who stops sending them is
 * reported as no longer typing after `ttlMs`.
 * Holds one timer per (conversation, user) currently typing.
 */
export class TypingService {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly access: Access,
    private readonly fanout: Fanout,
    private readonly ttlMs: number,
    private readonly cache: NodeCache,
    private readonly blocks: BlocksService,
  ) {}

  /** Throws not_found unless the user is a member of the conversation. */
  async typing(userId: number, conversationId: number, isTyping: boolean): Promise<void> {
    await this.access.requireMember(userId, conversationId);
    const key = `${conversationId}:${userId}`;
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    if (isTyping) {
      const timer = setTimeout(() => {
        this.timers.delete(key);
        void this.announce(userId, conversationId, false).catch(() => {});
      }, this.ttlMs);
      timer.unref();
      this.timers.set(key, timer);
    }
    await this.announce(userId, conversationId, isTyping);
  }

  /** A user's last socket closed: whatever they were typing, they stopped. */
  async stopAll(userId: number): Promise<void> {
    const suffix = `:${userId}`;
    const keys = [...this.timers.keys()].filter((k) => k.endsWith(suffix));
    await Promise.all(
      keys.map((key) => {
        clearTimeout(this.timers.get(key));
        this.timers.delete(key);
        return this.announce(userId, Number(key.split(':')[0]), false);
      }),
    );
  }

  close(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private async announce(userId: number, conversationId: number, isTyping: boolean): Promise<void> {
    const members = (await this.cache.memberIds(conversationId)).filter((id) => id !== userId);
    await this.fanout.toUsers(await this.blocks.apartFrom(userId, members), frames.typing(conversationId, userId, isTyping));
  }
}
