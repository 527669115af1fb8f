-- PostgreSQL twin of migrations/0017_resume_credentials.sql (same version and name;
-- tests/store_schema.rs keeps them in step).
-- Resume credentials (R-REMOTE-2) where every node can read them: a node that takes over
-- the visits of a node that went away (or restarted) gives their participants a new seat
-- on the credential they already hold. Only the credential's SHA-256 (hex) is kept,
-- never the credential; `device` is the hex device binding; `expires_at` Unix ms.
CREATE TABLE resume_credentials (
    hash TEXT PRIMARY KEY,
    visit_id BIGINT NOT NULL,
    participant TEXT NOT NULL,
    device TEXT NOT NULL,
    node_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX resume_credentials_seat ON resume_credentials (visit_id, participant);
CREATE INDEX resume_credentials_expiry ON resume_credentials (expires_at);
