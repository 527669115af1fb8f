-- PostgreSQL twin of migrations/audit/0001_audit_log.sql (same version and name;
-- tests/store_schema.rs keeps them in step). It lives in the schema `confer_audit` of the
-- store's database (with its own _sqlx_migrations table). Several confer nodes append:
-- each group commit takes the transaction-scoped advisory lock of the chain, reads the
-- head, seals and inserts (src/store/audit.rs), so seq stays gapless and the hash chain
-- single. Times are UTC milliseconds since the Unix epoch.

CREATE TABLE audit_entries (
    seq        BIGINT PRIMARY KEY,           -- gapless from 1
    time_ms    BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    visit_id   BIGINT,
    lawyer_id  BIGINT,
    booth_id   TEXT,
    staff_id   BIGINT,
    canonical  BYTEA NOT NULL,
    leaf_hash  BYTEA NOT NULL,               -- SHA-256(0x00 || canonical), RFC 9162 leaf
    prev_hash  BYTEA NOT NULL,
    hash       BYTEA NOT NULL                -- SHA-256(prev_hash || canonical)
);
CREATE INDEX audit_entries_by_visit ON audit_entries(visit_id, seq);
CREATE INDEX audit_entries_by_lawyer ON audit_entries(lawyer_id, seq);
CREATE INDEX audit_entries_by_time ON audit_entries(time_ms);

CREATE TABLE audit_checkpoints (
    n          BIGINT PRIMARY KEY,           -- gapless from 1
    count      BIGINT NOT NULL,
    head_hash  BYTEA NOT NULL,
    time_ms    BIGINT NOT NULL,
    signature  BYTEA NOT NULL
);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit % are append-only', TG_ARGV[0];
END;
$$;
CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_append_only('entries');
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_append_only('entries');
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_append_only('checkpoints');
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_append_only('checkpoints');
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only('entries');
