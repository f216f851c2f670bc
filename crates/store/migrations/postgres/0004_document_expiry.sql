-- Documents that are kept only for a while (the sign-in failures of a username, which are also
-- counted for usernames that do not exist): `purge_expired` removes them once `expires_at` has
-- come. Existing documents get NULL, which never expires.

ALTER TABLE documents ADD COLUMN expires_at BIGINT;
CREATE INDEX documents_expires ON documents (expires_at) WHERE expires_at IS NOT NULL;
