//! The RPC poller: checks the network, detects forks against stored ledger hashes, pages
//! `getEvents` for the contract from the durable cursor, and hands each page to the ingest core.
//! Runs under [`crate::worker::supervise`]; with several replicas only the leader polls.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::now_millis;
use crate::indexer::entry::{stream_key, EntryRead};
use crate::indexer::event::{GetEventsPage, ValidEvent};
use crate::indexer::ingest::{IngestBatch, IngestCore, IngestError, IngestReport, Reorg};
use crate::indexer::repo::Leadership;
use crate::indexer::rpc::{
    EventsStart, LedgerInfo, RpcClient, RpcError, EVENTS_PAGE_LIMIT, MAX_LEDGER_ENTRY_KEYS,
};
use crate::indexer::state::{IndexerProblem, Verification};
use crate::indexer::views::{self, ViewError};
use crate::store::StoreError;

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

/// Ledgers per `getLedgers` call (the RPC's maximum).
const LEDGERS_PAGE_LIMIT: u32 = 200;

/// `(sequence, hash, close time)` of ledgers and `(ledger, previous ledger's hash)` from headers.
type LedgerHashes = (Vec<(u32, String, Option<u64>)>, Vec<(u32, String)>);

/// Where a catch-up scan starts and stops ([`Poller::catch_up`]). The default is the poller's:
/// from the durable cursor to the RPC's tip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanBounds {
    /// Scan from this ledger (inclusive) instead of the durable cursor; events already stored
    /// are duplicates, and the stored cursor never moves back.
    pub from_ledger: Option<u32>,
    /// Stop after this ledger (inclusive).
    pub until_ledger: Option<u32>,
    /// Stop this many ledgers below the RPC's latest ledger (`fluxora index` stops at the
    /// latest safe ledger, `INDEXER_SAFETY_MARGIN_LEDGERS` below the tip).
    pub tip_margin: u32,
}

/// Running totals of a catch-up scan ([`Poller::catch_up`]); the `fluxora index` summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatchUp {
    /// First ledger of the scan.
    pub first_ledger: u32,
    /// Last ledger the scan goes to (the bound, or the tip minus the margin).
    pub target_ledger: u32,
    /// The RPC's latest ledger when the scan started.
    pub latest_ledger: u32,
    /// Highest ledger scanned so far.
    pub scanned_to: Option<u32>,
    /// Ledgers scanned (a re-read after a rollback counts again).
    pub ledgers_scanned: u64,
    /// `getEvents` pages read.
    pub pages: u32,
    /// Events received (valid envelopes).
    pub events: u64,
    /// Events newly stored.
    pub inserted: u64,
    /// Events already stored (no-ops).
    pub duplicates: u64,
    /// Events applied to a stream.
    pub applied: u64,
    /// Decoded events that change nothing we model.
    pub skipped: u64,
    /// Unknown event names (stored and skipped).
    pub unknown: u64,
    /// Undecodable events (stored and skipped).
    pub invalid: u64,
    /// Events whose envelope was malformed (not stored; logged).
    pub malformed: u64,
    /// Reorgs rolled back (hash mismatch or previous-hash discontinuity).
    pub reorgs: u64,
    /// Stream storage entries read with `getLedgerEntries`.
    pub entries_read: u64,
    /// Storage entries applied (those streams now equal the contract's state).
    pub entries_applied: u64,
    /// `getLedgerEntries` calls made.
    pub entry_calls: u32,
    /// Lookback windows applied (read with the contract's `get_lookback_window` view).
    pub lookbacks_applied: u64,
    /// `simulateTransaction` calls made (contract views: one per stream read, one for the
    /// contract's configuration).
    pub view_calls: u32,
    /// Highest ingested ledger afterwards.
    pub last_ingested_ledger: Option<u32>,
    /// Highest safe ledger afterwards.
    pub last_safe_ledger: Option<u32>,
}

