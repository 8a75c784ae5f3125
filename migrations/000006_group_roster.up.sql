-- A group's roster version: it grows in the transaction of every change to who is in
-- the group or who may post there (members added, removed or leaving, roles, the
-- only-admins-can-post rule). A message batch reads it with the seqs it takes (the
-- same locked row), so a sender checked against a cached roster that has changed
-- since is checked again inside the transaction, and the message goes to the members
-- of the moment it committed, never to someone removed before.
ALTER TABLE conversations ADD COLUMN roster_version bigint NOT NULL DEFAULT 0;
