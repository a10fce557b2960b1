//! The stream use cases: create (with idempotency), get, list and lifecycle actions.
//!
//! It applies the domain rules of [`crate::streams`] and persists through
//! [`StreamRepository`]; it knows
//! nothing of HTTP beyond the status code and body it must remember for idempotent replay.

use std::sync::Arc;

use uuid::Uuid;

use crate::address::redact_secret_seeds;
use crate::clock::{now_millis, now_unix};
use crate::idempotency::{request_fingerprint, IdempotencyKey, CLAIM_LOCK_MS, KEY_TTL_MS};
use crate::pagination::{filter_fingerprint, CursorCodec, CursorError};
use crate::store::StoreError;
use crate::streams::create::parse_new_stream;
use crate::streams::query::{ListParams, INVALID_CURSOR};
use crate::streams::repo::{
    ClaimOutcome, IdempotencyCompletion, IdempotencyRecord, StreamPageQuery, StreamRepository,
};
use crate::streams::{
    Stream, StreamAction, StreamSource, StreamStatus, StreamView, TransitionError,
};
use crate::validation::{FieldError, ValidationErrors};
use crate::webhooks::OutboxEvent;

/// How often a lifecycle action re-reads and retries after losing an optimistic-concurrency race
/// before answering 409.
const MAX_TRANSITION_ATTEMPTS: usize = 5;

/// Errors of the stream use cases, mapped once to the HTTP envelope.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Invalid input (400 `VALIDATION_ERROR` with details).
    #[error("validation failed")]
    Validation(#[from] ValidationErrors),
    /// No such stream (404 `NOT_FOUND`).
    #[error("Stream '{0}' not found")]
    NotFound(String),
    /// Refused lifecycle action (409 `CONFLICT`).
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Idempotency key reused with a different body (409 `CONFLICT`).
    #[error("Idempotency-Key was already used with a different request body")]
    IdempotencyConflict,
    /// The first request with this idempotency key is still in flight (409
    /// `IDEMPOTENCY_KEY_IN_FLIGHT`): retry the same request after `retry_after_secs` seconds.
    #[error("a request with this Idempotency-Key is still in progress; retry after {retry_after_secs} s (a claim whose request crashed lapses within {} s)", crate::idempotency::CLAIM_LOCK_MS / 1000)]
    IdempotencyInFlight {
        /// Seconds to wait before retrying (`Retry-After`).
        retry_after_secs: u64,
    },
    /// The stream kept changing under concurrent requests (409 `CONFLICT`; retry).
    #[error("Stream '{0}' is being changed by other requests; retry")]
    Contended(String),
    /// Storage failure (503 or 500).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The outcome of a create request.
#[derive(Debug, Clone)]
pub enum CreateOutcome {
    /// A new stream; `body` is the serialized [`StreamView`] to send (and what replays repeat).
    Created {
        /// The stream id (for `Location`).
        id: String,
        /// JSON body bytes.
        body: Vec<u8>,
    },
    /// The first response to this idempotency key, replayed verbatim.
    Replayed {
        /// HTTP status of the first response.
        status: u16,
        /// Its body bytes.
        body: Vec<u8>,
        /// Its `Location`.
        location: Option<String>,
    },
}

/// One page of the list route, ready to serialize.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamListPage {
    /// Streams, newest first.
    pub streams: Vec<StreamView>,
    /// Cursor for the next page, or null on the last page.
    pub next_cursor: Option<String>,
    /// Whether another page exists.
    pub has_more: bool,
}

/// A page of stored streams with its cursor, before it is evaluated at an instant.
struct StoredPage {
    streams: Vec<Stream>,
    next_cursor: Option<String>,
    has_more: bool,
}

/// Stream use cases over a [`StreamRepository`].
#[derive(Clone)]
pub struct StreamService {
    store: StreamRepository,
    cursors: CursorCodec,
    committed: Arc<tokio::sync::Notify>,
}

/// The `Location` of a stream resource.
pub fn stream_location(id: &str) -> String {
    format!("/api/streams/{id}")
}

impl StreamService {
    /// A service over `store`, signing cursors with `cursors`; `committed` is notified after
    /// every change (its outbox deliveries are then due: it wakes the webhook dispatcher).
    pub fn new(
        store: StreamRepository,
        cursors: CursorCodec,
        committed: Arc<tokio::sync::Notify>,
    ) -> Self {
        Self {
            store,
            cursors,
            committed,
        }
    }

