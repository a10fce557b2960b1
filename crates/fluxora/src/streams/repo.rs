//! Storage of streams and of the `Idempotency-Key` records of their creation: table `streams`
//! (API and chain streams alike) and table `idempotency_keys`.
//!
//! [`StreamRepository`] is the one place these tables are read and written. The chain
//! repository writes indexed streams inside its own batch transaction through the
//! transaction-level functions here ([`insert_in`], [`update_in`], [`delete_in`]), and both
//! write a stream's webhook event in the same transaction as the stream
//! ([`crate::webhooks::repo::enqueue_in`]).
//!
//! Reads of one stream by id (`GET /api/streams/{id}`, the hottest route) bypass sqlx's pool
//! when they can: on SQLite through `repo/inline_sqlite.rs` (plain connections read on the calling
//! thread), on PostgreSQL through `repo/pipelined_postgres.rs` (pipelined connections). Both fall back
//! to the pool whenever they cannot answer; `docs/benchmarks.md` has the figures that keep them.
//! Pages of streams ([`StreamRepository::list`]) take the same paths, one statement per page
//! ([`list_statement`]), every row decoded by column position with its text borrowed
//! ([`StreamRow`]); `docs/architecture.md`, "Listing streams", has the index behind each filter.

mod group_commit;
mod inline_sqlite;
mod pipelined_postgres;

use std::sync::Arc;

use crate::address::StellarAddress;
use crate::amount::Amount;
use crate::idempotency::IdempotencyKey;
use crate::store::{
    to_i64, to_u32, to_u64, Arg, Columns, Conn, Database, Page, Query, QueryBuilder, StoreError,
    Tx, ROWS_PER_STATEMENT,
};
use crate::streams::{ChainDetails, ChainRef, Stream, StreamKind, StreamSource, StreamStatus};
use crate::webhooks::OutboxEvent;

/// Filters of `GET /api/streams`. `status` is the status as reported at the page's `now`.
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

/// A stored `Idempotency-Key` record (kept 24 hours, durably; see `docs/api.md`).
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
    /// The key, in its credential scope.
    pub key: IdempotencyKey,
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

/// The columns every stream SELECT returns, in this order (the direct readers read them by
/// position, [`stream_column_index`]).
const STREAM_COLUMN_NAMES: [&str; 27] = [
    "position",
    "id",
    "sender",
    "recipient",
    "deposit_amount",
    "rate_per_second",
    "start_time",
    "cliff_time",
    "end_time",
    "status",
    "withdrawn_amount",
    "checkpoint_amount",
    "checkpoint_at",
    "cancelled_at",
    "source",
    "chain_contract_id",
    "chain_stream_id",
    "chain_created_ledger",
    "chain_tx_hash",
    "chain_closed",
    "kind",
    "chain_details",
    "chain_entry_pending",
    "chain_token_contract_id",
    "created_at",
    "updated_at",
    "version",
];

/// [`STREAM_COLUMN_NAMES`] as a SELECT list, amounts cast to exact text (a PostgreSQL cast
/// that [`crate::store::Dialect::sql`] drops for SQLite).
const STREAM_COLUMNS: &str = "position, id, sender, recipient, \
     deposit_amount::text AS deposit_amount, rate_per_second::text AS rate_per_second, \
     start_time, cliff_time, end_time, status, withdrawn_amount::text AS withdrawn_amount, \
     checkpoint_amount::text AS checkpoint_amount, checkpoint_at, cancelled_at, source, \
     chain_contract_id, chain_stream_id, chain_created_ledger, chain_tx_hash, chain_closed, \
     kind, chain_details, chain_entry_pending, \
     (SELECT token_contract_id FROM chain_contracts \
      WHERE chain_contracts.contract_id = streams.chain_contract_id) AS chain_token_contract_id, \
     created_at, updated_at, version";

/// One stream by id (also the direct readers' statement).
const SELECT_STREAM: &str = "SELECT position, id, sender, recipient, \
     deposit_amount::text AS deposit_amount, rate_per_second::text AS rate_per_second, \
     start_time, cliff_time, end_time, status, withdrawn_amount::text AS withdrawn_amount, \
     checkpoint_amount::text AS checkpoint_amount, checkpoint_at, cancelled_at, source, \
     chain_contract_id, chain_stream_id, chain_created_ledger, chain_tx_hash, chain_closed, \
     kind, chain_details, chain_entry_pending, \
     (SELECT token_contract_id FROM chain_contracts \
      WHERE chain_contracts.contract_id = streams.chain_contract_id) AS chain_token_contract_id, \
     created_at, updated_at, version \
     FROM streams WHERE id = $1";

/// The columns an insert writes, in the order of [`insert_values`].
const INSERT_STREAM: &str = "INSERT INTO streams (id, sender, recipient, deposit_amount, \
     rate_per_second, start_time, cliff_time, end_time, status, withdrawn_amount, \
     checkpoint_amount, checkpoint_at, cancelled_at, source, chain_contract_id, chain_stream_id, \
     chain_created_ledger, chain_tx_hash, chain_closed, kind, chain_details, \
     chain_entry_pending, created_at, updated_at, version) VALUES ";

/// The optimistic-concurrency update: a stream's mutable state (everything but its id, sender,
/// source and chain identity), only while it is still at the expected version.
const UPDATE_STREAM: &str = "UPDATE streams SET status = $1, withdrawn_amount = $2::numeric, \
     deposit_amount = $3::numeric, rate_per_second = $4::numeric, end_time = $5, \
     checkpoint_amount = $6::numeric, checkpoint_at = $7, cancelled_at = $8, chain_closed = $9, \
     updated_at = $10, version = $11, recipient = $12, start_time = $13, cliff_time = $14, \
     kind = $15, chain_details = $16, chain_entry_pending = $17 \
     WHERE id = $18 AND version = $19";

