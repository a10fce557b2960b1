//! The SQL both stores run, written once.
//!
//! Statements are templates in one dialect-neutral form: `?` marks a parameter and `?a` an amount
//! parameter. [`Statements::new`] renders them for a driver: SQLite keeps `?` (amounts are TEXT),
//! PostgreSQL numbers them `$1, $2, …` and casts amounts `::numeric` (its columns are
//! NUMERIC(39, 0)) and back `::text` when reading. [`impl_sql_store!`] then implements
//! [`super::Store`] once for both pool types.

use super::rows::{
    API_KEY_COLUMNS, DELIVERY_COLUMNS, ENDPOINT_COLUMNS, INSERT_COLUMNS, STREAM_COLUMN_NAMES,
};

/// Which SQL dialect to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SqlDialect {
    Sqlite,
    Postgres,
}

/// Amount columns: stored as TEXT in SQLite and NUMERIC in PostgreSQL.
const AMOUNT_COLUMNS: [&str; 4] = [
    "deposit_amount",
    "rate_per_second",
    "withdrawn_amount",
    "checkpoint_amount",
];

/// Every statement of the store, rendered for one dialect.
#[derive(Debug, Clone)]
pub(crate) struct Statements {
    pub(crate) dialect: SqlDialect,
    pub(crate) stream_columns: String,
    pub(crate) select_stream: String,
    pub(crate) insert_stream: String,
    pub(crate) update_stream: String,
    pub(crate) complete_idempotency: String,
    pub(crate) get_idempotency: String,
    pub(crate) claim_idempotency: String,
    pub(crate) release_idempotency: String,
    pub(crate) purge_idempotency: String,
    pub(crate) insert_cursor_secret: String,
    pub(crate) chain_streams_touched_from: String,
    pub(crate) rollback_events: String,
    pub(crate) rollback_ledgers: String,
    pub(crate) latest_ledgers: String,
    pub(crate) get_checkpoint: String,
    pub(crate) put_checkpoint: String,
    pub(crate) insert_event: String,
    pub(crate) insert_deliveries: String,
    pub(crate) insert_delivery_for: String,
    pub(crate) insert_endpoint: String,
    pub(crate) select_endpoints: String,
    pub(crate) select_endpoint: String,
    pub(crate) update_endpoint: String,
    pub(crate) delete_endpoint_deliveries: String,
    pub(crate) delete_endpoint: String,
    pub(crate) claim_deliveries: String,
    pub(crate) select_claimed: String,
    pub(crate) endpoint_succeeded: String,
    pub(crate) endpoint_failed: String,
    pub(crate) release_delivery: String,
    pub(crate) select_delivery: String,
    pub(crate) select_attempts: String,
    pub(crate) replay_delivery: String,
    pub(crate) replay_dead: String,
    pub(crate) drop_held_events: String,
    pub(crate) release_held_deliveries: String,
    pub(crate) mark_released: String,
    pub(crate) any_enabled_endpoint: String,
    pub(crate) insert_api_key: String,
    pub(crate) select_api_keys: String,
    pub(crate) select_active_api_keys: String,
    pub(crate) select_api_key: String,
    pub(crate) revoke_api_key: String,
}

/// Start of an `INSERT … SELECT` of one pending delivery per (outbox event `e`, matching
/// enabled endpoint `w`): the three binds that follow are `next_attempt_at`, `created_at` and
/// `updated_at` (unix ms), then [`DELIVERIES_OF_EVENTS_FROM`] and a `WHERE` on `e`. The delivery
/// id is derived from (event, endpoint), so it is stable and unique.
pub(crate) const DELIVERIES_OF_EVENTS_HEAD: &str =
    "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, event_type, status, attempts, \
       next_attempt_at, created_at, updated_at) \
     SELECT 'dlv_' || substr(e.id, 5) || '_' || substr(w.id, 5), e.id, w.id, e.type, 'pending', 0, ";

/// The join of [`DELIVERIES_OF_EVENTS_HEAD`]: endpoints that are enabled and whose filter is
/// empty or names the event's type (the same rule as an API event's deliveries).
pub(crate) const DELIVERIES_OF_EVENTS_FROM: &str = " FROM webhook_events e \
     JOIN webhook_endpoints w ON w.enabled \
       AND (w.event_types = '[]' OR w.event_types LIKE '%\"' || e.type || '\"%')";

