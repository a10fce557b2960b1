//! The RPC poller (design §6): checks the network, detects forks against stored ledger hashes,
//! pages `getEvents` for the contract from the durable cursor, and hands each page to the ingest
//! core. Runs under [`crate::worker::supervise`]; with several replicas only the leader polls.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::now_millis;
use crate::indexer::event::{GetEventsPage, ValidEvent};
use crate::indexer::ingest::{IngestBatch, IngestCore, IngestError, Reorg};
use crate::indexer::rpc::{EventsStart, RpcClient, RpcError, EVENTS_PAGE_LIMIT};
use crate::indexer::state::IndexerProblem;
use crate::store::{Leadership, StoreError};

/// How many of the newest stored ledgers are re-checked against the RPC each cycle.
const CONTINUITY_DEPTH: u32 = 16;
/// How often a standby replica retries to become the leader.
const STANDBY_RETRY: Duration = Duration::from_secs(2);

/// Why a poll cycle ended early.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    /// The RPC failed (retried with backoff).
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The database failed (retried with backoff).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Ingest refused the page.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// Indexing must not continue (network mismatch or reset), reported on `/health`.
    #[error("indexing stopped: {0:?}")]
    Stopped(IndexerProblem),
    /// The RPC's answer was not usable.
    #[error("unusable RPC answer: {0}")]
    Protocol(String),
}

/// Poller settings.
#[derive(Debug, Clone)]
pub struct PollerConfig {
    /// The contract to follow (C… StrKey).
    pub contract_id: String,
    /// Expected network passphrase.
    pub passphrase: String,
    /// First ledger when nothing was indexed yet (`None`: the tip).
    pub start_ledger: Option<u32>,
    /// Pause between cycles once caught up.
    pub poll_interval: Duration,
}

/// The RPC poller.
pub struct Poller {
    rpc: Arc<RpcClient>,
    core: Arc<IngestCore>,
    config: PollerConfig,
}

impl Poller {
    /// A poller reading `rpc` into `core`.
    pub fn new(rpc: Arc<RpcClient>, core: Arc<IngestCore>, config: PollerConfig) -> Self {
        Self { rpc, core, config }
    }