/// Streams and idempotency keys in the service's database.
#[derive(Debug, Clone)]
pub struct StreamRepository {
    db: Database,
    direct: DirectReads,
    /// SQLite: the group-commit writer every stream write goes through
    /// (`repo/group_commit.rs`); PostgreSQL: none, each write is its own transaction.
    writer: Option<group_commit::GroupCommit>,
}

/// The direct read path of `get`, per database (see the module documentation).
#[derive(Debug, Clone)]
enum DirectReads {
    /// None: every read goes through the pool (an in-memory SQLite database, or readers that
    /// could not be opened).
    None,
    /// SQLite connections read on the calling thread.
    Inline(Arc<inline_sqlite::InlineReaders>),
    /// PostgreSQL pipelined connections.
    Pipelined(Arc<pipelined_postgres::PipelinedReaders>),
}

impl StreamRepository {
    /// The repository over `db`, with its direct readers: on a SQLite file one inline
    /// connection per runtime worker thread (`WORKER_THREADS`; reads run on the worker serving
    /// the request and never wait, so no more can be in use at once); on PostgreSQL one
    /// pipelined connection per core, opened on first use. Readers that cannot be opened are
    /// logged and left out: reads then go through the pool.
    pub async fn open(db: Database) -> Self {
        let direct = match &db {
            Database::Sqlite(sqlite) => match sqlite.file() {
                Some(path) => open_inline_readers(path.to_path_buf()).await,
                None => DirectReads::None,
            },
            Database::Postgres(postgres) => {
                // Enough to keep the server's backends busy; each carries any number of
                // concurrent reads.
                let count =
                    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
                match pipelined_postgres::PipelinedReaders::start(
                    postgres.url(),
                    postgres.tls(),
                    count,
                    postgres.acquire_timeout(),
                    SELECT_STREAM.to_string(),
                ) {
                    Ok(readers) => DirectReads::Pipelined(Arc::new(readers)),
                    Err(error) => {
                        tracing::info!(%error, "DATABASE_URL is not one the pipelined PostgreSQL readers accept; stream reads go through the pool");
                        DirectReads::None
                    }
                }
            }
        };
        let writer = match &db {
            Database::Sqlite(_) => Some(group_commit::GroupCommit::start(db.clone()).await),
            Database::Postgres(_) => None,
        };
        Self { db, direct, writer }
    }

    /// Writes queued for the SQLite group-commit writer and not yet taken into a batch (0 on
    /// PostgreSQL). For tests and diagnostics.
    pub fn queued_writes(&self) -> usize {
        self.writer
            .as_ref()
            .map_or(0, group_commit::GroupCommit::queued)
    }

    /// Whether stream writes run on the SQLite writer thread's direct connection
    /// (`store/sqlite_direct.rs`): `true` on a SQLite file; `false` on PostgreSQL, in memory, or
    /// when that connection could not be opened (writes then go through the pool). For tests
    /// and diagnostics.
    pub fn writes_on_writer_thread(&self) -> bool {
        self.writer
            .as_ref()
            .is_some_and(group_commit::GroupCommit::is_direct)
    }

    /// Writes submitted to the SQLite group-commit writer and not yet answered: queued, or in
    /// the batch being written (0 on PostgreSQL). For tests and diagnostics.
    pub fn unanswered_writes(&self) -> usize {
        self.writer
            .as_ref()
            .map_or(0, group_commit::GroupCommit::unanswered)
    }

    /// Inserts a new stream and, in the same transaction, completes its idempotency claim and
    /// writes its webhook event to the outbox (one delivery per matching enabled endpoint).
    /// On SQLite the transaction is shared with concurrent writes (group commit); either way the
    /// stream is on disk when this returns `Ok`.
    ///
    /// Errors: [`StoreError`]; nothing is written then.
    pub async fn insert(
        &self,
        stream: Stream,
        completion: Option<IdempotencyCompletion>,
        event: Option<OutboxEvent>,
    ) -> Result<(), StoreError> {
        if let Some(writer) = &self.writer {
            return writer
                .submit(group_commit::Write::Insert {
                    stream: Box::new(stream),
                    completion,
                    event,
                })
                .await
                .map(drop);
        }
        let mut tx = self.db.begin().await?;
        insert_stream_in(&mut tx, &stream, completion.as_ref(), event.as_ref()).await?;
        tx.commit().await
    }

    /// One stream by id; `None` when there is none.
    ///
    /// Errors: [`StoreError`].
    pub async fn get(&self, id: &str) -> Result<Option<Stream>, StoreError> {
        let direct = match &self.direct {
            DirectReads::None => None,
            DirectReads::Inline(readers) => readers.get_stream(id),
            DirectReads::Pipelined(readers) => readers.get_stream(id).await,
        };
        if let Some(found) = direct {
            return Ok(found);
        }
        let row = Query::new(self.db.dialect().sql(SELECT_STREAM))
            .bind(id)
            .fetch_optional(&self.db)
            .await?;
        Ok(row
            .as_ref()
            .map(stream_from_row)
            .transpose()?
            .map(|(_, stream)| stream))
    }

