ALTER TABLE conversations DROP COLUMN roster_version;
