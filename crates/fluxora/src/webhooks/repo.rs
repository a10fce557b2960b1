//! Storage of webhooks: endpoints (`webhook_endpoints`), the outbox of events
//! (`webhook_events`), one delivery per (event, matching endpoint) (`webhook_deliveries`) and
//! every attempt (`webhook_attempts`).
//!
//! [`WebhookRepository`] is the one place these tables are read and written. Writers of other
//! aggregates put an event in the outbox inside their own transaction with [`enqueue_in`]
//! (streams), or [`write_chain_events_in`] and [`release_held_in`] (the indexer's batches), so
//! a change and its webhook event commit together or not at all.
//!
//! Which endpoints an event goes to: every enabled endpoint whose event-type filter is empty or
//! names the event's type. A delivery's id is derived from (event, endpoint)
//! (`dlv_<event suffix>_<endpoint suffix>`), so it is stable and unique.

use std::collections::HashSet;

use crate::clock::format_millis;
use crate::secret::Secret;
use crate::store::{
    Arg, Columns, Database, Dialect, Page, Query, QueryBuilder, StoreError, Tx, ROWS_PER_STATEMENT,
};
use crate::webhooks::{Attempt, Delivery, DeliveryStatus, Endpoint, OutboxEvent};

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
    pub endpoint: Endpoint,
}

/// The outcome of one delivery attempt, recorded in one transaction with the delivery's and the
/// endpoint's new state.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    /// Delivery id.
    pub delivery_id: String,
    /// Endpoint id.
    pub endpoint_id: String,
    /// The attempt (1-based).
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
    pub status: DeliveryStatus,
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
    pub status: Option<DeliveryStatus>,
    /// By endpoint.
    pub endpoint_id: Option<String>,
    /// By event type.
    pub event_type: Option<String>,
    /// Continue after this position.
    pub before_position: Option<i64>,
    /// Page size.
    pub limit: u32,
}

/// Columns of `webhook_endpoints`, in [`endpoint_from_row`]'s and [`endpoint_values`]' order.
const ENDPOINT_COLUMNS: &str = "id, url, description, event_types, enabled, secret, \
     previous_secret, previous_secret_until, consecutive_failures, disabled_reason, created_at, \
     updated_at";

/// Columns of a delivery as listed.
const DELIVERY_COLUMNS: &str = "position, id, event_id, endpoint_id, event_type, status, \
     attempts, next_attempt_at, last_status, last_error, created_at, delivered_at";

/// Starts an `INSERT … SELECT` of one pending delivery per (outbox event `e`, matching enabled
/// endpoint `w`), created and first due at unix ms `now`, for `dialect`; the caller appends a
/// `WHERE` on `e`.
fn deliveries_of_events<'q>(dialect: Dialect, now: i64) -> QueryBuilder<'q> {
    let mut insert = QueryBuilder::new(
        dialect,
        "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, event_type, status, \
           attempts, next_attempt_at, created_at, updated_at) \
         SELECT 'dlv_' || substr(e.id, 5) || '_' || substr(w.id, 5), e.id, w.id, e.type, \
           'pending', 0, ",
    );
    insert
        .bind(now)
        .push(", ")
        .bind(now)
        .push(", ")
        .bind(now)
        .push(
            " FROM webhook_events e \
         JOIN webhook_endpoints w ON w.enabled \
           AND (w.event_types = '[]' OR w.event_types LIKE '%\"' || e.type || '\"%')",
        );
    insert
}

/// Webhook endpoints, the outbox and deliveries in the service's database.
#[derive(Debug, Clone)]
pub struct WebhookRepository {
    db: Database,
}

