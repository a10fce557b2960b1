-- Streams, idempotency keys and service metadata (design §5), PostgreSQL.
-- Amounts are i128 stroops in NUMERIC(39, 0): exact, never floating point, and summable in SQL.
-- Times are unix seconds (BIGINT); created_at/updated_at and idempotency times are unix ms.

CREATE TABLE streams (
    -- Insertion order: the list order and the cursor anchor.
    position             BIGSERIAL PRIMARY KEY,
    id                   TEXT          NOT NULL UNIQUE,
    sender               TEXT          NOT NULL,
    recipient            TEXT          NOT NULL,
    deposit_amount       NUMERIC(39, 0) NOT NULL,
    rate_per_second      NUMERIC(39, 0) NOT NULL,
    start_time           BIGINT        NOT NULL CHECK (start_time >= 0),
    cliff_time           BIGINT        NOT NULL CHECK (cliff_time >= start_time),
    end_time             BIGINT        NOT NULL CHECK (end_time >= cliff_time AND end_time > start_time),
    status               TEXT          NOT NULL CHECK (status IN ('active', 'paused', 'completed', 'cancelled')),
    withdrawn_amount     NUMERIC(39, 0) NOT NULL DEFAULT 0,
    checkpoint_amount    NUMERIC(39, 0) NOT NULL DEFAULT 0,
    checkpoint_at        BIGINT        NOT NULL,
    cancelled_at         BIGINT,
    source               TEXT          NOT NULL CHECK (source IN ('api', 'chain')),
    chain_contract_id    TEXT,
    chain_stream_id      BIGINT,
    chain_created_ledger BIGINT,
    chain_tx_hash        TEXT,
    chain_closed         BOOLEAN       NOT NULL DEFAULT FALSE,
    created_at           BIGINT        NOT NULL,
    updated_at           BIGINT        NOT NULL,
    version              BIGINT        NOT NULL DEFAULT 0
);

CREATE INDEX streams_sender_position    ON streams (sender, position);
CREATE INDEX streams_recipient_position ON streams (recipient, position);
CREATE INDEX streams_status_position    ON streams (status, position);
CREATE UNIQUE INDEX streams_chain_identity ON streams (chain_contract_id, chain_stream_id)
    WHERE chain_contract_id IS NOT NULL;

CREATE TABLE idempotency_keys (
    key             TEXT    PRIMARY KEY,
    request_hash    BYTEA   NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('in_flight', 'completed')),
    locked_until    BIGINT  NOT NULL,
    response_status BIGINT,
    response_body   BYTEA,
    location        TEXT,
    created_at      BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL
);

CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);

-- Small per-database settings, e.g. the cursor signing secret.
CREATE TABLE service_meta (
    key   TEXT  PRIMARY KEY,
    value BYTEA NOT NULL
);
