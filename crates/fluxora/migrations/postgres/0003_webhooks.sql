-- Live webhook delivery (issue 6): endpoints, the outbox of domain events, one delivery per
-- (event, endpoint) with its retry state, and every attempt. Times are unix milliseconds.

CREATE TABLE webhook_endpoints (
    id                    TEXT    PRIMARY KEY,
    url                   TEXT    NOT NULL,
    description           TEXT,
    event_types           TEXT    NOT NULL,          -- JSON array of types; [] = every type
    enabled               BOOLEAN NOT NULL,
    secret                TEXT    NOT NULL,          -- signing key; never returned after creation
    previous_secret       TEXT,
    previous_secret_until BIGINT,                    -- deliveries use the previous secret until then
    consecutive_failures  BIGINT  NOT NULL DEFAULT 0,
    disabled_reason       TEXT,
    created_at            BIGINT  NOT NULL,
    updated_at            BIGINT  NOT NULL
);

CREATE TABLE webhook_events (
    id             TEXT    PRIMARY KEY,
    type           TEXT    NOT NULL,
    stream_id      TEXT,
    data           TEXT    NOT NULL,                 -- JSON: the stream resource at the change
    created_at     BIGINT  NOT NULL,
    -- Chain events wait until their ledger is safe (design §6): held, then released into
    -- deliveries once last_safe_ledger >= release_ledger; dropped if a reorg abandons them.
    release_ledger BIGINT,
    held           BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE INDEX webhook_events_held ON webhook_events (held, release_ledger);

CREATE TABLE webhook_deliveries (
    position        BIGSERIAL PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,
    event_id        TEXT    NOT NULL REFERENCES webhook_events (id),
    endpoint_id     TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'dead')),
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    lease_until     BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    delivered_at    BIGINT
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, position);

CREATE TABLE webhook_attempts (
    delivery_id   TEXT    NOT NULL,
    attempt       BIGINT  NOT NULL,
    attempted_at  BIGINT  NOT NULL,
    status_code   BIGINT,
    latency_ms    BIGINT  NOT NULL,
    error         TEXT,
    response_body TEXT,                              -- the first 1 KiB
    PRIMARY KEY (delivery_id, attempt)
);
