-- Envelope ids are unique within a collection, not across the database, and positions count one collection: the
-- same id may be stored in two collections, and what one collection stores never shows in another's positions
-- (IntelMQ feed cursors, MISP checkpoints). Each collection's row holds the position its next envelope takes,
-- and is locked by every write to the collection already; the database-wide counter goes.
--
-- Stored envelopes keep their positions: unique across the database, they are unique and in order within each
-- collection too, so that cursors and checkpoints handed out before stay valid.
INSERT INTO collections (id) SELECT DISTINCT collection FROM envelopes ON CONFLICT DO NOTHING;
ALTER TABLE collections ADD COLUMN next_position bigint NOT NULL DEFAULT 0;
UPDATE collections SET next_position = newest.position + 1
  FROM (SELECT collection, max(position) AS position FROM envelopes GROUP BY collection) AS newest
 WHERE collections.id = newest.collection;
DELETE FROM counters WHERE name = 'envelope_position';

ALTER TABLE envelopes DROP CONSTRAINT envelopes_pkey;
ALTER TABLE envelopes DROP CONSTRAINT envelopes_position_key;
ALTER TABLE envelopes ADD PRIMARY KEY (collection, id, version);
ALTER TABLE envelopes ADD CONSTRAINT envelopes_position_key UNIQUE (collection, position);
