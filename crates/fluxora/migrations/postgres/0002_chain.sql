-- Chain indexing (design §6): every contract event under its unique RPC id, the hash of every
-- ledger seen (reorg detection), and the indexer's durable progress.

CREATE TABLE chain_events (
    id               TEXT    PRIMARY KEY,  -- RPC event id: '%019d-%010d', sorts in chain order
    ledger           BIGINT  NOT NULL,
    ledger_hash      TEXT,
    ledger_closed_at BIGINT  NOT NULL,     -- unix seconds
    contract_id      TEXT    NOT NULL,
    tx_hash          TEXT    NOT NULL,
    name             TEXT    NOT NULL,     -- topic symbol ('' when undecodable)
    stream_id        BIGINT,               -- on-chain stream id, when the event names one
    kind             TEXT    NOT NULL CHECK (kind IN ('applied', 'skipped', 'unknown', 'invalid')),
    topic            TEXT    NOT NULL,     -- JSON array of base64 XDR ScVals, as received
    value            TEXT    NOT NULL,     -- base64 XDR ScVal, as received
    error            TEXT,
    ingested_at      BIGINT  NOT NULL      -- unix ms
);

CREATE INDEX chain_events_ledger ON chain_events (ledger);
CREATE INDEX chain_events_stream ON chain_events (contract_id, stream_id, id);

CREATE TABLE chain_ledgers (
    sequence   BIGINT  PRIMARY KEY,
    hash       TEXT    NOT NULL,
    close_time BIGINT
);

CREATE TABLE indexer_state (
    id                   INTEGER PRIMARY KEY CHECK (id = 1),
    cursor               TEXT,
    last_ingested_ledger BIGINT,
    last_safe_ledger     BIGINT,
    updated_at           BIGINT  NOT NULL
);
