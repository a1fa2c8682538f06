-- The schema of the PostgreSQL engine (version 3, see `schema.rs`). Times are microseconds since the Unix epoch,
-- as in the sled engine; texts are bytea so that objects and envelopes come back byte for byte (jsonb would
-- normalise them). Text keys sort bytewise (COLLATE "C"), as the sled engine's keys do.

-- cursor-secret, and later other settings shared by every node.
CREATE TABLE meta (
    name text COLLATE "C" PRIMARY KEY,
    value bytea NOT NULL
);

-- Counters of the whole database. `envelope_position` is a floor under every collection's next envelope
-- position, raised by the restore of a backup whose positions counted every collection: a cursor handed out
-- before may name another collection's position, and must pass over no envelope stored later. Its row is read by
-- every write that stores envelopes.
CREATE TABLE counters (
    name text COLLATE "C" PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO counters (name, value) VALUES ('envelope_position', 0);

-- One row per collection: its lock, its last date_added, its counts, and the position after its last envelope
-- (positions count one collection). Every write to a collection locks its row first, so that writers of one
-- collection commit one after the other, in date_added and position order.
CREATE TABLE collections (
    id text COLLATE "C" PRIMARY KEY,
    last_added bigint NOT NULL DEFAULT 0,
    objects bigint NOT NULL DEFAULT 0,
    envelopes bigint NOT NULL DEFAULT 0,
    -- How many STIX ids of the collection have two or more versions.
    multi_version_ids bigint NOT NULL DEFAULT 0,
    next_position bigint NOT NULL DEFAULT 0
);

CREATE TABLE objects (
    collection text COLLATE "C" NOT NULL,
    date_added bigint NOT NULL,
    stix_id text COLLATE "C" NOT NULL,
    type text COLLATE "C" NOT NULL,
    version bigint NOT NULL,
    version_text text NOT NULL,
    text bytea NOT NULL,
    PRIMARY KEY (collection, date_added),
    UNIQUE (collection, stix_id, version)
);
CREATE INDEX objects_by_type ON objects (collection, type, date_added);

-- Envelope ids are unique within a collection, not across the database: the same id may be stored in two
-- collections, and what one collection stores never shows in another's positions.
CREATE TABLE envelopes (
    id text COLLATE "C" NOT NULL,
    version bigint NOT NULL,
    position bigint NOT NULL,
    collection text COLLATE "C" NOT NULL,
    received bigint NOT NULL,
    text bytea NOT NULL,
    PRIMARY KEY (collection, id, version),
    CONSTRAINT envelopes_position_key UNIQUE (collection, position)
);

CREATE TABLE statuses (
    id text COLLATE "C" PRIMARY KEY,
    stored_at bigint NOT NULL,
    text bytea NOT NULL
);
CREATE INDEX statuses_by_time ON statuses (stored_at);

CREATE TABLE notes (
    key text COLLATE "C" PRIMARY KEY,
    value bytea NOT NULL
);

CREATE TABLE views (
    key bytea PRIMARY KEY,
    value bytea NOT NULL
);

-- Leases of the background jobs that must run on one node at a time (peer schedules, IntelMQ pushes, the MISP
-- feeds' maintainer, the envelope maker, the pruning of statuses). A node runs a job only while it holds the
-- job's row; `expires` comes from the database's clock, so the nodes' clocks do not matter. A node takes a row
-- that is free, expired or its own with one statement (INSERT ... ON CONFLICT ... WHERE), which PostgreSQL
-- serialises on the row: two nodes never both take it.
CREATE TABLE leases (
    job text COLLATE "C" PRIMARY KEY,
    holder text NOT NULL,
    expires timestamptz NOT NULL
);
