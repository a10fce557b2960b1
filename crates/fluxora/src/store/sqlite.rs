//! The embedded SQLite implementation of [`Store`] (the zero set-up default, design §3).
//!
//! Durability: WAL journal with `synchronous = FULL`, so a transaction is on disk (the WAL is
//! fsynced) before the commit returns and a 201 never refers to data a power cut could lose.
//! `NORMAL` would be faster but may roll back the last commits after an OS crash or power loss.
//! Writers wait up to `busy_timeout` (5 s) for the single write lock.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{
    ClaimOutcome, IdempotencyCompletion, IdempotencyRecord, Store, StoreError, StreamPage,
    StreamPageQuery,
};
use crate::address::StellarAddress;
use crate::amount::Amount;
use crate::config::DatabaseConfig;
use crate::streams::{ChainRef, Stream, StreamSource, StreamStatus};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const STREAM_COLUMNS: &str = "position, id, sender, recipient, deposit_amount, rate_per_second, \
     start_time, cliff_time, end_time, status, withdrawn_amount, checkpoint_amount, checkpoint_at, \
     cancelled_at, source, chain_contract_id, chain_stream_id, chain_created_ledger, chain_tx_hash, \
     chain_closed, created_at, updated_at, version";

/// SQLite store over a sqlx connection pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens the database `config.url` names (`sqlite://PATH`, created if missing, or
    /// `sqlite::memory:`), in WAL mode with `synchronous = FULL`.
    ///
    /// Errors: [`StoreError`] when the file cannot be opened or created.
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, StoreError> {
        let in_memory = config.url.contains(":memory:") || config.url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(&config.url)
            .map_err(StoreError::from_sqlx)?
            .create_if_missing(true)
            .journal_mode(if in_memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // An in-memory database exists per connection: keep exactly one, forever.
        let pool_options = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(config.max_connections)
        };
        let pool = pool_options
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(Self { pool })
    }

    /// Applies the embedded migrations (`migrations/sqlite`). Idempotent.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }
}

fn db(error: sqlx::Error) -> StoreError {
    StoreError::from_sqlx(error)
}

fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} exceeds i64")))
}

fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} is negative")))
}

fn amount(row: &SqliteRow, column: &str) -> Result<Amount, StoreError> {
    let text: String = row.try_get(column).map_err(db)?;
    text.parse::<i128>()
        .map(Amount::from_stroops)
        .map_err(|_| StoreError::Corrupt(format!("{column} '{text}' is not an i128")))
}

fn address(row: &SqliteRow, column: &str) -> Result<StellarAddress, StoreError> {
    let text: String = row.try_get(column).map_err(db)?;
    StellarAddress::parse(&text)
        .map_err(|_| StoreError::Corrupt(format!("{column} is not a valid StrKey")))
}

fn time(row: &SqliteRow, column: &str) -> Result<u64, StoreError> {
    to_u64(row.try_get::<i64, _>(column).map_err(db)?, column)
}

