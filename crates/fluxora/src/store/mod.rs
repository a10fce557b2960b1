//! Durable state behind one interface, [`Store`] (`design.md` §2).
//!
//! Handlers and domain code see only this trait; [`sqlite::SqliteStore`] implements it today and
//! [`postgres::PostgresStore`] beside it. Amounts are stored as exact i128 decimal text,
//! never floating point. [`open`] chooses the implementation from `DATABASE_URL`.

pub mod postgres;
mod postgres_reads;
mod rows;
mod sql;
pub mod sqlite;
mod sqlite_reads;

use std::sync::Arc;

use async_trait::async_trait;

use crate::address::StellarAddress;
use crate::config::DatabaseConfig;
use crate::streams::{Stream, StreamSource, StreamStatus};

/// Errors of the storage layer. Handlers map them once to the HTTP envelope:
/// [`StoreError::Unavailable`] → 503 `SERVICE_UNAVAILABLE`, the rest → 500 `INTERNAL_ERROR`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached in time (pool acquire timeout, connection refused,
    /// database locked past the busy timeout). Retrying later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A stored value could not be decoded (a bug or manual tampering); never caused by a client.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Classifies a driver error: connectivity and lock timeouts are [`StoreError::Unavailable`].
    pub fn from_sqlx(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error),
            sqlx::Error::Database(db) if is_busy_code(db.code().as_deref()) => {
                StoreError::Unavailable(error)
            }
            _ => StoreError::Database(error),
        }
    }
}

/// SQLite's SQLITE_BUSY (5) and SQLITE_LOCKED (6) families, reported as extended codes.
fn is_busy_code(code: Option<&str>) -> bool {
    code.and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

/// Filters of `GET /api/streams` (design §5). `status` is the status as reported at `now`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamFilters {
    /// Reported status.
    pub status: Option<StreamStatus>,
    /// Exact sender StrKey.
    pub sender: Option<StellarAddress>,
    /// Exact recipient StrKey.
    pub recipient: Option<StellarAddress>,
    /// `api` or `chain`.
    pub source: Option<StreamSource>,
}

/// One page request: newest first, strictly before `before_position` when given.
#[derive(Debug, Clone)]
pub struct StreamPageQuery {
    /// Filters.
    pub filters: StreamFilters,
    /// Position (insertion order, from a previous page's last item) to continue after.
    pub before_position: Option<i64>,
    /// Page size, 1–100.
    pub limit: u32,
    /// Unix seconds used to evaluate the time-derived `completed` status.
    pub now: u64,
}

/// A page of streams, newest first.
#[derive(Debug, Clone)]
pub struct StreamPage {
    /// The streams of this page.
    pub streams: Vec<Stream>,
    /// Insertion position of the last stream on the page (the next cursor's anchor).
    pub last_position: Option<i64>,
    /// Whether more streams match after this page.
    pub has_more: bool,
}

/// A stored `Idempotency-Key` record (design §5: keys live 24 h, durably).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyRecord {
    /// A request with this key is being processed (claimed, not yet completed).
    InFlight {
        /// SHA-256 of the canonical request body.
        request_hash: Vec<u8>,
    },
    /// The first successful response, to be replayed.
    Completed {
        /// SHA-256 of the canonical request body.
        request_hash: Vec<u8>,
        /// HTTP status of the first response.
        status: u16,
        /// Exact body bytes of the first response.
        body: Vec<u8>,
        /// `Location` header of the first response.
        location: Option<String>,
    },
}

/// The response to remember for an idempotency key, written in the same transaction as the
/// resource it created.
#[derive(Debug, Clone)]
pub struct IdempotencyCompletion {
    /// The key.
    pub key: String,
    /// HTTP status.
    pub status: u16,
    /// Exact body bytes.
    pub body: Vec<u8>,
    /// `Location` header.
    pub location: Option<String>,
}

/// How an ingested contract event was handled (design §6, §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainEventKind {
    /// Decoded and applied to the derived stream state.
    Applied,
    /// Decoded, but it changes no stream we index (e.g. its stream was created before the
    /// indexer's start ledger).
    Skipped,
    /// An event name the indexer does not handle; stored and skipped with a WARN.
    Unknown,
    /// Undecodable (bad XDR, wrong field types); stored and skipped with a WARN.
    Invalid,
}

