-- PostgreSQL twin of migrations/0016_leases.sql (same version and name;
-- tests/store_schema.rs keeps them in step).
-- Cluster-wide jobs that must run on one node at a time (the violation-report outbox, the
-- re-placing of queued visit requests): a lease per job, held by a node until
-- `expires_at` (Unix ms) and renewed while it works; another node takes it once expired.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
