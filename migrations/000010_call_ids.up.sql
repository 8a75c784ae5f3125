-- A call_id names one call for ever: a second record with the same id is refused, by the
-- database as well as by the call service (which looks before it rings), whatever races.
--
-- Writes to messages wait while this runs (one scan of the table and two partial index
-- builds; on a large table, minutes): the lock is taken first so that a node of the
-- previous release cannot write a reused id between the clean-up and the index. To avoid
-- the wait, build the index beforehand with CREATE UNIQUE INDEX CONCURRENTLY
-- messages_call_id_idx ... (the statement below) and this finds it there.
LOCK TABLE messages IN SHARE ROW EXCLUSIVE MODE;

-- Records written before this migration by a client that reused an id (nothing refused it
-- once the first call was over) keep the first record's id; the later ones get a fresh one,
-- so that the index can be built. Their calls are long over and nothing names them by id,
-- so devices are not told (mod_seq stays); the down file does not give the old ids back.
UPDATE messages SET call = jsonb_set(call, '{call_id}', to_jsonb(gen_random_uuid()::text))
WHERE id IN (
    SELECT id FROM (
        SELECT id, row_number() OVER (PARTITION BY call->>'call_id' ORDER BY id) AS n
        FROM messages WHERE type = 'call'
    ) AS records
    WHERE n > 1
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_call_id_idx ON messages ((call->>'call_id')) WHERE type = 'call';

-- Records of calls not over yet (few at any time): the sweep that settles the records of
-- calls whose state was lost (a lone node restarted mid-call) reads them.
CREATE INDEX IF NOT EXISTS messages_open_call_idx ON messages (created_at)
    WHERE type = 'call' AND (call->>'outcome') IN ('ringing', 'connecting', 'active');