impl ChainEventKind {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChainEventKind::Applied => "applied",
            ChainEventKind::Skipped => "skipped",
            ChainEventKind::Unknown => "unknown",
            ChainEventKind::Invalid => "invalid",
        }
    }

    /// Parses the storage name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            ChainEventKind::Applied,
            ChainEventKind::Skipped,
            ChainEventKind::Unknown,
            ChainEventKind::Invalid,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == s)
    }
}

/// A contract event as stored, under its unique RPC id, with the raw XDR it arrived as (so derived
/// state can be rebuilt by replaying it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChainEvent {
    /// RPC event id (`%019d-%010d`; sorts in chain order).
    pub id: String,
    /// Ledger sequence.
    pub ledger: u32,
    /// Ledger hash (64 lowercase hex), when known.
    pub ledger_hash: Option<String>,
    /// Ledger close time, unix seconds.
    pub ledger_closed_at: u64,
    /// Emitting contract (C… StrKey).
    pub contract_id: String,
    /// Transaction hash (64 lowercase hex).
    pub tx_hash: String,
    /// Event name (topic symbol), empty when undecodable.
    pub name: String,
    /// The on-chain stream id the event concerns, if any.
    pub stream_id: Option<u64>,
    /// How it was handled.
    pub kind: ChainEventKind,
    /// Topics as received (base64 XDR `ScVal`s).
    pub topic: Vec<String>,
    /// Value as received (base64 XDR `ScVal`).
    pub value: String,
    /// Why it was skipped, for `unknown`/`invalid`.
    pub error: Option<String>,
    /// When it was stored, unix ms.
    pub ingested_at: i64,
}

/// The indexer's durable progress (design §6: a restart resumes where it stopped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexerCheckpoint {
    /// The last `getEvents` cursor (opaque), if the RPC poller has run.
    pub cursor: Option<String>,
    /// Highest ledger ingested.
    pub last_ingested_ledger: Option<u32>,
    /// Highest ledger considered safe (monotonic).
    pub last_safe_ledger: Option<u32>,
}

/// A stored stream to write in a chain batch, with the version it must still have.
#[derive(Debug, Clone)]
pub struct ChainStreamWrite {
    /// The new state.
    pub stream: Stream,
    /// `None`: insert (the stream must not exist); `Some(v)`: update only if still at version `v`.
    pub expected_version: Option<i64>,
}

/// Everything one ingest batch changes, written in one transaction (design §6: nothing partially
/// applied). Stream writes are optimistic: if another writer changed a stream meanwhile, the
/// whole batch is refused ([`ChainCommit::Conflict`]) and the caller recomputes it.
#[derive(Debug, Clone, Default)]
pub struct ChainBatchWrite {
    /// Delete every event, ledger hash and still-held webhook event from this ledger on (reorg
    /// rollback), first. Held webhook events at or below the new safe ledger are then released
    /// into deliveries.
    pub rollback_from: Option<u32>,
    /// Streams to delete (created on an abandoned branch), with their expected versions.
    pub deleted_streams: Vec<(String, i64)>,
    /// New events; each must not exist yet.
    pub events: Vec<StoredChainEvent>,
    /// Stream states to write.
    pub streams: Vec<ChainStreamWrite>,
    /// `(sequence, hash, close time)` of ledgers seen; replaces a stored hash.
    pub ledgers: Vec<(u32, String, Option<u64>)>,
    /// The new progress.
    pub checkpoint: IndexerCheckpoint,
    /// Webhook events of applied chain events, with their ledger (design §6: chain webhooks go
    /// out only once their ledger is safe). Those at or below `checkpoint.last_safe_ledger` are
    /// written released, with one delivery per matching enabled endpoint, in this transaction;
    /// the others are held and released by the first batch whose safe ledger reaches them.
    pub outbox: Vec<(crate::webhooks::OutboxEvent, u32)>,
    /// Set when the ingest core left out the webhook events of ledgers already safe because no
    /// endpoint was enabled when it computed the batch (nothing would ever deliver them). If an
    /// enabled endpoint exists at commit time, the commit is a [`ChainCommit::Conflict`], so the
    /// batch is recomputed with its webhook events and no endpoint misses one.
    pub outbox_omitted: bool,
}

/// Result of [`Store::commit_chain_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainCommit {
    /// Written.
    Committed,
    /// Another writer got there first (an event already stored, a stream version moved): nothing
    /// was written.
    Conflict,
}

