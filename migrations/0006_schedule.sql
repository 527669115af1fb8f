-- Issue 5: facility calendars, booth kinds, visit requests, the walk-in queue and the
-- 48-hour deadline (R-ARRANGE-1, R-ARRANGE-5, R-BOOK-1..5, R-REMOTE-1).
-- Times are UTC milliseconds (INTEGER); local dates are ISO `YYYY-MM-DD` text.

-- The facility's fixed offset from UTC (its opening hours are local), its detainee count
-- (for the rooms-per-100-detainees ratio, R-BOOK-5) and its default slot lengths.
ALTER TABLE facilities ADD COLUMN utc_offset_min INTEGER NOT NULL DEFAULT 0
    CHECK (utc_offset_min BETWEEN -720 AND 840);
ALTER TABLE facilities ADD COLUMN detainee_count INTEGER NOT NULL DEFAULT 0 CHECK (detainee_count >= 0);
ALTER TABLE facilities ADD COLUMN lawyer_slot_min INTEGER NOT NULL DEFAULT 60 CHECK (lawyer_slot_min BETWEEN 5 AND 1440);
ALTER TABLE facilities ADD COLUMN fast_slot_min INTEGER NOT NULL DEFAULT 30 CHECK (fast_slot_min BETWEEN 5 AND 30);
ALTER TABLE facilities ADD COLUMN interrogation_slot_min INTEGER NOT NULL DEFAULT 60 CHECK (interrogation_slot_min BETWEEN 5 AND 1440);

-- Booth kinds (R-BOOK-5). `remote_station` names the police station of a remote booth
-- that is registered as the lawyer's side of a visit (R-REMOTE-1); such booths are not
-- allocated to detainees.
ALTER TABLE booths ADD COLUMN kind TEXT NOT NULL DEFAULT 'lawyer_room'
    CHECK (kind IN ('lawyer_room', 'fast_room', 'interrogation_room'));
ALTER TABLE booths ADD COLUMN remote_station TEXT;

-- Normal opening hours per weekday (0 = Monday), in the facility's local time.
CREATE TABLE facility_hours (
    facility_id TEXT NOT NULL REFERENCES facilities(id),
    weekday     INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    opens_min   INTEGER NOT NULL CHECK (opens_min BETWEEN 0 AND 1439),
    closes_min  INTEGER NOT NULL CHECK (closes_min BETWEEN 1 AND 1440),
    CHECK (closes_min > opens_min),
    PRIMARY KEY (facility_id, weekday, opens_min)
);

CREATE TABLE facility_holidays (
    facility_id TEXT NOT NULL REFERENCES facilities(id),
    day         TEXT NOT NULL,
    PRIMARY KEY (facility_id, day)
);

-- Evening and weekend sessions (R-BOOK-4): usable only once the facility head approved.
CREATE TABLE extended_sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    facility_id  TEXT NOT NULL REFERENCES facilities(id),
    starts_at    INTEGER NOT NULL,
    ends_at      INTEGER NOT NULL,
    proposed_by  INTEGER NOT NULL REFERENCES admins(id),
    approved_by  INTEGER REFERENCES admins(id),
    approver     TEXT,
    approved_at  INTEGER,
    created_at   INTEGER NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX extended_sessions_by_facility ON extended_sessions(facility_id, starts_at);

-- A lawyer's request to see a detainee: booked for a time or a walk-in with a ticket.
-- There is no "refused" status: a request is queued until placed (R-ARRANGE-2, R-BOOK-2).
CREATE TABLE visit_requests (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    facility_id           TEXT NOT NULL REFERENCES facilities(id),
    lawyer_id             INTEGER NOT NULL REFERENCES lawyers(id),
    detainee_id           INTEGER NOT NULL REFERENCES detainees(id),
    expected_min          INTEGER NOT NULL CHECK (expected_min BETWEEN 1 AND 1440),
    booked_at             INTEGER,
    ticket                INTEGER,
    channel               TEXT NOT NULL CHECK (channel IN ('web', 'phone', 'messaging')),
    entered_by            INTEGER REFERENCES admins(id),
    interrogation_consent INTEGER NOT NULL DEFAULT 0 CHECK (interrogation_consent IN (0, 1)),
    requested_at          INTEGER NOT NULL,
    deadline_at           INTEGER NOT NULL,
    status                TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'placed', 'cancelled', 'declined')),
    visit_id              INTEGER REFERENCES visits(id),
    wait_reason           TEXT,
    escalation            TEXT CHECK (escalation IN ('raised', 'twelve_hours', 'two_hours', 'breached')),
    closed_at             INTEGER,
    -- R-ARRANGE-5: the detainee declined in writing; the scan's reference is given to the lawyer.
    decline_note          TEXT,
    decline_scan_ref      TEXT,
    declined_by           INTEGER REFERENCES admins(id),
    CHECK ((booked_at IS NULL) <> (ticket IS NULL))
);
CREATE INDEX visit_requests_by_facility ON visit_requests(facility_id, status, requested_at);
CREATE INDEX visit_requests_by_lawyer ON visit_requests(lawyer_id, requested_at);
CREATE INDEX visit_requests_by_visit ON visit_requests(visit_id);
