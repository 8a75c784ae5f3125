-- Call records stay in the sequence as empty text messages.
UPDATE messages SET type = 'text' WHERE type = 'call';
ALTER TABLE messages DROP CONSTRAINT messages_call_check;
ALTER TABLE messages DROP COLUMN call;
ALTER TABLE messages DROP CONSTRAINT messages_type_check;
ALTER TABLE messages ADD CONSTRAINT messages_type_check
    CHECK (type IN ('text', 'image', 'video', 'audio', 'file', 'system'));
DROP INDEX sessions_device_id_idx;
ALTER TABLE sessions DROP COLUMN device_id;