/// A claimed delivery, with what the dispatcher needs to send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    /// Delivery id.
    pub delivery_id: String,
    /// Attempts already made.
    pub attempts: u32,
    /// The event.
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// Its creation time (unix ms).
    pub event_created_at: i64,
    /// Its data (JSON, as stored).
    pub data: Box<serde_json::value::RawValue>,
    /// The endpoint (with its secrets).
    pub endpoint: crate::webhooks::Endpoint,
}

/// The outcome of one delivery attempt, recorded in one transaction with the delivery's and the
/// endpoint's new state.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    /// Delivery id.
    pub delivery_id: String,
    /// Endpoint id.
    pub endpoint_id: String,
    /// The attempt (1-based) and what happened.
    pub attempt: u32,
    /// Unix ms of the send.
    pub attempted_at: i64,
    /// HTTP status, if any.
    pub status_code: Option<u16>,
    /// Milliseconds to response or error.
    pub latency_ms: u64,
    /// Error text.
    pub error: Option<String>,
    /// First 1 KiB of the response.
    pub response_body: Option<String>,
    /// The delivery's new state.
    pub status: crate::webhooks::DeliveryStatus,
    /// Its next attempt (unix ms) when still pending.
    pub next_attempt_at: i64,
    /// Whether the attempt succeeded (resets the endpoint's failure streak).
    pub success: bool,
    /// Disable the endpoint once this many deliveries in a row ended failed or dead (retried
    /// attempts do not count, so a short consumer outage never disables it).
    pub disable_after_failures: u32,
}

/// Filters of `GET /api/webhooks/deliveries`.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    /// By status.
    pub status: Option<crate::webhooks::DeliveryStatus>,
    /// By endpoint.
    pub endpoint_id: Option<String>,
    /// By event type.
    pub event_type: Option<String>,
    /// Continue after this position.
    pub before_position: Option<i64>,
    /// Page size.
    pub limit: u32,
}

/// A page of deliveries, newest first.
#[derive(Debug, Clone)]
pub struct DeliveryPage {
    /// The deliveries.
    pub deliveries: Vec<crate::webhooks::Delivery>,
    /// Position of the last one.
    pub last_position: Option<i64>,
    /// More after this page.
    pub has_more: bool,
}

/// Result of trying to claim an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The caller owns the key until it completes or releases it (or the claim lapses).
    Claimed,
    /// Another request holds or completed the key: here is its record.
    Existing(IdempotencyRecord),
}