    /// The streams among `ids` that exist (any order; absent ids are left out), in one query
    /// per [`ROWS_PER_STATEMENT`] ids.
    ///
    /// Errors: [`StoreError`].
    pub async fn get_many(&self, ids: &[String]) -> Result<Vec<Stream>, StoreError> {
        let mut streams = Vec::with_capacity(ids.len());
        let dialect = self.db.dialect();
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let head = format!("SELECT {STREAM_COLUMNS} FROM streams WHERE id IN (");
            let mut select = QueryBuilder::new(dialect, &dialect.sql(&head));
            select.list(chunk, ", ", |q, id| {
                q.bind(id.as_str());
            });
            select.push(")");
            let rows = select
                .build()
                .persistent(chunk.len() == ROWS_PER_STATEMENT)
                .fetch_all(&self.db)
                .await?;
            for row in &rows {
                streams.push(stream_from_row(row)?.1);
            }
        }
        Ok(streams)
    }

    /// Replaces a stream's mutable state if its stored version is still `expected_version`
    /// (optimistic concurrency), writing the outbox `event`, if any, in the same transaction
    /// (on SQLite shared with concurrent writes: group commit). Returns `false` (and writes
    /// nothing) when another change won the race.
    ///
    /// Errors: [`StoreError`].
    pub async fn update(
        &self,
        stream: Stream,
        expected_version: i64,
        event: Option<OutboxEvent>,
    ) -> Result<bool, StoreError> {
        if let Some(writer) = &self.writer {
            let written = writer
                .submit(group_commit::Write::Update {
                    stream: Box::new(stream),
                    expected_version,
                    event,
                })
                .await?;
            return Ok(written == 1);
        }
        let mut tx = self.db.begin().await?;
        if !update_stream_in(&mut tx, &stream, expected_version, event.as_ref()).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// One page of streams, newest first (by insertion order, so pages never repeat or skip a
    /// stream while others are inserted): the filters, the cursor anchor and `limit + 1` rows
    /// (to learn whether more exist), in one statement. Like [`StreamRepository::get`] it runs
    /// on the direct readers when it can (inline SQLite connections, pipelined PostgreSQL
    /// connections) and through the pool otherwise; every route that answers with many streams
    /// reads them here.
    ///
    /// Errors: [`StoreError`]; a row that does not decode is [`StoreError::Corrupt`] (whichever
    /// path read it: the direct readers leave such a page to the pool, which reports it).
    pub async fn list(&self, query: &StreamPageQuery) -> Result<Page<Stream>, StoreError> {
        let dialect = self.db.dialect();
        let (sql, args) = list_statement(dialect, query)?;
        let direct = match &self.direct {
            DirectReads::None => None,
            DirectReads::Inline(readers) => readers.list_streams(&sql, &args, query.limit),
            DirectReads::Pipelined(readers) => readers.list_streams(&sql, &args, query.limit).await,
        };
        if let Some(page) = direct {
            return Ok(page);
        }
        let mut select = Query::new(sql.as_str());
        for arg in &args {
            select = match *arg {
                ListArg::Int(value) => select.bind(value),
                ListArg::Text(value) => select.bind(value),
            };
        }
        let rows = select.fetch_all(&self.db).await?;
        Page::from_rows(&rows, query.limit, stream_from_row)
    }

    /// A live idempotency record at unix ms `now`: a completed one not yet expired, or an
    /// in-flight claim whose lock has not lapsed.
    ///
    /// Errors: [`StoreError`].
    pub async fn idempotency_get(
        &self,
        key: &IdempotencyKey,
        now: i64,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let row = Query::new(
            "SELECT state, request_hash, response_status, response_body, location \
             FROM idempotency_keys WHERE scope = $1 AND key = $2 AND expires_at > $3 \
             AND (state = 'completed' OR locked_until > $3)",
        )
        .bind(key.scope().as_str())
        .bind(key.as_str())
        .bind(now)
        .fetch_optional(&self.db)
        .await?;
        row.as_ref().map(idempotency_from_row).transpose()
    }

    /// Claims `key` for a request with `request_hash`: succeeds when the key is unknown,
    /// expired, or held by an in-flight claim whose lock lapsed before `now` (unix ms). The
    /// claim's lock lasts until `lock_until`; the completed record expires at `expires_at`.
    ///
    /// Errors: [`StoreError`].
    pub async fn idempotency_claim(
        &self,
        key: &IdempotencyKey,
        request_hash: &[u8],
        now: i64,
        lock_until: i64,
        expires_at: i64,
    ) -> Result<ClaimOutcome, StoreError> {
        let claimed = match &self.writer {
            Some(writer) => {
                writer
                    .submit(group_commit::Write::Claim {
                        key: key.clone(),
                        request_hash: request_hash.to_vec(),
                        now,
                        lock_until,
                        expires_at,
                    })
                    .await?
            }
            None => claim_in(&self.db, key, request_hash, now, lock_until, expires_at).await?,
        };
        if claimed == 1 {
            return Ok(ClaimOutcome::Claimed);
        }
        match self.idempotency_get(key, now).await? {
            Some(record) => Ok(ClaimOutcome::Existing(record)),
            // The holder released, or its record expired, between the two statements: report
            // it as in flight so the client retries.
            None => Ok(ClaimOutcome::Existing(IdempotencyRecord::InFlight {
                request_hash: Vec::new(),
            })),
        }
    }

    /// Drops an in-flight claim (the request failed, so a retry may reuse the key).
    ///
    /// Errors: [`StoreError`].
    pub async fn idempotency_release(&self, key: &IdempotencyKey) -> Result<(), StoreError> {
        match &self.writer {
            Some(writer) => writer
                .submit(group_commit::Write::Release { key: key.clone() })
                .await
                .map(drop),
            None => release_in(&self.db, key).await.map(drop),
        }
    }

    /// Deletes idempotency records that expired before unix ms `now`; returns how many.
    ///
    /// Errors: [`StoreError`].
    pub async fn purge_expired_idempotency(&self, now: i64) -> Result<u64, StoreError> {
        Query::new("DELETE FROM idempotency_keys WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.db)
            .await
    }
}

/// [`StreamRepository::insert`]'s statements in `tx`: the outbox event, the stream, the
/// idempotency completion.
///
/// Errors: [`StoreError`] (the caller rolls back).
async fn insert_stream_in(
    tx: &mut Tx,
    stream: &Stream,
    completion: Option<&IdempotencyCompletion>,
    event: Option<&OutboxEvent>,
) -> Result<(), StoreError> {
    if let Some(event) = event {
        crate::webhooks::repo::enqueue_in(tx, event, None).await?;
    }
    let mut insert = QueryBuilder::new(tx.dialect(), INSERT_STREAM);
    insert.row(insert_values(stream)?);
    insert.build().execute(&mut *tx).await?;
    if let Some(completion) = completion {
        Query::new(
            "UPDATE idempotency_keys SET state = 'completed', response_status = $1, \
             response_body = $2, location = $3 WHERE scope = $4 AND key = $5",
        )
        .bind(i64::from(completion.status))
        .bind(completion.body.as_slice())
        .bind(completion.location.as_deref())
        .bind(completion.key.scope().as_str())
        .bind(completion.key.as_str())
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// [`StreamRepository::update`]'s statements in `tx`: `false` (nothing written) when the stream
/// is no longer at `expected_version`, else the new state and its outbox event.
///
/// Errors: [`StoreError`] (the caller rolls back).
async fn update_stream_in(
    tx: &mut Tx,
    stream: &Stream,
    expected_version: i64,
    event: Option<&OutboxEvent>,
) -> Result<bool, StoreError> {
    if !update_in(tx, stream, expected_version).await? {
        return Ok(false);
    }
    if let Some(event) = event {
        crate::webhooks::repo::enqueue_in(tx, event, None).await?;
    }
    Ok(true)
}

/// [`StreamRepository::idempotency_claim`]'s statement in `tx`: 1 when the key was claimed.
///
/// Errors: [`StoreError`].
async fn claim_in<'c>(
    on: impl Into<Conn<'c>>,
    key: &IdempotencyKey,
    request_hash: &[u8],
    now: i64,
    lock_until: i64,
    expires_at: i64,
) -> Result<u64, StoreError> {
    Query::new(
        "INSERT INTO idempotency_keys \
               (scope, key, request_hash, state, locked_until, created_at, expires_at) \
             VALUES ($1, $2, $3, 'in_flight', $4, $5, $6) \
             ON CONFLICT (scope, key) DO UPDATE SET request_hash = excluded.request_hash, \
               state = 'in_flight', locked_until = excluded.locked_until, \
               created_at = excluded.created_at, expires_at = excluded.expires_at, \
               response_status = NULL, response_body = NULL, location = NULL \
             WHERE idempotency_keys.expires_at <= excluded.created_at \
                OR (idempotency_keys.state = 'in_flight' \
                    AND idempotency_keys.locked_until <= excluded.created_at)",
    )
    .bind(key.scope().as_str())
    .bind(key.as_str())
    .bind(request_hash)
    .bind(lock_until)
    .bind(now)
    .bind(expires_at)
    .execute(on)
    .await
}

/// [`StreamRepository::idempotency_release`]'s statement in `tx`: the rows deleted.
///
/// Errors: [`StoreError`].
async fn release_in<'c>(on: impl Into<Conn<'c>>, key: &IdempotencyKey) -> Result<u64, StoreError> {
    Query::new("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND state = 'in_flight'")
        .bind(key.scope().as_str())
        .bind(key.as_str())
        .execute(on)
        .await
}

/// A parameter of the list statement ([`list_statement`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListArg<'a> {
    /// An integer (position, time, limit).
    Int(i64),
    /// A text (address, source, status).
    Text(&'a str),
}

/// The list SELECT of `query` for `dialect` (placeholders `$n` on PostgreSQL, `?` on SQLite) and
/// its parameters in order. Its text depends only on which filters are set, so the drivers'
/// statement caches hold one statement per filter combination. Every combination is served by
/// an index (`docs/architecture.md`, "Listing streams"): the primary key `position` read
/// backwards, or one of the `(column, position)` indexes of the filters.
///
/// Errors: [`StoreError::Corrupt`] when `query.now` exceeds `i64`.
pub(crate) fn list_statement<'q>(
    dialect: crate::store::Dialect,
    query: &'q StreamPageQuery,
) -> Result<(String, Vec<ListArg<'q>>), StoreError> {
    let now = to_i64(query.now, "now")?;
    let mut sql = String::with_capacity(1024);
    sql.push_str("SELECT ");
    sql.push_str(&dialect.sql(STREAM_COLUMNS));
    sql.push_str(" FROM streams");
    let mut args = Vec::with_capacity(6);
    let mut push = |sql: &mut String, condition: &str, arg: Option<ListArg<'q>>| {
        sql.push_str(if sql.ends_with(" FROM streams") {
            " WHERE "
        } else {
            " AND "
        });
        // `{}` in `condition` is the place of its parameter.
        match arg {
            Some(arg) => {
                args.push(arg);
                let mut placeholder = String::new();
                dialect.write_placeholder(&mut placeholder, args.len(), false);
                sql.push_str(&condition.replace("{}", &placeholder));
            }
            None => sql.push_str(condition),
        }
    };
    if let Some(before) = query.before_position {
        push(&mut sql, "position < {}", Some(ListArg::Int(before)));
    }
    let filters = &query.filters;
    if let Some(sender) = &filters.sender {
        push(
            &mut sql,
            "sender = {}",
            Some(ListArg::Text(sender.as_str())),
        );
    }
    if let Some(recipient) = &filters.recipient {
        push(
            &mut sql,
            "recipient = {}",
            Some(ListArg::Text(recipient.as_str())),
        );
    }
    if let Some(source) = filters.source {
        push(
            &mut sql,
            "source = {}",
            Some(ListArg::Text(source.as_str())),
        );
    }
    // An API stream reports `completed` from its end time on, whatever its stored status
    // (see `Stream::status_at`); the filter follows the reported status.
    match filters.status {
        None => {}
        Some(status @ (StreamStatus::Active | StreamStatus::Paused)) => {
            push(
                &mut sql,
                "status = {}",
                Some(ListArg::Text(status.as_str())),
            );
            push(
                &mut sql,
                "NOT (source = 'api' AND end_time <= {})",
                Some(ListArg::Int(now)),
            );
        }
        // On SQLite the unary `+` keeps the second branch off the indexes: otherwise SQLite
        // answers the OR from two indexes (every completed stream and every API stream) and
        // sorts the union, where reading `position` backwards stops after `limit + 1` matches.
        Some(StreamStatus::Completed) => push(
            &mut sql,
            match dialect {
                crate::store::Dialect::Sqlite => {
                    "(status = 'completed' OR (+source = 'api' \
                     AND +status IN ('active', 'paused') AND end_time <= {}))"
                }
                crate::store::Dialect::Postgres => {
                    "(status = 'completed' OR (source = 'api' \
                     AND status IN ('active', 'paused') AND end_time <= {}))"
                }
            },
            Some(ListArg::Int(now)),
        ),
        Some(StreamStatus::Cancelled) => push(&mut sql, "status = 'cancelled'", None),
    }
    sql.push_str(" ORDER BY position DESC LIMIT ");
    args.push(ListArg::Int(i64::from(query.limit) + 1));
    dialect.write_placeholder(&mut sql, args.len(), false);
    Ok((sql, args))
}

