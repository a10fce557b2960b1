//! Durable state behind one interface, [`Store`] (`design.md` §2).
//!
//! Handlers and domain code see only this trait; [`sqlite::SqliteStore`] implements it today and
//! [`postgres::PostgresStore`] beside it. Amounts are stored as exact i128 decimal text,
//! never floating point. [`open`] chooses the implementation from `DATABASE_URL`.

pub mod postgres;
mod rows;
mod sql;
pub mod sqlite;

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

    /// The service's secret for signing list cursors: 32 random bytes created once per database,
    /// so every replica and restart accepts the same cursors.
    async fn cursor_secret(&self) -> Result<Vec<u8>, StoreError>;

    /// Inserts a new stream and, in the same transaction, completes its idempotency claim.
    async fn insert_stream(
        &self,
        stream: &Stream,
        completion: Option<&IdempotencyCompletion>,
    ) -> Result<(), StoreError>;

    /// Reads one stream by id.
    async fn get_stream(&self, id: &str) -> Result<Option<Stream>, StoreError>;

    /// Replaces a stream's mutable state if its stored version is still `expected_version`
    /// (optimistic concurrency). Returns `false` when another change won the race.
    async fn update_stream(
        &self,
        stream: &Stream,
        expected_version: i64,
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

    /// Closes the connection pool (graceful shutdown).
    async fn close(&self);
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
