//! `POST /internal/indexer/events`: push ingest from trusted workers (design §6, §9.1).
//!
//! Needs `x-indexer-worker-token` equal to `INDEXER_WORKER_TOKEN` (compared in constant time);
//! without a configured token the route answers 404. Body: `{"events":[…]}` with at most 100
//! events, each exactly a `getEvents` event plus `ledgerHash`. Shares the ingest core with the RPC
//! poller: one transaction per batch, duplicates are no-ops, a changed ledger hash is a reorg.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::http::body::JsonValue;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::indexer::event::{parse_event_batch, MAX_PUSH_BATCH};
use crate::indexer::ingest::{IngestBatch, IngestCore, IngestError, IngestReport};
use crate::validation::FieldError;

/// The worker token header.
pub const WORKER_TOKEN_HEADER: &str = "x-indexer-worker-token";

/// Push ingest: the core and the token it requires.
#[derive(Clone)]
pub struct PushIngest {
    /// The ingest core.
    pub core: Arc<IngestCore>,
    /// `INDEXER_WORKER_TOKEN`.
    pub token: Secret,
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/internal/indexer/events", post(push_events))
}

fn invalid(message: impl Into<String>, details: Vec<FieldError>) -> ApiError {
    ApiError::Validation {
        message: message.into(),
        details,
    }
}

async fn push_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonValue(body): JsonValue,
) -> Result<Json<IngestReport>, ApiError> {
    let Some(push) = state.push_ingest.as_ref() else {
        return Err(ApiError::NotFound(
            "Route 'POST /internal/indexer/events' not found".into(),
        ));
    };
    let presented = headers
        .get(WORKER_TOKEN_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    // Cap what we compare; a valid token is far shorter.
    if presented.is_empty()
        || presented.len() > 512
        || !bool::from(presented.ct_eq(push.token.expose().as_bytes()))
    {
        return Err(ApiError::Unauthorized(
            "a valid x-indexer-worker-token header is required".into(),
        ));
    }

    let Some(object) = body.as_object() else {
        return Err(invalid(
            "the body must be {\"events\":[…]}",
            vec![FieldError::new(
                "body",
                "INVALID_BODY",
                "expected a JSON object",
            )],
        ));
    };
    let mut details: Vec<FieldError> = object
        .keys()
        .filter(|key| key.as_str() != "events")
        .map(|key| {
            FieldError::new(
                crate::address::redact_secret_seeds(key)
                    .chars()
                    .take(64)
                    .collect::<String>(),
                "UNKNOWN_FIELD",
                "unknown field; the body is {\"events\":[…]}",
            )
        })
        .collect();
    let events = match object.get("events") {
        Some(Value::Array(events)) => events.as_slice(),
        _ => {
            details.push(FieldError::new(
                "events",
                "EVENTS_INVALID",
                "events must be an array of getEvents event objects",
            ));
            return Err(invalid("invalid ingest batch", details));
        }
    };
    if events.len() > MAX_PUSH_BATCH {
        details.push(FieldError::new(
            "events",
            "BATCH_TOO_LARGE",
            format!(
                "at most {MAX_PUSH_BATCH} events per batch, got {}",
                events.len()
            ),
        ));
    }
    if !details.is_empty() {
        return Err(invalid("invalid ingest batch", details));
    }
    let valid = parse_event_batch(events, true).map_err(|problems| {
        invalid(
            "invalid ingest batch: nothing was applied",
            problems
                .into_iter()
                .map(|p| FieldError::new(p.field, p.code, p.message))
                .collect(),
        )
    })?;

    let report = push
        .core
        .ingest(&IngestBatch {
            events: valid,
            ..IngestBatch::default()
        })
        .await
        .map_err(|error| match error {
            IngestError::Store(store) => ApiError::from(store),
            IngestError::WrongContract { index, .. } => invalid(
                error.to_string(),
                vec![FieldError::new(
                    format!("events[{index}].contractId"),
                    "CONTRACT_ID_MISMATCH",
                    "not the contract this service indexes (FLUXORA_CONTRACT_ID)",
                )],
            ),
            IngestError::ConflictingHashes { ledger } => invalid(
                error.to_string(),
                vec![FieldError::new(
                    "events",
                    "LEDGER_HASH_CONFLICT",
                    format!("two different ledgerHash values for ledger {ledger}"),
                )],
            ),
            IngestError::Contended => ApiError::Conflict(error.to_string()),
        })?;
    push.core
        .state()
        .update(|s| s.last_successful_sync_at = Some(crate::clock::now_millis()));
    Ok(Json(report))
}
