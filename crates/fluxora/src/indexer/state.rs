//! The indexer's live state, shared with `/health` (its states: `docs/operations.md`, "Health
//! states and what to do"). Updated by the ingest core and
//! the RPC poller; read without ever waiting on the chain.

use std::sync::{Arc, RwLock};

/// Something that keeps the indexer from following the chain, reported on `/health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexerProblem {
    /// The RPC endpoint serves another network than `NETWORK_PASSPHRASE`: indexing stopped, so
    /// networks are never mixed.
    NetworkMismatch {
        /// Configured passphrase.
        expected: String,
        /// What `getNetwork` answered.
        actual: String,
    },
    /// The RPC's latest ledger is below what we already ingested (a testnet reset or a provider
    /// switch): indexing stopped until an operator decides.
    NetworkReset {
        /// Our last ingested ledger.
        last_ingested: u32,
        /// The RPC's latest ledger.
        rpc_latest: u32,
    },
    /// The last poll failed (RPC unreachable, timeouts); retried with backoff.
    RpcFailing {
        /// The error, for operators.
        error: String,
    },
}

/// A snapshot of the indexer's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexerSnapshot {
    /// Whether anything feeds the indexer (RPC + contract, or the push-ingest token).
    pub configured: bool,
    /// Unix ms of the last successful sync (a poll cycle that reached the tip, or a push batch).
    pub last_successful_sync_at: Option<i64>,
    /// Highest ingested ledger.
    pub last_ingested_ledger: Option<u32>,
    /// Highest safe ledger.
    pub last_safe_ledger: Option<u32>,
    /// A reorg rollback is in progress: set on detection, cleared once ingest passes the fork
    /// point.
    pub reorg_in_progress: bool,
    /// The fork ledger of the last reorg, while `reorg_in_progress`.
    pub reorg_fork_ledger: Option<u32>,
    /// What currently blocks indexing, if anything.
    pub problem: Option<IndexerProblem>,
    /// The last reconciliation with the contract's storage, if one ran.
    pub verification: Option<Verification>,
    /// The last reconciliation that found drift, if one did.
    pub last_drift: Option<Verification>,
}

/// A reconciliation's outcome, for `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    /// When it ran, unix ms.
    pub at_ms: i64,
    /// Open chain streams compared.
    pub checked: usize,
    /// Streams that differed (then repaired).
    pub drifted: usize,
}

/// Shared, cheaply clonable handle to the indexer's state.
#[derive(Debug, Clone, Default)]
pub struct IndexerState {
    inner: Arc<RwLock<IndexerSnapshot>>,
}

impl IndexerState {
    /// A new state; `configured` as per the configuration.
    pub fn new(configured: bool) -> Self {
        Self {
            inner: Arc::new(RwLock::new(IndexerSnapshot {
                configured,
                ..IndexerSnapshot::default()
            })),
        }
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> IndexerSnapshot {
        match self.inner.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Changes the state under the lock.
    pub fn update(&self, change: impl FnOnce(&mut IndexerSnapshot)) {
        match self.inner.write() {
            Ok(mut guard) => change(&mut guard),
            Err(poisoned) => change(&mut poisoned.into_inner()),
        }
    }
}
