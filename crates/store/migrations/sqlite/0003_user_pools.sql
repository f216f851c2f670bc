-- User pools (the Cognito-compatible API): the AWS-shaped objects of a pool (the pool itself,
-- its app clients, groups, memberships) as JSON documents, and the pending auth challenges.
-- New tables only: a database upgraded from 0002 keeps every existing row as it is.

CREATE TABLE documents (
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    pool_id    TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
) STRICT;
-- Listing one kind of one pool in id order.
CREATE INDEX documents_kind_pool ON documents (kind, pool_id, id);
-- Deleting a pool removes its documents of every kind.
CREATE INDEX documents_pool ON documents (pool_id);

CREATE TABLE auth_sessions (
    -- SHA-256 of the Session string handed to the client; the string itself is never stored.
    id_hash    TEXT PRIMARY KEY NOT NULL,
    body       TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX auth_sessions_expires ON auth_sessions (expires_at);
