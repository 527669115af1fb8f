-- PostgreSQL twin of migrations/0005_staff.sql (same version and name; tests/store_schema.rs keeps
-- them in step). INTEGER is BIGINT, BLOB is BYTEA, AUTOINCREMENT ids are identity columns.
-- Issue 6: staff roles kept separate (China's MLPS level 3, "separation of duties") and a
-- TOTP second factor for every staff sign-in. One role per account:
--   operator     runs booths, the queue, visits, manual verification; stops visits
--   auditor      reads the audit log and reports; changes nothing
--   sysadmin     configuration and staff accounts; cannot read documents or run visits
--   investigator the investigating unit's account; never sees document contents, never runs visits
-- Existing accounts (the first-start `admin`) become operators, so the demo keeps running.
ALTER TABLE admins ADD COLUMN role TEXT NOT NULL DEFAULT 'operator'
    CHECK (role IN ('operator', 'auditor', 'sysadmin', 'investigator'));
-- The TOTP secret, sealed with AES-256-GCM under `<data-dir>/keys/staff-totp.key`
-- (base64 of nonce || ciphertext). NULL: not enrolled, so the account cannot sign in.
ALTER TABLE admins ADD COLUMN totp_sealed TEXT;
-- The last 30-second TOTP step accepted: a code of that step or an earlier one is a replay.
ALTER TABLE admins ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;
ALTER TABLE admins ADD COLUMN created_by BIGINT REFERENCES admins(id);
-- 1 once the account's creation is in the audit log. Accounts made from the command line
-- (which must not write the server's audit chain) or before this migration are recorded
-- by the server at its next start.
ALTER TABLE admins ADD COLUMN creation_audited BIGINT NOT NULL DEFAULT 0;