    /// Creates a stream from a parsed JSON body, honouring an idempotency key.
    ///
    /// With a key (scoped to the credential that sent it): a completed record with the same
    /// canonical body is replayed; a different body is [`StreamError::IdempotencyConflict`]; the
    /// same body while the first request is still in flight is
    /// [`StreamError::IdempotencyInFlight`]; invalid bodies are not remembered (the client may fix
    /// and retry with the same key).
    ///
    /// Errors: [`StreamError::Validation`], [`StreamError::IdempotencyConflict`],
    /// [`StreamError::IdempotencyInFlight`], [`StreamError::Store`].
    pub async fn create(
        &self,
        body: &serde_json::Value,
        key: Option<&IdempotencyKey>,
    ) -> Result<CreateOutcome, StreamError> {
        let now_ms = now_millis();
        let fingerprint = key.map(|_| request_fingerprint(body));
        if let (Some(key), Some(fingerprint)) = (key, &fingerprint) {
            if let Some(record) = self.store.idempotency_get(key, now_ms).await? {
                return replay_or_conflict(record, fingerprint);
            }
        }

        let new = parse_new_stream(body, now_unix())?;

        if let (Some(key), Some(fingerprint)) = (key, &fingerprint) {
            match self
                .store
                .idempotency_claim(
                    key,
                    fingerprint,
                    now_ms,
                    now_ms.saturating_add(CLAIM_LOCK_MS),
                    now_ms.saturating_add(KEY_TTL_MS),
                )
                .await?
            {
                ClaimOutcome::Claimed => {}
                ClaimOutcome::Existing(record) => return replay_or_conflict(record, fingerprint),
            }
        }

        let stream = Stream {
            id: Uuid::now_v7().to_string(),
            sender: new.sender,
            recipient: new.recipient,
            deposit_amount: new.deposit_amount,
            rate_per_second: new.rate_per_second,
            kind: crate::streams::StreamKind::Linear,
            start_time: new.start_time,
            cliff_time: new.cliff_time,
            end_time: new.end_time,
            status: StreamStatus::Active,
            withdrawn_amount: crate::amount::Amount::ZERO,
            checkpoint_amount: crate::amount::Amount::ZERO,
            checkpoint_at: new.start_time,
            cancelled_at: None,
            source: StreamSource::Api,
            chain: None,
            created_at: now_ms,
            updated_at: now_ms,
            version: 0,
        };
        let data = serde_json::value::to_raw_value(&stream.view(now_unix(), None))
            .map_err(|e| StoreError::Corrupt(format!("serializing a stream failed: {e}")))?;
        let body = data.get().as_bytes().to_vec();
        let location = stream_location(&stream.id);
        let completion = key.map(|key| IdempotencyCompletion {
            key: key.clone(),
            status: 201,
            body: body.clone(),
            location: Some(location.clone()),
        });
        let event = OutboxEvent::new("stream.created", Some(stream.id.clone()), data, now_ms);
        let id = stream.id.clone();
        if let Err(error) = self.store.insert(stream, completion, Some(event)).await {
            if let Some(key) = key {
                // Best effort: if this fails too, the claim lapses after CLAIM_LOCK_MS.
                if let Err(release_error) = self.store.idempotency_release(key).await {
                    tracing::warn!(error = %release_error, "could not release an idempotency claim");
                }
            }
            return Err(error.into());
        }
        self.committed.notify_one();
        tracing::info!(stream_id = %id, "stream created");
        Ok(CreateOutcome::Created { id, body })
    }

    /// One stream's resource, amounts evaluated at `at` (unix seconds; default now), as its JSON
    /// body: a serialized [`StreamView`], byte for byte, written in one pass over the stored
    /// stream ([`Stream::write_json`]).
    ///
    /// Errors: [`StreamError::NotFound`], [`StreamError::Store`].
    pub async fn get_json(&self, id: &str, at: Option<u64>) -> Result<Vec<u8>, StreamError> {
        let stream = self.load(id).await?;
        let mut body = Vec::with_capacity(crate::streams::json::STREAM_JSON_BYTES);
        stream
            .write_json(now_unix(), at, &mut body)
            .map_err(|e| StoreError::Corrupt(format!("serializing a stream failed: {e}")))?;
        Ok(body)
    }

    /// One page of streams: newest first, with an opaque cursor bound to the filters.
    ///
    /// Errors: [`StreamError::Validation`] for a bad cursor, [`StreamError::Store`].
    pub async fn list(&self, params: ListParams) -> Result<StreamListPage, StreamError> {
        let (page, now, at) = self.page(params).await?;
        Ok(StreamListPage {
            streams: page
                .streams
                .iter()
                .map(|stream| stream.view(now, at))
                .collect(),
            next_cursor: page.next_cursor,
            has_more: page.has_more,
        })
    }

