-- Counters every process shares (issue 17). `replays`: dead letters replayed so far, by the API,
-- the pages or the CLI; raised in the transaction that removes the replayed dead letters, so
-- `leadback_bridge_replays_total` reads the same on every replica and counts CLI replays too.
CREATE TABLE store_counters (
    name  TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
);
INSERT INTO store_counters (name, value) VALUES ('replays', 0);
