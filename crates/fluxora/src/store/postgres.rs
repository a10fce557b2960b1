//! Opening a PostgreSQL database, for production and several replicas.
//!
//! Durability: a 201 is sent only after the transaction committed (PostgreSQL's default
//! `synchronous_commit = on` flushes the WAL before the commit returns). Migrations run under
//! sqlx's advisory lock, so replicas starting together apply them once. Amounts are
//! NUMERIC(39, 0) — exact i128 stroops.

use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};

use super::StoreError;
use crate::config::postgres_tls::{PostgresTls, SslMode};
use crate::config::DatabaseConfig;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The migrations embedded in this binary.
pub(crate) fn migrator() -> &'static sqlx::migrate::Migrator {
    &MIGRATOR
}

/// A PostgreSQL database behind a sqlx connection pool.
#[derive(Debug, Clone)]
pub struct PostgresDatabase {
    pool: PgPool,
    /// The connection settings (for the advisory-lock connection, outside the pool).
    options: Arc<PgConnectOptions>,
    /// `DATABASE_URL` as given (the stream repository's pipelined readers connect with it).
    url: Arc<str>,
    /// The TLS settings of `DATABASE_URL`, which the pipelined readers apply too.
    tls: Arc<PostgresTls>,
    /// How long a request waits for a connection (`DATABASE_ACQUIRE_TIMEOUT_MS`).
    acquire_timeout: std::time::Duration,
}

/// A pooled connection idle for at least this long is pinged before it is handed out; a broken
/// one (the server restarted, the network dropped it) is then closed and replaced, so requests
/// after an outage get fresh connections. sqlx also pings every connection as it returns to the
/// pool, so one reused sooner was alive a moment ago: a PostgreSQL restart (shutdown, start,
/// recovery) does not fit in this window, and a connection that broke in it anyway fails its one
/// query (a 503 for that request) and is closed by the failing release ping.
const IDLE_PING_AFTER: std::time::Duration = std::time::Duration::from_millis(100);

impl PostgresDatabase {
    /// Connects to `config.url` (`postgres://user:pass@host:port/db`). The pool connects lazily
    /// and checks each connection that sat idle before use (`IDLE_PING_AFTER`), so a database
    /// restart is survived without a service restart; a request waits at most
    /// `acquire_timeout` for a connection.
    ///
    /// Errors: [`StoreError`] when the URL is invalid or the first connection fails.
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, StoreError> {
        let tls = tls_settings(&config.url)?;
        let options = PgConnectOptions::from_str(&config.url)
            .map_err(StoreError::from_sqlx)?
            // sqlx read sslmode and the certificate files from the URL (or PGSSL*) as
            // `PostgresTls` did; the mode applied is ours (`require` with a root certificate
            // checks the chain, as libpq does).
            .ssl_mode(sqlx_ssl_mode(tls.mode()))
            .application_name("fluxora")
            // Short OLTP statements: JIT compilation costs more than it saves (it kicked in on
            // the indexer's batch statements once estimates grew, tens of ms each;
            // docs/benchmarks.md).
            .options([("jit", "off")]);
        // One connection first, outside the pool: its error (connection refused, authentication,
        // TLS) is the cause an operator needs, where the pool would retry until its acquire
        // timeout and report only "pool timed out".
        {
            use sqlx::Connection;
            let first = sqlx::PgConnection::connect_with(&options)
                .await
                .map_err(|source| connect_error(&options, &tls, source))?;
            let _ = first.close().await;
        }
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
            .map_err(|source| connect_error(&options, &tls, source))?;
        Ok(Self {
            pool,
            options: Arc::new(options),
            tls: Arc::new(tls),
            url: Arc::from(config.url.as_str()),
            acquire_timeout: config.acquire_timeout,
        })
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// `DATABASE_URL` as given (may carry a password: never log it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The TLS settings every connection to this database uses.
    pub fn tls(&self) -> &PostgresTls {
        &self.tls
    }

    /// How long a request waits for a connection before giving up.
    pub fn acquire_timeout(&self) -> std::time::Duration {
        self.acquire_timeout
    }

    /// Applies the embedded migrations (`migrations/postgres`) under a PostgreSQL advisory lock
    /// (sqlx's migrator takes it), so concurrent starts are safe. Idempotent.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }
}

impl PostgresDatabase {
    /// Tries to take the session advisory lock `key` on a connection of its own (outside the
    /// pool): `Some(connection)` holds it until the connection closes (dropped, or the process
    /// dies), `None` when another session holds it.
    ///
    /// Errors: [`StoreError`] when the connection or the statement fails.
    pub async fn try_advisory_lock(
        &self,
        key: i64,
    ) -> Result<Option<sqlx::PgConnection>, StoreError> {
        use sqlx::Connection;
        // The pool's options: the same server, credentials and TLS settings.
        let mut connection = sqlx::PgConnection::connect_with(&self.options)
            .await
            .map_err(StoreError::from_sqlx)?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut connection)
            .await
            .map_err(StoreError::from_sqlx)?;
        if locked {
            Ok(Some(connection))
        } else {
            let _ = connection.close().await;
            Ok(None)
        }
    }
}

/// The TLS settings of `url` (`sslmode`, `sslrootcert`, ... or the `PGSSL*` variables).
///
/// Errors: [`StoreError::Tls`] when they are unusable (the configuration check at boot reports
/// the same first).
fn tls_settings(url: &str) -> Result<PostgresTls, StoreError> {
    let parsed = url::Url::parse(url)
        .map_err(|_| StoreError::Tls("DATABASE_URL is not a valid URL".into()))?;
    let tls = PostgresTls::from_url(&parsed, |name| std::env::var(name).ok())
        .map_err(|error| StoreError::Tls(error.to_string()))?;
    Ok(tls)
}

/// sqlx's spelling of `mode`.
fn sqlx_ssl_mode(mode: SslMode) -> PgSslMode {
    match mode {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Prefer => PgSslMode::Prefer,
        SslMode::Require => PgSslMode::Require,
        SslMode::VerifyCa => PgSslMode::VerifyCa,
        SslMode::VerifyFull => PgSslMode::VerifyFull,
    }
}

/// The first connection's failure, naming the server and the TLS mode (never the password),
/// with a refused certificate explained.
fn connect_error(options: &PgConnectOptions, tls: &PostgresTls, source: sqlx::Error) -> StoreError {
    let cause =
        super::postgres_tls::certificate_problem(&source).unwrap_or_else(|| source.to_string());
    StoreError::Connect {
        server: format!("{}:{}", options.get_host(), options.get_port()),
        sslmode: tls.mode().as_str(),
        cause,
        source,
    }
}
