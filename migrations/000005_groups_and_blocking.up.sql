-- Groups people can run and people they can keep out: the group's own information and
-- its rules, each member's view of it (history from when they joined, mute, archive,
-- pin), system messages for every change to a group, invite links. user_blocks is the
-- first schema's table, unchanged.

-- A group's information and who may change what. Direct conversations keep the defaults
-- and ignore them.
ALTER TABLE conversations
    ADD COLUMN description                     text,
    ADD COLUMN only_admins_can_post            boolean NOT NULL DEFAULT false,
    ADD COLUMN only_admins_can_edit_info       boolean NOT NULL DEFAULT false,
    ADD COLUMN only_admins_can_add             boolean NOT NULL DEFAULT false,
    ADD COLUMN history_visible_to_new_members  boolean NOT NULL DEFAULT true;

-- visible_from_seq: a member sees the messages after it (0: all of them; a member who
-- joined a group that hides its history from new members: the seq before they joined).
-- muted_until, archived, pinned_at: the member's own settings, shown only to them. The
-- first schema's `muted` (never exposed) becomes a mute without end.
ALTER TABLE conversation_participants
    ADD COLUMN visible_from_seq bigint      NOT NULL DEFAULT 0,
    ADD COLUMN muted_until      timestamptz,
    ADD COLUMN archived         boolean     NOT NULL DEFAULT false,
    ADD COLUMN pinned_at        timestamptz;
UPDATE conversation_participants SET muted_until = 'infinity' WHERE muted;
ALTER TABLE conversation_participants DROP COLUMN muted;
-- A group's members by role and seniority (ownership passes to the longest-serving admin).
CREATE INDEX conversation_participants_seniority_idx ON conversation_participants (conversation_id, joined_at, user_id);

-- System messages: a change to a group, told in the conversation. `system` holds what
-- happened ({event, actor_id, user_ids?, name?, role?}); `content` says it in words.
ALTER TABLE messages DROP CONSTRAINT messages_type_check;
ALTER TABLE messages ADD CONSTRAINT messages_type_check
    CHECK (type IN ('text', 'image', 'video', 'audio', 'file', 'system'));
ALTER TABLE messages ADD COLUMN system jsonb;
ALTER TABLE messages ADD CONSTRAINT messages_system_check CHECK ((type = 'system') = (system IS NOT NULL));

-- Invite links. `uses` only grows, and never past max_uses: a join is one UPDATE that
-- checks and counts in the same statement.
CREATE TABLE conversation_invites (
    code            text        PRIMARY KEY,
    conversation_id bigint      NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    created_by      bigint      REFERENCES users (id) ON DELETE SET NULL,
    expires_at      timestamptz,
    max_uses        integer     CHECK (max_uses > 0),
    uses            integer     NOT NULL DEFAULT 0,
    revoked_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (max_uses IS NULL OR uses <= max_uses)
);
CREATE INDEX conversation_invites_conversation_idx ON conversation_invites (conversation_id);

-- Who blocked a user (presence, typing and receipts stop both ways).
CREATE INDEX user_blocks_blocked_idx ON user_blocks (blocked_id);
