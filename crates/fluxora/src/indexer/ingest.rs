//! The one ingest core, shared by the RPC poller and `POST /internal/indexer/events`.
//!
//! A batch is written in one transaction: its new events (an event already stored is a no-op,
//! reported as a duplicate), the chain streams they change, the ledger hashes seen and the
//! indexer's progress. A ledger already stored that arrives with a different hash is a reorg: every
//! event and derived stream state from that ledger on is rolled back (streams are rebuilt by
//! replaying their remaining events), then the batch is applied on the new branch.
//!
//! Batches are serialized within a process; across replicas, writes are optimistic (unique event
//! ids, stream versions) and a batch that loses a race is recomputed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::clock::now_millis;
use crate::indexer::decode::{decode, ContractEvent, Decoded};
use crate::indexer::derive::{
    apply, chain_stream_id, keep_view_reads, replay, Effect, EventContext, ReplayStep,
};
use crate::indexer::entry::{changes_resource, EntryRead, StreamEntry};
use crate::indexer::event::ValidEvent;
use crate::indexer::repo::{
    ChainBatchWrite, ChainCommit, ChainEventKind, ChainRepository, ChainStreamWrite,
    IndexerCheckpoint, StoredChainEvent, StoredEntry,
};
use crate::indexer::state::IndexerState;
use crate::indexer::views::{ContractConfig, LookbackRead};
use crate::store::StoreError;
use crate::streams::repo::StreamRepository;
use crate::streams::Stream;
use crate::webhooks::repo::WebhookRepository;
use crate::webhooks::OutboxEvent;

/// The webhook type of an applied contract event: `stream.created`, `stream.cancelled`
/// (`cancelled`, `kp_cncl`), `stream.completed`, else `stream.updated`.
fn webhook_type(event: &ContractEvent) -> &'static str {
    match event {
        ContractEvent::Created(_) => "stream.created",
        ContractEvent::Cancelled(_) | ContractEvent::KeeperCancelled(_) => "stream.cancelled",
        ContractEvent::Completed(_) => "stream.completed",
        _ => "stream.updated",
    }
}

/// How often a batch that lost an optimistic race is recomputed before giving up.
const MAX_ATTEMPTS: usize = 5;

/// One batch to ingest.
#[derive(Debug, Clone, Default)]
pub struct IngestBatch {
    /// Validated events, in any order (they are applied in chain order).
    pub events: Vec<ValidEvent>,
    /// Ledger hashes learned besides the events' own `ledgerHash`: `(sequence, hash, close time)`.
    pub ledgers: Vec<(u32, String, Option<u64>)>,
    /// The RPC poller's new cursor (`None`: unchanged).
    pub cursor: Option<String>,
    /// The ledger the RPC scan reached (`None`: the batch's highest event ledger).
    pub scanned_to: Option<u32>,
    /// Previous-hash continuity, where `getLedgers` gives headers: `(ledger, the hash its header
    /// names for ledger − 1)`. Checked against the stored hash of ledger − 1 (and the batch's own
    /// hash for it); never stored. A mismatch is a fork at ledger − 1: the batch is not applied,
    /// everything from the fork on is rolled back, and [`IngestReport::rescan_from`] tells the
    /// caller to re-read from there.
    pub parents: Vec<(u32, String)>,
    /// The contract's storage entries of streams, read after the events (`getLedgerEntries`, or
    /// sent by a trusted worker). Each is applied once its `lastModifiedLedgerSeq` is ingested
    /// (by this batch or before); an entry of a later ledger is left for a later read.
    pub entries: Vec<EntryRead>,
    /// Streams whose entry was asked for and does not exist (closed, or archived): they are no
    /// longer pending a read.
    pub entries_missing: Vec<u64>,
    /// Lookback windows read with the contract's `get_lookback_window` view. Applied at once (no
    /// event reports them); a read older than the one a stream holds is ignored.
    pub lookbacks: Vec<LookbackRead>,
}

/// A detected reorg.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reorg {
    /// The fork ledger: the lowest ledger whose stored hash differs.
    pub ledger: u32,
    /// The hash we had.
    pub existing_hash: String,
    /// The hash that arrived.
    pub incoming_hash: String,
}

/// What a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestReport {
    /// Events received.
    pub received: usize,
    /// Newly stored.
    pub inserted: usize,
    /// Already stored (no-ops).
    pub duplicates: usize,
    /// Applied to a stream.
    pub applied: usize,
    /// Decoded but changing nothing we model.
    pub skipped: usize,
    /// Unknown event names (stored and skipped).
    pub unknown: usize,
    /// Undecodable events (stored and skipped).
    pub invalid: usize,
    /// Storage entries applied (the streams now equal the contract's state).
    pub entries_applied: usize,
    /// Storage entries modified in a ledger not ingested yet, left for a later read.
    pub entries_deferred: usize,
    /// Lookback windows applied (read newer than the stream's last read).
    pub lookbacks_applied: usize,
    /// The reorg this batch rolled back, if any.
    pub reorg: Option<Reorg>,
    /// Highest ingested ledger after the batch.
    pub last_ingested_ledger: Option<u32>,
    /// Highest safe ledger after the batch.
    pub last_safe_ledger: Option<u32>,
    /// Set when a previous-hash discontinuity rolled the store back instead of applying the
    /// batch: the ledger to re-read the chain from (the fork). Internal to the RPC path.
    #[serde(skip)]
    pub rescan_from: Option<u32>,
}

