-- Idempotency keys are scoped by credential (docs/api.md, "Idempotency"): each API key has its own
-- key space, anonymous requests share the empty scope. Records made before the upgrade land in
-- the anonymous scope (they expire within 24 hours).
ALTER TABLE idempotency_keys ADD COLUMN scope TEXT NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys ALTER COLUMN scope DROP DEFAULT;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (scope, key);
