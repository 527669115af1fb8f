-- Booth certificate revocation (R-VERIFY-4): the deny list of booth client certificates.
-- A row names a booth and the certificate revoked, by serial (lower-case hex, no leading
-- zeros) and/or SHA-256 of its DER; at least one of the two. `audited` is 0 for a row
-- written by the command line (`confer certs revoke`), which must not append to the audit
-- chain beside a running server: the server records those in the audit log and sets it to 1.
CREATE TABLE booth_revocations (
    id INTEGER PRIMARY KEY,
    booth_id TEXT NOT NULL,
    serial TEXT,
    certificate_sha256 TEXT,
    revoked_at INTEGER NOT NULL,
    revoked_by TEXT NOT NULL,
    admin_id INTEGER,
    audited INTEGER NOT NULL DEFAULT 0,
    CHECK (serial IS NOT NULL OR certificate_sha256 IS NOT NULL)
);
CREATE INDEX booth_revocations_serial ON booth_revocations (serial);
CREATE INDEX booth_revocations_sha256 ON booth_revocations (certificate_sha256);