/// Inserts new streams in `tx`, [`ROWS_PER_STATEMENT`] per statement, skipping any whose id
/// exists; returns how many were written (fewer than given means another writer got there
/// first).
///
/// Errors: [`StoreError`].
pub async fn insert_in(tx: &mut Tx, streams: &[&Stream]) -> Result<u64, StoreError> {
    let mut written = 0;
    for chunk in streams.chunks(ROWS_PER_STATEMENT) {
        let mut insert = QueryBuilder::new(tx.dialect(), INSERT_STREAM);
        for (i, stream) in chunk.iter().enumerate() {
            if i > 0 {
                insert.push(", ");
            }
            insert.row(insert_values(stream)?);
        }
        insert.push(" ON CONFLICT DO NOTHING");
        written += insert
            .build()
            .persistent(chunk.len() == ROWS_PER_STATEMENT)
            .execute(&mut *tx)
            .await?;
    }
    Ok(written)
}

/// [`StreamRepository::update`]'s statement in `tx`: `false` when the stream is no longer at
/// `expected_version` (nothing written).
///
/// Errors: [`StoreError`].
pub async fn update_in(
    tx: &mut Tx,
    stream: &Stream,
    expected_version: i64,
) -> Result<bool, StoreError> {
    let written = Query::new(tx.dialect().sql(UPDATE_STREAM))
        .bind(stream.status.as_str())
        .bind(Arg::Amount(stream.withdrawn_amount.stroops().to_string()))
        .bind(Arg::Amount(stream.deposit_amount.stroops().to_string()))
        .bind(Arg::Amount(stream.rate_per_second.stroops().to_string()))
        .bind(to_i64(stream.end_time, "end_time")?)
        .bind(Arg::Amount(stream.checkpoint_amount.stroops().to_string()))
        .bind(to_i64(stream.checkpoint_at, "checkpoint_at")?)
        .bind(opt_i64(stream.cancelled_at, "cancelled_at")?)
        .bind(stream.chain.as_ref().is_some_and(|c| c.closed))
        .bind(stream.updated_at)
        .bind(stream.version)
        .bind(stream.recipient.as_str())
        .bind(to_i64(stream.start_time, "start_time")?)
        .bind(to_i64(stream.cliff_time, "cliff_time")?)
        .bind(stream.kind.as_str())
        .bind(chain_details_json(stream)?)
        .bind(stream.chain.as_ref().is_some_and(|c| c.entry_pending))
        .bind(stream.id.as_str())
        .bind(expected_version)
        .execute(&mut *tx)
        .await?;
    Ok(written == 1)
}