impl WebhookRepository {
    /// The repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Stores a new endpoint.
    ///
    /// Errors: [`StoreError`].
    pub async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        let mut insert = QueryBuilder::new(
            self.db.dialect(),
            &format!("INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) VALUES "),
        );
        insert.row(endpoint_values(endpoint));
        insert.build().execute(&self.db).await.map(drop)
    }

    /// Every endpoint, oldest first.
    ///
    /// Errors: [`StoreError`].
    pub async fn list_endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        let rows = Query::new(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id"
        ))
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(endpoint_from_row).collect()
    }

    /// One endpoint; `None` when there is none.
    ///
    /// Errors: [`StoreError`].
    pub async fn get_endpoint(&self, id: &str) -> Result<Option<Endpoint>, StoreError> {
        let row = Query::new(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.db)
        .await?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    /// Replaces an endpoint's mutable fields; `false` if it does not exist.
    ///
    /// Errors: [`StoreError`].
    pub async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<bool, StoreError> {
        let [id, url, description, event_types, enabled, secret, previous_secret, previous_until, failures, disabled_reason, _created_at, updated_at] =
            endpoint_values(endpoint);
        let updated = Query::new(
            "UPDATE webhook_endpoints SET url = $2, description = $3, event_types = $4, \
             enabled = $5, secret = $6, previous_secret = $7, previous_secret_until = $8, \
             consecutive_failures = $9, disabled_reason = $10, updated_at = $11 WHERE id = $1",
        )
        .bind(id)
        .bind(url)
        .bind(description)
        .bind(event_types)
        .bind(enabled)
        .bind(secret)
        .bind(previous_secret)
        .bind(previous_until)
        .bind(failures)
        .bind(disabled_reason)
        .bind(updated_at)
        .execute(&self.db)
        .await?;
        Ok(updated == 1)
    }

    /// Deletes an endpoint and its pending deliveries; `false` if it did not exist.
    ///
    /// Errors: [`StoreError`].
    pub async fn delete_endpoint(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.db.begin().await?;
        Query::new("DELETE FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'pending'")
            .bind(id)
            .execute(&mut tx)
            .await?;
        let deleted = Query::new("DELETE FROM webhook_endpoints WHERE id = $1")
            .bind(id)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(deleted == 1)
    }

    /// Whether any endpoint is enabled.
    ///
    /// Errors: [`StoreError`].
    pub async fn any_enabled_endpoint(&self) -> Result<bool, StoreError> {
        any_enabled_endpoint_in(&self.db).await
    }

    /// Writes an event to the outbox with one delivery per matching enabled endpoint (or only
    /// for `only_endpoint`, whatever its filter: test events). Returns the delivery ids.
    ///
    /// Errors: [`StoreError`]; nothing is written then.
    pub async fn enqueue_event(
        &self,
        event: &OutboxEvent,
        only_endpoint: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.db.begin().await?;
        enqueue_in(&mut tx, event, only_endpoint).await?;
        tx.commit().await?;
        let prefix = format!("dlv_{}_", event.id.trim_start_matches("evt_"));
        let rows = Query::new("SELECT id FROM webhook_deliveries WHERE event_id = $1")
            .bind(event.id.as_str())
            .fetch_all(&self.db)
            .await?;
        let ids = rows
            .iter()
            .map(|row| row.text("id"))
            .collect::<Result<Vec<String>, StoreError>>()?;
        Ok(ids
            .into_iter()
            .filter(|id| id.starts_with(&prefix))
            .collect())
    }

    /// Claims up to `limit` pending deliveries due at unix ms `now` whose lease is free,
    /// leasing them until `lease_until` (PostgreSQL skips rows another replica is claiming, so
    /// replicas never claim the same one; a crashed dispatcher's leases simply expire).
    ///
    /// Errors: [`StoreError`].
    pub async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let claimed = Query::new(format!(
            "UPDATE webhook_deliveries SET lease_until = $1 WHERE id IN (\
               SELECT id FROM webhook_deliveries \
               WHERE status = 'pending' AND next_attempt_at <= $2 \
                 AND (lease_until IS NULL OR lease_until <= $2) \
               ORDER BY next_attempt_at LIMIT $3{}) RETURNING id",
            self.db.dialect().skip_locked()
        ))
        .bind(lease_until)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.db)
        .await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let endpoint_columns = ENDPOINT_COLUMNS
            .split(", ")
            .map(|c| format!("w.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut select = QueryBuilder::new(
            self.db.dialect(),
            &format!(
                "SELECT d.id AS delivery_id, d.attempts, e.id AS event_id, \
                   e.type AS event_type, e.created_at AS event_created_at, e.data, \
                   {endpoint_columns} \
                 FROM webhook_deliveries d \
                 JOIN webhook_events e ON e.id = d.event_id \
                 JOIN webhook_endpoints w ON w.id = d.endpoint_id \
                 WHERE d.id IN ("
            ),
        );
        let ids = claimed
            .iter()
            .map(|row| row.text("id"))
            .collect::<Result<Vec<String>, StoreError>>()?;
        select.list(ids, ", ", |q, id| {
            q.bind(id);
        });
        select.push(")");
        let rows = select.build().persistent(false).fetch_all(&self.db).await?;
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

    /// Records attempts, each with its delivery's and endpoint's new state, and frees their
    /// leases — all in one transaction (one commit per dispatched batch).
    ///
    /// Errors: [`StoreError`]; nothing is recorded then (the leases expire and the deliveries
    /// are retried).
    pub async fn record_attempts(&self, records: &[AttemptRecord]) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        let dialect = tx.dialect();
        // Two multi-row statements per chunk (attempts, then deliveries) instead of two per
        // delivery: on PostgreSQL every statement is a network round trip.
        for chunk in records.chunks(ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::new(
                dialect,
                "INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, \
                 status_code, latency_ms, error, response_body) VALUES ",
            );
            insert.list(chunk, ", ", |q, record| {
                q.row([
                    record.delivery_id.as_str().into(),
                    i64::from(record.attempt).into(),
                    record.attempted_at.into(),
                    record.status_code.map(i64::from).into(),
                    i64::try_from(record.latency_ms).unwrap_or(i64::MAX).into(),
                    record.error.as_deref().into(),
                    record.response_body.as_deref().into(),
                ]);
            });
            insert.push(" ON CONFLICT (delivery_id, attempt) DO NOTHING");
            insert.build().persistent(false).execute(&mut tx).await?;

            // `VALUES` columns are named column1… in both SQLite and PostgreSQL. A delivery
            // whose lease is gone was replayed while this attempt was in flight
            // (`replay_delivery` clears the lease): the attempt is recorded, but the delivery
            // stays pending and due, so the replay still happens.
            let mut finish = QueryBuilder::new(
                dialect,
                "UPDATE webhook_deliveries SET \
                   status = CASE WHEN webhook_deliveries.lease_until IS NULL \
                     THEN 'pending' ELSE v.column2 END, \
                   attempts = v.column3, \
                   next_attempt_at = CASE WHEN webhook_deliveries.lease_until IS NULL \
                     THEN webhook_deliveries.next_attempt_at ELSE v.column4 END, \
                   lease_until = NULL, last_status = v.column5, \
                   last_error = v.column6, updated_at = v.column7, \
                   delivered_at = v.column8 FROM (VALUES ",
            );
            finish.list(chunk, ", ", |q, record| {
                let delivered = record.status == DeliveryStatus::Delivered;
                q.row([
                    record.delivery_id.as_str().into(),
                    record.status.as_str().into(),
                    i64::from(record.attempt).into(),
                    record.next_attempt_at.into(),
                    record.status_code.map(i64::from).into(),
                    record.error.as_deref().into(),
                    record.attempted_at.into(),
                    delivered.then_some(record.attempted_at).into(),
                ]);
            });
            finish.push(") AS v WHERE webhook_deliveries.id = v.column1");
            finish.build().persistent(false).execute(&mut tx).await?;
        }
        // Endpoints whose streak is already reset in this batch: one statement each.
        let mut reset: HashSet<&str> = HashSet::new();
        for record in records {
            let ended_unsuccessfully =
                matches!(record.status, DeliveryStatus::Failed | DeliveryStatus::Dead);
            if record.success {
                if !reset.insert(record.endpoint_id.as_str()) {
                    continue;
                }
                Query::new(
                    "UPDATE webhook_endpoints SET consecutive_failures = 0 \
                     WHERE id = $1 AND consecutive_failures <> 0",
                )
                .bind(record.endpoint_id.as_str())
                .execute(&mut tx)
                .await?;
            } else if ended_unsuccessfully {
                reset.remove(record.endpoint_id.as_str());
                Query::new(
                    "UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + 1, \
                       enabled = CASE WHEN consecutive_failures + 1 >= $1 THEN FALSE ELSE enabled END, \
                       disabled_reason = CASE WHEN consecutive_failures + 1 >= $1 \
                         THEN 'disabled after ' || (consecutive_failures + 1) || ' consecutive deliveries failed' \
                         ELSE disabled_reason END \
                     WHERE id = $2",
                )
                .bind(i64::from(record.disable_after_failures))
                .bind(record.endpoint_id.as_str())
                .execute(&mut tx)
                .await?;
            }
        }
        tx.commit().await
    }

    /// Frees leases without recording an attempt (graceful shutdown).
    ///
    /// Errors: [`StoreError`].
    pub async fn release_deliveries(&self, ids: &[String]) -> Result<(), StoreError> {
        for id in ids {
            Query::new("UPDATE webhook_deliveries SET lease_until = NULL WHERE id = $1")
                .bind(id.as_str())
                .execute(&self.db)
                .await?;
        }
        Ok(())
    }

    /// A page of deliveries, newest first.
    ///
    /// Errors: [`StoreError`].
    pub async fn list_deliveries(
        &self,
        query: &DeliveryQuery,
    ) -> Result<Page<Delivery>, StoreError> {
        let mut select = QueryBuilder::new(
            self.db.dialect(),
            &format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE 1 = 1"),
        );
        if let Some(before) = query.before_position {
            select.push(" AND position < ").bind(before);
        }
        if let Some(status) = query.status {
            select.push(" AND status = ").bind(status.as_str());
        }
        if let Some(endpoint) = &query.endpoint_id {
            select.push(" AND endpoint_id = ").bind(endpoint.as_str());
        }
        if let Some(event_type) = &query.event_type {
            select.push(" AND event_type = ").bind(event_type.as_str());
        }
        select
            .push(" ORDER BY position DESC LIMIT ")
            .bind(i64::from(query.limit) + 1);
        let rows = select.build().fetch_all(&self.db).await?;
        Page::from_rows(&rows, query.limit, delivery_from_row)
    }

    /// One delivery with every attempt, in order; `None` when there is none.
    ///
    /// Errors: [`StoreError`].
    pub async fn get_delivery(
        &self,
        id: &str,
    ) -> Result<Option<(Delivery, Vec<Attempt>)>, StoreError> {
        let Some(row) = Query::new(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.db)
        .await?
        else {
            return Ok(None);
        };
        let (_, delivery) = delivery_from_row(&row)?;
        let attempts = Query::new(
            "SELECT attempt, attempted_at, status_code, latency_ms, error, response_body \
             FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt",
        )
        .bind(id)
        .fetch_all(&self.db)
        .await?;
        let attempts = attempts
            .iter()
            .map(attempt_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((delivery, attempts)))
    }

    /// Makes a delivery pending again, due at unix ms `now` (replay). `false` if unknown.
    ///
    /// Errors: [`StoreError`].
    ///
    /// A replay of a delivery whose attempt is in flight is not lost: clearing the lease tells
    /// [`WebhookRepository::record_attempts`] to leave it pending, so it is sent once more.
    pub async fn replay_delivery(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let replayed = Query::new(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, \
               lease_until = NULL, updated_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(&self.db)
        .await?;
        Ok(replayed == 1)
    }

    /// Makes every dead delivery of an endpoint pending again, due at unix ms `now`; returns
    /// how many.
    ///
    /// Errors: [`StoreError`].
    pub async fn replay_dead_letters(
        &self,
        endpoint_id: &str,
        now: i64,
    ) -> Result<u64, StoreError> {
        Query::new(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, \
               lease_until = NULL, updated_at = $1 WHERE endpoint_id = $2 AND status = 'dead'",
        )
        .bind(now)
        .bind(endpoint_id)
        .execute(&self.db)
        .await
    }

    /// Number of deliveries waiting (`pending`) and dead-lettered (`dead`), for the outbox
    /// metrics (statuses with none are absent). Terminal `delivered`/`failed` rows are not
    /// counted: they grow without bound and the attempt counters already tell them.
    ///
    /// Errors: [`StoreError`].
    pub async fn delivery_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = Query::new(
            "SELECT status, COUNT(*) AS count FROM webhook_deliveries \
             WHERE status IN ('pending', 'dead') GROUP BY status",
        )
        .fetch_all(&self.db)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.text("status")?,
                    u64::try_from(row.int("count")?).unwrap_or(0),
                ))
            })
            .collect()
    }
}

