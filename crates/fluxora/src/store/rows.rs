//! Row decoding shared by the SQLite and PostgreSQL stores.
//!
//! Both schemas expose the same column names; amounts are read as exact decimal text (SQLite stores
//! TEXT, PostgreSQL casts its NUMERIC columns `::text` in the SELECT), times and positions as
//! 64-bit integers. Decoding is generic over the driver's row type so the mapping exists once.

use sqlx::{ColumnIndex, Database, Decode, Encode, QueryBuilder, Row, Type};

use super::{
    ChainEventKind, IdempotencyRecord, StoreError, StoredChainEvent, StreamPage, StreamPageQuery,
};
use crate::address::StellarAddress;
use crate::amount::Amount;
use crate::streams::{ChainRef, Stream, StreamSource, StreamStatus};

/// Columns every stream SELECT returns (with driver-specific casts applied by the caller).
pub(crate) const STREAM_COLUMN_NAMES: [&str; 23] = [
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
    "created_at",
    "updated_at",
    "version",
];

/// Maps a driver error to [`StoreError`].
pub(crate) fn db(error: sqlx::Error) -> StoreError {
    StoreError::from_sqlx(error)
}

/// Stores a u64 (unix seconds, u64 ids) in a signed 64-bit column.
pub(crate) fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} exceeds i64")))
}

fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} is negative")))
}

/// Typed column access over any sqlx row whose driver decodes `String`, `i64`, `bool` and bytes.
pub(crate) trait Columns {
    fn text(&self, column: &str) -> Result<String, StoreError>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError>;
    fn flag(&self, column: &str) -> Result<bool, StoreError>;
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

/// The place of `column` in [`STREAM_COLUMN_NAMES`], which is its index in the stream SELECT
/// (`Statements::new` lists the columns in that order; both dialects' unit tests pin it).
/// Lets the direct readers index a row by position instead of searching its column names.
pub(crate) fn stream_column_index(column: &str) -> Option<usize> {
    STREAM_COLUMN_NAMES.iter().position(|name| *name == column)
}

/// Implements [`Columns`] for a direct reader's row type (`store/sqlite_reads.rs`,
/// `store/postgres_reads.rs`) through its own generic
/// `fn get<T>(&self, column: &str) -> Result<T, StoreError>`: every column kind is one `get`.
macro_rules! columns_through_get {
    ($row:ty) => {
        impl $crate::store::rows::Columns for $row {
            fn text(&self, column: &str) -> Result<String, StoreError> {
                self.get(column)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
                self.get(column)
            }
            fn int(&self, column: &str) -> Result<i64, StoreError> {
                self.get(column)
            }
            fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
                self.get(column)
            }
            fn flag(&self, column: &str) -> Result<bool, StoreError> {
                self.get(column)
            }
            fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError> {
                self.get(column)
            }
        }
    };
}
pub(crate) use columns_through_get;

impl<R> Columns for R
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, column: &str) -> Result<String, StoreError> {
        self.try_get(column).map_err(db)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        self.try_get(column).map_err(db)
    }
    fn int(&self, column: &str) -> Result<i64, StoreError> {
        self.try_get(column).map_err(db)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        self.try_get(column).map_err(db)
    }
    fn flag(&self, column: &str) -> Result<bool, StoreError> {
        self.try_get(column).map_err(db)
    }
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.try_get(column).map_err(db)
    }
}

fn amount(row: &impl Columns, column: &str) -> Result<Amount, StoreError> {
    let text = row.text(column)?;
    text.parse::<i128>()
        .map(Amount::from_stroops)
        .map_err(|_| StoreError::Corrupt(format!("{column} '{text}' is not an i128")))
}

fn address(row: &impl Columns, column: &str) -> Result<StellarAddress, StoreError> {
    StellarAddress::parse(&row.text(column)?)
        .map_err(|_| StoreError::Corrupt(format!("{column} is not a valid StrKey")))
}

fn time(row: &impl Columns, column: &str) -> Result<u64, StoreError> {
    to_u64(row.int(column)?, column)
}