/// Deletes streams in `tx`, each only while still at the given version; returns how many were
/// deleted (fewer than given means another writer changed one).
///
/// Errors: [`StoreError`].
pub async fn delete_in(tx: &mut Tx, streams: &[(String, i64)]) -> Result<u64, StoreError> {
    let mut deleted = 0;
    for chunk in streams.chunks(ROWS_PER_STATEMENT) {
        // An OR of (id, version) pairs: SQLite looks each up by primary key (a row-value IN
        // list would scan the table).
        let mut delete = QueryBuilder::new(tx.dialect(), "DELETE FROM streams WHERE ");
        delete.list(chunk, " OR ", |q, (id, version)| {
            q.push("(id = ")
                .bind(id.as_str())
                .push(" AND version = ")
                .bind(*version)
                .push(")");
        });
        deleted += delete
            .build()
            .persistent(chunk.len() == ROWS_PER_STATEMENT)
            .execute(&mut *tx)
            .await?;
    }
    Ok(deleted)
}

/// The `chain_details` column of a stream: its [`crate::streams::ChainDetails`] as JSON, `NULL`
/// for API streams.
fn chain_details_json(stream: &Stream) -> Result<Option<String>, StoreError> {
    stream
        .chain
        .as_ref()
        .map(|chain| {
            serde_json::to_string(&chain.details)
                .map_err(|error| StoreError::Corrupt(format!("chain_details: {error}")))
        })
        .transpose()
}