/// What [`IngestCore::rederive`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RederiveReport {
    /// Chain streams the stored events make.
    pub streams: usize,
    /// Streams written because they differed (or were missing).
    pub changed: usize,
    /// Stored streams no stored event creates any more, deleted.
    pub deleted: usize,
}

/// Errors of the ingest core.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The database failed (503 on the push path; retried by the poller).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A storage entry that does not decode as a stream entry.
    #[error("ledger entry {index} is not a stream entry: {error}")]
    InvalidEntry {
        /// Index in the batch's entries.
        index: usize,
        /// Why.
        error: crate::indexer::decode::DecodeError,
    },
    /// A storage entry of another contract than the indexed one.
    #[error("ledger entry {index} belongs to contract {contract_id}, not the indexed contract")]
    EntryOfWrongContract {
        /// Index in the batch's entries.
        index: usize,
        /// Its contract.
        contract_id: String,
    },
    /// A lookback window of another contract than the indexed one.
    #[error("lookback window {index} belongs to contract {contract_id}, not the indexed contract")]
    LookbackOfWrongContract {
        /// Index in the batch's lookback windows.
        index: usize,
        /// Its contract.
        contract_id: String,
    },
    /// An event of another contract than `FLUXORA_CONTRACT_ID`.
    #[error("event {index} belongs to contract {contract_id}, not the indexed contract")]
    WrongContract {
        /// Index in the batch.
        index: usize,
        /// Its contract.
        contract_id: String,
    },
    /// The batch gives two different hashes for one ledger.
    #[error("the batch gives two different hashes for ledger {ledger}")]
    ConflictingHashes {
        /// The ledger.
        ledger: u32,
    },
    /// Concurrent writers kept changing the same streams.
    #[error("concurrent ingest kept conflicting; retry")]
    Contended,
}

/// The ingest core.
pub struct IngestCore {
    chain: ChainRepository,
    streams: StreamRepository,
    webhooks: WebhookRepository,
    state: IndexerState,
    contract_id: Option<String>,
    safety_margin: u32,
    lock: tokio::sync::Mutex<()>,
    /// Token contract ids by contract id, as `chain_contracts` holds them (set once per
    /// contract: a contract's token never changes).
    tokens: std::sync::Mutex<HashMap<String, String>>,
}

struct Working {
    stored: Option<Stream>,
    state: Option<Stream>,
}

fn event_context(event: &StoredChainEvent) -> EventContext<'_> {
    EventContext {
        contract_id: &event.contract_id,
        ledger: event.ledger,
        ledger_closed_at: event.ledger_closed_at,
        tx_hash: &event.tx_hash,
    }
}

