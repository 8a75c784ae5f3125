DROP INDEX messages_open_call_idx;
DROP INDEX messages_call_id_idx;
