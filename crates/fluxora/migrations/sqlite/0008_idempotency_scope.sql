-- Idempotency keys are scoped by credential (docs/api.md, "Idempotency"): each API key has its own
-- key space, anonymous requests share the empty scope. SQLite cannot change a primary key in
-- place, so the table is rebuilt; records made before the upgrade land in the anonymous scope
-- (they expire within 24 hours).
CREATE TABLE idempotency_keys_scoped (
    scope           TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    request_hash    BLOB    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('in_flight', 'completed')),
    locked_until    INTEGER NOT NULL,
    response_status INTEGER,
    response_body   BLOB,
    location        TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);

INSERT INTO idempotency_keys_scoped
    (scope, key, request_hash, state, locked_until, response_status, response_body, location,
     created_at, expires_at)
SELECT '', key, request_hash, state, locked_until, response_status, response_body, location,
       created_at, expires_at
FROM idempotency_keys;

DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_scoped RENAME TO idempotency_keys;
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
