import { changesSomething, settingsChange, toMemberSettings } from '../domain/member-settings.js';
import { notFound } from '../domain/errors.js';
import type { MemberSettings, MemberSettingsInput } from '../schemas/member-settings.js';
import { frames } from '../schemas/server-frames.js';
import { inTransaction, type Db } from '../store/database.js';
import { lockMemberSettings, mutedMemberIds, updateMemberSettings } from '../store/member-settings.repository.js';
import type { Access } from './access.js';
import type { Fanout } from './fanout.js';

/**
 * Each member's own settings of a conversation — mute, archive, pin — in direct
 * conversations and groups alike. They are the member's alone: nobody else sees them or
 * hears of a change.
 */
export class MemberSettingsService {
  constructor(
    private readonly db: Db,
    private readonly access: Access,
    private readonly fanout: Fanout,
  ) {}

  /**
   * Changes the caller's settings of the conversation (only the fields given) and returns
   * them as they now are. When something changed, a `conversation_settings` frame goes to
   * every socket of the caller, on every node, after the commit; a change that changes
   * nothing sends nothing. Throws validation_failed (nothing to change, a time that is no
   * time) and not_found unless the caller is a member.
   */
  async update(userId: number, conversationId: number, input: MemberSettingsInput): Promise<MemberSettings> {
    const change = settingsChange(input);
    await this.access.requireMember(userId, conversationId);
    const result = await inTransaction(this.db, async (trx) => {
      const current = await lockMemberSettings(trx, conversationId, userId);
      if (!current) return undefined;
      if (!changesSomething(current, change)) return { settings: current, changed: false };
      return { settings: (await updateMemberSettings(trx, conversationId, userId, change))!, changed: true };
    });
    // Left the conversation between the gate and the lock: the gate's answer.
    if (!result) throw notFound('Conversation');
    const settings = toMemberSettings(result.settings);
    if (result.changed) await this.fanout.toUsers([userId], frames.conversationSettings(conversationId, settings));
    return settings;
  }

  /** Whether `userId` has the conversation muted now (false also when they are not a member). */
  async isMuted(userId: number, conversationId: number): Promise<boolean> {
    return (await mutedMemberIds(this.db, conversationId, [userId])).length > 0;
  }

  /**
   * The members among `userIds` who have the conversation muted now, by id: those who get
   * no push notification for it. Not a member, or no mute in force: left out.
   */
  mutedAmong(conversationId: number, userIds: number[]): Promise<number[]> {
    return mutedMemberIds(this.db, conversationId, userIds);
  }
}