/// Decodes a stream row and its list position.
pub(crate) fn stream_from_row(row: &impl Columns) -> Result<(i64, Stream), StoreError> {
    let status_text = row.text("status")?;
    let status = StreamStatus::parse(&status_text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown status '{status_text}'")))?;
    let source_text = row.text("source")?;
    let source = StreamSource::parse(&source_text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown source '{source_text}'")))?;
    let cancelled_at = row
        .opt_int("cancelled_at")?
        .map(|t| to_u64(t, "cancelled_at"))
        .transpose()?;
    let chain = match row.opt_text("chain_contract_id")? {
        None => None,
        Some(contract_id) => Some(ChainRef {
            contract_id,
            stream_id: to_u64(
                row.opt_int("chain_stream_id")?.unwrap_or(0),
                "chain_stream_id",
            )?,
            created_ledger: u32::try_from(row.opt_int("chain_created_ledger")?.unwrap_or(0))
                .map_err(|_| StoreError::Corrupt("chain_created_ledger out of range".into()))?,
            tx_hash: row.opt_text("chain_tx_hash")?.unwrap_or_default(),
            closed: row.flag("chain_closed")?,
        }),
    };
    let stream = Stream {
        id: row.text("id")?,
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
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        version: row.int("version")?,
    };
    Ok((row.int("position")?, stream))
}

/// Decodes an `idempotency_keys` row (`state`, `request_hash`, `response_status`,
/// `response_body`, `location`).
pub(crate) fn idempotency_from_row(row: &impl Columns) -> Result<IdempotencyRecord, StoreError> {
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

/// Builds the list query of [`super::Store::list_streams`] for either dialect: filters, the
/// cursor anchor, newest-first order and `limit + 1` rows (to learn whether more exist).
/// `columns` is the driver's SELECT list (with its casts).
pub(crate) fn list_query<'a, DB>(
    columns: &str,
    query: &'a StreamPageQuery,
) -> Result<QueryBuilder<'a, DB>, StoreError>
where
    DB: Database,
    i64: Encode<'a, DB> + Type<DB>,
    &'a str: Encode<'a, DB> + Type<DB>,
{
    let now = to_i64(query.now, "now")?;
    let mut sql = QueryBuilder::new(format!("SELECT {columns} FROM streams WHERE 1 = 1"));
    if let Some(before) = query.before_position {
        sql.push(" AND position < ").push_bind(before);
    }
    let filters = &query.filters;
    if let Some(sender) = &filters.sender {
        sql.push(" AND sender = ").push_bind(sender.as_str());
    }
    if let Some(recipient) = &filters.recipient {
        sql.push(" AND recipient = ").push_bind(recipient.as_str());
    }
    if let Some(source) = filters.source {
        sql.push(" AND source = ").push_bind(source.as_str());
    }
    // The reported status of an API stream turns `completed` at its end time (design §5).
    match filters.status {
        None => {}
        Some(status @ (StreamStatus::Active | StreamStatus::Paused)) => {
            sql.push(" AND status = ")
                .push_bind(status.as_str())
                .push(" AND NOT (source = 'api' AND end_time <= ")
                .push_bind(now)
                .push(")");
        }
        Some(StreamStatus::Completed) => {
            sql.push(
                " AND (status = 'completed' OR (source = 'api' AND status IN ('active', 'paused') AND end_time <= ",
            )
            .push_bind(now)
            .push("))");
        }
        Some(StreamStatus::Cancelled) => {
            sql.push(" AND status = 'cancelled'");
        }
    }
    sql.push(" ORDER BY position DESC LIMIT ")
        .push_bind(i64::from(query.limit) + 1);
    Ok(sql)
}

/// Turns the `limit + 1` rows of [`list_query`] into a page.
pub(crate) fn page_from_rows<R: Columns>(rows: &[R], limit: u32) -> Result<StreamPage, StoreError> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let has_more = rows.len() > limit;
    let mut streams = Vec::with_capacity(rows.len().min(limit));
    let mut last_position = None;
    for row in rows.iter().take(limit) {
        let (position, stream) = stream_from_row(row)?;
        streams.push(stream);
        last_position = Some(position);
    }
    Ok(StreamPage {
        streams,
        last_position,
        has_more,
    })
}

/// Binds a stream's 22 insert values, in `INSERT_COLUMNS` order, onto a sqlx query of either
/// driver (amounts as exact decimal text; the SQL casts where the column is NUMERIC).
macro_rules! bind_stream_insert {
    ($query:expr, $stream:expr) => {{
        let stream: &$crate::streams::Stream = $stream;
        let chain = stream.chain.as_ref();
        $query
            .bind(stream.id.clone())
            .bind(stream.sender.as_str().to_string())
            .bind(stream.recipient.as_str().to_string())
            .bind(stream.deposit_amount.stroops().to_string())
            .bind(stream.rate_per_second.stroops().to_string())
            .bind($crate::store::rows::to_i64(
                stream.start_time,
                "start_time",
            )?)
            .bind($crate::store::rows::to_i64(
                stream.cliff_time,
                "cliff_time",
            )?)
            .bind($crate::store::rows::to_i64(stream.end_time, "end_time")?)
            .bind(stream.status.as_str())
            .bind(stream.withdrawn_amount.stroops().to_string())
            .bind(stream.checkpoint_amount.stroops().to_string())
            .bind($crate::store::rows::to_i64(
                stream.checkpoint_at,
                "checkpoint_at",
            )?)
            .bind(
                stream
                    .cancelled_at
                    .map(|t| $crate::store::rows::to_i64(t, "cancelled_at"))
                    .transpose()?,
            )
            .bind(stream.source.as_str())
            .bind(chain.map(|c| c.contract_id.clone()))
            .bind(
                chain
                    .map(|c| $crate::store::rows::to_i64(c.stream_id, "chain_stream_id"))
                    .transpose()?,
            )
            .bind(chain.map(|c| i64::from(c.created_ledger)))
            .bind(chain.map(|c| c.tx_hash.clone()))
            .bind(chain.is_some_and(|c| c.closed))
            .bind(stream.created_at)
            .bind(stream.updated_at)
            .bind(stream.version)
    }};
}
pub(crate) use bind_stream_insert;

/// Binds the 13 values of the optimistic-concurrency UPDATE (mutable state, then `id` and the
/// expected version), in `UPDATE_SQL` order.
macro_rules! bind_stream_update {
    ($query:expr, $stream:expr, $expected_version:expr) => {{
        let stream: &$crate::streams::Stream = $stream;
        $query
            .bind(stream.status.as_str())
            .bind(stream.withdrawn_amount.stroops().to_string())
            .bind(stream.deposit_amount.stroops().to_string())
            .bind(stream.rate_per_second.stroops().to_string())
            .bind($crate::store::rows::to_i64(stream.end_time, "end_time")?)
            .bind(stream.checkpoint_amount.stroops().to_string())
            .bind($crate::store::rows::to_i64(
                stream.checkpoint_at,
                "checkpoint_at",
            )?)
            .bind(
                stream
                    .cancelled_at
                    .map(|t| $crate::store::rows::to_i64(t, "cancelled_at"))
                    .transpose()?,
            )
            .bind(stream.chain.as_ref().is_some_and(|c| c.closed))
            .bind(stream.updated_at)
            .bind(stream.version)
            .bind(stream.id.clone())
            .bind($expected_version)
    }};
}
pub(crate) use bind_stream_update;

/// The stream columns written by an insert, in bind order.
pub(crate) const INSERT_COLUMNS: &str = "id, sender, recipient, deposit_amount, rate_per_second, \
     start_time, cliff_time, end_time, status, withdrawn_amount, checkpoint_amount, checkpoint_at, \
     cancelled_at, source, chain_contract_id, chain_stream_id, chain_created_ledger, chain_tx_hash, \
     chain_closed, created_at, updated_at, version";

/// Columns of `chain_events`, in insert order.
pub(crate) const CHAIN_EVENT_COLUMNS: &str = "id, ledger, ledger_hash, ledger_closed_at, \
     contract_id, tx_hash, name, stream_id, kind, topic, value, error, ingested_at";

/// Decodes a `chain_events` row.
pub(crate) fn chain_event_from_row(row: &impl Columns) -> Result<StoredChainEvent, StoreError> {
    let kind_text = row.text("kind")?;
    let kind = ChainEventKind::parse(&kind_text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown chain event kind '{kind_text}'")))?;
    let topic_text = row.text("topic")?;
    let topic: Vec<String> = serde_json::from_str(&topic_text)
        .map_err(|_| StoreError::Corrupt("chain event topic is not a JSON array".into()))?;
    Ok(StoredChainEvent {
        id: row.text("id")?,
        ledger: u32::try_from(row.int("ledger")?)
            .map_err(|_| StoreError::Corrupt("chain event ledger out of range".into()))?,
        ledger_hash: row.opt_text("ledger_hash")?,
        ledger_closed_at: time(row, "ledger_closed_at")?,
        contract_id: row.text("contract_id")?,
        tx_hash: row.text("tx_hash")?,
        name: row.text("name")?,
        stream_id: row
            .opt_int("stream_id")?
            .map(|id| to_u64(id, "stream_id"))
            .transpose()?,
        kind,
        topic,
        value: row.text("value")?,
        error: row.opt_text("error")?,
        ingested_at: row.int("ingested_at")?,
    })
}

/// Decodes a `(sequence, hash)` row of `chain_ledgers`.
pub(crate) fn ledger_from_row(row: &impl Columns) -> Result<(u32, String), StoreError> {
    let sequence = u32::try_from(row.int("sequence")?)
        .map_err(|_| StoreError::Corrupt("ledger sequence out of range".into()))?;
    Ok((sequence, row.text("hash")?))
}

/// Decodes the `indexer_state` row.
pub(crate) fn checkpoint_from_row(
    row: &impl Columns,
) -> Result<super::IndexerCheckpoint, StoreError> {
    let ledger = |column: &str| -> Result<Option<u32>, StoreError> {
        row.opt_int(column)?
            .map(|v| {
                u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{column} out of range")))
            })
            .transpose()
    };
    Ok(super::IndexerCheckpoint {
        cursor: row.opt_text("cursor")?,
        last_ingested_ledger: ledger("last_ingested_ledger")?,
        last_safe_ledger: ledger("last_safe_ledger")?,
    })
}

/// Binds a chain event's 13 values in [`CHAIN_EVENT_COLUMNS`] order.
macro_rules! bind_chain_event {
    ($query:expr, $event:expr) => {{
        let event: &$crate::store::StoredChainEvent = $event;
        $query
            .bind(event.id.clone())
            .bind(i64::from(event.ledger))
            .bind(event.ledger_hash.clone())
            .bind($crate::store::rows::to_i64(
                event.ledger_closed_at,
                "ledger_closed_at",
            )?)
            .bind(event.contract_id.clone())
            .bind(event.tx_hash.clone())
            .bind(event.name.clone())
            .bind(
                event
                    .stream_id
                    .map(|id| $crate::store::rows::to_i64(id, "stream_id"))
                    .transpose()?,
            )
            .bind(event.kind.as_str())
            .bind(serde_json::to_string(&event.topic).unwrap_or_else(|_| "[]".to_string()))
            .bind(event.value.clone())
            .bind(event.error.clone())
            .bind(event.ingested_at)
    }};
}
pub(crate) use bind_chain_event;

/// Columns of `webhook_endpoints`.
pub(crate) const ENDPOINT_COLUMNS: &str = "id, url, description, event_types, enabled, secret, \
     previous_secret, previous_secret_until, consecutive_failures, disabled_reason, created_at, \
     updated_at";

/// Decodes a `webhook_endpoints` row.
pub(crate) fn endpoint_from_row(
    row: &impl Columns,
) -> Result<crate::webhooks::Endpoint, StoreError> {
    use crate::config::Secret;
    let types_text = row.text("event_types")?;
    let event_types: Vec<String> = serde_json::from_str(&types_text)
        .map_err(|_| StoreError::Corrupt("endpoint event_types is not a JSON array".into()))?;
    Ok(crate::webhooks::Endpoint {
        id: row.text("id")?,
        url: row.text("url")?,
        description: row.opt_text("description")?,
        event_types,
        enabled: row.flag("enabled")?,
        secret: Secret::new(row.text("secret")?),
        previous_secret: row.opt_text("previous_secret")?.map(Secret::new),
        previous_secret_until: row.opt_int("previous_secret_until")?,
        consecutive_failures: u32::try_from(row.int("consecutive_failures")?).unwrap_or(u32::MAX),
        disabled_reason: row.opt_text("disabled_reason")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

/// Columns of a delivery as listed.
pub(crate) const DELIVERY_COLUMNS: &str = "position, id, event_id, endpoint_id, event_type, \
     status, attempts, next_attempt_at, last_status, last_error, created_at, delivered_at";

/// Decodes a `webhook_deliveries` row and its position.
pub(crate) fn delivery_from_row(
    row: &impl Columns,
) -> Result<(i64, crate::webhooks::Delivery), StoreError> {
    use crate::clock::format_millis;
    use crate::webhooks::DeliveryStatus;
    let status_text = row.text("status")?;
    let status = DeliveryStatus::parse(&status_text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown delivery status '{status_text}'")))?;
    let next_attempt_at = row.int("next_attempt_at")?;
    Ok((
        row.int("position")?,
        crate::webhooks::Delivery {
            id: row.text("id")?,
            event_id: row.text("event_id")?,
            endpoint_id: row.text("endpoint_id")?,
            event_type: row.text("event_type")?,
            status,
            attempts: u32::try_from(row.int("attempts")?).unwrap_or(u32::MAX),
            next_attempt_at,
            next_attempt_at_iso: (status == DeliveryStatus::Pending)
                .then(|| format_millis(next_attempt_at)),
            last_status: row
                .opt_int("last_status")?
                .and_then(|s| u16::try_from(s).ok()),
            last_error: row.opt_text("last_error")?,
            created_at: format_millis(row.int("created_at")?),
            delivered_at: row.opt_int("delivered_at")?.map(format_millis),
        },
    ))
}

/// Decodes a `webhook_attempts` row.
pub(crate) fn attempt_from_row(row: &impl Columns) -> Result<crate::webhooks::Attempt, StoreError> {
    Ok(crate::webhooks::Attempt {
        attempt: u32::try_from(row.int("attempt")?).unwrap_or(u32::MAX),
        attempted_at: crate::clock::format_millis(row.int("attempted_at")?),
        status_code: row
            .opt_int("status_code")?
            .and_then(|s| u16::try_from(s).ok()),
        latency_ms: u64::try_from(row.int("latency_ms")?).unwrap_or(0),
        error: row.opt_text("error")?,
        response_body: row.opt_text("response_body")?,
    })
}

/// Columns of `api_keys`.
pub(crate) const API_KEY_COLUMNS: &str =
    "id, name, prefix, key_hash, scopes, created_at, revoked_at";

/// Decodes an `api_keys` row (scopes are a JSON array of scope names).
pub(crate) fn api_key_from_row(
    row: &impl Columns,
) -> Result<crate::apikeys::ApiKeyRecord, StoreError> {
    use crate::apikeys::Scope;
    let scopes_text = row.text("scopes")?;
    let names: Vec<String> = serde_json::from_str(&scopes_text)
        .map_err(|_| StoreError::Corrupt("api key scopes is not a JSON array".into()))?;
    let scopes = names
        .iter()
        .map(|name| {
            Scope::parse(name)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown api key scope '{name}'")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::apikeys::ApiKeyRecord {
        id: row.text("id")?,
        name: row.text("name")?,
        prefix: row.text("prefix")?,
        key_hash: row.text("key_hash")?,
        scopes,
        created_at: row.int("created_at")?,
        revoked_at: row.opt_int("revoked_at")?,
    })
}
