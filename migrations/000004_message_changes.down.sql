DROP TABLE message_hidden;
DROP TABLE message_reactions;
CREATE TABLE message_reactions (
    message_id  bigint      NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    emoji       text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, user_id, emoji)
);
DROP TABLE message_edits;
DROP INDEX messages_changes_idx;
ALTER TABLE messages DROP COLUMN mod_seq;
ALTER TABLE conversations DROP COLUMN last_mod_seq;
