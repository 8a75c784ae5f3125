-- Full-text search over message bodies. 'simple' keeps it language-neutral: chat is
-- multilingual and stemming for one language mangles the others.
ALTER TABLE messages
    ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED;
CREATE INDEX messages_search_idx ON messages USING gin (search);
