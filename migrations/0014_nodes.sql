-- The cluster's node registry (R-REMOTE-1 at province scale): every confer node writes
-- its row on start and refreshes `heartbeat_at` every few seconds; a node whose heartbeat
-- is older than 10 s is dead. `draining` (0/1) stops new placements on it. Times are Unix
-- milliseconds. `media_addrs` is the node's advertised media addresses, comma-separated.
CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    started_at INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    public_url TEXT NOT NULL,
    media_addrs TEXT NOT NULL,
    live_visits INTEGER NOT NULL DEFAULT 0,
    capacity INTEGER NOT NULL DEFAULT 0,
    draining INTEGER NOT NULL DEFAULT 0
);