/// Writes an outbox event and its deliveries in `tx`: one per matching enabled endpoint, or
/// only for `only_endpoint` whatever its filter (test events).
///
/// Errors: [`StoreError`].
pub async fn enqueue_in(
    tx: &mut Tx,
    event: &OutboxEvent,
    only_endpoint: Option<&str>,
) -> Result<(), StoreError> {
    Query::new(
        "INSERT INTO webhook_events (id, type, stream_id, data, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(event.id.as_str())
    .bind(event.event_type.as_str())
    .bind(event.stream_id.as_deref())
    .bind(event.data.get())
    .bind(event.created_at)
    .execute(&mut *tx)
    .await?;
    let deliveries = match only_endpoint {
        None => {
            let mut insert = deliveries_of_events(tx.dialect(), event.created_at);
            insert.push(" WHERE e.id = ").bind(event.id.as_str());
            insert.build()
        }
        Some(endpoint_id) => Query::new(
            "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, event_type, status, \
               attempts, next_attempt_at, created_at, updated_at) \
             SELECT 'dlv_' || substr(e.id, 5) || '_' || substr(w.id, 5), e.id, w.id, e.type, \
               'pending', 0, $1, $1, $1 \
             FROM webhook_events e JOIN webhook_endpoints w ON w.id = $3 WHERE e.id = $2",
        )
        .bind(event.created_at)
        .bind(event.id.as_str())
        .bind(endpoint_id),
    };
    deliveries.execute(&mut *tx).await.map(drop)
}

/// Writes the webhook events of an ingest batch in `tx`, each with the ledger that must be
/// safe before it is delivered: those at or below `safe_ledger` are written released, with
/// their deliveries; the others are held (released later by [`release_held_in`]).
///
/// Errors: [`StoreError`].
pub async fn write_chain_events_in(
    tx: &mut Tx,
    events: &[(OutboxEvent, u32)],
    safe_ledger: Option<u32>,
    now: i64,
) -> Result<(), StoreError> {
    let (released, held): (Vec<_>, Vec<_>) = events
        .iter()
        .partition(|(_, ledger)| safe_ledger.is_some_and(|safe| *ledger <= safe));
    let dialect = tx.dialect();
    for (events, held) in [(&released, false), (&held, true)] {
        for chunk in events.chunks(ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::new(
                dialect,
                "INSERT INTO webhook_events (id, type, stream_id, data, created_at, \
                   release_ledger, held) VALUES ",
            );
            insert.list(chunk.iter(), ", ", |q, (event, ledger)| {
                q.row([
                    event.id.as_str().into(),
                    event.event_type.as_str().into(),
                    event.stream_id.as_deref().into(),
                    event.data.get().into(),
                    event.created_at.into(),
                    i64::from(*ledger).into(),
                    held.into(),
                ]);
            });
            insert
                .build()
                .persistent(chunk.len() == ROWS_PER_STATEMENT)
                .execute(&mut *tx)
                .await?;
        }
    }
    for chunk in released.chunks(ROWS_PER_STATEMENT) {
        let mut deliveries = deliveries_of_events(dialect, now);
        deliveries.push(" WHERE e.id IN (");
        deliveries.list(chunk.iter(), ", ", |q, (event, _)| {
            q.bind(event.id.as_str());
        });
        deliveries.push(")");
        deliveries
            .build()
            .persistent(chunk.len() == ROWS_PER_STATEMENT)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Releases, in `tx`, the held webhook events whose ledger is now at or below `safe_ledger`:
/// their deliveries are written (due at unix ms `now`) and they are no longer held.
///
/// Errors: [`StoreError`].
pub async fn release_held_in(tx: &mut Tx, safe_ledger: u32, now: i64) -> Result<(), StoreError> {
    let mut release = deliveries_of_events(tx.dialect(), now);
    release
        .push(" WHERE e.held = TRUE AND e.release_ledger <= ")
        .bind(i64::from(safe_ledger));
    release.build().execute(&mut *tx).await?;
    Query::new("UPDATE webhook_events SET held = FALSE WHERE held = TRUE AND release_ledger <= $1")
        .bind(i64::from(safe_ledger))
        .execute(&mut *tx)
        .await
        .map(drop)
}

/// Deletes, in `tx`, the held webhook events of ledgers from `ledger` on (a reorg abandoned
/// them before they were delivered).
///
/// Errors: [`StoreError`].
pub async fn drop_held_from_in(tx: &mut Tx, ledger: u32) -> Result<(), StoreError> {
    Query::new("DELETE FROM webhook_events WHERE held = TRUE AND release_ledger >= $1")
        .bind(i64::from(ledger))
        .execute(&mut *tx)
        .await
        .map(drop)
}

/// Whether any endpoint is enabled, read on the pool or inside a transaction.
///
/// Errors: [`StoreError`].
pub async fn any_enabled_endpoint_in<'c>(
    on: impl Into<crate::store::Conn<'c>>,
) -> Result<bool, StoreError> {
    Query::new("SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled) AS any_enabled")
        .fetch_one(on)
        .await?
        .flag("any_enabled")
}

/// An endpoint's 12 values in [`ENDPOINT_COLUMNS`] order.
fn endpoint_values(endpoint: &Endpoint) -> [Arg<'_>; 12] {
    [
        endpoint.id.as_str().into(),
        endpoint.url.as_str().into(),
        endpoint.description.as_deref().into(),
        serde_json::to_string(&endpoint.event_types)
            .unwrap_or_else(|_| "[]".into())
            .into(),
        endpoint.enabled.into(),
        endpoint.secret.expose().into(),
        endpoint.previous_secret.as_ref().map(Secret::expose).into(),
        endpoint.previous_secret_until.into(),
        i64::from(endpoint.consecutive_failures).into(),
        endpoint.disabled_reason.as_deref().into(),
        endpoint.created_at.into(),
        endpoint.updated_at.into(),
    ]
}

/// Decodes a `webhook_endpoints` row.
fn endpoint_from_row(row: &impl Columns) -> Result<Endpoint, StoreError> {
    let types_text = row.text("event_types")?;
    let event_types: Vec<String> = serde_json::from_str(&types_text)
        .map_err(|_| StoreError::Corrupt("endpoint event_types is not a JSON array".into()))?;
    Ok(Endpoint {
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

/// Decodes a `webhook_deliveries` row and its position.
fn delivery_from_row(row: &impl Columns) -> Result<(i64, Delivery), StoreError> {
    let status_text = row.text("status")?;
    let status = DeliveryStatus::parse(&status_text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown delivery status '{status_text}'")))?;
    let next_attempt_at = row.int("next_attempt_at")?;
    Ok((
        row.int("position")?,
        Delivery {
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
fn attempt_from_row(row: &impl Columns) -> Result<Attempt, StoreError> {
    Ok(Attempt {
        attempt: u32::try_from(row.int("attempt")?).unwrap_or(u32::MAX),
        attempted_at: format_millis(row.int("attempted_at")?),
        status_code: row
            .opt_int("status_code")?
            .and_then(|s| u16::try_from(s).ok()),
        latency_ms: u64::try_from(row.int("latency_ms")?).unwrap_or(0),
        error: row.opt_text("error")?,
        response_body: row.opt_text("response_body")?,
    })
}
