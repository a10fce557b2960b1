//! The database every repository runs on: [`Database`] (one connection pool, SQLite or
//! PostgreSQL, chosen by `DATABASE_URL`), the statements it runs ([`query`]), the few places the
//! two dialects differ ([`dialect`]), and the errors ([`StoreError`]).
//!
//! This module knows no domain type. The queries live with the aggregates they serve, each a
//! repository next to its domain types (see `docs/architecture.md`):
//! [`crate::streams::repo::StreamRepository`] (streams and their idempotency keys),
//! [`crate::indexer::repo::ChainRepository`] (contract events, ledgers, progress, leadership),
//! [`crate::webhooks::repo::WebhookRepository`] (endpoints, outbox events, deliveries,
//! attempts), [`crate::apikeys::repo::ApiKeyRepository`] and [`meta::ServiceMeta`]. Amounts
//! are stored as exact i128 stroops, never floating point.

pub mod dialect;
pub mod meta;
pub mod postgres;
pub mod postgres_tls;
pub mod query;
pub mod sqlite;
pub mod sqlite_direct;

use crate::config::{is_postgres_url, DatabaseConfig};
pub use dialect::Dialect;
pub use query::{Arg, Columns, Conn, Query, QueryBuilder, Row, Tx};

/// Errors of the storage layer, whatever the repository. Handlers map them once to the HTTP
/// envelope:
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
    /// The SQLite file could not be opened at start-up: its path and why (PostgreSQL's
    /// counterpart is [`StoreError::Connect`]).
    #[error("cannot open the sqlite database at {path}: {source}")]
    Open {
        /// The file path ([`DatabaseConfig::location`]).
        path: String,
        /// The cause (for example "unable to open database file").
        #[source]
        source: Box<StoreError>,
    },
    /// The first connection to PostgreSQL failed (at start-up): the message names the server,
    /// the TLS mode and the cause (a refused certificate explained), never the password.
    #[error("could not connect to PostgreSQL at {server} (sslmode={sslmode}): {cause}")]
    Connect {
        /// `host:port`.
        server: String,
        /// The TLS mode applied (`verify-full`, ...).
        sslmode: &'static str,
        /// What went wrong, in words.
        cause: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The TLS settings of `DATABASE_URL` are unusable (an unknown `sslmode`, an unreadable
    /// certificate file).
    #[error("DATABASE_URL TLS settings: {0}")]
    Tls(String),
    /// One failure answered to several requests: the commit (or the transaction) of a batch of
    /// writes that shared it (SQLite group commit); nothing of the batch was written.
    #[error("{0}")]
    Shared(std::sync::Arc<StoreError>),
    /// An error of a statement run on a direct SQLite connection ([`sqlite_direct`]); the
    /// write lock not had in time (`SQLITE_BUSY`) counts as unavailable
    /// ([`StoreError::is_unavailable`]).
    #[error("database error: {0}")]
    Direct(#[source] rusqlite::Error),
}

impl StoreError {
    /// Whether the database could not be reached or locked in time (a 503, worth a retry),
    /// looking through [`StoreError::Shared`].
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Shared(shared) => shared.is_unavailable(),
            StoreError::Direct(error) => sqlite_direct::is_busy(error),
            _ => false,
        }
    }

    /// Classifies a driver error: connectivity and lock timeouts are [`StoreError::Unavailable`].
    pub fn from_sqlx(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error),
            sqlx::Error::Database(db) if is_unavailable(db.as_ref()) => {
                StoreError::Unavailable(error)
            }
            _ => StoreError::Database(error),
        }
    }
}

/// Whether a database's own error means "unavailable, retry later" rather than a fault:
/// - PostgreSQL: class 08 (connection exception), `57P01`–`57P03` (the server is shutting down,
///   crashed or not yet accepting connections: what a connection sees during a restart) and
///   `53300` (too many connections);
/// - SQLite: the SQLITE_BUSY (5) and SQLITE_LOCKED (6) families, reported as extended codes
///   (the busy timeout ran out).
fn is_unavailable(error: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = error.code() else {
        return false;
    };
    if error
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        return code.starts_with("08")
            || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300");
    }
    code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
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

/// Opens (creating and migrating when needed) the database `DATABASE_URL` names.
///
/// Errors: [`StoreError::Connect`] (PostgreSQL: the server, TLS mode and cause) or
/// [`StoreError::Open`] (SQLite: the file and cause) when the database cannot be reached or
/// opened; [`StoreError`] when migrating fails.
pub async fn open(config: &DatabaseConfig) -> Result<Database, StoreError> {
    if is_postgres_url(&config.url) {
        let database = Database::Postgres(postgres::PostgresDatabase::connect(config).await?);
        database.migrate().await?;
        Ok(database)
    } else {
        Ok(Database::Sqlite(
            sqlite::SqliteDatabase::open_migrated(config)
                .await
                .map_err(|error| match error {
                    migration @ StoreError::Migration(_) => migration,
                    other => StoreError::Open {
                        path: config.location(),
                        source: Box::new(other),
                    },
                })?,
        ))
    }
}

