-- API keys (issue 7, design §9): only the SHA-256 of a key is stored (lowercase hex), with a
-- non-secret display prefix. Times are unix milliseconds; revoked keys are kept for the record.

CREATE TABLE api_keys (
    id         TEXT   PRIMARY KEY,
    name       TEXT   NOT NULL,
    prefix     TEXT   NOT NULL,          -- first 8 characters after flx_ (not secret)
    key_hash   TEXT   NOT NULL UNIQUE,   -- SHA-256 of the whole key; keys are looked up by it
    scopes     TEXT   NOT NULL,          -- JSON array of scope names
    created_at BIGINT NOT NULL,
    revoked_at BIGINT                    -- NULL while active
);

CREATE INDEX api_keys_active ON api_keys (revoked_at);