/// The storage interface of the service. Every method is one atomic unit of work.
///
/// Time arguments are unix milliseconds unless named otherwise.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`, as reported by `/health`.
    fn backend(&self) -> &'static str;

    /// Cheap round trip to the database. Errors: [`StoreError::Unavailable`] when unreachable.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Whether every migration embedded in this binary has been applied.
    async fn migrations_applied(&self) -> Result<bool, StoreError>;

    /// Connection pool figures for `/metrics` (never touches the database).
    fn pool_stats(&self) -> PoolStats;

    /// Number of webhook deliveries waiting (`pending`) and dead-lettered (`dead`), for the
    /// outbox metrics (statuses with none are absent). Terminal `delivered`/`failed` rows are
    /// not counted: they grow without bound and the attempt counters already tell them.
    ///
    /// Errors: [`StoreError`] when the database cannot be read.
    async fn delivery_counts(&self) -> Result<Vec<(String, u64)>, StoreError>;

    /// The service's secret for signing list cursors: 32 random bytes created once per database,
    /// so every replica and restart accepts the same cursors.
    async fn cursor_secret(&self) -> Result<Vec<u8>, StoreError>;

    /// Inserts a new stream and, in the same transaction, completes its idempotency claim and
    /// writes its domain event to the outbox (one delivery per matching enabled endpoint).
    async fn insert_stream(
        &self,
        stream: &Stream,
        completion: Option<&IdempotencyCompletion>,
        event: Option<&crate::webhooks::OutboxEvent>,
    ) -> Result<(), StoreError>;

    /// Reads one stream by id.
    async fn get_stream(&self, id: &str) -> Result<Option<Stream>, StoreError>;

    /// Replaces a stream's mutable state if its stored version is still `expected_version`
    /// (optimistic concurrency). Returns `false` when another change won the race. The outbox
    /// `event`, if any, is written in the same transaction.
    async fn update_stream(
        &self,
        stream: &Stream,
        expected_version: i64,
        event: Option<&crate::webhooks::OutboxEvent>,
    ) -> Result<bool, StoreError>;

    /// One page of streams, newest first (by insertion order, so pages never repeat or skip a
    /// stream while others are inserted).
    async fn list_streams(&self, query: &StreamPageQuery) -> Result<StreamPage, StoreError>;

    /// Reads a live (unexpired) idempotency record at unix ms `now`.
    async fn idempotency_get(
        &self,
        key: &str,
        now: i64,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Claims `key` for a request with `request_hash`: succeeds when the key is unknown, expired,
    /// or held by an in-flight claim whose lock lapsed before `now`. The claim's lock lasts until
    /// `lock_until`; the completed record expires at `expires_at`.
    async fn idempotency_claim(
        &self,
        key: &str,
        request_hash: &[u8],
        now: i64,
        lock_until: i64,
        expires_at: i64,
    ) -> Result<ClaimOutcome, StoreError>;

    /// Drops an in-flight claim (the request failed, so a retry may reuse the key).
    async fn idempotency_release(&self, key: &str) -> Result<(), StoreError>;

    /// Deletes idempotency records that expired before `now`; returns how many.
    async fn purge_expired_idempotency(&self, now: i64) -> Result<u64, StoreError>;

    /// The indexer's stored progress (defaults when it never ran).
    async fn indexer_checkpoint(&self) -> Result<IndexerCheckpoint, StoreError>;

    /// Stored hashes of the given ledgers (those known), as `(sequence, hash)`.
    async fn chain_ledger_hashes(
        &self,
        sequences: &[u32],
    ) -> Result<Vec<(u32, String)>, StoreError>;

    /// The newest stored ledger hashes, newest first, at most `limit`.
    async fn latest_chain_ledgers(&self, limit: u32) -> Result<Vec<(u32, String)>, StoreError>;

    /// Which of `ids` are already stored.
    async fn existing_chain_event_ids(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError>;

    /// The streams among `ids` that exist (any order; absent ids are left out). One query: the
    /// ingest core loads every stream a batch touches at once.
    async fn get_streams(&self, ids: &[String]) -> Result<Vec<Stream>, StoreError>;

    /// Every stored event of the given on-chain streams of one contract before `before_ledger`,
    /// in chain order (one query: a rollback rebuilds all the streams it touched at once).
    async fn chain_events_of_streams(
        &self,
        contract_id: &str,
        stream_ids: &[u64],
        before_ledger: u32,
    ) -> Result<Vec<StoredChainEvent>, StoreError>;

    /// `(contract id, stream id)` of every stream with a stored event at or after `ledger`.
    async fn chain_streams_touched_from(
        &self,
        ledger: u32,
    ) -> Result<Vec<(String, u64)>, StoreError>;

    /// Writes an ingest batch atomically (see [`ChainBatchWrite`]).
    async fn commit_chain_batch(&self, batch: &ChainBatchWrite) -> Result<ChainCommit, StoreError>;

    /// Whether any webhook endpoint is enabled (the ingest core builds the webhook events of
    /// safe ledgers only then; see [`ChainBatchWrite::outbox_omitted`]).
    async fn any_enabled_endpoint(&self) -> Result<bool, StoreError>;

    /// Stores a new webhook endpoint.
    async fn create_endpoint(&self, endpoint: &crate::webhooks::Endpoint)
        -> Result<(), StoreError>;

    /// Every endpoint, oldest first.
    async fn list_endpoints(&self) -> Result<Vec<crate::webhooks::Endpoint>, StoreError>;

    /// One endpoint.
    async fn get_endpoint(&self, id: &str)
        -> Result<Option<crate::webhooks::Endpoint>, StoreError>;

    /// Replaces an endpoint's mutable fields; `false` if it does not exist.
    async fn update_endpoint(
        &self,
        endpoint: &crate::webhooks::Endpoint,
    ) -> Result<bool, StoreError>;

    /// Deletes an endpoint and its pending deliveries; `false` if it did not exist.
    async fn delete_endpoint(&self, id: &str) -> Result<bool, StoreError>;

    /// Writes an event to the outbox with one delivery per matching enabled endpoint (or only
    /// for `only_endpoint`, whatever its filter: test events). Returns the delivery ids.
    async fn enqueue_event(
        &self,
        event: &crate::webhooks::OutboxEvent,
        only_endpoint: Option<&str>,
    ) -> Result<Vec<String>, StoreError>;

    /// Claims up to `limit` pending deliveries due at unix ms `now` whose lease is free, leasing
    /// them until `lease_until` (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so replicas never claim the
    /// same one; a crashed dispatcher's leases simply expire).
    async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;

    /// Records attempts, each with its delivery's and endpoint's new state, and frees their
    /// leases — all in one transaction (one commit per dispatched batch).
    async fn record_attempts(&self, records: &[AttemptRecord]) -> Result<(), StoreError>;

    /// Frees leases without recording an attempt (graceful shutdown).
    async fn release_deliveries(&self, ids: &[String]) -> Result<(), StoreError>;

    /// A page of deliveries, newest first.
    async fn list_deliveries(&self, query: &DeliveryQuery) -> Result<DeliveryPage, StoreError>;

    /// One delivery with every attempt, in order.
    async fn get_delivery(
        &self,
        id: &str,
    ) -> Result<Option<(crate::webhooks::Delivery, Vec<crate::webhooks::Attempt>)>, StoreError>;

    /// Makes a delivery pending again, due at `now` (replay). `false` if unknown.
    async fn replay_delivery(&self, id: &str, now: i64) -> Result<bool, StoreError>;

    /// Makes every dead delivery of an endpoint pending again; returns how many.
    async fn replay_dead_letters(&self, endpoint_id: &str, now: i64) -> Result<u64, StoreError>;

    /// Stores a new API key (its hash, never the key).
    async fn create_api_key(&self, key: &crate::apikeys::ApiKeyRecord) -> Result<(), StoreError>;

    /// Every API key, revoked ones included, oldest first.
    async fn list_api_keys(&self) -> Result<Vec<crate::apikeys::ApiKeyRecord>, StoreError>;

    /// The keys not revoked (the auth layer's view, [`crate::apikeys::KeyRegistry`]).
    async fn active_api_keys(&self) -> Result<Vec<crate::apikeys::ApiKeyRecord>, StoreError>;

    /// Revokes a key at unix ms `now` (a key already revoked keeps its first revocation time)
    /// and returns it as stored afterwards; `None` if no key has that id.
    async fn revoke_api_key(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<crate::apikeys::ApiKeyRecord>, StoreError>;

    /// Tries to become the one replica that runs the RPC indexer (design §6). PostgreSQL: a
    /// session advisory lock on a dedicated connection, released when the holder dies, so a
    /// standby takes over within one retry. SQLite (one machine): always granted.
    async fn try_lead_indexer(&self) -> Result<Option<Box<dyn Leadership>>, StoreError>;

    /// Closes the connection pool (graceful shutdown).
    async fn close(&self);
}

/// Held by the replica that runs the indexer; dropping it gives leadership up.
#[async_trait]
pub trait Leadership: Send {
    /// Whether leadership still holds (the lock's connection is alive).
    async fn still_leader(&mut self) -> bool;
}

/// Leadership that cannot be lost (SQLite: one machine).
#[derive(Debug, Default)]
pub struct SoleLeader;

#[async_trait]
impl Leadership for SoleLeader {
    async fn still_leader(&mut self) -> bool {
        true
    }
}

/// A connection pool's figures (counts of connections).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Open connections (idle and in use).
    pub size: u32,
    /// Idle connections.
    pub idle: u32,
    /// The pool's maximum (`DATABASE_MAX_CONNECTIONS`).
    pub max: u32,
}

/// Opens (creating and migrating when needed) the store `DATABASE_URL` names.
///
/// Errors: [`StoreError`] when the database cannot be opened or migrated.
pub async fn open(config: &DatabaseConfig) -> Result<Arc<dyn Store>, StoreError> {
    if is_postgres_url(&config.url) {
        let store = postgres::PostgresStore::connect(config).await?;
        store.migrate().await?;
        Ok(Arc::new(store))
    } else {
        let store = sqlite::SqliteStore::connect(config).await?;
        store.migrate().await?;
        Ok(Arc::new(store))
    }
}

/// Whether `DATABASE_URL` names PostgreSQL (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}
