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
