-- Calls. A session is a device: it gets a public id that other users may see (calls ring
-- devices and say which one answered); the session id stays secret. Each call is
-- recorded as a message of type `call`, whose `call` holds the call's outcome and times.

ALTER TABLE sessions ADD COLUMN device_id text NOT NULL DEFAULT replace(gen_random_uuid()::text, '-', '');
CREATE UNIQUE INDEX sessions_device_id_idx ON sessions (device_id);

ALTER TABLE messages DROP CONSTRAINT messages_type_check;
ALTER TABLE messages ADD CONSTRAINT messages_type_check
    CHECK (type IN ('text', 'image', 'video', 'audio', 'file', 'system', 'call'));
ALTER TABLE messages ADD COLUMN call jsonb;
ALTER TABLE messages ADD CONSTRAINT messages_call_check CHECK ((type = 'call') = (call IS NOT NULL));
