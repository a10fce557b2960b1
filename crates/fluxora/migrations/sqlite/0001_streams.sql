-- Streams, idempotency keys and service metadata (design §5).
-- Amounts are i128 stroops stored as exact decimal TEXT (never REAL); times are unix seconds;
-- created_at/updated_at and idempotency times are unix milliseconds.

CREATE TABLE streams (
    -- Insertion order: the list order and the cursor anchor (never reused: AUTOINCREMENT).
    position            INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT    NOT NULL UNIQUE,
    sender              TEXT    NOT NULL,
    recipient           TEXT    NOT NULL,
    deposit_amount      TEXT    NOT NULL,
    rate_per_second     TEXT    NOT NULL,
    start_time          INTEGER NOT NULL CHECK (start_time >= 0),
    cliff_time          INTEGER NOT NULL CHECK (cliff_time >= start_time),
    end_time            INTEGER NOT NULL CHECK (end_time >= cliff_time AND end_time > start_time),
    status              TEXT    NOT NULL CHECK (status IN ('active', 'paused', 'completed', 'cancelled')),
    withdrawn_amount    TEXT    NOT NULL DEFAULT '0',
    checkpoint_amount   TEXT    NOT NULL DEFAULT '0',
    checkpoint_at       INTEGER NOT NULL,
    cancelled_at        INTEGER,
    source              TEXT    NOT NULL CHECK (source IN ('api', 'chain')),
    chain_contract_id   TEXT,
    chain_stream_id     INTEGER,
    chain_created_ledger INTEGER,
    chain_tx_hash       TEXT,
    chain_closed        INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    version             INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX streams_sender_position    ON streams (sender, position);
CREATE INDEX streams_recipient_position ON streams (recipient, position);
CREATE INDEX streams_status_position    ON streams (status, position);
CREATE UNIQUE INDEX streams_chain_identity ON streams (chain_contract_id, chain_stream_id)
    WHERE chain_contract_id IS NOT NULL;

CREATE TABLE idempotency_keys (
    key             TEXT    PRIMARY KEY,
    request_hash    BLOB    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('in_flight', 'completed')),
    locked_until    INTEGER NOT NULL,
    response_status INTEGER,
    response_body   BLOB,
    location        TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);

CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);

-- Small per-database settings, e.g. the cursor signing secret.
CREATE TABLE service_meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
