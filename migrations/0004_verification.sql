-- Issue 4: who may be admitted to a visit, with what proof (R-VERIFY-1..4, R-ARRANGE-1..3).
-- Times are UTC milliseconds (INTEGER); dates are ISO `YYYY-MM-DD` text.

-- Lawyer-side accounts. `kind` says whether the account is a lawyer (checked against the
-- registry at every join) or an assistant / interpreter (admitted only where approved for
-- the case). The licence claim is what the lawyer registered with; the holder's name is
-- `display_name`.
ALTER TABLE lawyers ADD COLUMN kind TEXT NOT NULL DEFAULT 'lawyer'
    CHECK (kind IN ('lawyer', 'assistant', 'interpreter'));
ALTER TABLE lawyers ADD COLUMN licence_number TEXT;
ALTER TABLE lawyers ADD COLUMN holder_id_hash TEXT;
-- Set when repeated impersonation signals lock the account (R-VERIFY-3); staff unlock.
ALTER TABLE lawyers ADD COLUMN locked_at INTEGER;
ALTER TABLE lawyers ADD COLUMN lock_reason TEXT;

-- A detainee, known to the lawyer only by the facility-internal reference (R-PRIV-4).
CREATE TABLE detainees (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    facility_id  TEXT NOT NULL REFERENCES facilities(id),
    internal_ref TEXT NOT NULL,
    name         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (facility_id, internal_ref)
);

-- A criminal case of a detainee. `needs_unit_permission` is set only for cases of
-- endangering national security or terrorism during investigation (R-ARRANGE-3).
CREATE TABLE cases (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    detainee_id           INTEGER NOT NULL REFERENCES detainees(id),
    needs_unit_permission INTEGER NOT NULL DEFAULT 0 CHECK (needs_unit_permission IN (0, 1)),
    created_at            INTEGER NOT NULL
);

-- The investigating unit's decision on a lawyer visiting a flagged case. The newest row
-- for (case, lawyer) is the one in force.
CREATE TABLE case_permissions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id      INTEGER NOT NULL REFERENCES cases(id),
    lawyer_id    INTEGER NOT NULL REFERENCES lawyers(id),
    unit         TEXT NOT NULL,
    decided_on   TEXT NOT NULL,
    decision     TEXT NOT NULL CHECK (decision IN ('granted', 'refused')),
    document_ref TEXT NOT NULL,
    recorded_by  INTEGER NOT NULL REFERENCES admins(id),
    recorded_at  INTEGER NOT NULL
);
CREATE INDEX case_permissions_by_case ON case_permissions(case_id, lawyer_id, id);

-- Assistants and interpreters approved by the investigating unit for a case (R-VERIFY-4).
CREATE TABLE case_companions (
    case_id      INTEGER NOT NULL REFERENCES cases(id),
    account_id   INTEGER NOT NULL REFERENCES lawyers(id),
    approved_by  TEXT NOT NULL,
    recorded_by  INTEGER NOT NULL REFERENCES admins(id),
    recorded_at  INTEGER NOT NULL,
    PRIMARY KEY (case_id, account_id)
);

-- A lawyer acting for a detainee in a case. `law_firm` is the firm named on the firm
-- letter; `authority` says which second document the lawyer brings (R-ARRANGE-1).
CREATE TABLE engagements (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    lawyer_id  INTEGER NOT NULL REFERENCES lawyers(id),
    case_id    INTEGER NOT NULL REFERENCES cases(id),
    law_firm   TEXT NOT NULL,
    authority  TEXT NOT NULL CHECK (authority IN ('power_of_attorney', 'legal_aid_letter')),
    created_at INTEGER NOT NULL,
    UNIQUE (lawyer_id, case_id)
);

-- The documents of an engagement: exactly the firm letter and the power of attorney or
-- legal-aid letter (R-ARRANGE-1, R-ARRANGE-2). The CHECK is the whole list; nothing else
-- can be stored, so nothing else can be required. Contents live encrypted in
-- `<data>/documents/`, never in this database.
CREATE TABLE documents (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    engagement_id INTEGER NOT NULL REFERENCES engagements(id),
    kind          TEXT NOT NULL
        CHECK (kind IN ('firm_letter', 'power_of_attorney', 'legal_aid_letter')),
    media_type    TEXT NOT NULL CHECK (media_type IN ('application/pdf', 'image/jpeg', 'image/png')),
    size_bytes    INTEGER NOT NULL CHECK (size_bytes > 0 AND size_bytes <= 10485760),
    sha256        TEXT NOT NULL,
    stored_name   TEXT NOT NULL UNIQUE,
    uploaded_at   INTEGER NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
    reviewed_by   INTEGER REFERENCES admins(id),
    reviewed_at   INTEGER,
    reject_reason TEXT
);
CREATE INDEX documents_by_engagement ON documents(engagement_id, kind, id);

-- Visits belong to a case; companions are the approved assistants / interpreters invited.
ALTER TABLE visits ADD COLUMN case_id INTEGER REFERENCES cases(id);
CREATE TABLE visit_companions (
    visit_id   INTEGER NOT NULL REFERENCES visits(id),
    account_id INTEGER NOT NULL REFERENCES lawyers(id),
    PRIMARY KEY (visit_id, account_id)
);

-- Staff checked the licence by hand against a justice-bureau certificate (R-VERIFY-2).
-- It admits the lawyer to the one visit it names, whatever the registry says.
CREATE TABLE manual_verifications (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    lawyer_id      INTEGER NOT NULL REFERENCES lawyers(id),
    visit_id       INTEGER NOT NULL REFERENCES visits(id),
    evidence_ref   TEXT NOT NULL,
    note           TEXT NOT NULL DEFAULT '',
    verified_by    INTEGER NOT NULL REFERENCES admins(id),
    verified_at    INTEGER NOT NULL,
    UNIQUE (visit_id, lawyer_id)
);

-- Possible impersonation (R-VERIFY-3): unknown licence, someone else's, or revoked.
CREATE TABLE impersonation_alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    lawyer_id       INTEGER NOT NULL REFERENCES lawyers(id),
    visit_id        INTEGER REFERENCES visits(id),
    reason          TEXT NOT NULL,
    raised_at       INTEGER NOT NULL,
    acknowledged_by INTEGER REFERENCES admins(id),
    acknowledged_at INTEGER
);
CREATE INDEX impersonation_alerts_by_lawyer ON impersonation_alerts(lawyer_id, raised_at);
