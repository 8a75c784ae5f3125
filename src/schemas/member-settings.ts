import { Type, type Static } from 'typebox';
import { MUTED_FOREVER } from '../domain/member-settings.js';
import { nullable, OrNull, Timestamp } from './common.js';

/**
 * A member's own settings of one conversation (mute, archive, pin), on the wire. Shown
 * only to that member: in their conversation objects (`my_settings`) and in the
 * `conversation_settings` frame to their own sockets.
 */

export const MemberSettingsSchema = Type.Object(
  {
    muted_until: nullable<string>(
      Timestamp({
        description:
          `Muted (no push notifications) while this lies in the future; \`${MUTED_FOREVER}\`: until unmuted. ` +
          'null, or a time that has passed: not muted.',
      }),
    ),
    archived: Type.Boolean(),
    pinned: Type.Boolean({ description: 'Pinned conversations come first in the list, the latest pinned first.' }),
    pinned_at: nullable<string>(Timestamp({ description: 'When it was pinned; null: not pinned.' })),
  },
  { $id: 'MemberSettings', title: 'MemberSettings' },
);
export type MemberSettings = Static<typeof MemberSettingsSchema>;

/** `PATCH /conversations/:id/settings`: only the fields sent change; at least one. */
export const MemberSettingsBody = Type.Object(
  {
    muted_until: Type.Optional(
      OrNull(
        Timestamp({
          description: `Mute until this time (ISO-8601 with a time zone); \`${MUTED_FOREVER}\` (or later): until unmuted; null: unmute.`,
        }),
      ),
    ),
    archived: Type.Optional(Type.Boolean()),
    pinned: Type.Optional(Type.Boolean({ description: 'true pins it (an already pinned one keeps its pinned_at); false unpins it.' })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type MemberSettingsInput = Static<typeof MemberSettingsBody>;
