-- tokenbridge schema, SQLite flavour. Times are unix seconds (INTEGER); lists and maps are JSON text.

CREATE TABLE users (
    id             TEXT PRIMARY KEY NOT NULL,
    username       TEXT NOT NULL UNIQUE,
    email          TEXT,
    -- Lowercased email (Unicode-aware, computed by the store) so lookups are case-insensitive
    -- without relying on SQLite's ASCII-only NOCASE collation.
    email_norm     TEXT,
    email_verified INTEGER NOT NULL,
    enabled        INTEGER NOT NULL,
    password_hash  TEXT,
    groups         TEXT NOT NULL,
    attributes     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX users_email_norm ON users (email_norm);

CREATE TABLE upstream_links (
    provider   TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (provider, subject)
) STRICT;
CREATE INDEX upstream_links_user ON upstream_links (user_id);

CREATE TABLE clients (
    client_id         TEXT PRIMARY KEY NOT NULL,
    name              TEXT NOT NULL,
    secret_sha256     TEXT,
    grant_types       TEXT NOT NULL,
    providers         TEXT NOT NULL,
    scopes            TEXT NOT NULL,
    access_token_ttl  INTEGER NOT NULL,
    id_token_ttl      INTEGER NOT NULL,
    refresh_token_ttl INTEGER NOT NULL,
    allowed_origins   TEXT NOT NULL
) STRICT;

CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY NOT NULL,
    alg           TEXT NOT NULL,
    private_pkcs8 BLOB NOT NULL,
    public_jwk    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    active        INTEGER NOT NULL,
    publish_until INTEGER
) STRICT;
-- At most one active key, whatever instance activates it.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (active) WHERE active = 1;

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    family_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    origin     TEXT NOT NULL,
    auth_time  INTEGER NOT NULL,
    origin_jti TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('active', 'rotated', 'revoked'))
) STRICT;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE replay_markers (
    token_hash TEXT PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX replay_markers_expires ON replay_markers (expires_at);

CREATE TABLE audit_events (
    -- Insertion order: newest-first listing and pagination follow it, not event_time,
    -- because clocks of several instances may disagree.
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT NOT NULL UNIQUE,
    event_time INTEGER NOT NULL,
    event_name TEXT NOT NULL,
    username   TEXT,
    request_id TEXT NOT NULL,
    error_code TEXT,
    record     TEXT NOT NULL
) STRICT;
CREATE INDEX audit_events_time ON audit_events (event_time);
CREATE INDEX audit_events_name ON audit_events (event_name);
CREATE INDEX audit_events_username ON audit_events (username);
CREATE INDEX audit_events_request ON audit_events (request_id);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;