    /// [`StreamService::list`]'s page as its JSON body (a serialized [`StreamListPage`], byte
    /// for byte), written in one pass over the stored streams ([`Stream::write_json`]): no
    /// [`StreamView`] is built.
    ///
    /// Errors: as [`StreamService::list`].
    pub async fn list_json(&self, params: ListParams) -> Result<Vec<u8>, StreamError> {
        let (page, now, at) = self.page(params).await?;
        let mut body =
            Vec::with_capacity(64 + page.streams.len() * crate::streams::json::STREAM_JSON_BYTES);
        body.extend_from_slice(b"{\"streams\":");
        crate::streams::json::write_stream_array(&page.streams, now, at, &mut body)
            .map_err(|e| StoreError::Corrupt(format!("serializing a stream failed: {e}")))?;
        body.extend_from_slice(b",\"nextCursor\":");
        match &page.next_cursor {
            Some(cursor) => crate::streams::json::write_json_str(cursor, &mut body),
            None => body.extend_from_slice(b"null"),
        }
        body.extend_from_slice(if page.has_more {
            b",\"hasMore\":true}"
        } else {
            b",\"hasMore\":false}"
        });
        Ok(body)
    }

    /// The stored page `params` asks for, its cursor, and the instants to evaluate it at
    /// (`now`, and `?at=`).
    async fn page(
        &self,
        params: ListParams,
    ) -> Result<(StoredPage, u64, Option<u64>), StreamError> {
        let fingerprint = filter_fingerprint(&params.filters.fingerprint_parts());
        let before_position = match params.cursor.as_deref() {
            None => None,
            Some(cursor) => Some(self.cursors.decode(cursor, fingerprint).map_err(|error| {
                let message = match error {
                    CursorError::Invalid => "cursor is malformed, altered or not issued by this service; use nextCursor as returned",
                    CursorError::FilterMismatch => "cursor was issued for different filters; repeat the filters it was issued with, or start without a cursor",
                };
                ValidationErrors(vec![FieldError::new("cursor", INVALID_CURSOR, message)])
            })?),
        };
        let now = now_unix();
        let page = self
            .store
            .list(&StreamPageQuery {
                filters: params.filters,
                before_position,
                limit: params.limit,
                now,
            })
            .await?;
        let next_cursor = match (page.has_more, page.last_position) {
            (true, Some(position)) => Some(self.cursors.encode(position, fingerprint)),
            _ => None,
        };
        Ok((
            StoredPage {
                streams: page.items,
                next_cursor,
                has_more: page.has_more,
            },
            now,
            params.at,
        ))
    }

    /// Applies a lifecycle action (pause, resume, cancel). Concurrent actions on one stream are
    /// serialized by optimistic concurrency: exactly one of two concurrent cancels succeeds.
    ///
    /// Errors: [`StreamError::NotFound`], [`StreamError::Transition`] (409),
    /// [`StreamError::Store`].
    pub async fn apply(&self, id: &str, action: StreamAction) -> Result<StreamView, StreamError> {
        for _ in 0..MAX_TRANSITION_ATTEMPTS {
            let current = self.load(id).await?;
            let now = now_unix();
            let now_ms = now_millis();
            let next = current.apply(action, now, now_ms)?;
            let view = next.view(now, None);
            let event_type = match action {
                StreamAction::Cancel => "stream.cancelled",
                StreamAction::Pause | StreamAction::Resume => "stream.updated",
            };
            let event = OutboxEvent::new(
                event_type,
                Some(next.id.clone()),
                crate::webhooks::event_data(&view),
                now_ms,
            );
            let status = next.status;
            if self
                .store
                .update(next, current.version, Some(event))
                .await?
            {
                self.committed.notify_one();
                tracing::info!(stream_id = %id, status = %status, "stream updated");
                return Ok(view);
            }
        }
        Err(StreamError::Contended(id.to_string()))
    }

    async fn load(&self, id: &str) -> Result<Stream, StreamError> {
        self.store
            .get(id)
            .await?
            .ok_or_else(|| StreamError::NotFound(redact_secret_seeds(id).into_owned()))
    }
}

fn replay_or_conflict(
    record: IdempotencyRecord,
    fingerprint: &[u8],
) -> Result<CreateOutcome, StreamError> {
    match record {
        IdempotencyRecord::Completed {
            request_hash,
            status,
            body,
            location,
        } if request_hash == fingerprint => Ok(CreateOutcome::Replayed {
            status,
            body,
            location,
        }),
        IdempotencyRecord::Completed { .. } => Err(StreamError::IdempotencyConflict),
        // An empty hash: the claim vanished between two reads (see `idempotency_claim`); the
        // retry will tell which case it is.
        IdempotencyRecord::InFlight { request_hash }
            if request_hash.is_empty() || request_hash == fingerprint =>
        {
            Err(StreamError::IdempotencyInFlight {
                retry_after_secs: crate::idempotency::IN_FLIGHT_RETRY_AFTER_SECS,
            })
        }
        IdempotencyRecord::InFlight { .. } => Err(StreamError::IdempotencyConflict),
    }
}
