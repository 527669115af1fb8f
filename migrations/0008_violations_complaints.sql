-- Issue 6: visits stopped for a violation (R-CONDUCT-1), the reports to the lawyer's law
-- firm, the justice bureau and the bar association with their findings (R-CONDUCT-2), and
-- lawyers' complaints with their progress and outcome (R-COMPLAIN-1). Times are UTC ms.

CREATE TABLE violations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    visit_id    INTEGER NOT NULL REFERENCES visits(id),
    lawyer_id   INTEGER NOT NULL REFERENCES lawyers(id),
    category    TEXT NOT NULL CHECK (category IN ('unapproved_person', 'communication_device',
                    'relaying_to_outsiders', 'prohibited_items', 'other')),
    reason      TEXT NOT NULL,
    stopped_by  INTEGER NOT NULL REFERENCES admins(id),
    stopped_at  INTEGER NOT NULL
);
CREATE INDEX violations_by_visit ON violations(visit_id);

-- The outbox: one row per recipient of a violation report, pending until a 2xx answer.
-- A durable queue: a restart picks up every row that has no `delivered_at`.
CREATE TABLE violation_deliveries (
    violation_id    INTEGER NOT NULL REFERENCES violations(id),
    recipient       TEXT NOT NULL CHECK (recipient IN ('law_firm', 'justice_bureau', 'bar_association')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    delivered_at    INTEGER,
    PRIMARY KEY (violation_id, recipient)
);
CREATE INDEX violation_deliveries_due ON violation_deliveries(delivered_at, next_attempt_at);

-- What a recipient found, recorded back by staff.
CREATE TABLE violation_findings (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    violation_id INTEGER NOT NULL REFERENCES violations(id),
    source       TEXT NOT NULL CHECK (source IN ('law_firm', 'justice_bureau', 'bar_association')),
    text         TEXT NOT NULL,
    recorded_by  INTEGER NOT NULL REFERENCES admins(id),
    recorded_at  INTEGER NOT NULL
);

CREATE TABLE complaints (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    lawyer_id  INTEGER NOT NULL REFERENCES lawyers(id),
    visit_id   INTEGER REFERENCES visits(id),
    about      TEXT NOT NULL CHECK (about IN ('refusal', 'delay', 'stop', 'conduct', 'other')),
    text       TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'closed')),
    filed_at   INTEGER NOT NULL
);
CREATE INDEX complaints_by_lawyer ON complaints(lawyer_id, filed_at);

CREATE TABLE complaint_updates (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    complaint_id INTEGER NOT NULL REFERENCES complaints(id),
    kind         TEXT NOT NULL CHECK (kind IN ('progress', 'outcome')),
    text         TEXT NOT NULL,
    staff_id     INTEGER NOT NULL REFERENCES admins(id),
    recorded_at  INTEGER NOT NULL
);
CREATE INDEX complaint_updates_by_complaint ON complaint_updates(complaint_id, id);
