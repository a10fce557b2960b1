//! Stream reads over pipelined connections, for `GET /api/streams/{id}` and the stream lists
//! (`GET /api/streams`) on PostgreSQL.
//!
//! Through sqlx's pool, a read is two round trips to the server: the query, and the ping sqlx
//! sends on every connection as it returns to the pool (from a task it spawns for the purpose;
//! sqlx 0.8 has no switch for it). Each round trip wakes a PostgreSQL backend and then this
//! process, one query at a time per connection. Under GET load those wake-ups were most of a
//! read's cost (`docs/benchmarks.md`). A [`PipelinedReaders`] set keeps a few plain
//! connections (tokio-postgres, one per core) with the stream `SELECT` prepared once (and each
//! list statement prepared on its first use: one per combination of list filters), and sends
//! every read of a connection down it as it comes: concurrent reads are written to the socket
//! together and PostgreSQL answers them in order without sleeping in between (pipelining), so a
//! busy connection costs a fraction of a wake-up per read, and an idle one the same single
//! round trip as a pooled query — never the second.
//!
//! It never changes what a read returns:
//! - each read is its own autocommit statement, run by PostgreSQL when it reaches it on the
//!   connection: it sees every transaction committed before it was sent (the snapshot a pooled
//!   connection would take). Nothing is cached between requests;
//! - a connection that is not up (before the first read, after an outage) is not waited for: the
//!   read goes through the pool, and the connection is (re)opened in the background (after a
//!   failed attempt, no sooner than a second later, doubling up to a minute);
//! - any failure here (a connection error, a statement PostgreSQL refuses, a row that does not
//!   decode) is not reported: the connection is dropped (to be reopened) and the caller repeats
//!   the read through the pool, which reports the error exactly as before;
//! - a read abandoned half-way (the client went away) costs nothing: tokio-postgres discards the
//!   answer of a request nobody waits for, and the connection stays in step.
//!
//! The connections use the settings of `DATABASE_URL` as tokio-postgres reads them, with the TLS
//! settings the pool uses ([`PostgresTls`], through rustls: `store/postgres_tls.rs`; the URL's
//! `sslmode`, `sslrootcert`, `sslcert` and `sslkey` are taken out of what tokio-postgres reads,
//! since it knows only some of them). A URL with a parameter only sqlx knows (such as
//! `statement-cache-capacity`) or without a host (sqlx would take it from `PGHOST`) leaves these
//! connections unopened, and a password sqlx would find in a `.pgpass` file keeps them from
//! opening (`PGPASSWORD` is read here too): every read then goes through the pool, as it would
//! anyway (an INFO line says so).

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres::{Client, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{column_error, stream_from_row, ListArg, StreamRow};
use crate::config::postgres_tls::{PostgresTls, SslMode, TLS_URL_PARAMETERS};
use crate::store::postgres_tls::{client_config, TlsSetupError};
use crate::store::{Page, StoreError};
use crate::streams::Stream;

/// How long a connection that failed to open is left alone before the next attempt; doubled
/// after each further failure in a row, up to [`RETRY_AFTER_MAX`].
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The `application_name` of these connections, so that operators (and the tests) can tell
/// them from the pool's (`fluxora`) in `pg_stat_activity`.
pub(crate) const APPLICATION_NAME: &str = "fluxora-reads";

/// The longest wait between two attempts to open a connection.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);

/// Pipelined PostgreSQL connections for stream reads (see the module documentation).
pub(crate) struct PipelinedReaders {
    shared: Arc<Shared>,
    /// Round-robin counter over the slots.
    next: AtomicUsize,
}

/// What the reconnecting tasks need: the connection settings, the statement and the slots.
struct Shared {
    config: tokio_postgres::Config,
    /// The TLS connector (used unless `sslmode=disable`).
    tls: MakeRustlsConnect,
    /// The stream `SELECT` with one `$1` parameter (the id).
    select_stream: String,
    slots: Box<[Mutex<Slot>]>,
}

/// One connection's state.
enum Slot {
    /// Not open; the next read may start opening it after `retry_at`. `failures`: attempts
    /// that failed in a row.
    Closed {
        retry_at: Option<Instant>,
        failures: u32,
    },
    /// Being opened by a background task.
    Opening,
    /// Open, with the statement prepared.
    Open(Arc<Live>),
}

/// An open connection: the client (its connection runs on a task of its own), the prepared
/// stream `SELECT`, and the list statements prepared so far, by text.
struct Live {
    client: Client,
    statement: Statement,
    lists: Mutex<std::collections::HashMap<String, Statement>>,
}

/// Why [`PipelinedReaders::start`] opened nothing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotStarted {
    /// tokio-postgres does not accept the URL (for instance a parameter only sqlx knows).
    #[error(transparent)]
    Url(#[from] tokio_postgres::Error),
    /// The URL names no host (sqlx would take it from `PGHOST`).
    #[error("the URL names no host")]
    NoHost,
    /// The URL is not a URL (`url` does not parse it).
    #[error("DATABASE_URL is not a valid URL")]
    NotAUrl,
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
}

impl std::fmt::Debug for PipelinedReaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelinedReaders")
            .field("connections", &self.shared.slots.len())
            .finish_non_exhaustive()
    }
}