/// A connection pool to the service's database. Cloning is cheap (the pool is shared).
#[derive(Debug, Clone)]
pub enum Database {
    /// An embedded SQLite file (the zero set-up default; one machine).
    Sqlite(sqlite::SqliteDatabase),
    /// A PostgreSQL server (production; several replicas).
    Postgres(postgres::PostgresDatabase),
}

impl Database {
    /// `sqlite` or `postgres`, as reported by `/health`.
    pub fn backend(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }

    /// The SQL dialect of this database.
    pub fn dialect(&self) -> Dialect {
        match self {
            Database::Sqlite(_) => Dialect::Sqlite,
            Database::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Applies the embedded migrations (idempotent; concurrent starts are serialized).
    ///
    /// Errors: [`StoreError::Migration`] when a migration fails.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Database::Sqlite(sqlite) => sqlite.migrate().await,
            Database::Postgres(postgres) => postgres.migrate().await,
        }
    }

    /// Starts a transaction.
    ///
    /// Errors: [`StoreError::Unavailable`] when no connection could be had in time.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        match self {
            Database::Sqlite(sqlite) => sqlite.pool().begin().await.map(Tx::Sqlite),
            Database::Postgres(postgres) => postgres.pool().begin().await.map(Tx::Postgres),
        }
        .map_err(StoreError::from_sqlx)
    }

    /// Whether every migration embedded in this binary has been applied.
    ///
    /// Errors: [`StoreError`] when the migration table cannot be read.
    pub async fn migrations_applied(&self) -> Result<bool, StoreError> {
        let rows = Query::new("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(self)
            .await?;
        let applied = rows
            .iter()
            .map(|row| row.int("version"))
            .collect::<Result<Vec<i64>, _>>()?;
        let migrator = match self {
            Database::Sqlite(_) => sqlite::migrator(),
            Database::Postgres(_) => postgres::migrator(),
        };
        Ok(migrator
            .iter()
            .all(|migration| applied.contains(&migration.version)))
    }

    /// Connection pool figures for `/metrics` (never touches the database).
    pub fn pool_stats(&self) -> PoolStats {
        let (size, idle, max) = match self {
            Database::Sqlite(sqlite) => {
                let pool = sqlite.pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            Database::Postgres(postgres) => {
                let pool = postgres.pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
        };
        PoolStats {
            size,
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            max,
        }
    }

    /// After a bulk commit (an ingest batch): on SQLite, copies the WAL into the database file
    /// in the background ([`sqlite::SqliteDatabase::after_bulk_commit`]); nothing on
    /// PostgreSQL, which checkpoints on its own.
    pub fn after_bulk_commit(&self) {
        if let Database::Sqlite(sqlite) = self {
            sqlite.after_bulk_commit();
        }
    }

    /// Closes the connection pool (graceful shutdown).
    pub async fn close(&self) {
        match self {
            Database::Sqlite(sqlite) => sqlite.pool().close().await,
            Database::Postgres(postgres) => postgres.pool().close().await,
        }
    }
}

/// Rows per multi-row statement (`INSERT … VALUES`, `IN (…)`, OR lists): at most 22 parameters
/// a row, so at most 11 000 parameters, under SQLite's 32 766 and PostgreSQL's 65 535. Such
/// statements' text varies with the row count, so only full chunks (one text per statement
/// kind) are kept in the driver's per-connection statement cache; shorter ones are not
/// ([`Query::persistent`]), since caching every size would evict the hot statements.
pub const ROWS_PER_STATEMENT: usize = 500;

/// One page of a newest-first list read by keyset: the items, the position (insertion order)
/// of the last one, which the next page's cursor continues after, and whether more follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items of this page, newest first.
    pub items: Vec<T>,
    /// Position of the last item (the next cursor's anchor); `None` for an empty page.
    pub last_position: Option<i64>,
    /// Whether more items match after this page.
    pub has_more: bool,
}

impl<T> Page<T> {
    /// The page of `rows` read with `LIMIT limit + 1` (the extra row only tells that more
    /// follow), each decoded by `decode` into its position and item.
    ///
    /// Errors: the first [`StoreError`] of `decode`.
    pub fn from_rows(
        rows: &[Row],
        limit: u32,
        decode: impl Fn(&Row) -> Result<(i64, T), StoreError>,
    ) -> Result<Self, StoreError> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut items = Vec::with_capacity(rows.len().min(limit));
        let mut last_position = None;
        for row in rows.iter().take(limit) {
            let (position, item) = decode(row)?;
            items.push(item);
            last_position = Some(position);
        }
        Ok(Self {
            items,
            last_position,
            has_more: rows.len() > limit,
        })
    }
}

/// A u64 (unix seconds, on-chain ids) for a signed 64-bit column.
///
/// Errors: [`StoreError::Corrupt`] when it exceeds `i64::MAX`.
pub fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} exceeds i64")))
}

/// A signed 64-bit column read back as u64.
///
/// Errors: [`StoreError::Corrupt`] when it is negative.
pub fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} is negative")))
}

/// A signed 64-bit column read back as u32 (ledger sequences, counts).
///
/// Errors: [`StoreError::Corrupt`] when it is out of range.
pub fn to_u32(value: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} out of range")))
}
