DROP INDEX user_blocks_blocked_idx;
DROP TABLE conversation_invites;
-- System messages stay in the sequence as the text they showed.
UPDATE messages SET type = 'text' WHERE type = 'system';
ALTER TABLE messages DROP CONSTRAINT messages_system_check;
ALTER TABLE messages DROP COLUMN system;
ALTER TABLE messages DROP CONSTRAINT messages_type_check;
ALTER TABLE messages ADD CONSTRAINT messages_type_check CHECK (type IN ('text', 'image', 'video', 'audio', 'file'));
DROP INDEX conversation_participants_seniority_idx;
ALTER TABLE conversation_participants ADD COLUMN muted boolean NOT NULL DEFAULT false;
UPDATE conversation_participants SET muted = true WHERE muted_until = 'infinity';
ALTER TABLE conversation_participants
    DROP COLUMN pinned_at,
    DROP COLUMN archived,
    DROP COLUMN muted_until,
    DROP COLUMN visible_from_seq;
ALTER TABLE conversations
    DROP COLUMN history_visible_to_new_members,
    DROP COLUMN only_admins_can_add,
    DROP COLUMN only_admins_can_edit_info,
    DROP COLUMN only_admins_can_post,
    DROP COLUMN description;