/// A stream's 25 insert values in [`INSERT_STREAM`] order (amounts as exact decimal text).
fn insert_values(stream: &Stream) -> Result<[Arg<'_>; 25], StoreError> {
    let chain = stream.chain.as_ref();
    Ok([
        stream.id.as_str().into(),
        stream.sender.as_str().into(),
        stream.recipient.as_str().into(),
        Arg::Amount(stream.deposit_amount.stroops().to_string()),
        Arg::Amount(stream.rate_per_second.stroops().to_string()),
        to_i64(stream.start_time, "start_time")?.into(),
        to_i64(stream.cliff_time, "cliff_time")?.into(),
        to_i64(stream.end_time, "end_time")?.into(),
        stream.status.as_str().into(),
        Arg::Amount(stream.withdrawn_amount.stroops().to_string()),
        Arg::Amount(stream.checkpoint_amount.stroops().to_string()),
        to_i64(stream.checkpoint_at, "checkpoint_at")?.into(),
        opt_i64(stream.cancelled_at, "cancelled_at")?.into(),
        stream.source.as_str().into(),
        chain.map(|c| c.contract_id.as_str()).into(),
        opt_i64(chain.map(|c| c.stream_id), "chain_stream_id")?.into(),
        chain.map(|c| i64::from(c.created_ledger)).into(),
        chain.map(|c| c.tx_hash.as_str()).into(),
        chain.is_some_and(|c| c.closed).into(),
        stream.kind.as_str().into(),
        chain_details_json(stream)?.into(),
        chain.is_some_and(|c| c.entry_pending).into(),
        stream.created_at.into(),
        stream.updated_at.into(),
        stream.version.into(),
    ])
}

fn opt_i64(value: Option<u64>, what: &str) -> Result<Option<i64>, StoreError> {
    value.map(|v| to_i64(v, what)).transpose()
}

/// The place of `name` in [`STREAM_COLUMN_NAMES`], at compile time (a name not listed does
/// not compile).
const fn column(name: &str) -> usize {
    let mut i = 0;
    while i < STREAM_COLUMN_NAMES.len() {
        let listed = STREAM_COLUMN_NAMES[i].as_bytes();
        let wanted = name.as_bytes();
        if listed.len() == wanted.len() {
            let mut j = 0;
            while j < listed.len() && listed[j] == wanted[j] {
                j += 1;
            }
            if j == listed.len() {
                return i;
            }
        }
        i += 1;
    }
    panic!("not a stream column")
}

/// A row of a stream SELECT ([`STREAM_COLUMN_NAMES`] in order), read by column position: no
/// search through column names, and text borrowed from the row (no `String` per column).
/// Implemented by the pool's rows and by each direct reader's.
pub(crate) trait StreamRow {
    /// A non-null text column.
    fn str(&self, index: usize) -> Result<&str, StoreError>;
    /// A nullable text column.
    fn opt_str(&self, index: usize) -> Result<Option<&str>, StoreError>;
    /// A non-null integer column.
    fn int(&self, index: usize) -> Result<i64, StoreError>;
    /// A nullable integer column.
    fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError>;
    /// A boolean column.
    fn flag(&self, index: usize) -> Result<bool, StoreError>;
}

/// [`StoreError::Corrupt`] naming the stream column at `index`.
pub(crate) fn column_error(index: usize, error: impl std::fmt::Display) -> StoreError {
    let name = STREAM_COLUMN_NAMES.get(index).copied().unwrap_or("?");
    StoreError::Corrupt(format!("column {name}: {error}"))
}

impl StreamRow for crate::store::Row {
    fn str(&self, index: usize) -> Result<&str, StoreError> {
        pooled_column(self, index)
    }
    fn opt_str(&self, index: usize) -> Result<Option<&str>, StoreError> {
        pooled_column(self, index)
    }
    fn int(&self, index: usize) -> Result<i64, StoreError> {
        pooled_column(self, index)
    }
    fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        pooled_column(self, index)
    }
    fn flag(&self, index: usize) -> Result<bool, StoreError> {
        pooled_column(self, index)
    }
}

/// Column `index` of a row read through the pool, on either driver.
///
/// Errors: [`StoreError`] when the column is missing or of another type.
fn pooled_column<'r, T>(row: &'r crate::store::Row, index: usize) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>
        + sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
        + crate::store::sqlite_direct::FromDirect<'r>,
{
    use sqlx::Row as _;
    match row {
        crate::store::Row::Sqlite(row) => row.try_get(index),
        crate::store::Row::Postgres(row) => row.try_get(index),
        crate::store::Row::Direct(row) => {
            return T::from_direct(row.at(index)?).map_err(|error| column_error(index, error))
        }
    }
    .map_err(StoreError::from_sqlx)
}

fn amount(row: &impl StreamRow, index: usize) -> Result<Amount, StoreError> {
    let text = row.str(index)?;
    text.parse::<i128>()
        .map(Amount::from_stroops)
        .map_err(|_| column_error(index, format_args!("'{text}' is not an i128")))
}

/// A stored sender or recipient, checked as [`StellarAddress::from_stored`] checks it: a value
/// that is not a valid `G…`/`C…` StrKey is a corrupt row, never served.
fn address(row: &impl StreamRow, index: usize) -> Result<StellarAddress, StoreError> {
    StellarAddress::from_stored(row.str(index)?)
        .ok_or_else(|| column_error(index, "not a valid StrKey"))
}

fn time(row: &impl StreamRow, index: usize) -> Result<u64, StoreError> {
    to_u64(row.int(index)?, STREAM_COLUMN_NAMES[index])
}

