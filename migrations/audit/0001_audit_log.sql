-- The audit chain (issue 3). A database of its own, <data-dir>/audit.db, written by one
-- task only (src/audit). Times are UTC milliseconds since the Unix epoch.
--
-- audit_entries holds, per entry, the canonical bytes that were hashed and the hashes;
-- the other columns are indexes derived from the canonical bytes (verify checks them).

CREATE TABLE audit_entries (
    seq        INTEGER PRIMARY KEY,          -- gapless from 1
    time_ms    INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    visit_id   INTEGER,
    lawyer_id  INTEGER,
    booth_id   TEXT,
    staff_id   INTEGER,
    canonical  BLOB NOT NULL,
    leaf_hash  BLOB NOT NULL,                -- SHA-256(0x00 || canonical), RFC 9162 leaf
    prev_hash  BLOB NOT NULL,
    hash       BLOB NOT NULL                 -- SHA-256(prev_hash || canonical)
);
CREATE INDEX audit_entries_by_visit ON audit_entries(visit_id, seq);
CREATE INDEX audit_entries_by_lawyer ON audit_entries(lawyer_id, seq);
CREATE INDEX audit_entries_by_time ON audit_entries(time_ms);

-- Signed statements "the first `count` entries end in `head_hash`".
CREATE TABLE audit_checkpoints (
    n          INTEGER PRIMARY KEY,          -- gapless from 1
    count      INTEGER NOT NULL,
    head_hash  BLOB NOT NULL,
    time_ms    INTEGER NOT NULL,
    signature  BLOB NOT NULL
);

-- Append-only: the server never updates or deletes an entry (retention is documented,
-- never enforced by deletion). This stops mistakes, not an attacker with the file:
-- verification and the signed checkpoints do that.
CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
