-- The contract's stream kind on every stream (accrual depends on it; API streams are linear),
-- the chain facts of a chain stream beyond its schedule (docs/indexer.md, "How chain streams are
-- derived") as one JSON document, and the second stream an event changes (the child of a
-- delegation, the successor of a renewal) so that a rollback rebuilds both.

ALTER TABLE streams ADD COLUMN kind TEXT NOT NULL DEFAULT 'linear'
    CHECK (kind IN ('linear', 'cliffOnly', 'cliffSlope'));
ALTER TABLE streams ADD COLUMN chain_details TEXT;
-- Chain streams whose storage entry the indexer should read (docs/indexer.md, "Reading the
-- contract's storage").
ALTER TABLE streams ADD COLUMN chain_entry_pending BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX streams_chain_entry_pending ON streams (chain_contract_id, chain_stream_id)
    WHERE chain_entry_pending;

-- The contract's storage entries of chain streams as read (docs/indexer.md), replayed with the
-- events after a rollback: an entry is the stream's state as of last_modified_ledger.
CREATE TABLE chain_stream_entries (
    contract_id          TEXT    NOT NULL,
    stream_id            BIGINT  NOT NULL,
    last_modified_ledger BIGINT  NOT NULL,
    xdr                  TEXT    NOT NULL,  -- base64 LedgerEntryData, as returned
    read_at              BIGINT  NOT NULL,  -- unix ms
    PRIMARY KEY (contract_id, stream_id, last_modified_ledger)
);
CREATE INDEX chain_stream_entries_ledger ON chain_stream_entries (last_modified_ledger);

ALTER TABLE chain_events ADD COLUMN related_stream_id BIGINT;
CREATE INDEX chain_events_related_stream ON chain_events (contract_id, related_stream_id)
    WHERE related_stream_id IS NOT NULL;