/// Decodes a stream row ([`STREAM_COLUMN_NAMES`] in order) and its list position.
///
/// Errors: [`StoreError::Corrupt`] for a value the service never writes (an unknown status,
/// source or kind, an amount that is not an i128, an invalid StrKey, a negative time,
/// `chain_details` that do not parse).
pub(crate) fn stream_from_row(row: &impl StreamRow) -> Result<(i64, Stream), StoreError> {
    const POSITION: usize = column("position");
    const ID: usize = column("id");
    const SENDER: usize = column("sender");
    const RECIPIENT: usize = column("recipient");
    const DEPOSIT_AMOUNT: usize = column("deposit_amount");
    const RATE_PER_SECOND: usize = column("rate_per_second");
    const START_TIME: usize = column("start_time");
    const CLIFF_TIME: usize = column("cliff_time");
    const END_TIME: usize = column("end_time");
    const STATUS: usize = column("status");
    const WITHDRAWN_AMOUNT: usize = column("withdrawn_amount");
    const CHECKPOINT_AMOUNT: usize = column("checkpoint_amount");
    const CHECKPOINT_AT: usize = column("checkpoint_at");
    const CANCELLED_AT: usize = column("cancelled_at");
    const SOURCE: usize = column("source");
    const CHAIN_CONTRACT_ID: usize = column("chain_contract_id");
    const CHAIN_STREAM_ID: usize = column("chain_stream_id");
    const CHAIN_CREATED_LEDGER: usize = column("chain_created_ledger");
    const CHAIN_TX_HASH: usize = column("chain_tx_hash");
    const CHAIN_CLOSED: usize = column("chain_closed");
    const KIND: usize = column("kind");
    const CHAIN_DETAILS: usize = column("chain_details");
    const CHAIN_ENTRY_PENDING: usize = column("chain_entry_pending");
    const CHAIN_TOKEN_CONTRACT_ID: usize = column("chain_token_contract_id");
    const CREATED_AT: usize = column("created_at");
    const UPDATED_AT: usize = column("updated_at");
    const VERSION: usize = column("version");

    let status_text = row.str(STATUS)?;
    let status = StreamStatus::parse(status_text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown status '{status_text}'")))?;
    let source_text = row.str(SOURCE)?;
    let source = StreamSource::parse(source_text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown source '{source_text}'")))?;
    let cancelled_at = row
        .opt_int(CANCELLED_AT)?
        .map(|t| to_u64(t, "cancelled_at"))
        .transpose()?;
    let chain = match row.opt_str(CHAIN_CONTRACT_ID)? {
        None => None,
        Some(contract_id) => Some(ChainRef {
            contract_id: contract_id.to_owned(),
            stream_id: to_u64(
                row.opt_int(CHAIN_STREAM_ID)?.unwrap_or(0),
                "chain_stream_id",
            )?,
            created_ledger: to_u32(
                row.opt_int(CHAIN_CREATED_LEDGER)?.unwrap_or(0),
                "chain_created_ledger",
            )?,
            tx_hash: row
                .opt_str(CHAIN_TX_HASH)?
                .map(str::to_owned)
                .unwrap_or_default(),
            closed: row.flag(CHAIN_CLOSED)?,
            entry_pending: row.flag(CHAIN_ENTRY_PENDING)?,
            token_contract_id: row.opt_str(CHAIN_TOKEN_CONTRACT_ID)?.map(str::to_owned),
            details: match row.opt_str(CHAIN_DETAILS)? {
                Some(json) => serde_json::from_str(json).map_err(|error| {
                    StoreError::Corrupt(format!("chain_details is not valid: {error}"))
                })?,
                None => ChainDetails::default(),
            },
        }),
    };
    let kind_text = row.str(KIND)?;
    let kind = StreamKind::parse(kind_text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown kind '{kind_text}'")))?;
    let stream = Stream {
        id: row.str(ID)?.to_owned(),
        sender: address(row, SENDER)?,
        recipient: address(row, RECIPIENT)?,
        deposit_amount: amount(row, DEPOSIT_AMOUNT)?,
        rate_per_second: amount(row, RATE_PER_SECOND)?,
        kind,
        start_time: time(row, START_TIME)?,
        cliff_time: time(row, CLIFF_TIME)?,
        end_time: time(row, END_TIME)?,
        status,
        withdrawn_amount: amount(row, WITHDRAWN_AMOUNT)?,
        checkpoint_amount: amount(row, CHECKPOINT_AMOUNT)?,
        checkpoint_at: time(row, CHECKPOINT_AT)?,
        cancelled_at,
        source,
        chain,
        created_at: row.int(CREATED_AT)?,
        updated_at: row.int(UPDATED_AT)?,
        version: row.int(VERSION)?,
    };
    Ok((row.int(POSITION)?, stream))
}

/// Decodes an `idempotency_keys` row (`state`, `request_hash`, `response_status`,
/// `response_body`, `location`).
fn idempotency_from_row(row: &impl Columns) -> Result<IdempotencyRecord, StoreError> {
    let state = row.text("state")?;
    let request_hash = row.opt_bytes("request_hash")?.unwrap_or_default();
    match state.as_str() {
        "in_flight" => Ok(IdempotencyRecord::InFlight { request_hash }),
        "completed" => {
            let status = row.opt_int("response_status")?.unwrap_or(0);
            Ok(IdempotencyRecord::Completed {
                request_hash,
                status: u16::try_from(status)
                    .map_err(|_| StoreError::Corrupt(format!("response status {status}")))?,
                body: row.opt_bytes("response_body")?.unwrap_or_default(),
                location: row.opt_text("location")?,
            })
        }
        other => Err(StoreError::Corrupt(format!(
            "unknown idempotency state '{other}'"
        ))),
    }
}

/// Opens the [`inline_sqlite::InlineReaders`] of the database file `path`; with a WARN and
/// none if they cannot be opened (every read then goes through the pool, as it would anyway).
async fn open_inline_readers(path: std::path::PathBuf) -> DirectReads {
    let count = tokio::runtime::Handle::current()
        .metrics()
        .num_workers()
        .max(1);
    let select = crate::store::Dialect::Sqlite
        .sql(SELECT_STREAM)
        .into_owned();
    let opened = tokio::task::spawn_blocking(move || {
        inline_sqlite::InlineReaders::open(
            &path,
            count,
            crate::store::sqlite::MMAP_SIZE_BYTES,
            select,
        )
    })
    .await;
    match opened {
        Ok(Ok(readers)) => DirectReads::Inline(Arc::new(readers)),
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "inline SQLite readers not opened; reads go through the pool");
            DirectReads::None
        }
        Err(error) => {
            tracing::warn!(error = %error, "inline SQLite readers not opened; reads go through the pool");
            DirectReads::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every list statement (each combination of filters and cursor) on the SQLite schema:
    /// rows come in `position` order without a sort (no temporary B-tree), the chain-contract
    /// lookup is by key, and an equality filter reads its `(column, position)` index.
    #[test]
    #[allow(clippy::unwrap_used)]
    fn every_list_statement_is_index_backed_on_sqlite() {
        let connection = rusqlite::Connection::open_in_memory().unwrap();
        for migration in [
            include_str!("../../migrations/sqlite/0001_streams.sql"),
            include_str!("../../migrations/sqlite/0002_chain.sql"),
            include_str!("../../migrations/sqlite/0003_webhooks.sql"),
            include_str!("../../migrations/sqlite/0004_api_keys.sql"),
            include_str!("../../migrations/sqlite/0005_delivery_event_index.sql"),
            include_str!("../../migrations/sqlite/0006_stream_kind_and_chain_details.sql"),
            include_str!("../../migrations/sqlite/0007_chain_contracts.sql"),
            include_str!("../../migrations/sqlite/0008_idempotency_scope.sql"),
            include_str!("../../migrations/sqlite/0009_stream_source_index.sql"),
        ] {
            connection.execute_batch(migration).unwrap();
        }
        let address =
            StellarAddress::parse("GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5")
                .unwrap();
        let mut checked = 0;
        for status in [None].into_iter().chain(StreamStatus::ALL.map(Some)) {
            for bits in 0..16 {
                let query = StreamPageQuery {
                    filters: StreamFilters {
                        status,
                        sender: (bits & 1 != 0).then(|| address.clone()),
                        recipient: (bits & 2 != 0).then(|| address.clone()),
                        source: (bits & 4 != 0).then_some(StreamSource::Chain),
                    },
                    before_position: (bits & 8 != 0).then_some(77),
                    limit: 50,
                    now: 1_000,
                };
                let (sql, args) = list_statement(crate::store::Dialect::Sqlite, &query).unwrap();
                assert_eq!(sql.matches('?').count(), args.len(), "{sql}");
                let mut statement = connection
                    .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .unwrap();
                let values = args.iter().map(|arg| match *arg {
                    ListArg::Int(value) => rusqlite::types::Value::Integer(value),
                    ListArg::Text(value) => rusqlite::types::Value::Text(value.to_owned()),
                });
                let plan: Vec<String> = statement
                    .query_map(rusqlite::params_from_iter(values), |row| {
                        row.get::<_, String>(3)
                    })
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                let plan = plan.join("; ");
                assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
                assert!(!plan.contains("SCAN chain_contracts"), "{sql}: {plan}");
                let equality = query.filters.sender.is_some()
                    || query.filters.recipient.is_some()
                    || query.filters.source.is_some()
                    || matches!(
                        status,
                        Some(StreamStatus::Active | StreamStatus::Paused | StreamStatus::Cancelled)
                    );
                if equality {
                    assert!(plan.contains("streams USING INDEX"), "{sql}: {plan}");
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 80);
    }

    /// The direct readers read columns by their place in [`STREAM_COLUMN_NAMES`]: both SELECT
    /// lists must name exactly those columns, in that order (amounts as text).
    #[test]
    fn the_stream_selects_list_the_columns_in_order() {
        for select in [STREAM_COLUMNS.to_string(), SELECT_STREAM.to_string()] {
            let listed: Vec<&str> = select
                .trim_start_matches("SELECT ")
                .rsplit_once(" FROM streams")
                .map_or(select.as_str(), |(list, _)| list)
                .split(", ")
                .map(|column| column.rsplit(" AS ").next().unwrap_or(column))
                .collect();
            assert_eq!(listed, STREAM_COLUMN_NAMES);
        }
        assert!(SELECT_STREAM.starts_with(&format!("SELECT {STREAM_COLUMNS} FROM")));
        assert!(SELECT_STREAM.ends_with(" FROM streams WHERE id = $1"));
        assert_eq!(
            crate::store::Dialect::Sqlite.sql(SELECT_STREAM),
            format!(
                "SELECT {} FROM streams WHERE id = $1",
                STREAM_COLUMN_NAMES
                    .iter()
                    .map(|c| if c.ends_with("amount") || *c == "rate_per_second" {
                        format!("{c} AS {c}")
                    } else if *c == "chain_token_contract_id" {
                        format!(
                            "(SELECT token_contract_id FROM chain_contracts \
                             WHERE chain_contracts.contract_id = streams.chain_contract_id) \
                             AS {c}"
                        )
                    } else {
                        (*c).to_string()
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        );
    }
}
