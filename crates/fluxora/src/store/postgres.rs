//! The PostgreSQL implementation of [`super::Store`], for production and several replicas.
//!
//! Durability: a 201 is sent only after the transaction committed (PostgreSQL's default
//! `synchronous_commit = on` flushes the WAL before the commit returns). Migrations run under
//! sqlx's advisory lock, so replicas starting together apply them once. Amounts are
//! NUMERIC(39, 0) — exact i128 stroops.

use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Postgres;

use super::postgres_reads::PipelinedReaders;
use super::rows::{
    api_key_from_row, attempt_from_row, bind_chain_event, bind_stream_insert, bind_stream_update,
    chain_event_from_row, checkpoint_from_row, db, delivery_from_row, endpoint_from_row,
    idempotency_from_row, ledger_from_row, list_query, page_from_rows, stream_from_row, Columns,
};
use super::rows::{CHAIN_EVENT_COLUMNS, INSERT_COLUMNS};
use super::sql::{
    bind_endpoint, enqueue_in, impl_sql_store, SqlDialect, Statements, DELIVERIES_OF_EVENTS_FROM,
    DELIVERIES_OF_EVENTS_HEAD, ROWS_PER_INSERT,
};
use super::{
    AttemptRecord, ChainBatchWrite, ChainCommit, ClaimOutcome, ClaimedDelivery, DeliveryPage,
    DeliveryQuery, IdempotencyCompletion, IdempotencyRecord, IndexerCheckpoint, StoreError,
    StoredChainEvent, StreamPage, StreamPageQuery,
};
use crate::config::DatabaseConfig;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

fn migrator() -> &'static sqlx::migrate::Migrator {
    &MIGRATOR
}

/// PostgreSQL store over a sqlx connection pool.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    sql: Statements,
    options: PgConnectOptions,
    /// Pipelined connections for stream reads by id (see [`super::postgres_reads`]); `None`
    /// when `DATABASE_URL` is not one they can use (`NotStarted`).
    readers: Option<Arc<PipelinedReaders>>,
}

/// A pooled connection idle for at least this long is pinged before it is handed out; a broken
/// one (the server restarted, the network dropped it) is then closed and replaced, so requests
/// after an outage get fresh connections. sqlx also pings every connection as it returns to the
/// pool, so one reused sooner was alive a moment ago: a PostgreSQL restart (shutdown, start,
/// recovery) does not fit in this window, and a connection that broke in it anyway fails its one
/// query (a 503 for that request) and is closed by the failing release ping.
const IDLE_PING_AFTER: std::time::Duration = std::time::Duration::from_millis(100);

/// The advisory lock key the indexer leader holds (any fixed i64; "flxidx" in ASCII).
const INDEXER_LOCK_KEY: i64 = 0x0000_666c_7869_6478;

/// Indexer leadership: an open connection holding the session advisory lock.
struct PgLeader {
    connection: sqlx::PgConnection,
}

#[async_trait::async_trait]
impl super::Leadership for PgLeader {
    async fn still_leader(&mut self) -> bool {
        sqlx::query("SELECT 1")
            .execute(&mut self.connection)
            .await
            .is_ok()
    }
}

impl PostgresStore {
    /// Connects to `config.url` (`postgres://user:pass@host:port/db`). The pool connects lazily
    /// and checks each connection that sat idle before use (`IDLE_PING_AFTER`), so a database
    /// restart is survived without a service restart; a request waits at most
    /// `acquire_timeout` for a connection.
    ///
    /// Errors: [`StoreError`] when the URL is invalid or the first connection fails.
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(&config.url)
            .map_err(StoreError::from_sqlx)?
            .application_name("fluxora")
            // Short OLTP statements: JIT compilation costs more than it saves (it kicked in on
            // the indexer's batch statements once estimates grew, tens of ms each;
            // docs/benchmarks.md).
            .options([("jit", "off")]);
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            // The ping before a checkout, only for a connection idle for a while (see
            // IDLE_PING_AFTER): under load every connection is reused within milliseconds of
            // its release — when sqlx pings it anyway — and a second round trip per query would
            // double the database traffic of a read.
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_PING_AFTER {
                        use sqlx::Connection;
                        connection.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options.clone())
            .await
            .map_err(StoreError::from_sqlx)?;
        let sql = Statements::new(SqlDialect::Postgres);
        // One pipelined connection per core: enough to keep the server's backends busy, and
        // each carries any number of concurrent reads.
        let count = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let readers = match PipelinedReaders::start(
            &config.url,
            count,
            config.acquire_timeout,
            sql.select_stream.clone(),
        ) {
            Ok(readers) => Some(Arc::new(readers)),
            Err(error) => {
                tracing::info!(%error, "DATABASE_URL is not one the pipelined PostgreSQL readers accept; stream reads go through the pool");
                None
            }
        };
        Ok(Self {
            pool,
            sql,
            options,
            readers,
        })
    }

    /// Applies the embedded migrations (`migrations/postgres`) under a PostgreSQL advisory lock
    /// (sqlx's migrator takes it), so concurrent starts are safe. Idempotent.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }
}

impl PostgresStore {
    /// Nothing to do after a bulk commit on PostgreSQL (the server checkpoints on its own).
    fn after_bulk_commit(&self) {}

    /// The stream `id` read over a pipelined connection when one is open
    /// ([`PipelinedReaders::get_stream`]); `None`: read it through the pool.
    async fn read_stream_direct(&self, id: &str) -> Option<Option<crate::streams::Stream>> {
        self.readers.as_ref()?.get_stream(id).await
    }

    async fn lead_indexer(&self) -> Result<Option<Box<dyn super::Leadership>>, StoreError> {
        use sqlx::Connection;
        let mut connection = sqlx::PgConnection::connect_with(&self.options)
            .await
            .map_err(StoreError::from_sqlx)?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(INDEXER_LOCK_KEY)
            .fetch_one(&mut connection)
            .await
            .map_err(StoreError::from_sqlx)?;
        if locked {
            Ok(Some(Box::new(PgLeader { connection })))
        } else {
            let _ = connection.close().await;
            Ok(None)
        }
    }
}

impl_sql_store!(PostgresStore, Postgres, "postgres");
