-- The contract's configuration as its `get_config` view returned it (docs/indexer.md, "Reading
-- the contract's views"): the token it streams, set once when the contract was initialised.
-- Stream reads look the token up here by the stream's contract id.
CREATE TABLE chain_contracts (
    contract_id       TEXT   PRIMARY KEY,
    token_contract_id TEXT   NOT NULL,
    admin             TEXT   NOT NULL,
    read_at           BIGINT NOT NULL  -- unix ms
);
