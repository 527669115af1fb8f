-- PostgreSQL twin of migrations/0003_licence.sql (same version and name; tests/store_schema.rs keeps
-- them in step). INTEGER is BIGINT, BLOB is BYTEA, AUTOINCREMENT ids are identity columns.
-- The local copy of the lawyer registry, imported from the registry's export file
-- (`confer registry import`, src/licence/import.rs). One row per licence number; a re-import
-- updates rows in place. Dates are ISO `YYYY-MM-DD` text, times UTC milliseconds, so the same
-- statements run on SQLite and PostgreSQL.

CREATE TABLE registry_licences (
    licence_number TEXT PRIMARY KEY,
    holder_name    TEXT NOT NULL,
    -- SHA-256 (hex) of the holder's identity-document number, as the registry publishes it.
    holder_id_hash TEXT NOT NULL,
    law_firm       TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('practising', 'suspended', 'revoked', 'cancelled')),
    valid_until    TEXT NOT NULL,
    -- When the registry's data for this row was current.
    data_as_of     BIGINT NOT NULL,
    imported_at    BIGINT NOT NULL
);