impl Statements {
    pub(crate) fn new(dialect: SqlDialect) -> Self {
        let render = |template: &str| render(template, dialect);
        let stream_columns = STREAM_COLUMN_NAMES
            .iter()
            .map(|column| match dialect {
                SqlDialect::Postgres if AMOUNT_COLUMNS.contains(column) => {
                    format!("{column}::text AS {column}")
                }
                _ => (*column).to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        Self {
            dialect,
            select_stream: render(&format!(
                "SELECT {stream_columns} FROM streams WHERE id = ?"
            )),
            insert_stream: render(&format!(
                "INSERT INTO streams ({INSERT_COLUMNS}) \
                 VALUES (?, ?, ?, ?a, ?a, ?, ?, ?, ?, ?a, ?a, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            update_stream: render(
                "UPDATE streams SET status = ?, withdrawn_amount = ?a, deposit_amount = ?a, \
                 rate_per_second = ?a, end_time = ?, checkpoint_amount = ?a, checkpoint_at = ?, \
                 cancelled_at = ?, chain_closed = ?, updated_at = ?, version = ? \
                 WHERE id = ? AND version = ?",
            ),
            complete_idempotency: render(
                "UPDATE idempotency_keys SET state = 'completed', response_status = ?, \
                 response_body = ?, location = ? WHERE key = ?",
            ),
            get_idempotency: render(
                "SELECT state, request_hash, response_status, response_body, location \
                 FROM idempotency_keys WHERE key = ? AND expires_at > ? \
                 AND (state = 'completed' OR locked_until > ?)",
            ),
            claim_idempotency: render(
                "INSERT INTO idempotency_keys \
                   (key, request_hash, state, locked_until, created_at, expires_at) \
                 VALUES (?, ?, 'in_flight', ?, ?, ?) \
                 ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, \
                   state = 'in_flight', locked_until = excluded.locked_until, \
                   created_at = excluded.created_at, expires_at = excluded.expires_at, \
                   response_status = NULL, response_body = NULL, location = NULL \
                 WHERE idempotency_keys.expires_at <= excluded.created_at \
                    OR (idempotency_keys.state = 'in_flight' \
                        AND idempotency_keys.locked_until <= excluded.created_at)",
            ),
            release_idempotency: render(
                "DELETE FROM idempotency_keys WHERE key = ? AND state = 'in_flight'",
            ),
            purge_idempotency: render("DELETE FROM idempotency_keys WHERE expires_at <= ?"),
            insert_cursor_secret: render(
                "INSERT INTO service_meta (key, value) VALUES ('cursor_secret', ?) \
                 ON CONFLICT (key) DO NOTHING",
            ),
            chain_streams_touched_from: render(
                // No DISTINCT (deduplicated by the caller): with it SQLite walks the whole
                // (contract_id, stream_id) index instead of the ledger range.
                "SELECT contract_id, stream_id FROM chain_events \
                 WHERE ledger >= ? AND stream_id IS NOT NULL",
            ),
            rollback_events: render("DELETE FROM chain_events WHERE ledger >= ?"),
            rollback_ledgers: render("DELETE FROM chain_ledgers WHERE sequence >= ?"),
            latest_ledgers: render(
                "SELECT sequence, hash FROM chain_ledgers ORDER BY sequence DESC LIMIT ?",
            ),
            get_checkpoint: render(
                "SELECT cursor, last_ingested_ledger, last_safe_ledger FROM indexer_state \
                 WHERE id = 1",
            ),
            put_checkpoint: render(
                "INSERT INTO indexer_state \
                   (id, cursor, last_ingested_ledger, last_safe_ledger, updated_at) \
                 VALUES (1, ?, ?, ?, ?) \
                 ON CONFLICT (id) DO UPDATE SET cursor = excluded.cursor, \
                   last_ingested_ledger = excluded.last_ingested_ledger, \
                   last_safe_ledger = excluded.last_safe_ledger, \
                   updated_at = excluded.updated_at",
            ),
            insert_event: render(
                "INSERT INTO webhook_events (id, type, stream_id, data, created_at) \
                 VALUES (?, ?, ?, ?, ?)",
            ),
            // One delivery per enabled endpoint whose filter is empty or names the type; the
            // delivery id is derived from (event, endpoint), so it is stable and unique.
            insert_deliveries: render(
                "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, event_type, status, \
                   attempts, next_attempt_at, created_at, updated_at) \
                 SELECT 'dlv_' || ? || '_' || substr(id, 5), ?, id, ?, 'pending', 0, ?, ?, ? \
                 FROM webhook_endpoints \
                 WHERE enabled AND (event_types = '[]' OR event_types LIKE ?)",
            ),
            insert_delivery_for: render(
                "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, event_type, status, \
                   attempts, next_attempt_at, created_at, updated_at) \
                 SELECT 'dlv_' || ? || '_' || substr(id, 5), ?, id, ?, 'pending', 0, ?, ?, ? \
                 FROM webhook_endpoints WHERE id = ?",
            ),
            insert_endpoint: render(
                "INSERT INTO webhook_endpoints (url, description, event_types, enabled, secret, \
                   previous_secret, previous_secret_until, consecutive_failures, disabled_reason, \
                   updated_at, created_at, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ),
            select_endpoints: render(&format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id"
            )),
            select_endpoint: render(&format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?"
            )),
            update_endpoint: render(
                "UPDATE webhook_endpoints SET url = ?, description = ?, event_types = ?, \
                 enabled = ?, secret = ?, previous_secret = ?, previous_secret_until = ?, \
                 consecutive_failures = ?, disabled_reason = ?, updated_at = ? WHERE id = ?",
            ),
            delete_endpoint_deliveries: render(
                "DELETE FROM webhook_deliveries WHERE endpoint_id = ? AND status = 'pending'",
            ),
            delete_endpoint: render("DELETE FROM webhook_endpoints WHERE id = ?"),
            claim_deliveries: render(&format!(
                "UPDATE webhook_deliveries SET lease_until = ? WHERE id IN (\
                   SELECT id FROM webhook_deliveries \
                   WHERE status = 'pending' AND next_attempt_at <= ? \
                     AND (lease_until IS NULL OR lease_until <= ?) \
                   ORDER BY next_attempt_at LIMIT ?{}) RETURNING id",
                match dialect {
                    SqlDialect::Postgres => " FOR UPDATE SKIP LOCKED",
                    SqlDialect::Sqlite => "",
                }
            )),
            select_claimed: format!(
                "SELECT d.id AS delivery_id, d.attempts, e.id AS event_id, e.type AS event_type, \
                   e.created_at AS event_created_at, e.data, {} \
                 FROM webhook_deliveries d \
                 JOIN webhook_events e ON e.id = d.event_id \
                 JOIN webhook_endpoints w ON w.id = d.endpoint_id \
                 WHERE d.id IN (",
                ENDPOINT_COLUMNS
                    .split(", ")
                    .map(|c| format!("w.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            endpoint_succeeded: render(
                "UPDATE webhook_endpoints SET consecutive_failures = 0 \
                 WHERE id = ? AND consecutive_failures <> 0",
            ),
            endpoint_failed: render(
                "UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + 1, \
                   enabled = CASE WHEN consecutive_failures + 1 >= ? THEN FALSE ELSE enabled END, \
                   disabled_reason = CASE WHEN consecutive_failures + 1 >= ? \
                     THEN 'disabled after ' || (consecutive_failures + 1) || ' consecutive deliveries failed' \
                     ELSE disabled_reason END \
                 WHERE id = ?",
            ),
            release_delivery: render(
                "UPDATE webhook_deliveries SET lease_until = NULL WHERE id = ?",
            ),
            select_delivery: render(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?"
            )),
            select_attempts: render(
                "SELECT attempt, attempted_at, status_code, latency_ms, error, response_body \
                 FROM webhook_attempts WHERE delivery_id = ? ORDER BY attempt",
            ),
            replay_delivery: render(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, \
                   lease_until = NULL, updated_at = ? WHERE id = ?",
            ),
            replay_dead: render(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, \
                   lease_until = NULL, updated_at = ? WHERE endpoint_id = ? AND status = 'dead'",
            ),
            drop_held_events: render(
                "DELETE FROM webhook_events WHERE held = TRUE AND release_ledger >= ?",
            ),
            release_held_deliveries: render(&format!(
                "{DELIVERIES_OF_EVENTS_HEAD}?, ?, ?{DELIVERIES_OF_EVENTS_FROM} \
                 WHERE e.held = TRUE AND e.release_ledger <= ?"
            )),
            mark_released: render(
                "UPDATE webhook_events SET held = FALSE WHERE held = TRUE AND release_ledger <= ?",
            ),
            any_enabled_endpoint: render(
                "SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled) AS any_enabled",
            ),
            insert_api_key: render(&format!(
                "INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
            )),
            select_api_keys: render(&format!(
                "SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
            )),
            select_active_api_keys: render(&format!(
                "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE revoked_at IS NULL"
            )),
            select_api_key: render(&format!(
                "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = ?"
            )),
            // The first revocation time is kept: revoking twice changes nothing.
            revoke_api_key: render(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            ),
            stream_columns,
        }
    }
}

/// Rows per multi-row statement (`INSERT … VALUES`, `UPDATE … FROM (VALUES …)`, `IN (…)`): at
/// most 22 parameters a row, so at most 11 000 parameters, under SQLite's 32 766 and
/// PostgreSQL's 65 535. Such statements' text varies with the row count, so only full chunks
/// (one text per statement kind) are prepared once and kept in sqlx's per-connection statement
/// cache; shorter ones run with `persistent(false)`, since caching every size would evict the
/// hot statements.
pub(crate) const ROWS_PER_INSERT: usize = 500;

impl Statements {
    /// `{head} VALUES {row}, {row}, … {tail}` with `rows` copies of the `row` template, rendered
    /// for the dialect: one statement (one round trip) for many rows.
    pub(crate) fn values(&self, head: &str, row: &str, rows: usize, tail: &str) -> String {
        let mut template = String::with_capacity(head.len() + tail.len() + rows * (row.len() + 2));
        template.push_str(head);
        template.push_str(" VALUES ");
        for i in 0..rows {
            if i > 0 {
                template.push_str(", ");
            }
            template.push_str(row);
        }
        template.push(' ');
        template.push_str(tail);
        render(&template, self.dialect)
    }
}

impl Statements {
    /// `{head} {term} OR {term} OR …` with `rows` copies of the `term` template, rendered for the
    /// dialect.
    pub(crate) fn any_of(&self, head: &str, term: &str, rows: usize) -> String {
        let mut template = String::with_capacity(head.len() + rows * (term.len() + 4));
        template.push_str(head);
        for i in 0..rows {
            template.push_str(if i == 0 { " " } else { " OR " });
            template.push_str(term);
        }
        render(&template, self.dialect)
    }
}

/// Renders a template's `?` / `?a` markers for `dialect`.
fn render(template: &str, dialect: SqlDialect) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut number = 0;
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '?' {
            out.push(c);
            continue;
        }
        let amount = chars.peek() == Some(&'a');
        if amount {
            chars.next();
        }
        number += 1;
        match dialect {
            SqlDialect::Sqlite => out.push('?'),
            SqlDialect::Postgres => {
                out.push('$');
                out.push_str(&number.to_string());
                if amount {
                    out.push_str("::numeric");
                }
            }
        }
    }
    out
}

/// Binds an endpoint's mutable fields, in the order both `insert_endpoint` and
/// `update_endpoint` list them (url … updated_at).
macro_rules! bind_endpoint {
    ($query:expr, $endpoint:expr) => {{
        let endpoint: &$crate::webhooks::Endpoint = $endpoint;
        $query
            .bind(endpoint.url.clone())
            .bind(endpoint.description.clone())
            .bind(serde_json::to_string(&endpoint.event_types).unwrap_or_else(|_| "[]".into()))
            .bind(endpoint.enabled)
            .bind(endpoint.secret.expose().to_string())
            .bind(
                endpoint
                    .previous_secret
                    .as_ref()
                    .map(|s| s.expose().to_string()),
            )
            .bind(endpoint.previous_secret_until)
            .bind(i64::from(endpoint.consecutive_failures))
            .bind(endpoint.disabled_reason.clone())
            .bind(endpoint.updated_at)
    }};
}
pub(crate) use bind_endpoint;

/// Writes an outbox event and its deliveries inside a transaction (`$exec`), for every matching
/// enabled endpoint, or for one endpoint whatever its filter.
macro_rules! enqueue_in {
    ($store:expr, $exec:expr, $event:expr, $only:expr) => {{
        let event: &$crate::webhooks::OutboxEvent = $event;
        let only: Option<&str> = $only;
        sqlx::query(&$store.sql.insert_event)
            .bind(event.id.clone())
            .bind(event.event_type.clone())
            .bind(event.stream_id.clone())
            .bind(event.data.get())
            .bind(event.created_at)
            .execute(&mut *$exec)
            .await
            .map_err(db)?;
        let suffix = event.id.trim_start_matches("evt_").to_string();
        match only {
            None => {
                sqlx::query(&$store.sql.insert_deliveries)
                    .bind(suffix)
                    .bind(event.id.clone())
                    .bind(event.event_type.clone())
                    .bind(event.created_at)
                    .bind(event.created_at)
                    .bind(event.created_at)
                    .bind(format!("%\"{}\"%", event.event_type))
                    .execute(&mut *$exec)
                    .await
                    .map_err(db)?;
            }
            Some(endpoint_id) => {
                sqlx::query(&$store.sql.insert_delivery_for)
                    .bind(suffix)
                    .bind(event.id.clone())
                    .bind(event.event_type.clone())
                    .bind(event.created_at)
                    .bind(event.created_at)
                    .bind(event.created_at)
                    .bind(endpoint_id.to_string())
                    .execute(&mut *$exec)
                    .await
                    .map_err(db)?;
            }
        }
    }};
}
pub(crate) use enqueue_in;

/// Implements [`super::Store`] for a store type with fields `pool` (a sqlx pool of `$db`) and
/// `sql` ([`Statements`]), plus a `migrator()` function, so both drivers share one body.
macro_rules! impl_sql_store {
    ($store:ty, $db:ty, $backend:literal) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            fn backend(&self) -> &'static str {
                $backend
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
                    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db)?;
                Ok(migrator()
                    .iter()
                    .all(|migration| applied.contains(&migration.version)))
            }

            fn pool_stats(&self) -> $crate::store::PoolStats {
                $crate::store::PoolStats {
                    size: self.pool.size(),
                    idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
                    max: self.pool.options().get_max_connections(),
                }
            }

            async fn delivery_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT status, COUNT(*) FROM webhook_deliveries \
                     WHERE status IN ('pending', 'dead') GROUP BY status",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
                Ok(rows
                    .into_iter()
                    .map(|(status, count)| (status, u64::try_from(count).unwrap_or(0)))
                    .collect())
            }

            async fn cursor_secret(&self) -> Result<Vec<u8>, StoreError> {
                let mut fresh = [0u8; 32];
                getrandom::fill(&mut fresh).map_err(|e| {
                    StoreError::Corrupt(format!("no randomness for the cursor secret: {e}"))
                })?;
                sqlx::query(&self.sql.insert_cursor_secret)
                    .bind(fresh.to_vec())
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
                stream: &$crate::streams::Stream,
                completion: Option<&IdempotencyCompletion>,
                event: Option<&$crate::webhooks::OutboxEvent>,
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                if let Some(event) = event {
                    enqueue_in!(self, &mut *tx, event, None::<&str>);
                }
                bind_stream_insert!(sqlx::query(&self.sql.insert_stream), stream)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                if let Some(completion) = completion {
                    sqlx::query(&self.sql.complete_idempotency)
                        .bind(i64::from(completion.status))
                        .bind(completion.body.clone())
                        .bind(completion.location.clone())
                        .bind(completion.key.clone())
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                }
                tx.commit().await.map_err(db)?;
                Ok(())
            }

            async fn get_stream(
                &self,
                id: &str,
            ) -> Result<Option<$crate::streams::Stream>, StoreError> {
                if let Some(found) = self.read_stream_direct(id).await {
                    return Ok(found);
                }
                let row = sqlx::query(&self.sql.select_stream)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db)?;
                Ok(row
                    .as_ref()
                    .map(stream_from_row)
                    .transpose()?
                    .map(|(_, stream)| stream))
            }

            async fn update_stream(
                &self,
                stream: &$crate::streams::Stream,
                expected_version: i64,
                event: Option<&$crate::webhooks::OutboxEvent>,
            ) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                let result = bind_stream_update!(
                    sqlx::query(&self.sql.update_stream),
                    stream,
                    expected_version
                )
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                if result.rows_affected() != 1 {
                    return Ok(false);
                }
                if let Some(event) = event {
                    enqueue_in!(self, &mut *tx, event, None::<&str>);
                }
                tx.commit().await.map_err(db)?;
                Ok(true)
            }

            async fn list_streams(
                &self,
                query: &StreamPageQuery,
            ) -> Result<StreamPage, StoreError> {
                let mut sql = list_query::<$db>(&self.sql.stream_columns, query)?;
                let rows = sql.build().fetch_all(&self.pool).await.map_err(db)?;
                page_from_rows(&rows, query.limit)
            }

            async fn idempotency_get(
                &self,
                key: &str,
                now: i64,
            ) -> Result<Option<IdempotencyRecord>, StoreError> {
                let row = sqlx::query(&self.sql.get_idempotency)
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
                let claimed = sqlx::query(&self.sql.claim_idempotency)
                    .bind(key)
                    .bind(request_hash.to_vec())
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
                    // The holder released, or its record expired, between the two statements:
                    // report it as in flight so the client retries.
                    None => Ok(ClaimOutcome::Existing(IdempotencyRecord::InFlight {
                        request_hash: Vec::new(),
                    })),
                }
            }

            async fn idempotency_release(&self, key: &str) -> Result<(), StoreError> {
                sqlx::query(&self.sql.release_idempotency)
                    .bind(key)
                    .execute(&self.pool)
                    .await
                    .map_err(db)?;
                Ok(())
            }

            async fn purge_expired_idempotency(&self, now: i64) -> Result<u64, StoreError> {
                let result = sqlx::query(&self.sql.purge_idempotency)
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(db)?;
                Ok(result.rows_affected())
            }

            async fn indexer_checkpoint(&self) -> Result<IndexerCheckpoint, StoreError> {
                let row = sqlx::query(&self.sql.get_checkpoint)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db)?;
                Ok(row
                    .as_ref()
                    .map(checkpoint_from_row)
                    .transpose()?
                    .unwrap_or_default())
            }

            async fn chain_ledger_hashes(
                &self,
                sequences: &[u32],
            ) -> Result<Vec<(u32, String)>, StoreError> {
                if sequences.is_empty() {
                    return Ok(Vec::new());
                }
                let mut sql = sqlx::QueryBuilder::<$db>::new(
                    "SELECT sequence, hash FROM chain_ledgers WHERE sequence IN (",
                );
                let mut list = sql.separated(", ");
                for sequence in sequences {
                    list.push_bind(i64::from(*sequence));
                }
                sql.push(") ORDER BY sequence");
                let rows = sql.build().persistent(false).fetch_all(&self.pool).await.map_err(db)?;
                rows.iter().map(ledger_from_row).collect()
            }

            async fn latest_chain_ledgers(
                &self,
                limit: u32,
            ) -> Result<Vec<(u32, String)>, StoreError> {
                let rows = sqlx::query(&self.sql.latest_ledgers)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?;
                rows.iter().map(ledger_from_row).collect()
            }

            async fn existing_chain_event_ids(
                &self,
                ids: &[String],
            ) -> Result<std::collections::HashSet<String>, StoreError> {
                if ids.is_empty() {
                    return Ok(std::collections::HashSet::new());
                }
                let mut existing = std::collections::HashSet::new();
                for chunk in ids.chunks(ROWS_PER_INSERT) {
                    let mut sql = sqlx::QueryBuilder::<$db>::new(
                        "SELECT id FROM chain_events WHERE id IN (",
                    );
                    let mut list = sql.separated(", ");
                    for id in chunk {
                        list.push_bind(id.as_str());
                    }
                    sql.push(")");
                    let rows = sql
                        .build()
                        .persistent(chunk.len() == ROWS_PER_INSERT)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db)?;
                    for row in &rows {
                        existing.insert(row.text("id")?);
                    }
                }
                Ok(existing)
            }

            async fn get_streams(
                &self,
                ids: &[String],
            ) -> Result<Vec<$crate::streams::Stream>, StoreError> {
                let mut streams = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(ROWS_PER_INSERT) {
                    let mut sql = sqlx::QueryBuilder::<$db>::new(format!(
                        "SELECT {} FROM streams WHERE id IN (",
                        self.sql.stream_columns
                    ));
                    let mut list = sql.separated(", ");
                    for id in chunk {
                        list.push_bind(id.as_str());
                    }
                    sql.push(")");
                    let rows = sql
                        .build()
                        .persistent(chunk.len() == ROWS_PER_INSERT)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db)?;
                    for row in &rows {
                        streams.push(stream_from_row(row)?.1);
                    }
                }
                Ok(streams)
            }

            async fn chain_events_of_streams(
                &self,
                contract_id: &str,
                stream_ids: &[u64],
                before_ledger: u32,
            ) -> Result<Vec<StoredChainEvent>, StoreError> {
                let mut events = Vec::new();
                for chunk in stream_ids.chunks(ROWS_PER_INSERT) {
                    let mut sql = sqlx::QueryBuilder::<$db>::new(format!(
                        "SELECT {CHAIN_EVENT_COLUMNS} FROM chain_events WHERE contract_id = "
                    ));
                    sql.push_bind(contract_id);
                    sql.push(" AND ledger < ");
                    sql.push_bind(i64::from(before_ledger));
                    sql.push(" AND stream_id IN (");
                    let mut list = sql.separated(", ");
                    for id in chunk {
                        list.push_bind($crate::store::rows::to_i64(*id, "stream_id")?);
                    }
                    sql.push(") ORDER BY id");
                    let rows = sql.build().persistent(false).fetch_all(&self.pool).await.map_err(db)?;
                    for row in &rows {
                        events.push(chain_event_from_row(row)?);
                    }
                }
                // Chunks are each in chain order; the whole must be too.
                events.sort_by(|a, b| a.id.cmp(&b.id));
                Ok(events)
            }

            async fn chain_streams_touched_from(
                &self,
                ledger: u32,
            ) -> Result<Vec<(String, u64)>, StoreError> {
                let rows = sqlx::query(&self.sql.chain_streams_touched_from)
                    .bind(i64::from(ledger))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?;
                let touched = rows
                    .iter()
                    .map(|row| {
                        let id = row.int("stream_id")?;
                        let id = u64::try_from(id)
                            .map_err(|_| StoreError::Corrupt("negative stream_id".into()))?;
                        Ok((row.text("contract_id")?, id))
                    })
                    .collect::<Result<std::collections::BTreeSet<(String, u64)>, StoreError>>()?;
                Ok(touched.into_iter().collect())
            }

            async fn commit_chain_batch(
                &self,
                batch: &ChainBatchWrite,
            ) -> Result<ChainCommit, StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                if let Some(ledger) = batch.rollback_from {
                    for statement in [&self.sql.rollback_events, &self.sql.rollback_ledgers] {
                        sqlx::query(statement)
                            .bind(i64::from(ledger))
                            .execute(&mut *tx)
                            .await
                            .map_err(db)?;
                    }
                }
                // Streams created after a fork, many rows per statement, each at the version
                // it was read at.
                for chunk in batch.deleted_streams.chunks(ROWS_PER_INSERT) {
                    // OR of (id, version) pairs: SQLite looks each up by primary key (a
                    // row-value IN list would scan the table).
                    let sql = self.sql.any_of(
                        "DELETE FROM streams WHERE",
                        "(id = ? AND version = ?)",
                        chunk.len(),
                    );
                    let mut query = sqlx::query(&sql).persistent(chunk.len() == ROWS_PER_INSERT);
                    for (id, version) in chunk {
                        query = query.bind(id.clone()).bind(*version);
                    }
                    let deleted = query.execute(&mut *tx).await.map_err(db)?;
                    if deleted.rows_affected() != chunk.len() as u64 {
                        return Ok(ChainCommit::Conflict);
                    }
                }
                // Multi-row statements: one round trip per ROWS_PER_INSERT rows. Every row must
                // be written; fewer means another writer got there first (recompute).
                for chunk in batch.events.chunks(ROWS_PER_INSERT) {
                    let sql = self.sql.values(
                        &format!("INSERT INTO chain_events ({CHAIN_EVENT_COLUMNS})"),
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        chunk.len(),
                        "ON CONFLICT (id) DO NOTHING",
                    );
                    let mut query = sqlx::query(&sql).persistent(chunk.len() == ROWS_PER_INSERT);
                    for event in chunk {
                        query = bind_chain_event!(query, event);
                    }
                    let inserted = query.execute(&mut *tx).await.map_err(db)?;
                    if inserted.rows_affected() != chunk.len() as u64 {
                        return Ok(ChainCommit::Conflict);
                    }
                }
                let new_streams: Vec<&$crate::streams::Stream> = batch
                    .streams
                    .iter()
                    .filter(|w| w.expected_version.is_none())
                    .map(|w| &w.stream)
                    .collect();
                for chunk in new_streams.chunks(ROWS_PER_INSERT) {
                    let sql = self.sql.values(
                        &format!("INSERT INTO streams ({INSERT_COLUMNS})"),
                        "(?, ?, ?, ?a, ?a, ?, ?, ?, ?, ?a, ?a, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        chunk.len(),
                        "ON CONFLICT DO NOTHING",
                    );
                    let mut query = sqlx::query(&sql).persistent(chunk.len() == ROWS_PER_INSERT);
                    for stream in chunk {
                        query = bind_stream_insert!(query, *stream);
                    }
                    let written = query.execute(&mut *tx).await.map_err(db)?;
                    if written.rows_affected() != chunk.len() as u64 {
                        return Ok(ChainCommit::Conflict);
                    }
                }
                for write in &batch.streams {
                    let Some(version) = write.expected_version else {
                        continue;
                    };
                    let written = bind_stream_update!(
                        sqlx::query(&self.sql.update_stream),
                        &write.stream,
                        version
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                    if written.rows_affected() != 1 {
                        return Ok(ChainCommit::Conflict);
                    }
                }
                for chunk in batch.ledgers.chunks(ROWS_PER_INSERT) {
                    let sql = self.sql.values(
                        "INSERT INTO chain_ledgers (sequence, hash, close_time)",
                        "(?, ?, ?)",
                        chunk.len(),
                        "ON CONFLICT (sequence) DO UPDATE SET hash = excluded.hash, \
                         close_time = excluded.close_time",
                    );
                    let mut query = sqlx::query(&sql).persistent(chunk.len() == ROWS_PER_INSERT);
                    for (sequence, hash, close_time) in chunk {
                        query = query.bind(i64::from(*sequence)).bind(hash.clone()).bind(
                            close_time
                                .map(|t| $crate::store::rows::to_i64(t, "close_time"))
                                .transpose()?,
                        );
                    }
                    query.execute(&mut *tx).await.map_err(db)?;
                }
                if let Some(ledger) = batch.rollback_from {
                    sqlx::query(&self.sql.drop_held_events)
                        .bind(i64::from(ledger))
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                }
                if batch.outbox_omitted
                    && sqlx::query(&self.sql.any_enabled_endpoint)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db)?
                        .flag("any_enabled")?
                {
                    // An endpoint appeared since the batch was computed: recompute it with the
                    // webhook events it left out.
                    return Ok(ChainCommit::Conflict);
                }
                // Webhook events of safe ledgers are written released, with their deliveries;
                // the others are held (released below by a later batch's safe ledger).
                let safe_ledger = batch.checkpoint.last_safe_ledger;
                let (released, held): (Vec<_>, Vec<_>) = batch
                    .outbox
                    .iter()
                    .partition(|(_, ledger)| safe_ledger.is_some_and(|safe| *ledger <= safe));
                for (events, held) in [(&released, false), (&held, true)] {
                    for chunk in events.chunks(ROWS_PER_INSERT) {
                        let sql = self.sql.values(
                            "INSERT INTO webhook_events (id, type, stream_id, data, created_at, \
                               release_ledger, held)",
                            if held {
                                "(?, ?, ?, ?, ?, ?, TRUE)"
                            } else {
                                "(?, ?, ?, ?, ?, ?, FALSE)"
                            },
                            chunk.len(),
                            "",
                        );
                        let mut query = sqlx::query(&sql).persistent(chunk.len() == ROWS_PER_INSERT);
                        for (event, ledger) in chunk {
                            query = query
                                .bind(event.id.clone())
                                .bind(event.event_type.clone())
                                .bind(event.stream_id.clone())
                                .bind(event.data.get())
                                .bind(event.created_at)
                                .bind(i64::from(*ledger));
                        }
                        query.execute(&mut *tx).await.map_err(db)?;
                    }
                }
                let now = $crate::clock::now_millis();
                for chunk in released.chunks(ROWS_PER_INSERT) {
                    let mut sql = sqlx::QueryBuilder::<$db>::new(DELIVERIES_OF_EVENTS_HEAD);
                    sql.push_bind(now).push(", ").push_bind(now).push(", ").push_bind(now);
                    sql.push(DELIVERIES_OF_EVENTS_FROM);
                    sql.push(" WHERE e.id IN (");
                    let mut list = sql.separated(", ");
                    for (event, _) in chunk {
                        list.push_bind(event.id.as_str());
                    }
                    sql.push(")");
                    sql.build()
                        .persistent(chunk.len() == ROWS_PER_INSERT)
                        .execute(&mut *tx).await.map_err(db)?;
                }
                if let Some(safe) = batch.checkpoint.last_safe_ledger {
                    let now = $crate::clock::now_millis();
                    sqlx::query(&self.sql.release_held_deliveries)
                        .bind(now)
                        .bind(now)
                        .bind(now)
                        .bind(i64::from(safe))
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                    sqlx::query(&self.sql.mark_released)
                        .bind(i64::from(safe))
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                }
                let checkpoint = &batch.checkpoint;
                sqlx::query(&self.sql.put_checkpoint)
                    .bind(checkpoint.cursor.clone())
                    .bind(checkpoint.last_ingested_ledger.map(i64::from))
                    .bind(checkpoint.last_safe_ledger.map(i64::from))
                    .bind($crate::clock::now_millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                tx.commit().await.map_err(db)?;
                self.after_bulk_commit();
                Ok(ChainCommit::Committed)
            }

            async fn any_enabled_endpoint(&self) -> Result<bool, StoreError> {
                sqlx::query(&self.sql.any_enabled_endpoint)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db)?
                    .flag("any_enabled")
            }

            async fn create_endpoint(
                &self,
                endpoint: &$crate::webhooks::Endpoint,
            ) -> Result<(), StoreError> {
                bind_endpoint!(sqlx::query(&self.sql.insert_endpoint), endpoint)
                    .bind(endpoint.created_at)
                    .bind(endpoint.id.clone())
                    .execute(&self.pool)
                    .await
                    .map_err(db)?;
                Ok(())
            }

            async fn list_endpoints(&self) -> Result<Vec<$crate::webhooks::Endpoint>, StoreError> {
                let rows = sqlx::query(&self.sql.select_endpoints)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?;
                rows.iter().map(endpoint_from_row).collect()
            }

            async fn get_endpoint(
                &self,
                id: &str,
            ) -> Result<Option<$crate::webhooks::Endpoint>, StoreError> {
                let row = sqlx::query(&self.sql.select_endpoint)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db)?;
                row.as_ref().map(endpoint_from_row).transpose()
            }

            async fn update_endpoint(
                &self,
                endpoint: &$crate::webhooks::Endpoint,
            ) -> Result<bool, StoreError> {
                let result = bind_endpoint!(sqlx::query(&self.sql.update_endpoint), endpoint)
                    .bind(endpoint.id.clone())
                    .execute(&self.pool)
                    .await
                    .map_err(db)?;
                Ok(result.rows_affected() == 1)
            }

            async fn delete_endpoint(&self, id: &str) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                sqlx::query(&self.sql.delete_endpoint_deliveries)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                let result = sqlx::query(&self.sql.delete_endpoint)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                tx.commit().await.map_err(db)?;
                Ok(result.rows_affected() == 1)
            }

            async fn enqueue_event(
                &self,
                event: &$crate::webhooks::OutboxEvent,
                only_endpoint: Option<&str>,
            ) -> Result<Vec<String>, StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                enqueue_in!(self, &mut *tx, event, only_endpoint);
                tx.commit().await.map_err(db)?;
                let prefix = format!("dlv_{}_", event.id.trim_start_matches("evt_"));
                let rows = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id FROM webhook_deliveries WHERE event_id = ",
                )
                .push_bind(event.id.as_str())
                .build()
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
                let ids: Result<Vec<String>, StoreError> =
                    rows.iter().map(|row| row.text("id")).collect();
                Ok(ids?
                    .into_iter()
                    .filter(|id| id.starts_with(&prefix))
                    .collect())
            }

            async fn claim_deliveries(
                &self,
                now: i64,
                lease_until: i64,
                limit: u32,
            ) -> Result<Vec<ClaimedDelivery>, StoreError> {
                let claimed = sqlx::query(&self.sql.claim_deliveries)
                    .bind(lease_until)
                    .bind(now)
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?;
                if claimed.is_empty() {
                    return Ok(Vec::new());
                }
                let ids: Vec<String> = claimed
                    .iter()
                    .map(|row| row.text("id"))
                    .collect::<Result<_, _>>()?;
                let mut sql = sqlx::QueryBuilder::<$db>::new(self.sql.select_claimed.as_str());
                let mut list = sql.separated(", ");
                for id in &ids {
                    list.push_bind(id.as_str());
                }
                sql.push(")");
                let rows = sql.build().persistent(false).fetch_all(&self.pool).await.map_err(db)?;
                rows.iter()
                    .map(|row| {
                        let data_text = row.text("data")?;
                        Ok(ClaimedDelivery {
                            delivery_id: row.text("delivery_id")?,
                            attempts: u32::try_from(row.int("attempts")?).unwrap_or(u32::MAX),
                            event_id: row.text("event_id")?,
                            event_type: row.text("event_type")?,
                            event_created_at: row.int("event_created_at")?,
                            data: serde_json::value::RawValue::from_string(data_text).map_err(|_| {
                                StoreError::Corrupt("webhook event data is not JSON".into())
                            })?,
                            endpoint: endpoint_from_row(row)?,
                        })
                    })
                    .collect()
            }

            async fn record_attempts(&self, records: &[AttemptRecord]) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                // Two multi-row statements per chunk (attempts, then deliveries) instead of two
                // per delivery: on PostgreSQL every statement is a network round trip.
                for chunk in records.chunks(ROWS_PER_INSERT) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, \
                         status_code, latency_ms, error, response_body) ",
                    );
                    insert.push_values(chunk, |mut row, record| {
                        row.push_bind(record.delivery_id.clone())
                            .push_bind(i64::from(record.attempt))
                            .push_bind(record.attempted_at)
                            .push_bind(record.status_code.map(i64::from))
                            .push_bind(i64::try_from(record.latency_ms).unwrap_or(i64::MAX))
                            .push_bind(record.error.clone())
                            .push_bind(record.response_body.clone());
                    });
                    insert.push(" ON CONFLICT (delivery_id, attempt) DO NOTHING");
                    insert.build().persistent(false).execute(&mut *tx).await.map_err(db)?;

                    // `VALUES` columns are named column1… in both SQLite and PostgreSQL.
                    let mut finish = sqlx::QueryBuilder::<$db>::new(
                        "UPDATE webhook_deliveries SET status = v.column2, attempts = v.column3, \
                         next_attempt_at = v.column4, lease_until = NULL, last_status = v.column5, \
                         last_error = v.column6, updated_at = v.column7, \
                         delivered_at = v.column8 FROM (",
                    );
                    finish.push_values(chunk, |mut row, record| {
                        let delivered =
                            record.status == $crate::webhooks::DeliveryStatus::Delivered;
                        row.push_bind(record.delivery_id.clone())
                            .push_bind(record.status.as_str())
                            .push_bind(i64::from(record.attempt))
                            .push_bind(record.next_attempt_at)
                            .push_bind(record.status_code.map(i64::from))
                            .push_bind(record.error.clone())
                            .push_bind(record.attempted_at)
                            .push_bind(delivered.then_some(record.attempted_at));
                    });
                    finish.push(") AS v WHERE webhook_deliveries.id = v.column1");
                    finish.build().persistent(false).execute(&mut *tx).await.map_err(db)?;
                }
                // Endpoints whose streak is already reset in this batch: one statement each.
                let mut reset: std::collections::HashSet<&str> = std::collections::HashSet::new();
                for record in records {
                    let ended_unsuccessfully = matches!(
                        record.status,
                        $crate::webhooks::DeliveryStatus::Failed
                            | $crate::webhooks::DeliveryStatus::Dead
                    );
                    if record.success {
                        if !reset.insert(record.endpoint_id.as_str()) {
                            continue;
                        }
                        sqlx::query(&self.sql.endpoint_succeeded)
                            .bind(record.endpoint_id.clone())
                            .execute(&mut *tx)
                            .await
                            .map_err(db)?;
                    } else if ended_unsuccessfully {
                        reset.remove(record.endpoint_id.as_str());
                        let threshold = i64::from(record.disable_after_failures);
                        sqlx::query(&self.sql.endpoint_failed)
                            .bind(threshold)
                            .bind(threshold)
                            .bind(record.endpoint_id.clone())
                            .execute(&mut *tx)
                            .await
                            .map_err(db)?;
                    }
                }
                tx.commit().await.map_err(db)?;
                Ok(())
            }

            async fn release_deliveries(&self, ids: &[String]) -> Result<(), StoreError> {
                for id in ids {
                    sqlx::query(&self.sql.release_delivery)
                        .bind(id.clone())
                        .execute(&self.pool)
                        .await
                        .map_err(db)?;
                }
                Ok(())
            }

            async fn list_deliveries(
                &self,
                query: &DeliveryQuery,
            ) -> Result<DeliveryPage, StoreError> {
                let mut sql = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} FROM webhook_deliveries WHERE 1 = 1",
                    $crate::store::rows::DELIVERY_COLUMNS
                ));
                if let Some(before) = query.before_position {
                    sql.push(" AND position < ").push_bind(before);
                }
                if let Some(status) = query.status {
                    sql.push(" AND status = ").push_bind(status.as_str());
                }
                if let Some(endpoint) = &query.endpoint_id {
                    sql.push(" AND endpoint_id = ").push_bind(endpoint.as_str());
                }
                if let Some(event_type) = &query.event_type {
                    sql.push(" AND event_type = ")
                        .push_bind(event_type.as_str());
                }
                sql.push(" ORDER BY position DESC LIMIT ")
                    .push_bind(i64::from(query.limit) + 1);
                let rows = sql.build().fetch_all(&self.pool).await.map_err(db)?;
                let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
                let has_more = rows.len() > limit;
                let mut deliveries = Vec::new();
                let mut last_position = None;
                for row in rows.iter().take(limit) {
                    let (position, delivery) = delivery_from_row(row)?;
                    deliveries.push(delivery);
                    last_position = Some(position);
                }
                Ok(DeliveryPage {
                    deliveries,
                    last_position,
                    has_more,
                })
            }

            async fn get_delivery(
                &self,
                id: &str,
            ) -> Result<
                Option<($crate::webhooks::Delivery, Vec<$crate::webhooks::Attempt>)>,
                StoreError,
            > {
                let Some(row) = sqlx::query(&self.sql.select_delivery)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db)?
                else {
                    return Ok(None);
                };
                let (_, delivery) = delivery_from_row(&row)?;
                let attempts = sqlx::query(&self.sql.select_attempts)
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?;
                let attempts = attempts
                    .iter()
                    .map(attempt_from_row)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Some((delivery, attempts)))
            }

            async fn replay_delivery(&self, id: &str, now: i64) -> Result<bool, StoreError> {
                let result = sqlx::query(&self.sql.replay_delivery)
                    .bind(now)
                    .bind(now)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(db)?;
                Ok(result.rows_affected() == 1)
            }

            async fn replay_dead_letters(
                &self,
                endpoint_id: &str,
                now: i64,
            ) -> Result<u64, StoreError> {
                let result = sqlx::query(&self.sql.replay_dead)
                    .bind(now)
                    .bind(now)
                    .bind(endpoint_id)
                    .execute(&self.pool)
                    .await
                    .map_err(db)?;
                Ok(result.rows_affected())
            }

            async fn create_api_key(
                &self,
                key: &$crate::apikeys::ApiKeyRecord,
            ) -> Result<(), StoreError> {
                let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
                sqlx::query(&self.sql.insert_api_key)
                    .bind(key.id.clone())
                    .bind(key.name.clone())
                    .bind(key.prefix.clone())
                    .bind(key.key_hash.clone())
                    .bind(serde_json::to_string(&scopes).unwrap_or_else(|_| "[]".into()))
                    .bind(key.created_at)
                    .bind(key.revoked_at)
                    .execute(&self.pool)
                    .await
                    .map_err(db)?;
                Ok(())
            }

            async fn list_api_keys(
                &self,
            ) -> Result<Vec<$crate::apikeys::ApiKeyRecord>, StoreError> {
                let rows = sqlx::query(&self.sql.select_api_keys)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?;
                rows.iter().map(api_key_from_row).collect()
            }

            async fn active_api_keys(
                &self,
            ) -> Result<Vec<$crate::apikeys::ApiKeyRecord>, StoreError> {
                let rows = sqlx::query(&self.sql.select_active_api_keys)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?;
                rows.iter().map(api_key_from_row).collect()
            }

            async fn revoke_api_key(
                &self,
                id: &str,
                now: i64,
            ) -> Result<Option<$crate::apikeys::ApiKeyRecord>, StoreError> {
                sqlx::query(&self.sql.revoke_api_key)
                    .bind(now)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(db)?;
                let row = sqlx::query(&self.sql.select_api_key)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db)?;
                row.as_ref().map(api_key_from_row).transpose()
            }

            async fn try_lead_indexer(
                &self,
            ) -> Result<Option<Box<dyn $crate::store::Leadership>>, StoreError> {
                self.lead_indexer().await
            }

            async fn close(&self) {
                self.pool.close().await;
            }
        }
    };
}
pub(crate) use impl_sql_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_per_dialect() {
        let template = "UPDATE t SET a = ?a, b = ? WHERE c = ?";
        assert_eq!(
            render(template, SqlDialect::Sqlite),
            "UPDATE t SET a = ?, b = ? WHERE c = ?"
        );
        assert_eq!(
            render(template, SqlDialect::Postgres),
            "UPDATE t SET a = $1::numeric, b = $2 WHERE c = $3"
        );
        let pg = Statements::new(SqlDialect::Postgres);
        assert!(pg
            .stream_columns
            .contains("deposit_amount::text AS deposit_amount"));
        assert!(pg.insert_stream.contains("$22"));
        assert!(!pg.insert_stream.contains('?'));
    }

    #[test]
    fn multi_row_values_number_every_row() {
        let pg = Statements::new(SqlDialect::Postgres);
        assert_eq!(
            pg.values(
                "INSERT INTO t (a, b)",
                "(?, ?a)",
                3,
                "ON CONFLICT DO NOTHING"
            ),
            "INSERT INTO t (a, b) VALUES ($1, $2::numeric), ($3, $4::numeric), \
             ($5, $6::numeric) ON CONFLICT DO NOTHING"
        );
        let sqlite = Statements::new(SqlDialect::Sqlite);
        assert_eq!(
            sqlite.values("INSERT INTO t (a)", "(?)", 2, ""),
            "INSERT INTO t (a) VALUES (?), (?) "
        );
        assert_eq!(
            pg.any_of("DELETE FROM t WHERE", "(a = ? AND b = ?)", 2),
            "DELETE FROM t WHERE (a = $1 AND b = $2) OR (a = $3 AND b = $4)"
        );
    }
}
