-- R-PRIV-2: a borrowed interrogation room. The lawyer's consent travels with the visit
-- (taken from the request that placed it, or given by staff for a visit they arrange),
-- and no media flows until the room's recording and monitoring equipment is attested
-- off for this visit, by the officer at the booth or by an operator.
ALTER TABLE visits ADD COLUMN room_consent INTEGER NOT NULL DEFAULT 0 CHECK (room_consent IN (0, 1));

CREATE TABLE room_attestations (
    visit_id        INTEGER PRIMARY KEY REFERENCES visits(id),
    booth_id        TEXT NOT NULL REFERENCES booths(id),
    -- How it was given: at the booth terminal (its certificate) or by an operator.
    via             TEXT NOT NULL CHECK (via IN ('booth', 'staff')),
    -- The attesting officer's badge or staff number, as written at the booth.
    officer         TEXT NOT NULL,
    recording_off   INTEGER NOT NULL CHECK (recording_off = 1),
    monitoring_off  INTEGER NOT NULL CHECK (monitoring_off = 1),
    admin_id        INTEGER REFERENCES admins(id),
    attested_at     INTEGER NOT NULL
);
