//! `POST /internal/indexer/events`: push ingest from trusted workers (`docs/indexer.md`, "Push
//! ingest").
//!
//! Needs `x-indexer-worker-token` equal to `INDEXER_WORKER_TOKEN` (compared in constant time);
//! without a configured token the route answers 404. Body: `{"events":[…]}` with at most 100
//! events, each exactly a `getEvents` event plus `ledgerHash`. Shares the ingest core with the RPC
//! poller: one transaction per batch, duplicates are no-ops, a changed ledger hash is a reorg.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::auth::WORKER_TOKEN_HEADER;
use crate::http::body::JsonValue;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::openapi::{BodyErrors, RateLimited, ServerErrors};
use crate::http::AppState;
use crate::indexer::event::{parse_event_batch, MAX_PUSH_BATCH};
use crate::indexer::ingest::{IngestBatch, IngestCore, IngestError, IngestReport};
use crate::secret::Secret;
use crate::validation::FieldError;

/// Push ingest: the core and the token it requires.
#[derive(Clone)]
pub struct PushIngest {
    /// The ingest core.
    pub core: Arc<IngestCore>,
    /// `INDEXER_WORKER_TOKEN`.
    pub token: Secret,
}

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(push_events))
}

/// The push-ingest body, for the OpenAPI document; the handler validates the raw
/// JSON itself so that every failing field of every event is reported.
#[derive(Debug, serde::Deserialize, ToSchema)]
pub struct IngestBatchRequest {
    /// At most 100 events.
    #[schema(max_items = 100)]
    pub events: Vec<PushedEvent>,
}

/// One pushed event: exactly an event object as Stellar RPC `getEvents` returns it
/// (`xdrFormat` `base64`), plus `ledgerHash`. Other `getEvents` fields are ignored.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushedEvent {
    /// Event type: `contract`.
    #[serde(rename = "type")]
    #[schema(example = "contract")]
    pub event_type: String,
    /// Ledger sequence.
    pub ledger: u32,
    /// Ledger close time, RFC 3339 UTC.
    #[schema(format = DateTime)]
    pub ledger_closed_at: String,
    /// The emitting contract (`FLUXORA_CONTRACT_ID`), a C… StrKey.
    #[schema(pattern = "^C[A-Z2-7]{55}$")]
    pub contract_id: String,
    /// Event id, `%019d-%010d` (TOID, event index).
    #[schema(pattern = "^[0-9]{19}-[0-9]{10}$")]
    pub id: String,
    /// Operation index within the transaction.
    pub operation_index: Option<u32>,
    /// 1-based transaction index within the ledger.
    pub transaction_index: Option<u32>,
    /// Transaction hash, 64 hex digits.
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub tx_hash: String,
    /// Deprecated by stellar-rpc v23; a boolean when present.
    pub in_successful_contract_call: Option<bool>,
    /// Topics, each a base64 XDR `ScVal`.
    pub topic: Vec<String>,
    /// Payload, a base64 XDR `ScVal`.
    pub value: String,
    /// Hash of the event's ledger, 64 hex digits (required on this path).
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub ledger_hash: String,
}

fn invalid(message: impl Into<String>, details: Vec<FieldError>) -> ApiError {
    ApiError::Validation {
        message: message.into(),
        details,
    }
}

/// `POST /internal/indexer/events`: ingest a batch in one transaction.
#[utoipa::path(
    post,
    path = "/internal/indexer/events",
    tag = "indexer",
    operation_id = "pushIndexerEvents",
    security(("indexerWorkerToken" = [])),
    request_body = IngestBatchRequest,
    responses(
        (status = 200, description = "Ingested; events already stored are counted as duplicates", body = IngestReport),
        (status = 400, description = "`VALIDATION_ERROR`: an invalid batch (nothing applied), with every failing field in `details`", body = ErrorEnvelope),
        (status = 401, description = "`UNAUTHORIZED`: missing or wrong `x-indexer-worker-token`", body = ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: push ingest is off (`INDEXER_WORKER_TOKEN` unset)", body = ErrorEnvelope),
        (status = 409, description = "`CONFLICT`: another ingest holds the lock; retry", body = ErrorEnvelope),
        BodyErrors,
        RateLimited,
        ServerErrors,
    )
)]
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
    // Cap what we hash; a valid token is far shorter.
    if presented.is_empty()
        || presented.len() > crate::http::auth::MAX_AUTHORIZATION_LEN
        || !crate::http::auth::secret_matches(presented, &push.token)
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
