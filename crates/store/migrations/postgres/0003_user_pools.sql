-- User pools (the Cognito-compatible API): the AWS-shaped objects of a pool (the pool itself,
-- its app clients, groups, memberships) as JSON documents, and the pending auth challenges.
-- New tables only: a schema upgraded from 0002 keeps every existing row as it is. Bodies are
-- JSON text, as elsewhere; keys compared or listed in order use the "C" collation.

CREATE TABLE documents (
    kind       TEXT COLLATE "C" NOT NULL,
    id         TEXT COLLATE "C" NOT NULL,
    pool_id    TEXT COLLATE "C" NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);
-- Listing one kind of one pool in id order.
CREATE INDEX documents_kind_pool ON documents (kind, pool_id, id);
-- Deleting a pool removes its documents of every kind.
CREATE INDEX documents_pool ON documents (pool_id);

CREATE TABLE auth_sessions (
    -- SHA-256 of the Session string handed to the client; the string itself is never stored.
    id_hash    TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    body       TEXT NOT NULL,
    attempts   BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX auth_sessions_expires ON auth_sessions (expires_at);
