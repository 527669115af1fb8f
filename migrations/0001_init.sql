-- confer initial schema. Times are UTC milliseconds since the Unix epoch (INTEGER),
-- so the same statements run on SQLite and PostgreSQL (BIGINT).

CREATE TABLE facilities (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL
);

CREATE TABLE booths (
    id          TEXT PRIMARY KEY,
    facility_id TEXT NOT NULL REFERENCES facilities(id),
    label       TEXT NOT NULL
);

CREATE TABLE lawyers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE admins (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

-- Sessions are stored by the SHA-256 of their token: a copy of the database does not
-- let anyone sign in.
CREATE TABLE sessions (
    token_hash   BLOB PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('lawyer', 'admin')),
    account_id   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);

CREATE TABLE visits (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    lawyer_id   INTEGER NOT NULL REFERENCES lawyers(id),
    booth_id    TEXT NOT NULL REFERENCES booths(id),
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    ended_at    INTEGER,
    end_reason  TEXT,
    created_by  INTEGER REFERENCES admins(id),
    created_at  INTEGER NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX visits_by_lawyer ON visits(lawyer_id, starts_at);
CREATE INDEX visits_by_booth ON visits(booth_id, starts_at);

-- Join tokens are single-use: the id of every token used is kept until it expires.
CREATE TABLE used_join_tokens (
    jti        TEXT PRIMARY KEY,
    used_at    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
