-- PostgreSQL twin of migrations/0009_room.sql (same version and name; tests/store_schema.rs keeps
-- them in step). INTEGER is BIGINT, BLOB is BYTEA, AUTOINCREMENT ids are identity columns.
-- R-PRIV-2: a borrowed interrogation room. The lawyer's consent travels with the visit
-- (taken from the request that placed it, or given by staff for a visit they arrange),
-- and no media flows until the room's recording and monitoring equipment is attested
-- off for this visit, by the officer at the booth or by an operator.
ALTER TABLE visits ADD COLUMN room_consent BIGINT NOT NULL DEFAULT 0 CHECK (room_consent IN (0, 1));

CREATE TABLE room_attestations (
    visit_id        BIGINT PRIMARY KEY REFERENCES visits(id),
    booth_id        TEXT NOT NULL REFERENCES booths(id),
    -- How it was given: at the booth terminal (its certificate) or by an operator.
    via             TEXT NOT NULL CHECK (via IN ('booth', 'staff')),
    -- The attesting officer's badge or staff number, as written at the booth.
    officer         TEXT NOT NULL,
    recording_off   BIGINT NOT NULL CHECK (recording_off = 1),
    monitoring_off  BIGINT NOT NULL CHECK (monitoring_off = 1),
    admin_id        BIGINT REFERENCES admins(id),
    attested_at     BIGINT NOT NULL
);

-- R-ARRANGE-5: the detainee's written refusal of a visit, scanned at the booth and kept
-- encrypted like the documents (AES-256-GCM under <data>/documents/); the lawyer of the
-- request receives it.
CREATE TABLE written_refusals (
    request_id   BIGINT PRIMARY KEY REFERENCES visit_requests(id),
    stored_name  TEXT NOT NULL UNIQUE,
    media_type   TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    uploaded_by  BIGINT NOT NULL REFERENCES admins(id),
    uploaded_at  BIGINT NOT NULL
);

-- R-REMOTE-1: a remote booth at a police station registered as the lawyer's side of a
-- visit: the lawyer then joins from that terminal (its client certificate), not a browser
-- elsewhere.
ALTER TABLE visits ADD COLUMN lawyer_booth_id TEXT REFERENCES booths(id);
