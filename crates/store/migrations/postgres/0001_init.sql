-- tokenbridge schema, PostgreSQL flavour. Times are unix seconds (BIGINT); lists and maps are
-- JSON text (TEXT rather than JSONB: the store never queries inside them, and TEXT keeps the
-- bytes exactly as written, like the SQLite schema). Tables are created unqualified, so they
-- land in the first schema of the connection's search_path.
--
-- Columns that are listed in order or compared with < / > use the "C" collation, so ordering is
-- byte order whatever the database's default collation is (the same order as SQLite's BINARY).

CREATE TABLE users (
    id             TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    username       TEXT COLLATE "C" NOT NULL UNIQUE,
    email          TEXT,
    -- Lowercased email (Unicode-aware, computed by the store) so lookups are case-insensitive
    -- and agree with the SQLite backend, whatever the database's locale.
    email_norm     TEXT COLLATE "C",
    email_verified BOOLEAN NOT NULL,
    enabled        BOOLEAN NOT NULL,
    password_hash  TEXT,
    groups         TEXT NOT NULL,
    attributes     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX users_email_norm ON users (email_norm);

CREATE TABLE upstream_links (
    provider   TEXT COLLATE "C" NOT NULL,
    subject    TEXT COLLATE "C" NOT NULL,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX upstream_links_user ON upstream_links (user_id);

CREATE TABLE clients (
    client_id         TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    name              TEXT NOT NULL,
    secret_sha256     TEXT,
    grant_types       TEXT NOT NULL,
    providers         TEXT NOT NULL,
    scopes            TEXT NOT NULL,
    access_token_ttl  BIGINT NOT NULL,
    id_token_ttl      BIGINT NOT NULL,
    refresh_token_ttl BIGINT NOT NULL,
    allowed_origins   TEXT NOT NULL
);

CREATE TABLE signing_keys (
    kid           TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    alg           TEXT NOT NULL,
    private_pkcs8 BYTEA NOT NULL,
    public_jwk    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    active        BOOLEAN NOT NULL,
    publish_until BIGINT
);
-- At most one active key, whatever instance activates it.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (active) WHERE active;

CREATE TABLE refresh_tokens (
    token_hash TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    family_id  TEXT COLLATE "C" NOT NULL,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    origin     TEXT NOT NULL,
    auth_time  BIGINT NOT NULL,
    origin_jti TEXT NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('active', 'rotated', 'revoked'))
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE replay_markers (
    token_hash TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX replay_markers_expires ON replay_markers (expires_at);

CREATE TABLE audit_events (
    -- Insertion order: newest-first listing and pagination follow it, not event_time,
    -- because clocks of several instances may disagree.
    seq        BIGSERIAL PRIMARY KEY,
    event_id   TEXT COLLATE "C" NOT NULL UNIQUE,
    event_time BIGINT NOT NULL,
    event_name TEXT COLLATE "C" NOT NULL,
    username   TEXT COLLATE "C",
    request_id TEXT COLLATE "C" NOT NULL,
    error_code TEXT,
    record     TEXT NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (event_time);
CREATE INDEX audit_events_name ON audit_events (event_name);
CREATE INDEX audit_events_username ON audit_events (username);
CREATE INDEX audit_events_request ON audit_events (request_id);

CREATE TABLE settings (
    key   TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