impl PipelinedReaders {
    /// `count` connections (at least one) to the server `database_url` names, for the stream
    /// lookup `select_stream` (one `$1` parameter: the id); `connect_timeout` bounds each
    /// attempt to open one. None is opened here: the first read of each starts opening it in
    /// the background (so the commands that never serve reads, `fluxora migrate` and `fluxora
    /// index`, open none, and the statement is prepared after `serve` has migrated the schema).
    ///
    /// Errors: [`NotStarted`] when `database_url` is not a URL tokio-postgres accepts, or names
    /// no host (see the module documentation); nothing is opened then.
    pub(crate) fn start(
        database_url: &str,
        tls: &PostgresTls,
        count: usize,
        connect_timeout: Duration,
        select_stream: String,
    ) -> Result<Self, NotStarted> {
        let mut config = tokio_postgres::Config::from_str(&without_tls_parameters(database_url)?)?;
        // `verify-ca`/`verify-full` are TLS-or-nothing (`require`) for tokio-postgres; the
        // connector checks the certificate as the mode says.
        config.ssl_mode(match tls.mode() {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
        });
        let connector = MakeRustlsConnect::new(client_config(tls)?);
        if config.get_hosts().is_empty() {
            return Err(NotStarted::NoHost);
        }
        // sqlx takes a password missing from the URL from PGPASSWORD; so do these connections.
        if config.get_password().is_none() {
            if let Some(password) = std::env::var_os("PGPASSWORD") {
                config.password(password.as_encoded_bytes());
            }
        }
        config
            .application_name(APPLICATION_NAME)
            .connect_timeout(connect_timeout);
        let slots = (0..count.max(1))
            .map(|_| {
                Mutex::new(Slot::Closed {
                    retry_at: None,
                    failures: 0,
                })
            })
            .collect();
        Ok(Self {
            shared: Arc::new(Shared {
                config,
                tls: connector,
                select_stream,
                slots,
            }),
            next: AtomicUsize::new(0),
        })
    }

    /// The stream `id` read over one of the connections: `Some(None)` when there is no such
    /// stream, `None` when the read could not be made here (the connection is not open, or the
    /// read failed) and must go through the pool instead.
    pub(crate) async fn get_stream(&self, id: &str) -> Option<Option<Stream>> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.shared.slots.len();
        let live = Shared::live(&self.shared, index)?;
        let outcome = match live.client.query_opt(&live.statement, &[&id]).await {
            Ok(row) => row
                .map(|row| stream_from_row(&PipelinedRow(&row)))
                .transpose()
                .map_err(|error| error.to_string()),
            Err(error) => Err(describe(&error)),
        };
        match outcome {
            Ok(found) => Some(found.map(|(_, stream)| stream)),
            Err(error) => {
                tracing::debug!(%error, "pipelined stream read failed; reading through the pool");
                self.shared.drop_live(index, &live);
                None
            }
        }
    }

    /// One page of the list statement `sql` (PostgreSQL placeholders, parameters `args`,
    /// `LIMIT` `limit + 1`) read over one of the connections, or `None` when it could not be read
    /// here (as [`PipelinedReaders::get_stream`]). The statement is prepared on the connection
    /// the first time its text is used there (one round trip), then reused.
    pub(crate) async fn list_streams(
        &self,
        sql: &str,
        args: &[ListArg<'_>],
        limit: u32,
    ) -> Option<Page<Stream>> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.shared.slots.len();
        let live = Shared::live(&self.shared, index)?;
        match read_page(&live, sql, args, limit).await {
            Ok(page) => Some(page),
            Err(error) => {
                tracing::debug!(%error, "pipelined stream list failed; reading through the pool");
                self.shared.drop_live(index, &live);
                None
            }
        }
    }
}

