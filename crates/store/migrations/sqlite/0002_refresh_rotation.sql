-- Rotation bookkeeping for the refresh-token reuse grace: when a token was rotated out, which
-- token replaced it, and whether it was retired unused by a retry of its predecessor. Added
-- columns only (no table rebuild); rows rotated before this migration keep NULLs, which the
-- grace treats as unknown (a reuse revokes their family, as before).

ALTER TABLE refresh_tokens ADD COLUMN rotated_at INTEGER;
ALTER TABLE refresh_tokens ADD COLUMN replaced_by TEXT;
ALTER TABLE refresh_tokens ADD COLUMN superseded INTEGER NOT NULL DEFAULT 0;
