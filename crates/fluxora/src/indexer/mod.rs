//! The chain indexer (`docs/indexer.md`): follows the Fluxora contract's events on Stellar RPC (or
//! takes them from trusted workers), stores them, derives chain streams from them, detects reorgs,
//! and reports its freshness to `/health`.
//!
//! | module | concept |
//! |---|---|
//! | [`rpc`] | the Stellar RPC client |
//! | [`event`] | the RPC event shape and its validation |
//! | [`decode`] | XDR `ScVal` → typed contract events |
//! | [`entry`] | the contract's storage entry of a stream (`getLedgerEntries`) |
//! | [`views`] | the contract's read-only views (`simulateTransaction`): lookback windows, the token |
//! | [`derive`](mod@derive) | chain stream state as a fold of its events and storage entries |
//! | [`ingest`] | the one ingest core both the poller and push ingest use: dedup, reorgs, one transaction per batch |
//! | [`poller`] | the supervised RPC polling loop |
//! | [`state`] | live state for `/health` |
//! | [`verify`] | reconciliation of chain streams with the contract's storage |

pub mod decode;
pub mod derive;
pub mod entry;
pub mod event;
pub mod ingest;
pub mod poller;
pub mod repo;
pub mod rpc;
pub mod state;
pub mod verify;
pub mod views;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod corpus_tests;