    /// Polls until `shutdown`; returns `Err` (for the supervisor to restart it with backoff)
    /// after consecutive failed cycles, `Ok` on shutdown.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), String> {
        // Leadership: one replica indexes; the others wait and take over when it dies.
        let mut leadership: Box<dyn Leadership> = loop {
            match self.core.store().try_lead_indexer().await {
                Ok(Some(lease)) => break lease,
                Ok(None) => tracing::debug!("another replica runs the indexer; standing by"),
                Err(error) => tracing::warn!(error = %error, "could not check indexer leadership"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(STANDBY_RETRY) => {}
            }
        };
        tracing::info!(contract_id = %self.config.contract_id, "indexer leading: following the contract");
        let mut failures: u32 = 0;
        loop {
            if !leadership.still_leader().await {
                return Err("lost indexer leadership".into());
            }
            let cycle = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                cycle = self.cycle() => cycle,
            };
            let pause = match cycle {
                Ok(()) => {
                    failures = 0;
                    self.config.poll_interval
                }
                Err(CycleError::Stopped(problem)) => {
                    tracing::error!(problem = ?problem, "indexing stopped");
                    self.core.state().update(|s| s.problem = Some(problem));
                    crate::worker::RESTART_BACKOFF.cap
                }
                Err(error) => {
                    tracing::warn!(error = %error, "indexer cycle failed");
                    let message: String = error.to_string().chars().take(300).collect();
                    self.core.state().update(|s| {
                        s.problem = Some(IndexerProblem::RpcFailing { error: message })
                    });
                    failures = failures.saturating_add(1);
                    crate::worker::RESTART_BACKOFF.delay(failures - 1)
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One cycle: network check, fork check, catch up to the tip.
    ///
    /// Errors: [`CycleError`].
    pub async fn cycle(&self) -> Result<(), CycleError> {
        let network = self.rpc.get_network().await?;
        if network.passphrase != self.config.passphrase {
            return Err(CycleError::Stopped(IndexerProblem::NetworkMismatch {
                expected: self.config.passphrase.clone(),
                actual: network.passphrase,
            }));
        }
        let latest = self.rpc.get_latest_ledger().await?;
        let checkpoint = self.core.store().indexer_checkpoint().await?;
        if let Some(last) = checkpoint.last_ingested_ledger {
            if latest.sequence < last {
                return Err(CycleError::Stopped(IndexerProblem::NetworkReset {
                    last_ingested: last,
                    rpc_latest: latest.sequence,
                }));
            }
        }

        if let Some(reorg) = self.find_fork().await? {
            self.core.rollback(reorg).await?;
        }

        let checkpoint = self.core.store().indexer_checkpoint().await?;
        let mut start = match (&checkpoint.cursor, checkpoint.last_ingested_ledger) {
            (Some(cursor), _) => EventsStart::Cursor(cursor.clone()),
            (None, Some(last)) => EventsStart::Ledger(last.saturating_add(1).min(latest.sequence)),
            (None, None) => EventsStart::Ledger(
                self.config
                    .start_ledger
                    .unwrap_or(latest.sequence)
                    .min(latest.sequence),
            ),
        };
        loop {
            let raw = self
                .rpc
                .get_events(&start, &self.config.contract_id, EVENTS_PAGE_LIMIT)
                .await?;
            let page: GetEventsPage = serde_json::from_value(raw)
                .map_err(|e| CycleError::Protocol(format!("getEvents result: {e}")))?;
            let mut events: Vec<ValidEvent> = Vec::with_capacity(page.events.len());
            for (index, parsed) in page.parse_events().into_iter().enumerate() {
                match parsed {
                    Ok(event) => events.push(event),
                    Err(problems) => tracing::warn!(
                        index,
                        problems = ?problems,
                        "malformed event in a getEvents page skipped"
                    ),
                }
            }
            let ledgers = self.ledger_hashes(&events).await?;
            let cursor_ledger = page
                .cursor_position()
                .map_err(|e| CycleError::Protocol(format!("getEvents cursor: {e}")))?
                .ledger;
            let scanned_to = cursor_ledger.min(page.latest_ledger);
            self.core
                .ingest(&IngestBatch {
                    events,
                    ledgers,
                    cursor: Some(page.cursor.clone()),
                    scanned_to: Some(scanned_to),
                })
                .await?;
            // Each stored page is progress: a long catch-up is not a stall.
            self.core
                .state()
                .update(|s| s.last_successful_sync_at = Some(now_millis()));
            if cursor_ledger >= page.latest_ledger {
                break;
            }
            start = EventsStart::Cursor(page.cursor);
        }
        // Remember the tip's hash for the next fork check.
        self.core
            .ingest(&IngestBatch {
                ledgers: vec![(latest.sequence, latest.id.to_ascii_lowercase(), None)],
                ..IngestBatch::default()
            })
            .await?;
        self.core.state().update(|s| {
            s.last_successful_sync_at = Some(now_millis());
            s.problem = None;
        });
        Ok(())
    }

    /// The RPC's hash of `sequence`, if the node still has it.
    async fn rpc_hash(&self, sequence: u32) -> Result<Option<String>, RpcError> {
        let page = match self.rpc.get_ledgers(sequence, 1).await {
            Ok(page) => page,
            // Outside the node's retention window: unknown, not a mismatch.
            Err(RpcError::JsonRpc { code: -32600, .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        Ok(page
            .ledgers
            .into_iter()
            .find(|l| l.sequence == sequence)
            .map(|l| l.hash.to_ascii_lowercase()))
    }

    /// Hashes of the ledgers holding `events`, from `getLedgers`.
    async fn ledger_hashes(
        &self,
        events: &[ValidEvent],
    ) -> Result<Vec<(u32, String, Option<u64>)>, RpcError> {
        let ledgers: BTreeSet<(u32, u64)> = events
            .iter()
            .map(|e| (e.ledger, e.ledger_closed_at))
            .collect();
        let mut out = Vec::with_capacity(ledgers.len());
        for (sequence, closed_at) in ledgers {
            if let Some(hash) = self.rpc_hash(sequence).await? {
                out.push((sequence, hash, Some(closed_at)));
            }
        }
        Ok(out)
    }

    /// Compares the newest stored ledger hashes with the RPC's; the lowest mismatching ledger
    /// (walking down from the tip until hashes agree) is the fork.
    async fn find_fork(&self) -> Result<Option<Reorg>, CycleError> {
        let stored = self
            .core
            .store()
            .latest_chain_ledgers(CONTINUITY_DEPTH)
            .await?;
        let mut fork = None;
        for (sequence, existing_hash) in stored {
            match self.rpc_hash(sequence).await? {
                Some(incoming_hash) if incoming_hash != existing_hash => {
                    fork = Some(Reorg {
                        ledger: sequence,
                        existing_hash,
                        incoming_hash,
                    });
                }
                Some(_) => break,
                None => {}
            }
        }
        Ok(fork)
    }
}
