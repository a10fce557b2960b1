//! `POST /internal/indexer/events`: push ingest from trusted workers (`docs/indexer.md`, "Push
//! ingest").
//!
//! Needs `x-indexer-worker-token` equal to `INDEXER_WORKER_TOKEN` (compared in constant time);
//! without a configured token the route answers 404. Body: `{"events":[…], "ledgerEntries":[…], "lookbackWindows":[…]}`
//! with at most 100 events, each exactly a `getEvents` event plus `ledgerHash`, and at most 200
//! stream storage entries as `getLedgerEntries` returns them. Shares the ingest core with the RPC
//! poller: one transaction per batch, duplicates are no-ops, a changed ledger hash is a reorg.

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::fields;
use crate::http::auth::WORKER_TOKEN_HEADER;
use crate::http::body::JsonValue;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::openapi::{BodyErrors, RateLimited, ServerErrors};
use crate::http::AppState;
use crate::indexer::event::{parse_push_body, PUSH_BATCH};
use crate::indexer::ingest::{IngestBatch, IngestCore, IngestReport};
use crate::secret::Secret;

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

/// The push-ingest body in the OpenAPI document: [`PUSH_BATCH`] (its events [`PUSHED_EVENT`]),
/// the descriptions [`parse_push_body`] reads.
///
/// [`PUSHED_EVENT`]: crate::indexer::event::PUSHED_EVENT
pub struct IngestBatchRequest;

impl utoipa::PartialSchema for IngestBatchRequest {
    fn schema() -> RefOr<Schema> {
        fields::schema::object(&PUSH_BATCH)
    }
}

impl ToSchema for IngestBatchRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed(PUSH_BATCH.name)
    }

    fn schemas(schemas: &mut fields::SchemaList) {
        fields::schema::components(&PUSH_BATCH, schemas);
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

    let batch = parse_push_body(&body)?;
    let report = push
        .core
        .ingest(&IngestBatch {
            events: batch.events,
            entries: batch.entries,
            lookbacks: batch.lookbacks,
            ..IngestBatch::default()
        })
        .await?;
    push.core
        .state()
        .update(|s| s.last_successful_sync_at = Some(crate::clock::now_millis()));
    Ok(Json(report))
}
