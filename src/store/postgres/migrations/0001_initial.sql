-- The first schema of the PostgreSQL engine. Times are microseconds since the Unix epoch, as in the sled engine;
-- texts are bytea so that objects and envelopes come back byte for byte (jsonb would normalise them). Text keys
-- sort bytewise (COLLATE "C"), as the sled engine's keys do.

-- cursor-secret, and later other settings shared by every node.
CREATE TABLE meta (
    name text COLLATE "C" PRIMARY KEY,
    value bytea NOT NULL
);

-- Counters of the whole database: `envelope_position` is the position the next envelope takes. Its row is
-- locked by every write that stores envelopes, so positions become visible in order.
CREATE TABLE counters (
    name text COLLATE "C" PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO counters (name, value) VALUES ('envelope_position', 0);

-- One row per collection: its lock, its last date_added, and its counts. Every write to a collection locks its
-- row first, so that writers of one collection commit one after the other, in date_added order.
CREATE TABLE collections (
    id text COLLATE "C" PRIMARY KEY,
    last_added bigint NOT NULL DEFAULT 0,
    objects bigint NOT NULL DEFAULT 0,
    envelopes bigint NOT NULL DEFAULT 0,
    -- How many STIX ids of the collection have two or more versions.
    multi_version_ids bigint NOT NULL DEFAULT 0
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

CREATE TABLE envelopes (
    id text COLLATE "C" NOT NULL,
    version bigint NOT NULL,
    position bigint NOT NULL UNIQUE,
    collection text COLLATE "C" NOT NULL,
    received bigint NOT NULL,
    text bytea NOT NULL,
    PRIMARY KEY (id, version)
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
