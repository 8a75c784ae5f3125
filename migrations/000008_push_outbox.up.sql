-- The push outbox. A message's commit writes, in its own transaction, one row for each
-- device of each recipient (a crash after the commit delays the push, never loses it).
-- A row stands for every message of its conversation waiting for that device: a later
-- message moves last_seq on the same row, so they leave as one notification.
--
-- due_at is when the row may be claimed: PUSH_DELAY after the first message, later
-- after a failed attempt (backoff), and while a worker holds it, the end of its lease.
-- claim names the worker batch that holds it; a worker that dies leaves the row to be
-- claimed again once the lease has run out.
--
-- Only device_id is a foreign key (a device and its user go with their rows): a message
-- to a large group writes a row per member's device inside the send's transaction, and
-- a check per row on the conversation and the user would cost more than the insert. A
-- row whose conversation or membership is gone is settled, unsent, by the worker.
CREATE TABLE push_outbox (
    conversation_id bigint      NOT NULL,
    device_id       bigint      NOT NULL REFERENCES push_devices (id) ON DELETE CASCADE,
    user_id         bigint      NOT NULL,
    first_seq       bigint      NOT NULL,
    last_seq        bigint      NOT NULL,
    due_at          timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    claim           uuid,
    PRIMARY KEY (conversation_id, device_id),
    CHECK (first_seq <= last_seq)
);

CREATE INDEX push_outbox_due_at ON push_outbox (due_at);
CREATE INDEX push_outbox_device_id ON push_outbox (device_id);

-- The first schema's push_tokens was never used; push_devices replaced it.
DROP TABLE IF EXISTS push_tokens;