impl CatchUp {
    fn add(&mut self, report: &IngestReport) {
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        if report.rescan_from.is_none() {
            self.events += count(report.received);
        }
        self.inserted += count(report.inserted);
        self.duplicates += count(report.duplicates);
        self.applied += count(report.applied);
        self.skipped += count(report.skipped);
        self.unknown += count(report.unknown);
        self.invalid += count(report.invalid);
        self.entries_applied += count(report.entries_applied);
        self.lookbacks_applied += count(report.lookbacks_applied);
        if report.reorg.is_some() {
            self.reorgs += 1;
        }
    }
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
    /// How often to reconcile every open chain stream with the contract's storage (`None`:
    /// never); the first runs after the first successful cycle.
    pub verify_interval: Option<Duration>,
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
            match self.core.chain().try_lead_indexer().await {
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
        let mut verified_at: Option<tokio::time::Instant> = None;
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
                    if let Some(interval) = self.config.verify_interval {
                        if verified_at.is_none_or(|at| at.elapsed() >= interval) {
                            verified_at = Some(tokio::time::Instant::now());
                            tokio::select! {
                                () = shutdown.cancelled() => return Ok(()),
                                () = self.reconcile() => {}
                            }
                        }
                    }
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

    /// Reconciles every open chain stream with the contract's storage and repairs what differs
    /// ([`crate::indexer::verify::verify`]); the outcome goes to `/health` and the metrics. A
    /// failure is logged and retried at the next interval.
    async fn reconcile(&self) {
        match crate::indexer::verify::verify(&self.core, &self.rpc, &self.config.contract_id, true)
            .await
        {
            Ok(report) => {
                for stream in &report.drifted {
                    let fields: Vec<&str> = stream.fields.iter().map(|f| f.field).collect();
                    tracing::warn!(stream_id = %stream.id, fields = ?fields, missing = stream.missing, "chain stream differed from the contract's storage; repaired");
                }
                crate::telemetry::metrics::record_verification(report.drifted.len());
                let verification = Verification {
                    at_ms: now_millis(),
                    checked: report.checked,
                    drifted: report.drifted.len(),
                };
                self.core.state().update(|s| {
                    s.verification = Some(verification);
                    if verification.drifted > 0 {
                        s.last_drift = Some(verification);
                    }
                });
            }
            Err(error) => {
                tracing::warn!(error = %error, "reconciliation with the contract's storage failed; retried at the next interval");
            }
        }
    }

    /// One cycle: network check, fork check, catch up to the tip.
    ///
    /// Errors: [`CycleError`].
    pub async fn cycle(&self) -> Result<(), CycleError> {
        self.catch_up(ScanBounds::default(), &mut |_| {}).await?;
        self.core.state().update(|s| {
            s.last_successful_sync_at = Some(now_millis());
            s.problem = None;
        });
        Ok(())
    }

    /// Checks the network and forks, then reads the contract's events from the durable cursor
    /// (or `bounds.from_ledger`) up to the tip (or the bound), one ingest batch per `getEvents`
    /// page; `on_page` sees the running totals after each page. The poller's cycle and
    /// `fluxora index` both run this, so there is one ingest path.
    ///
    /// Errors: [`CycleError`]; [`CycleError::Stopped`] for a network mismatch or reset (nothing
    /// read).
    pub async fn catch_up(
        &self,
        bounds: ScanBounds,
        on_page: &mut (dyn FnMut(&CatchUp) + Send),
    ) -> Result<CatchUp, CycleError> {
        let network = self.rpc.get_network().await?;
        if network.passphrase != self.config.passphrase {
            return Err(CycleError::Stopped(IndexerProblem::NetworkMismatch {
                expected: self.config.passphrase.clone(),
                actual: network.passphrase,
            }));
        }
        let latest = self.rpc.get_latest_ledger().await?;
        let checkpoint = self.core.chain().checkpoint().await?;
        if let Some(last) = checkpoint.last_ingested_ledger {
            if latest.sequence < last {
                return Err(CycleError::Stopped(IndexerProblem::NetworkReset {
                    last_ingested: last,
                    rpc_latest: latest.sequence,
                }));
            }
        }
        let target = bounds
            .until_ledger
            .unwrap_or(u32::MAX)
            .min(latest.sequence.saturating_sub(bounds.tip_margin));
        let mut totals = CatchUp {
            latest_ledger: latest.sequence,
            target_ledger: target,
            ..CatchUp::default()
        };

        if let Some(reorg) = self.find_fork().await? {
            totals.reorgs += 1;
            self.core.rollback(reorg).await?;
        }

        let checkpoint = self.core.chain().checkpoint().await?;
        let mut progress = checkpoint.last_ingested_ledger;
        let mut start = match (bounds.from_ledger, &checkpoint.cursor, progress) {
            (Some(from), _, _) => EventsStart::Ledger(from.min(latest.sequence)),
            (None, Some(cursor), _) => EventsStart::Cursor(cursor.clone()),
            (None, None, Some(last)) => {
                EventsStart::Ledger(last.saturating_add(1).min(latest.sequence))
            }
            (None, None, None) => EventsStart::Ledger(
                self.config
                    .start_ledger
                    .unwrap_or(latest.sequence)
                    .min(latest.sequence),
            ),
        };
        // The last ledger known scanned: events up to it have been read.
        let mut position = match &start {
            EventsStart::Ledger(ledger) => ledger.saturating_sub(1),
            EventsStart::Cursor(_) => progress.unwrap_or(0),
        };
        totals.first_ledger = position.saturating_add(1);
        // Nothing left below the bound (the poller itself always asks: the tip moves).
        if position > target || (position == target && bounds != ScanBounds::default()) {
            on_page(&totals);
            return Ok(totals);
        }
        loop {
            let raw = self
                .rpc
                .get_events(&start, &self.config.contract_id, EVENTS_PAGE_LIMIT)
                .await?;
            let page: GetEventsPage = serde_json::from_value(raw)
                .map_err(|e| CycleError::Protocol(format!("getEvents result: {e}")))?;
            let cursor_ledger = page
                .cursor_position()
                .map_err(|e| CycleError::Protocol(format!("getEvents cursor: {e}")))?
                .ledger;
            let mut events: Vec<ValidEvent> = Vec::with_capacity(page.events.len());
            let mut beyond_target = false;
            for (index, parsed) in page.parse_events().into_iter().enumerate() {
                match parsed {
                    Ok(event) if event.ledger > target => beyond_target = true,
                    Ok(event) => events.push(event),
                    Err(problems) => {
                        totals.malformed += 1;
                        tracing::warn!(
                            index,
                            problems = ?problems,
                            "malformed event in a getEvents page skipped"
                        )
                    }
                }
            }
            let scanned_to = cursor_ledger.min(page.latest_ledger).min(target);
            // The page's cursor when it stays within the bound; else the last event kept (so
            // the next scan resumes right after it) or, without one, the stored cursor.
            let page_cursor = if cursor_ledger <= target && !beyond_target {
                Some(page.cursor.clone())
            } else {
                events.iter().map(|e| e.id.clone()).max()
            };
            // A re-scan below the stored progress never moves the cursor back.
            let cursor = page_cursor.filter(|_| progress.is_none_or(|p| scanned_to > p));
            let (ledgers, parents) = self.ledger_hashes(&events).await?;
            let report = self
                .core
                .ingest(&IngestBatch {
                    events,
                    ledgers,
                    cursor,
                    scanned_to: Some(scanned_to),
                    parents,
                    ..IngestBatch::default()
                })
                .await?;
            // Each stored page is progress: a long catch-up is not a stall.
            self.core
                .state()
                .update(|s| s.last_successful_sync_at = Some(now_millis()));
            totals.pages += 1;
            totals.add(&report);
            if let Some(fork) = report.rescan_from {
                // Previous-hash discontinuity: rolled back; re-read from the fork.
                start = EventsStart::Ledger(fork);
                position = fork.saturating_sub(1);
                progress = report.last_ingested_ledger;
                on_page(&totals);
                continue;
            }
            totals.ledgers_scanned += u64::from(scanned_to.saturating_sub(position));
            position = position.max(scanned_to);
            progress = report.last_ingested_ledger;
            totals.scanned_to = Some(position);
            totals.last_ingested_ledger = report.last_ingested_ledger;
            totals.last_safe_ledger = report.last_safe_ledger;
            on_page(&totals);
            if cursor_ledger >= page.latest_ledger || position >= target {
                break;
            }
            start = EventsStart::Cursor(page.cursor);
        }
        // Remember the hash of the last scanned ledger for the next fork check.
        let end_hash = if position == latest.sequence {
            Some(latest.id.to_ascii_lowercase())
        } else {
            self.rpc_ledger(position).await?.map(|l| l.hash)
        };
        if let Some(hash) = end_hash {
            let report = self
                .core
                .ingest(&IngestBatch {
                    ledgers: vec![(position, hash.to_ascii_lowercase(), None)],
                    ..IngestBatch::default()
                })
                .await?;
            totals.last_ingested_ledger = report.last_ingested_ledger;
            totals.last_safe_ledger = report.last_safe_ledger;
        }
        self.read_pending_entries(&mut totals).await?;
        Ok(totals)
    }

    /// Reads the storage entries of the streams that wait for one (what events cannot tell:
    /// `docs/indexer.md`, "Reading the contract's storage"), [`MAX_LEDGER_ENTRY_KEYS`] per
    /// `getLedgerEntries` call, and ingests them. Entries modified after the ingested ledger are
    /// left pending for the next cycle; streams without an entry (closed, archived) stop
    /// waiting.
    async fn read_pending_entries(&self, totals: &mut CatchUp) -> Result<(), CycleError> {
        let contract = &self.config.contract_id;
        if self.core.token_of(contract).await?.is_none() {
            totals.view_calls += 1;
            match views::config(&self.rpc, contract).await {
                Ok(config) => self.core.record_config(contract, &config).await?,
                Err(ViewError::Rpc(error)) => return Err(error.into()),
                Err(error) => {
                    tracing::warn!(error = %error, "could not read the contract's configuration; its token stays unknown");
                }
            }
        }
        // Past this many streams a cycle leaves the rest to the next one.
        const MAX_CALLS_PER_CYCLE: u32 = 50;
        let mut after: Option<u64> = None;
        for _ in 0..MAX_CALLS_PER_CYCLE {
            let pending: Vec<u64> = self
                .core
                .chain()
                .entry_pending_streams(contract, after, MAX_LEDGER_ENTRY_KEYS as u32)
                .await?;
            let Some(last) = pending.last().copied() else {
                break;
            };
            after = Some(last);
            let mut by_key = std::collections::HashMap::with_capacity(pending.len());
            for stream_id in &pending {
                if let Some(key) = stream_key(contract, *stream_id) {
                    by_key.insert(key, *stream_id);
                }
            }
            let keys: Vec<String> = by_key.keys().cloned().collect();
            let page = self.rpc.get_ledger_entries(&keys).await?;
            totals.entry_calls += 1;
            totals.entries_read += page.entries.len() as u64;
            let mut found = BTreeSet::new();
            let mut entries = Vec::with_capacity(page.entries.len());
            for entry in page.entries {
                let Some(stream_id) = by_key.get(&entry.key) else {
                    tracing::warn!("getLedgerEntries answered a key it was not asked; ignored");
                    continue;
                };
                found.insert(*stream_id);
                entries.push(EntryRead {
                    xdr: entry.xdr,
                    last_modified_ledger: entry.last_modified_ledger_seq,
                    live_until_ledger: entry.live_until_ledger_seq,
                });
            }
            let entries_missing: Vec<u64> = by_key
                .values()
                .filter(|id| !found.contains(*id))
                .copied()
                .collect();
            let existing: Vec<u64> = found.iter().copied().collect();
            totals.view_calls += u32::try_from(existing.len()).unwrap_or(u32::MAX);
            let lookbacks =
                views::lookback_windows(&self.rpc, contract, &existing, views::VIEW_CONCURRENCY)
                    .await?;
            let report = self
                .core
                .ingest(&IngestBatch {
                    entries,
                    entries_missing,
                    lookbacks,
                    ..IngestBatch::default()
                })
                .await
                .map_err(|error| match error {
                    IngestError::InvalidEntry { index, error } => {
                        CycleError::Protocol(format!("getLedgerEntries entry {index}: {error}"))
                    }
                    other => other.into(),
                })?;
            totals.add(&report);
            if pending.len() < MAX_LEDGER_ENTRY_KEYS {
                break;
            }
        }
        Ok(())
    }

    /// The RPC's entry for `sequence` (hash, header), if the node still has it.
    async fn rpc_ledger(&self, sequence: u32) -> Result<Option<LedgerInfo>, RpcError> {
        let page = match self.rpc.get_ledgers(sequence, 1).await {
            Ok(page) => page,
            // Outside the node's retention window: unknown, not a mismatch.
            Err(RpcError::JsonRpc { code: -32600, .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        Ok(page.ledgers.into_iter().find(|l| l.sequence == sequence))
    }

    /// The RPC's hash of `sequence`, if the node still has it.
    async fn rpc_hash(&self, sequence: u32) -> Result<Option<String>, RpcError> {
        Ok(self
            .rpc_ledger(sequence)
            .await?
            .map(|l| l.hash.to_ascii_lowercase()))
    }

    /// Hashes of the ledgers holding `events`, from `getLedgers`, and the previous-ledger hashes
    /// their headers name (where the RPC sends headers; an undecodable header is logged and
    /// skipped, leaving the hash comparison). Ledgers are fetched by range: each call starts at
    /// the lowest ledger still needed and reaches the last needed one within the RPC's page of
    /// 200 — the fewest calls the page limit allows, without ledgers past the last one needed.
    async fn ledger_hashes(&self, events: &[ValidEvent]) -> Result<LedgerHashes, RpcError> {
        let needed: Vec<(u32, u64)> = events
            .iter()
            .map(|e| (e.ledger, e.ledger_closed_at))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut hashes = Vec::with_capacity(needed.len());
        let mut parents = Vec::new();
        let mut next = 0;
        while let Some(&(start, _)) = needed.get(next) {
            // As many ledgers as reach the last needed one within a page, not more: each comes
            // with its (large) metadata.
            let window_end = start.saturating_add(LEDGERS_PAGE_LIMIT - 1);
            let last = needed[next..]
                .iter()
                .map(|(sequence, _)| *sequence)
                .take_while(|sequence| *sequence <= window_end)
                .last()
                .unwrap_or(start);
            let limit = last - start + 1;
            let page = match self.rpc.get_ledgers(start, limit).await {
                Ok(page) => page,
                // Outside the node's retention window: unknown, not a mismatch.
                Err(RpcError::JsonRpc { code: -32600, .. }) => {
                    next += 1;
                    continue;
                }
                Err(error) => return Err(error),
            };
            let covered_to = page
                .ledgers
                .iter()
                .map(|l| l.sequence)
                .max()
                .unwrap_or(start)
                .max(start);
            let by_sequence: std::collections::HashMap<u32, &LedgerInfo> =
                page.ledgers.iter().map(|l| (l.sequence, l)).collect();
            while let Some(&(sequence, closed_at)) = needed.get(next) {
                if sequence > covered_to {
                    break;
                }
                next += 1;
                let Some(ledger) = by_sequence.get(&sequence) else {
                    continue;
                };
                match ledger.previous_hash() {
                    Ok(Some(previous)) => parents.push((sequence, previous)),
                    Ok(None) => {}
                    Err(problem) => tracing::warn!(
                        ledger = sequence,
                        problem = %problem,
                        "unusable ledger header; previous-hash continuity not checked for it"
                    ),
                }
                hashes.push((sequence, ledger.hash.to_ascii_lowercase(), Some(closed_at)));
            }
        }
        Ok((hashes, parents))
    }

    /// Compares the newest stored ledger hashes with the RPC's; the lowest mismatching ledger
    /// (walking down from the tip until hashes agree) is the fork.
    async fn find_fork(&self) -> Result<Option<Reorg>, CycleError> {
        let stored = self.core.chain().latest_ledgers(CONTINUITY_DEPTH).await?;
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
