-- Rotation bookkeeping for the refresh-token reuse grace: when a token was rotated out, which
-- token replaced it, and whether it was retired unused by a retry of its predecessor. Added
-- columns only (a constant default needs no table rewrite); rows rotated before this migration
-- keep NULLs, which the grace treats as unknown (a reuse revokes their family, as before).

ALTER TABLE refresh_tokens ADD COLUMN rotated_at BIGINT;
ALTER TABLE refresh_tokens ADD COLUMN replaced_by TEXT COLLATE "C";
ALTER TABLE refresh_tokens ADD COLUMN superseded BOOLEAN NOT NULL DEFAULT FALSE;
