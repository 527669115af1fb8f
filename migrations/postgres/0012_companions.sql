-- PostgreSQL twin of migrations/0012_companions.sql (same version and name; tests/store_schema.rs keeps
-- them in step). INTEGER is BIGINT, BLOB is BYTEA, AUTOINCREMENT ids are identity columns.
-- R-VERIFY-4: assistants and interpreters are invited by the visit's lawyer, never by staff,
-- and the investigating unit's approval of a companion is recorded as a structured decision.

-- An assistant account works for one lawyer (its principal); that lawyer may invite it.
ALTER TABLE lawyers ADD COLUMN principal_id BIGINT REFERENCES lawyers(id);

-- The unit's approval of a companion for a case: which unit, on which date, under which
-- document; `recorded_by` (staff) and `recorded_at` already exist. Rows recorded before
-- this migration carry only free text (`approved_by`) and no longer count as an approval
-- (fail closed): staff record them again with the unit, the date and the document.
ALTER TABLE case_companions ADD COLUMN unit TEXT;
ALTER TABLE case_companions ADD COLUMN decided_on TEXT;
ALTER TABLE case_companions ADD COLUMN document_ref TEXT;

-- Who invited a companion to a visit, and when. Only invitations by the visit's own
-- lawyer count; rows made by staff before this migration (no `invited_by`) do not.
ALTER TABLE visit_companions ADD COLUMN invited_by BIGINT REFERENCES lawyers(id);
ALTER TABLE visit_companions ADD COLUMN invited_at BIGINT;