fn stream_from_row(row: &SqliteRow) -> Result<Stream, StoreError> {
    let status_text: String = row.try_get("status").map_err(db)?;
    let status = StreamStatus::parse(&status_text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown status '{status_text}'")))?;
    let source_text: String = row.try_get("source").map_err(db)?;
    let source = StreamSource::parse(&source_text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown source '{source_text}'")))?;
    let cancelled_at = row
        .try_get::<Option<i64>, _>("cancelled_at")
        .map_err(db)?
        .map(|t| to_u64(t, "cancelled_at"))
        .transpose()?;
    let chain = match row
        .try_get::<Option<String>, _>("chain_contract_id")
        .map_err(db)?
    {
        None => None,
        Some(contract_id) => Some(ChainRef {
            contract_id,
            stream_id: to_u64(
                row.try_get::<Option<i64>, _>("chain_stream_id")
                    .map_err(db)?
                    .unwrap_or(0),
                "chain_stream_id",
            )?,
            created_ledger: u32::try_from(
                row.try_get::<Option<i64>, _>("chain_created_ledger")
                    .map_err(db)?
                    .unwrap_or(0),
            )
            .map_err(|_| StoreError::Corrupt("chain_created_ledger out of range".into()))?,
            tx_hash: row
                .try_get::<Option<String>, _>("chain_tx_hash")
                .map_err(db)?
                .unwrap_or_default(),
            closed: row.try_get::<bool, _>("chain_closed").map_err(db)?,
        }),
    };
    Ok(Stream {
        id: row.try_get("id").map_err(db)?,
        sender: address(row, "sender")?,
        recipient: address(row, "recipient")?,
        deposit_amount: amount(row, "deposit_amount")?,
        rate_per_second: amount(row, "rate_per_second")?,
        start_time: time(row, "start_time")?,
        cliff_time: time(row, "cliff_time")?,
        end_time: time(row, "end_time")?,
        status,
        withdrawn_amount: amount(row, "withdrawn_amount")?,
        checkpoint_amount: amount(row, "checkpoint_amount")?,
        checkpoint_at: time(row, "checkpoint_at")?,
        cancelled_at,
        source,
        chain,
        created_at: row.try_get("created_at").map_err(db)?,
        updated_at: row.try_get("updated_at").map_err(db)?,
        version: row.try_get("version").map_err(db)?,
    })
}

fn idempotency_from_row(row: &SqliteRow) -> Result<IdempotencyRecord, StoreError> {
    let state: String = row.try_get("state").map_err(db)?;
    let request_hash: Vec<u8> = row.try_get("request_hash").map_err(db)?;
    match state.as_str() {
        "in_flight" => Ok(IdempotencyRecord::InFlight { request_hash }),
        "completed" => {
            let status: i64 = row
                .try_get::<Option<i64>, _>("response_status")
                .map_err(db)?
                .unwrap_or(0);
            Ok(IdempotencyRecord::Completed {
                request_hash,
                status: u16::try_from(status)
                    .map_err(|_| StoreError::Corrupt(format!("response status {status}")))?,
                body: row
                    .try_get::<Option<Vec<u8>>, _>("response_body")
                    .map_err(db)?
                    .unwrap_or_default(),
                location: row.try_get("location").map_err(db)?,
            })
        }
        other => Err(StoreError::Corrupt(format!(
            "unknown idempotency state '{other}'"
        ))),
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn migrations_applied(&self) -> Result<bool, StoreError> {
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = 1")
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        Ok(MIGRATOR
            .iter()
            .all(|migration| applied.contains(&migration.version)))
    }

    async fn cursor_secret(&self) -> Result<Vec<u8>, StoreError> {
        let mut fresh = [0u8; 32];
        getrandom::fill(&mut fresh).map_err(|e| {
            StoreError::Corrupt(format!("no randomness for the cursor secret: {e}"))
        })?;
        sqlx::query("INSERT INTO service_meta (key, value) VALUES ('cursor_secret', ?) ON CONFLICT (key) DO NOTHING")
            .bind(fresh.as_slice())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        sqlx::query_scalar("SELECT value FROM service_meta WHERE key = 'cursor_secret'")
            .fetch_one(&self.pool)
            .await
            .map_err(db)
    }

    async fn insert_stream(
        &self,
        stream: &Stream,
        completion: Option<&IdempotencyCompletion>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let chain = stream.chain.as_ref();
        sqlx::query(
            "INSERT INTO streams (id, sender, recipient, deposit_amount, rate_per_second, start_time, \
             cliff_time, end_time, status, withdrawn_amount, checkpoint_amount, checkpoint_at, \
             cancelled_at, source, chain_contract_id, chain_stream_id, chain_created_ledger, \
             chain_tx_hash, chain_closed, created_at, updated_at, version) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&stream.id)
        .bind(stream.sender.as_str())
        .bind(stream.recipient.as_str())
        .bind(stream.deposit_amount.stroops().to_string())
        .bind(stream.rate_per_second.stroops().to_string())
        .bind(to_i64(stream.start_time, "start_time")?)
        .bind(to_i64(stream.cliff_time, "cliff_time")?)
        .bind(to_i64(stream.end_time, "end_time")?)
        .bind(stream.status.as_str())
        .bind(stream.withdrawn_amount.stroops().to_string())
        .bind(stream.checkpoint_amount.stroops().to_string())
        .bind(to_i64(stream.checkpoint_at, "checkpoint_at")?)
        .bind(
            stream
                .cancelled_at
                .map(|t| to_i64(t, "cancelled_at"))
                .transpose()?,
        )
        .bind(stream.source.as_str())
        .bind(chain.map(|c| c.contract_id.clone()))
        .bind(
            chain
                .map(|c| to_i64(c.stream_id, "chain_stream_id"))
                .transpose()?,
        )
        .bind(chain.map(|c| i64::from(c.created_ledger)))
        .bind(chain.map(|c| c.tx_hash.clone()))
        .bind(chain.is_some_and(|c| c.closed))
        .bind(stream.created_at)
        .bind(stream.updated_at)
        .bind(stream.version)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(completion) = completion {
            sqlx::query(
                "UPDATE idempotency_keys SET state = 'completed', response_status = ?, \
                 response_body = ?, location = ? WHERE key = ?",
            )
            .bind(i64::from(completion.status))
            .bind(completion.body.as_slice())
            .bind(completion.location.as_deref())
            .bind(&completion.key)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn get_stream(&self, id: &str) -> Result<Option<Stream>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {STREAM_COLUMNS} FROM streams WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(stream_from_row).transpose()
    }

    async fn update_stream(
        &self,
        stream: &Stream,
        expected_version: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE streams SET status = ?, withdrawn_amount = ?, deposit_amount = ?, \
             rate_per_second = ?, end_time = ?, checkpoint_amount = ?, checkpoint_at = ?, \
             cancelled_at = ?, chain_closed = ?, updated_at = ?, version = ? \
             WHERE id = ? AND version = ?",
        )
        .bind(stream.status.as_str())
        .bind(stream.withdrawn_amount.stroops().to_string())
        .bind(stream.deposit_amount.stroops().to_string())
        .bind(stream.rate_per_second.stroops().to_string())
        .bind(to_i64(stream.end_time, "end_time")?)
        .bind(stream.checkpoint_amount.stroops().to_string())
        .bind(to_i64(stream.checkpoint_at, "checkpoint_at")?)
        .bind(
            stream
                .cancelled_at
                .map(|t| to_i64(t, "cancelled_at"))
                .transpose()?,
        )
        .bind(stream.chain.as_ref().is_some_and(|c| c.closed))
        .bind(stream.updated_at)
        .bind(stream.version)
        .bind(&stream.id)
        .bind(expected_version)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(result.rows_affected() == 1)
    }

    async fn list_streams(&self, query: &StreamPageQuery) -> Result<StreamPage, StoreError> {
        let now = to_i64(query.now, "now")?;
        let mut sql: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {STREAM_COLUMNS} FROM streams WHERE 1 = 1"));
        if let Some(before) = query.before_position {
            sql.push(" AND position < ").push_bind(before);
        }
        let filters = &query.filters;
        if let Some(sender) = &filters.sender {
            sql.push(" AND sender = ")
                .push_bind(sender.as_str().to_string());
        }
        if let Some(recipient) = &filters.recipient {
            sql.push(" AND recipient = ")
                .push_bind(recipient.as_str().to_string());
        }
        if let Some(source) = filters.source {
            sql.push(" AND source = ").push_bind(source.as_str());
        }
        // The reported status of an API stream turns `completed` at its end time (design §5).
        match filters.status {
            None => {}
            Some(StreamStatus::Active) | Some(StreamStatus::Paused) => {
                let status = filters.status.map(StreamStatus::as_str).unwrap_or_default();
                sql.push(" AND status = ")
                    .push_bind(status)
                    .push(" AND NOT (source = 'api' AND end_time <= ")
                    .push_bind(now)
                    .push(")");
            }
            Some(StreamStatus::Completed) => {
                sql.push(" AND (status = 'completed' OR (source = 'api' AND status IN ('active', 'paused') AND end_time <= ")
                    .push_bind(now)
                    .push("))");
            }
            Some(StreamStatus::Cancelled) => {
                sql.push(" AND status = 'cancelled'");
            }
        }
        sql.push(" ORDER BY position DESC LIMIT ")
            .push_bind(i64::from(query.limit) + 1);
        let rows = sql.build().fetch_all(&self.pool).await.map_err(db)?;

        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        let has_more = rows.len() > limit;
        let mut streams = Vec::with_capacity(rows.len().min(limit));
        let mut last_position = None;
        for row in rows.iter().take(limit) {
            streams.push(stream_from_row(row)?);
            last_position = Some(row.try_get::<i64, _>("position").map_err(db)?);
        }
        Ok(StreamPage {
            streams,
            last_position,
            has_more,
        })
    }

    async fn idempotency_get(
        &self,
        key: &str,
        now: i64,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT state, request_hash, response_status, response_body, location \
             FROM idempotency_keys WHERE key = ? AND expires_at > ? \
             AND (state = 'completed' OR locked_until > ?)",
        )
        .bind(key)
        .bind(now)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(idempotency_from_row).transpose()
    }

    async fn idempotency_claim(
        &self,
        key: &str,
        request_hash: &[u8],
        now: i64,
        lock_until: i64,
        expires_at: i64,
    ) -> Result<ClaimOutcome, StoreError> {
        let claimed = sqlx::query(
            "INSERT INTO idempotency_keys (key, request_hash, state, locked_until, created_at, expires_at) \
             VALUES (?, ?, 'in_flight', ?, ?, ?) \
             ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, \
               state = 'in_flight', locked_until = excluded.locked_until, \
               created_at = excluded.created_at, expires_at = excluded.expires_at, \
               response_status = NULL, response_body = NULL, location = NULL \
             WHERE idempotency_keys.expires_at <= excluded.created_at \
                OR (idempotency_keys.state = 'in_flight' AND idempotency_keys.locked_until <= excluded.created_at)",
        )
        .bind(key)
        .bind(request_hash)
        .bind(lock_until)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if claimed.rows_affected() == 1 {
            return Ok(ClaimOutcome::Claimed);
        }
        match self.idempotency_get(key, now).await? {
            Some(record) => Ok(ClaimOutcome::Existing(record)),
            // The holder released or its record expired between the two statements: the
            // caller may retry; report it as in flight so the client retries later.
            None => Ok(ClaimOutcome::Existing(IdempotencyRecord::InFlight {
                request_hash: Vec::new(),
            })),
        }
    }

    async fn idempotency_release(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM idempotency_keys WHERE key = ? AND state = 'in_flight'")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn purge_expired_idempotency(&self, now: i64) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= ?")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(result.rows_affected())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