/// The page of `sql` on `live`, preparing the statement there first if it is new to it.
///
/// Errors: PostgreSQL's ([`describe`]d), or the row decoding's.
async fn read_page(
    live: &Live,
    sql: &str,
    args: &[ListArg<'_>],
    limit: u32,
) -> Result<Page<Stream>, String> {
    let cached = live
        .lists
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(sql)
        .cloned();
    let statement = match cached {
        Some(statement) => statement,
        None => {
            let statement = live.client.prepare(sql).await.map_err(|e| describe(&e))?;
            live.lists
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(sql.to_owned(), statement.clone());
            statement
        }
    };
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args
        .iter()
        .map(|arg| match arg {
            ListArg::Int(value) => value as &(dyn tokio_postgres::types::ToSql + Sync),
            ListArg::Text(value) => value as &(dyn tokio_postgres::types::ToSql + Sync),
        })
        .collect();
    let rows = live
        .client
        .query(&statement, &params)
        .await
        .map_err(|e| describe(&e))?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut items = Vec::with_capacity(rows.len().min(limit));
    let mut last_position = None;
    for row in rows.iter().take(limit) {
        let (position, stream) =
            stream_from_row(&PipelinedRow(row)).map_err(|error| error.to_string())?;
        items.push(stream);
        last_position = Some(position);
    }
    Ok(Page {
        items,
        last_position,
        has_more: rows.len() > limit,
    })
}

impl Shared {
    /// The open connection of slot `index`, or `None` (starting to open it when it is due).
    fn live(shared: &Arc<Self>, index: usize) -> Option<Arc<Live>> {
        {
            let slot = shared.slots[index]
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Slot::Open(live) = &*slot {
                if !live.client.is_closed() {
                    return Some(Arc::clone(live));
                }
            }
        }
        Self::open_if_due(shared, index);
        None
    }

    /// Starts opening slot `index` on a background task, unless it is open, being opened, or
    /// its last attempt failed too recently ([`RETRY_AFTER`], doubling per failure in a row).
    fn open_if_due(shared: &Arc<Self>, index: usize) {
        let failures = {
            let mut slot = shared.slots[index]
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let failures = match &*slot {
                Slot::Opening => return,
                Slot::Open(live) if !live.client.is_closed() => return,
                Slot::Open(_) => 0,
                Slot::Closed { retry_at, failures } => {
                    if retry_at.is_some_and(|retry_at| Instant::now() < retry_at) {
                        return;
                    }
                    *failures
                }
            };
            *slot = Slot::Opening;
            failures
        };
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            let opened = shared.open().await;
            let mut slot = shared.slots[index]
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            *slot = match opened {
                Ok(live) => Slot::Open(Arc::new(live)),
                Err(error) => {
                    // The first failure in a row at INFO (an operator may want to know why reads
                    // take the slower path), the retries at DEBUG.
                    let error = describe(&error);
                    if failures == 0 {
                        tracing::info!(%error, "pipelined PostgreSQL reader not opened; reads go through the pool meanwhile");
                    } else {
                        tracing::debug!(%error, failures, "pipelined PostgreSQL reader still not opened");
                    }
                    let wait = RETRY_AFTER
                        .saturating_mul(1 << failures.min(16))
                        .min(RETRY_AFTER_MAX);
                    Slot::Closed {
                        retry_at: Some(Instant::now() + wait),
                        failures: failures.saturating_add(1),
                    }
                }
            };
        });
    }

    /// Opens one connection (its I/O on a task of its own, which ends when the client is
    /// dropped or the connection breaks) and prepares the stream `SELECT` on it.
    async fn open(&self) -> Result<Live, tokio_postgres::Error> {
        let (client, connection) = self.config.connect(self.tls.clone()).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "pipelined PostgreSQL reader connection ended");
            }
        });
        let statement = client.prepare(&self.select_stream).await?;
        Ok(Live {
            client,
            statement,
            lists: Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// Forgets slot `index`'s connection if it is still `failed` (a concurrent read may have
    /// replaced it already); it closes once the last read holding it is done. The next read of
    /// the slot reopens it.
    fn drop_live(&self, index: usize, failed: &Arc<Live>) {
        let mut slot = self.slots[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if matches!(&*slot, Slot::Open(live) if Arc::ptr_eq(live, failed)) {
            *slot = Slot::Closed {
                retry_at: None,
                failures: 0,
            };
        }
    }
}

/// `url` without the TLS parameters ([`TLS_URL_PARAMETERS`]), which [`PostgresTls`] has read.
///
/// Errors: [`NotStarted::NotAUrl`] when `url` does not parse.
fn without_tls_parameters(url: &str) -> Result<String, NotStarted> {
    let mut parsed = url::Url::parse(url).map_err(|_| NotStarted::NotAUrl)?;
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(key, _)| !TLS_URL_PARAMETERS.contains(&key.as_ref()))
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok(parsed.into())
}

/// A tokio-postgres error with the server's SQLSTATE and message when it is one (its `Display`
/// alone says only "db error").
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

/// A tokio-postgres row of a stream SELECT, read by column position.
struct PipelinedRow<'r>(&'r tokio_postgres::Row);

impl PipelinedRow<'_> {
    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
        &'a self,
        index: usize,
    ) -> Result<T, StoreError> {
        self.0
            .try_get(index)
            .map_err(|error| column_error(index, error))
    }
}

impl StreamRow for PipelinedRow<'_> {
    fn str(&self, index: usize) -> Result<&str, StoreError> {
        self.get(index)
    }
    fn opt_str(&self, index: usize) -> Result<Option<&str>, StoreError> {
        self.get(index)
    }
    fn int(&self, index: usize) -> Result<i64, StoreError> {
        self.get(index)
    }
    fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        self.get(index)
    }
    fn flag(&self, index: usize) -> Result<bool, StoreError> {
        self.get(index)
    }
}
