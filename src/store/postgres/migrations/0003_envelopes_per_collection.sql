-- Envelope ids are unique within a collection, not across the database, and positions count one collection: the
-- same id may be stored in two collections, and what one collection stores never shows in another's positions
-- (IntelMQ feed cursors, MISP checkpoints). Each collection's row holds the position after its last envelope,
-- and is locked by every write to the collection already.
--
-- Stored envelopes keep their positions: unique across the database, they are unique and in order within each
-- collection too, so that cursors and checkpoints handed out before stay valid. Such a cursor may name another
-- collection's position (a feed's cursor moved past every envelope it looked at), so the database-wide counter
-- stays as a floor, no longer moved by writes: a collection's next envelope takes its row's next position or
-- the floor, whichever is later, and no cursor handed out before passes over it.
INSERT INTO collections (id) SELECT DISTINCT collection FROM envelopes ON CONFLICT DO NOTHING;
ALTER TABLE collections ADD COLUMN next_position bigint NOT NULL DEFAULT 0;
UPDATE collections SET next_position = newest.position + 1
  FROM (SELECT collection, max(position) AS position FROM envelopes GROUP BY collection) AS newest
 WHERE collections.id = newest.collection;

ALTER TABLE envelopes DROP CONSTRAINT envelopes_pkey;
ALTER TABLE envelopes DROP CONSTRAINT envelopes_position_key;
ALTER TABLE envelopes ADD PRIMARY KEY (collection, id, version);
ALTER TABLE envelopes ADD CONSTRAINT envelopes_position_key UNIQUE (collection, position);