impl IngestCore {
    /// A core writing events, ledgers and progress to `chain`, derived streams to `streams`
    /// (in the same transactions) and reading which webhook endpoints are enabled from
    /// `webhooks`; it reports to `state`. `contract_id` (when configured) is the only contract
    /// accepted; `safety_margin` is `INDEXER_SAFETY_MARGIN_LEDGERS`.
    pub fn new(
        chain: ChainRepository,
        streams: StreamRepository,
        webhooks: WebhookRepository,
        state: IndexerState,
        contract_id: Option<String>,
        safety_margin: u32,
    ) -> Self {
        Self {
            chain,
            streams,
            webhooks,
            state,
            contract_id,
            safety_margin,
            lock: tokio::sync::Mutex::new(()),
            tokens: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The token contract `contract_id` streams, once its configuration was read (cached after
    /// the first hit).
    ///
    /// Errors: [`StoreError`].
    pub async fn token_of(&self, contract_id: &str) -> Result<Option<String>, StoreError> {
        if let Some(token) = self.cached_token(contract_id) {
            return Ok(Some(token));
        }
        let Some(config) = self.chain.contract_config(contract_id).await? else {
            return Ok(None);
        };
        self.cache_token(contract_id, &config.token);
        Ok(Some(config.token))
    }

    /// Stores the contract's configuration as its `get_config` view returned it; its streams
    /// then show the token.
    ///
    /// Errors: [`StoreError`].
    pub async fn record_config(
        &self,
        contract_id: &str,
        config: &ContractConfig,
    ) -> Result<(), StoreError> {
        self.chain.save_contract_config(contract_id, config).await?;
        self.cache_token(contract_id, &config.token);
        Ok(())
    }

    fn cached_token(&self, contract_id: &str) -> Option<String> {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(contract_id)
            .cloned()
    }

    fn cache_token(&self, contract_id: &str, token: &str) {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(contract_id.to_owned(), token.to_owned());
    }

    /// Shows the known token on every chain stream of `states` that does not show one yet.
    async fn stamp_tokens<'a>(
        &self,
        states: impl Iterator<Item = &'a mut Stream>,
    ) -> Result<(), StoreError> {
        let mut known: HashMap<String, Option<String>> = HashMap::new();
        for state in states {
            let Some(chain) = state.chain.as_mut() else {
                continue;
            };
            if chain.token_contract_id.is_some() {
                continue;
            }
            if !known.contains_key(&chain.contract_id) {
                let token = self.token_of(&chain.contract_id).await?;
                known.insert(chain.contract_id.clone(), token);
            }
            chain.token_contract_id = known.get(&chain.contract_id).cloned().flatten();
        }
        Ok(())
    }

    /// The shared indexer state.
    pub fn state(&self) -> &IndexerState {
        &self.state
    }

    /// The stream repository the core writes chain streams to.
    pub fn streams(&self) -> &StreamRepository {
        &self.streams
    }

    /// The chain repository (events, ledgers, progress, leadership).
    pub fn chain(&self) -> &ChainRepository {
        &self.chain
    }

    /// Ingests a batch (see the module docs).
    ///
    /// Errors: [`IngestError::WrongContract`] and [`IngestError::ConflictingHashes`] for a bad
    /// batch (nothing written); [`IngestError::Store`]; [`IngestError::Contended`].
    pub async fn ingest(&self, batch: &IngestBatch) -> Result<IngestReport, IngestError> {
        if let Some(expected) = &self.contract_id {
            if let Some((index, event)) = batch
                .events
                .iter()
                .enumerate()
                .find(|(_, e)| &e.contract_id != expected)
            {
                return Err(IngestError::WrongContract {
                    index,
                    contract_id: event.contract_id.clone(),
                });
            }
        }
        let _serialized = self.lock.lock().await;
        if let Some(reorg) = self.discontinuity(batch).await? {
            // The new ledgers do not continue our stored chain: roll back from the fork (the
            // same path as a fork found by hash comparison) and let the caller re-read.
            let fork = reorg.ledger;
            let mut report = self.rollback_locked(reorg).await?;
            report.received = batch.events.len();
            report.rescan_from = Some(fork);
            return Ok(report);
        }
        for _ in 0..MAX_ATTEMPTS {
            if let Some(report) = self.try_ingest(batch, None).await? {
                return Ok(report);
            }
        }
        Err(IngestError::Contended)
    }

    /// Previous-hash continuity (each ledger header names its predecessor's hash, a chain back to
    /// genesis; see `docs/indexer.md`): the lowest ledger `L − 1` for which a header of the batch
    /// names another hash than the one we stored (or than the batch itself gives for `L − 1`), as a
    /// [`Reorg`] at `L − 1`. Ledgers we hold no hash for cannot be checked and pass.
    ///
    /// Errors: [`IngestError::Store`]; [`IngestError::ConflictingHashes`] when the batch
    /// contradicts itself (a header and a hash for the same ledger disagree).
    async fn discontinuity(&self, batch: &IngestBatch) -> Result<Option<Reorg>, IngestError> {
        if batch.parents.is_empty() {
            return Ok(None);
        }
        let mut claimed: BTreeMap<u32, String> = BTreeMap::new();
        for (ledger, parent_hash) in &batch.parents {
            let Some(previous) = ledger.checked_sub(1) else {
                continue;
            };
            let parent_hash = parent_hash.to_ascii_lowercase();
            match claimed.get(&previous) {
                Some(known) if *known != parent_hash => {
                    return Err(IngestError::ConflictingHashes { ledger: previous })
                }
                _ => {
                    claimed.insert(previous, parent_hash);
                }
            }
        }
        let in_batch = batch
            .events
            .iter()
            .filter_map(|e| Some((e.ledger, e.ledger_hash.as_deref()?)))
            .chain(batch.ledgers.iter().map(|(l, h, _)| (*l, h.as_str())));
        for (ledger, hash) in in_batch {
            if claimed
                .get(&ledger)
                .is_some_and(|c| !c.eq_ignore_ascii_case(hash))
            {
                return Err(IngestError::ConflictingHashes { ledger });
            }
        }
        let sequences: Vec<u32> = claimed.keys().copied().collect();
        let stored = self.chain.ledger_hashes(&sequences).await?;
        Ok(stored
            .into_iter()
            .filter_map(|(ledger, existing_hash)| {
                let incoming_hash = claimed.get(&ledger)?;
                (*incoming_hash != existing_hash).then(|| Reorg {
                    ledger,
                    existing_hash,
                    incoming_hash: incoming_hash.clone(),
                })
            })
            .min_by_key(|reorg| reorg.ledger))
    }

    /// Rolls back every event and derived state from `ledger` on and rewinds the progress to
    /// `ledger − 1` with no cursor (the RPC poller's reorg path; it then re-ingests from
    /// `ledger`).
    ///
    /// Errors: [`IngestError::Store`], [`IngestError::Contended`].
    pub async fn rollback(&self, reorg: Reorg) -> Result<IngestReport, IngestError> {
        let _serialized = self.lock.lock().await;
        self.rollback_locked(reorg).await
    }

    /// [`IngestCore::rollback`], with the ingest lock already held.
    async fn rollback_locked(&self, reorg: Reorg) -> Result<IngestReport, IngestError> {
        for _ in 0..MAX_ATTEMPTS {
            if let Some(report) = self
                .try_ingest(&IngestBatch::default(), Some(reorg.clone()))
                .await?
            {
                return Ok(report);
            }
        }
        Err(IngestError::Contended)
    }

    /// Rebuilds every chain stream from the stored events and storage entries alone, without the
    /// RPC (after an upgrade of the derivation rules): each contract's streams are replayed from
    /// nothing and written where they differ; a stored stream no event creates any more is
    /// deleted. Progress is unchanged and no webhook is sent (nothing happened on chain).
    ///
    /// Errors: [`IngestError::Store`]; [`IngestError::Contended`] when another writer kept
    /// changing the same streams.
    pub async fn rederive(&self) -> Result<RederiveReport, IngestError> {
        let _serialized = self.lock.lock().await;
        let mut report = RederiveReport::default();
        for contract_id in self.chain.event_contracts().await? {
            for attempt in 0..MAX_ATTEMPTS {
                match self.rederive_contract(&contract_id).await? {
                    Some(done) => {
                        report.streams += done.streams;
                        report.changed += done.changed;
                        report.deleted += done.deleted;
                        break;
                    }
                    None if attempt + 1 == MAX_ATTEMPTS => return Err(IngestError::Contended),
                    None => {}
                }
            }
        }
        Ok(report)
    }

    async fn rederive_contract(
        &self,
        contract_id: &str,
    ) -> Result<Option<RederiveReport>, IngestError> {
        let checkpoint = self.chain.checkpoint().await?;
        let stored_versions = self.chain.chain_stream_versions(contract_id).await?;
        let all: BTreeSet<u64> = self
            .chain
            .events_of_streams_all(contract_id)
            .await?
            .into_iter()
            .chain(stored_versions.iter().map(|(id, _)| *id))
            .collect();
        let (stream_ids, events) = self.family_events(contract_id, all, u32::MAX).await?;
        let decoded: Vec<(ContractEvent, &StoredChainEvent)> = events
            .iter()
            .filter_map(|event| match decode(&event.topic, &event.value) {
                Decoded::Event(contract_event) => Some((contract_event, event)),
                _ => None,
            })
            .collect();
        let stored_entries = self
            .chain
            .entries_of_streams(contract_id, &stream_ids, u32::MAX)
            .await?;
        let entries: Vec<(StreamEntry, &StoredEntry)> = stored_entries
            .iter()
            .filter_map(|stored| StreamEntry::decode(&stored.xdr).ok().map(|e| (e, stored)))
            .collect();
        let mut states = replay(replay_steps(&decoded, &entries));
        let ids: Vec<String> = stream_ids
            .iter()
            .map(|id| chain_stream_id(contract_id, *id))
            .collect();
        let mut stored: HashMap<String, Stream> = self
            .streams
            .get_many(&ids)
            .await?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        let mut report = RederiveReport {
            streams: states.len(),
            ..RederiveReport::default()
        };
        let mut write = ChainBatchWrite {
            checkpoint: checkpoint.clone(),
            ..ChainBatchWrite::default()
        };
        for (stream_id, id) in stream_ids.iter().zip(ids) {
            match (stored.remove(&id), states.remove(stream_id)) {
                (Some(old), None) => {
                    write.deleted_streams.push((id, old.version));
                    report.deleted += 1;
                }
                (old, Some(mut state)) => {
                    keep_view_reads(old.as_ref(), Some(&mut state));
                    self.stamp_tokens(std::iter::once(&mut state)).await?;
                    if let Some(old) = &old {
                        // Bookkeeping of the record, not of the chain.
                        state.created_at = old.created_at;
                        if *old
                            == (Stream {
                                version: old.version,
                                ..state.clone()
                            })
                        {
                            continue;
                        }
                    }
                    let expected_version = old.as_ref().map(|s| s.version);
                    state.version = expected_version.map_or(0, |v| v.saturating_add(1));
                    write.streams.push(ChainStreamWrite {
                        stream: state,
                        expected_version,
                    });
                    report.changed += 1;
                }
                (None, None) => {}
            }
        }
        match self.chain.commit_batch(&write).await? {
            ChainCommit::Conflict => Ok(None),
            ChainCommit::Committed => Ok(Some(report)),
        }
    }

    /// The stored events (before `fork`) of the streams `touched` and of all their relatives, in
    /// chain order, with the ids of every stream among them: a delegation child is derived from
    /// its parent's state at the split and a renewal links two streams, so a stream is rebuilt
    /// together with the streams its events name. Grows the set until no event names a new one.
    ///
    /// Errors: [`StoreError`].
    async fn family_events(
        &self,
        contract_id: &str,
        mut stream_ids: BTreeSet<u64>,
        fork: u32,
    ) -> Result<(Vec<u64>, Vec<StoredChainEvent>), StoreError> {
        loop {
            let ids: Vec<u64> = stream_ids.iter().copied().collect();
            let events = self
                .chain
                .events_of_streams(contract_id, &ids, fork)
                .await?;
            let before = stream_ids.len();
            for event in &events {
                stream_ids.extend(event.stream_id);
                stream_ids.extend(event.related_stream_id);
            }
            if stream_ids.len() == before {
                return Ok((ids, events));
            }
        }
    }

    /// One attempt; `Ok(None)` when an optimistic check failed and the batch must be recomputed.
    async fn try_ingest(
        &self,
        batch: &IngestBatch,
        forced: Option<Reorg>,
    ) -> Result<Option<IngestReport>, IngestError> {
        let checkpoint = self.chain.checkpoint().await?;

        // Ledger hashes this batch asserts.
        let mut incoming: BTreeMap<u32, (String, Option<u64>)> = BTreeMap::new();
        let mut assert_hash =
            |ledger: u32, hash: &str, close: Option<u64>| match incoming.get(&ledger) {
                Some((known, _)) if known != hash => Err(IngestError::ConflictingHashes { ledger }),
                _ => {
                    incoming.insert(ledger, (hash.to_ascii_lowercase(), close));
                    Ok(())
                }
            };
        for event in &batch.events {
            if let Some(hash) = &event.ledger_hash {
                assert_hash(event.ledger, hash, Some(event.ledger_closed_at))?;
            }
        }
        for (ledger, hash, close) in &batch.ledgers {
            assert_hash(*ledger, hash, *close)?;
        }

        // Reorg: a stored ledger arriving with another hash.
        let sequences: Vec<u32> = incoming.keys().copied().collect();
        let stored_hashes = self.chain.ledger_hashes(&sequences).await?;
        let detected = stored_hashes
            .iter()
            .filter_map(|(ledger, existing)| {
                let (incoming_hash, _) = incoming.get(ledger)?;
                (incoming_hash != existing).then(|| Reorg {
                    ledger: *ledger,
                    existing_hash: existing.clone(),
                    incoming_hash: incoming_hash.clone(),
                })
            })
            .min_by_key(|reorg| reorg.ledger);
        let reorg = match (forced, detected) {
            (Some(a), Some(b)) => Some(if a.ledger <= b.ledger { a } else { b }),
            (a, b) => a.or(b),
        };
        let fork = reorg.as_ref().map(|r| r.ledger);
        if let Some(reorg) = &reorg {
            tracing::warn!(
                ledger = reorg.ledger,
                existing_hash = %reorg.existing_hash,
                incoming_hash = %reorg.incoming_hash,
                "chain reorganisation detected: rolling back events and derived state from this ledger"
            );
        }

        // Duplicates (events at or after a fork are being replaced, so they are not duplicates).
        let mut seen = HashSet::new();
        let mut new_events: Vec<&ValidEvent> = Vec::new();
        // Every stored event's ledger is at most the checkpoint's last ingested ledger (both
        // move in one transaction; a rollback deletes the events it rewinds past), and an
        // event id encodes its ledger (validated). So a batch wholly above that ledger — the
        // poller's every page — holds no stored event and needs no lookup. Another replica's
        // commit since the checkpoint was read shows as a conflict, and the retry looks up.
        let above_stored = checkpoint
            .last_ingested_ledger
            .is_some_and(|last| batch.events.iter().all(|e| e.ledger > last));
        let existing = if above_stored {
            HashSet::new()
        } else {
            let ids: Vec<String> = batch.events.iter().map(|e| e.id.clone()).collect();
            self.chain.existing_event_ids(&ids).await?
        };
        let mut duplicates = 0;
        for event in &batch.events {
            let replaced = fork.is_some_and(|f| event.ledger >= f);
            if !seen.insert(event.id.as_str()) || (existing.contains(&event.id) && !replaced) {
                duplicates += 1;
            } else {
                new_events.push(event);
            }
        }
        new_events.sort_by(|a, b| a.id.cmp(&b.id));

        // Working stream states: rebuilt from before the fork, then the new events applied.
        // Every stream the batch touches is loaded with one query, and a rollback reads the
        // remaining events of all the streams it rebuilds with one query per contract.
        let mut working: HashMap<String, Working> = HashMap::new();
        if let Some(fork) = fork {
            let mut by_contract: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
            for (contract_id, stream_id) in self.chain.streams_touched_from(fork).await? {
                by_contract
                    .entry(contract_id)
                    .or_default()
                    .insert(stream_id);
            }
            for (contract_id, touched) in by_contract {
                let (stream_ids, kept) = self.family_events(&contract_id, touched, fork).await?;
                let ids: Vec<String> = stream_ids
                    .iter()
                    .map(|s| chain_stream_id(&contract_id, *s))
                    .collect();
                let mut stored: HashMap<String, Stream> = self
                    .streams
                    .get_many(&ids)
                    .await?
                    .into_iter()
                    .map(|s| (s.id.clone(), s))
                    .collect();
                let decoded: Vec<(ContractEvent, &StoredChainEvent)> = kept
                    .iter()
                    .filter_map(|event| match decode(&event.topic, &event.value) {
                        Decoded::Event(contract_event) => Some((contract_event, event)),
                        _ => None,
                    })
                    .collect();
                let stored_entries = self
                    .chain
                    .entries_of_streams(&contract_id, &stream_ids, fork)
                    .await?;
                let entries: Vec<(StreamEntry, &StoredEntry)> = stored_entries
                    .iter()
                    .filter_map(|stored| match StreamEntry::decode(&stored.xdr) {
                        Ok(entry) => Some((entry, stored)),
                        Err(error) => {
                            tracing::warn!(stream_id = stored.stream_id, %error, "stored storage entry no longer decodes; left out of the replay");
                            None
                        }
                    })
                    .collect();
                let mut states = replay(replay_steps(&decoded, &entries));
                for (stream_id, id) in stream_ids.iter().zip(ids) {
                    let mut state = states.remove(stream_id);
                    let stored = stored.remove(&id);
                    keep_view_reads(stored.as_ref(), state.as_mut());
                    working.insert(id, Working { stored, state });
                }
            }
        }

        // Decode the new events once, then load every stream they touch that is not loaded yet.
        let decoded_events: Vec<(&ValidEvent, Decoded)> =
            new_events.into_iter().map(|e| (e, e.decode())).collect();
        let mut entries: Vec<(StreamEntry, &EntryRead)> = Vec::with_capacity(batch.entries.len());
        for (index, read) in batch.entries.iter().enumerate() {
            let entry = StreamEntry::decode(&read.xdr)
                .map_err(|error| IngestError::InvalidEntry { index, error })?;
            if self
                .contract_id
                .as_deref()
                .is_some_and(|contract| contract != entry.contract_id)
            {
                return Err(IngestError::EntryOfWrongContract {
                    index,
                    contract_id: entry.contract_id,
                });
            }
            entries.push((entry, read));
        }
        for (index, read) in batch.lookbacks.iter().enumerate() {
            if let Some(contract) = self.contract_id.as_deref() {
                if contract != read.contract_id {
                    return Err(IngestError::LookbackOfWrongContract {
                        index,
                        contract_id: read.contract_id.clone(),
                    });
                }
            }
        }
        let entry_contract = self
            .contract_id
            .clone()
            .or_else(|| entries.first().map(|(entry, _)| entry.contract_id.clone()));
        let entry_ids = entries
            .iter()
            .map(|(entry, _)| chain_stream_id(&entry.contract_id, entry.stream_id))
            .chain(entry_contract.iter().flat_map(|contract| {
                batch
                    .entries_missing
                    .iter()
                    .map(|stream_id| chain_stream_id(contract, *stream_id))
            }))
            .chain(
                batch
                    .lookbacks
                    .iter()
                    .map(|read| chain_stream_id(&read.contract_id, read.stream_id)),
            );
        let missing: Vec<String> = decoded_events
            .iter()
            .flat_map(|(event, decoded)| match decoded {
                Decoded::Event(contract_event) => std::iter::once(contract_event.stream_id())
                    .chain(contract_event.related_stream_id())
                    .map(|stream_id| chain_stream_id(&event.contract_id, stream_id))
                    .collect::<Vec<_>>(),
                _ => Vec::new(),
            })
            .chain(entry_ids)
            .filter(|id| !working.contains_key(id))
            .collect::<HashSet<String>>()
            .into_iter()
            .collect();
        if !missing.is_empty() {
            let mut found: HashMap<String, Stream> = self
                .streams
                .get_many(&missing)
                .await?
                .into_iter()
                .map(|s| (s.id.clone(), s))
                .collect();
            for id in missing {
                let current = found.remove(&id);
                working.insert(
                    id,
                    Working {
                        stored: current.clone(),
                        state: current,
                    },
                );
            }
        }

        // Progress: monotonic safe ledger; a rollback rewinds the ingested ledger.
        let mut last_ingested = checkpoint.last_ingested_ledger;
        if let Some(fork) = fork {
            last_ingested = last_ingested.map(|l| l.min(fork.saturating_sub(1)));
        }
        let batch_top = batch
            .scanned_to
            .into_iter()
            .chain(batch.events.iter().map(|e| e.ledger))
            .max();
        last_ingested = match (last_ingested, batch_top) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let last_safe = match (
            checkpoint.last_safe_ledger,
            last_ingested.map(|l| l.saturating_sub(self.safety_margin)),
        ) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        // Webhook events of chain events are sent only once their ledger is safe (at or below
        // `lastSafeLedger`). Those of ledgers this batch makes safe are released in its own
        // transaction; those above it are held. With no endpoint enabled, the released ones would
        // never be delivered, so they are not built (the commit re-checks, and a batch that raced
        // an endpoint's creation is recomputed).
        let now = now_millis();
        let mut outbox = BatchOutbox {
            events: Vec::new(),
            omitted: false,
            endpoints_enabled: self.webhooks.any_enabled_endpoint().await?,
            last_safe,
            now,
        };
        let mut report = IngestReport {
            received: batch.events.len(),
            duplicates,
            reorg: reorg.clone(),
            ..IngestReport::default()
        };
        let mut stored_events = Vec::with_capacity(decoded_events.len());
        for (event, decoded) in decoded_events {
            let mut stored = StoredChainEvent {
                id: event.id.clone(),
                ledger: event.ledger,
                ledger_hash: event
                    .ledger_hash
                    .clone()
                    .or_else(|| incoming.get(&event.ledger).map(|(h, _)| h.clone())),
                ledger_closed_at: event.ledger_closed_at,
                contract_id: event.contract_id.clone(),
                tx_hash: event.tx_hash.clone(),
                name: String::new(),
                stream_id: None,
                related_stream_id: None,
                kind: ChainEventKind::Applied,
                topic: event.topic.clone(),
                value: event.value.clone(),
                error: None,
                ingested_at: now,
            };
            match &decoded {
                Decoded::Event(contract_event) => {
                    stored.name = contract_event.name().to_string();
                    stored.stream_id = Some(contract_event.stream_id());
                    stored.related_stream_id = contract_event.related_stream_id();
                    let effect = apply_to_working(&mut working, contract_event, &stored);
                    match effect {
                        None => {
                            report.applied += 1;
                            let id =
                                chain_stream_id(&stored.contract_id, contract_event.stream_id());
                            let wanted = outbox.wants(event.ledger);
                            let related = contract_event.related_stream_id().map(|related| {
                                let kind = match contract_event {
                                    ContractEvent::ShareDelegated(_) => "stream.created",
                                    _ => "stream.updated",
                                };
                                (chain_stream_id(&stored.contract_id, related), kind)
                            });
                            let changed =
                                std::iter::once((id, webhook_type(contract_event))).chain(related);
                            for (id, kind) in changed {
                                if let (true, Some(Some(state))) =
                                    (wanted, working.get(&id).map(|w| w.state.as_ref()))
                                {
                                    outbox.push(kind, state, event.ledger);
                                }
                            }
                        }
                        Some(reason) => {
                            tracing::warn!(event_id = %event.id, event = contract_event.name(), reason = %reason, "contract event skipped");
                            stored.kind = ChainEventKind::Skipped;
                            stored.error = Some(reason);
                            report.skipped += 1;
                        }
                    }
                }
                Decoded::ContractLevel { name } => {
                    tracing::debug!(event_id = %event.id, event = %name, "contract-level event stored");
                    stored.name = (*name).to_owned();
                    stored.kind = ChainEventKind::Skipped;
                    stored.error =
                        Some(format!("{name}: a contract-level event; no stream changes"));
                    report.skipped += 1;
                }
                Decoded::Unknown { name } => {
                    tracing::warn!(event_id = %event.id, event = %name, "unknown contract event stored and skipped");
                    stored.name = name.chars().take(32).collect();
                    stored.kind = ChainEventKind::Unknown;
                    stored.error = Some(format!("unknown event name '{}'", stored.name));
                    report.unknown += 1;
                }
                Decoded::Invalid(error) => {
                    tracing::warn!(event_id = %event.id, error = %error, "undecodable contract event stored and skipped");
                    stored.name = error.event.clone().unwrap_or_default();
                    stored.kind = ChainEventKind::Invalid;
                    stored.error = Some(error.to_string());
                    report.invalid += 1;
                }
            }
            stored_events.push(stored);
        }
        report.inserted = stored_events.len();

        // Storage entries, after every event: an entry is the state as of its last modification.
        let mut stored_entries = Vec::new();
        for (entry, read) in &entries {
            if last_ingested.is_none_or(|ingested| read.last_modified_ledger > ingested) {
                report.entries_deferred += 1;
                continue;
            }
            let id = chain_stream_id(&entry.contract_id, entry.stream_id);
            let Some(current) = working.get(&id).and_then(|w| w.state.as_ref()) else {
                tracing::warn!(
                    stream_id = entry.stream_id,
                    "storage entry of a stream that is not indexed; ignored"
                );
                continue;
            };
            let next = entry.apply(current, read.last_modified_ledger, now);
            // What the storage corrected is announced like an event's change, once its ledger
            // is safe.
            if changes_resource(current, &next) && outbox.wants(read.last_modified_ledger) {
                outbox.push("stream.updated", &next, read.last_modified_ledger);
            }
            if let Some(slot) = working.get_mut(&id) {
                slot.state = Some(next);
            }
            stored_entries.push(StoredEntry {
                contract_id: entry.contract_id.clone(),
                stream_id: entry.stream_id,
                last_modified_ledger: read.last_modified_ledger,
                xdr: read.xdr.clone(),
                read_at: now,
            });
            report.entries_applied += 1;
        }
        if let Some(contract) = &entry_contract {
            for stream_id in &batch.entries_missing {
                let id = chain_stream_id(contract, *stream_id);
                if let Some(Some(state)) = working.get_mut(&id).map(|w| w.state.as_mut()) {
                    if let Some(chain) = state.chain.as_mut() {
                        if !chain.closed {
                            tracing::warn!(stream_id, "the contract's storage has no entry for an open stream (archived?); left as its events make it");
                        }
                        chain.entry_pending = false;
                    }
                }
            }
        }

        // Lookback windows: the contract's view, applied at once (no event orders them).
        for read in &batch.lookbacks {
            let id = chain_stream_id(&read.contract_id, read.stream_id);
            let Some(current) = working.get(&id).and_then(|w| w.state.as_ref()) else {
                tracing::warn!(
                    stream_id = read.stream_id,
                    "lookback window of a stream that is not indexed; ignored"
                );
                continue;
            };
            let Some(chain) = current.chain.as_ref() else {
                continue;
            };
            if chain
                .details
                .lookback_read_ledger
                .is_some_and(|known| known > read.read_ledger)
            {
                continue;
            }
            let mut next = current.clone();
            if let Some(chain) = next.chain.as_mut() {
                chain.details.lookback_ledgers = read.ledgers;
                chain.details.lookback_read_ledger = Some(read.read_ledger);
            }
            // No rollback undoes a view read: its announcement is not held for a safe ledger.
            let ledger = last_safe.map_or(read.read_ledger, |l| l.min(read.read_ledger));
            if changes_resource(current, &next) {
                next.updated_at = now.max(current.updated_at);
                if outbox.wants(ledger) {
                    outbox.push("stream.updated", &next, ledger);
                }
            }
            if let Some(slot) = working.get_mut(&id) {
                slot.state = Some(next);
            }
            report.lookbacks_applied += 1;
        }
        self.stamp_tokens(working.values_mut().filter_map(|w| w.state.as_mut()))
            .await?;

        let cursor = match (&batch.cursor, fork) {
            (Some(cursor), _) => Some(cursor.clone()),
            // A forced rollback (RPC path) restarts the scan from the fork ledger.
            (None, Some(_)) if batch.events.is_empty() && batch.ledgers.is_empty() => None,
            (None, _) => checkpoint.cursor.clone(),
        };

        let mut write = ChainBatchWrite {
            rollback_from: fork,
            events: stored_events,
            ledgers: incoming
                .iter()
                .map(|(ledger, (hash, close))| (*ledger, hash.clone(), *close))
                .collect(),
            checkpoint: IndexerCheckpoint {
                cursor,
                last_ingested_ledger: last_ingested,
                last_safe_ledger: last_safe,
            },
            outbox: outbox.events,
            outbox_omitted: outbox.omitted,
            entries: stored_entries,
            ..ChainBatchWrite::default()
        };
        for (id, item) in working {
            match (item.stored, item.state) {
                (Some(stored), None) => write.deleted_streams.push((id, stored.version)),
                (stored, Some(mut state)) => {
                    if stored.as_ref() == Some(&state) {
                        continue;
                    }
                    let expected_version = stored.as_ref().map(|s| s.version);
                    state.version = expected_version.map_or(0, |v| v.saturating_add(1));
                    write.streams.push(ChainStreamWrite {
                        stream: state,
                        expected_version,
                    });
                }
                (None, None) => {}
            }
        }

        match self.chain.commit_batch(&write).await? {
            ChainCommit::Conflict => return Ok(None),
            ChainCommit::Committed => {}
        }
        report.last_ingested_ledger = last_ingested;
        report.last_safe_ledger = last_safe;
        crate::telemetry::metrics::record_ingested(
            report.inserted as u64,
            report.duplicates as u64,
            (report.unknown + report.invalid) as u64,
        );
        if report.reorg.is_some() {
            crate::telemetry::metrics::record_reorg();
        }
        self.state.update(|snapshot| {
            snapshot.last_ingested_ledger = last_ingested;
            snapshot.last_safe_ledger = last_safe;
            if let Some(fork) = fork {
                snapshot.reorg_in_progress = true;
                snapshot.reorg_fork_ledger = Some(fork);
            }
            if snapshot.reorg_in_progress
                && matches!((last_ingested, snapshot.reorg_fork_ledger), (Some(l), Some(f)) if l >= f)
            {
                snapshot.reorg_in_progress = false;
                snapshot.reorg_fork_ledger = None;
            }
        });
        Ok(Some(report))
    }
}

/// The webhook events a batch writes with the ledger each belongs to. An event of a ledger at or
/// below the safe ledger is written ready to send, one above it held until its ledger is safe; with
/// no endpoint enabled the ready ones would never be delivered, so they are left out and the batch
/// says so (its commit recomputes it if an endpoint appeared meanwhile).
struct BatchOutbox {
    /// `(event, ledger)` in the order the changes happened.
    events: Vec<(OutboxEvent, u32)>,
    /// Whether an event was left out because no endpoint was enabled.
    omitted: bool,
    endpoints_enabled: bool,
    last_safe: Option<u32>,
    /// Stamps the events (unix ms).
    now: i64,
}

impl BatchOutbox {
    /// Whether the event of a change at `ledger` is written; records one left out.
    fn wants(&mut self, ledger: u32) -> bool {
        let wanted = self.endpoints_enabled || self.last_safe.is_none_or(|safe| ledger > safe);
        self.omitted |= !wanted;
        wanted
    }

    /// Queues a `kind` event (`stream.created`, `stream.updated`, …) carrying `stream` as the
    /// resource shows it now, at `ledger`.
    fn push(&mut self, kind: &'static str, stream: &Stream, ledger: u32) {
        let view = stream.view(crate::clock::now_unix(), None);
        self.events.push((
            OutboxEvent::new(
                kind,
                Some(stream.id.clone()),
                crate::webhooks::event_data(&view),
                self.now,
            ),
            ledger,
        ));
    }
}

/// The steps of a replay in chain order: events by id; an entry after every event of the ledger
/// it was last modified in. Entries are stamped with their read time.
fn replay_steps<'a>(
    events: &'a [(ContractEvent, &'a StoredChainEvent)],
    entries: &'a [(StreamEntry, &'a StoredEntry)],
) -> Vec<ReplayStep<'a>> {
    // (ledger, events before entries, event id, stream id): chain order.
    type Position<'a> = (u32, u8, &'a str, u64);
    let mut keyed: Vec<(Position<'a>, ReplayStep<'a>)> = events
        .iter()
        .map(|(event, stored)| {
            (
                (stored.ledger, 0, stored.id.as_str(), 0),
                ReplayStep::Event(event, event_context(stored)),
            )
        })
        .chain(entries.iter().map(|(entry, stored)| {
            (
                (stored.last_modified_ledger, 1, "", entry.stream_id),
                ReplayStep::Entry(entry, stored.last_modified_ledger, stored.read_at),
            )
        }))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.into_iter().map(|(_, step)| step).collect()
}

/// Applies one event to the working state of its streams (loaded beforehand: absent means the
/// stream does not exist yet); `None` when applied, else why it was skipped.
fn apply_to_working(
    working: &mut HashMap<String, Working>,
    event: &ContractEvent,
    stored: &StoredChainEvent,
) -> Option<String> {
    let id = chain_stream_id(&stored.contract_id, event.stream_id());
    let related_id = event
        .related_stream_id()
        .map(|related| chain_stream_id(&stored.contract_id, related));
    let current = working.get(&id).and_then(|w| w.state.as_ref());
    let related = related_id
        .as_ref()
        .and_then(|related| working.get(related))
        .and_then(|w| w.state.as_ref());
    match apply(current, related, event, &event_context(stored)) {
        Effect::Applied { stream, related } => {
            let slot = working.entry(id).or_insert(Working {
                stored: None,
                state: None,
            });
            slot.state = Some(*stream);
            if let (Some(related_id), Some(related)) = (related_id, related) {
                let slot = working.entry(related_id).or_insert(Working {
                    stored: None,
                    state: None,
                });
                slot.state = Some(*related);
            }
            None
        }
        Effect::Skipped(reason) => Some(reason),
    }
}
