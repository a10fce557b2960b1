//! `GET /metrics` and the recording of every request's count and latency.
//!
//! The metric names are listed in [`crate::telemetry::metrics`]. The endpoint is public unless
//! `METRICS_TOKEN` is set, then it needs `Authorization: Bearer <METRICS_TOKEN>` (compared in
//! constant time; 401 envelope otherwise).

use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::openapi::InternalError;
use crate::http::AppState;
use crate::telemetry::metrics::{record_request, ScrapeSnapshot};

/// How long a scrape waits for the outbox counts before rendering without them.
const OUTBOX_COUNT_TIMEOUT: Duration = Duration::from_secs(2);

/// The Prometheus text format's content type.
const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// `GET /metrics`: every metric in the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    operation_id = "metrics",
    security((), ("metricsToken" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4 (names in docs/operations.md)", body = String, content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 401, description = "`UNAUTHORIZED`: `METRICS_TOKEN` is set and the bearer token is missing or wrong", body = ErrorEnvelope),
        InternalError,
    )
)]
async fn metrics(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    if let Some(token) = &state.metrics_token {
        if !crate::http::auth::bearer_matches(request.headers(), token) {
            return Err(ApiError::Unauthorized(
                "/metrics needs Authorization: Bearer <METRICS_TOKEN>".into(),
            ));
        }
    }
    let pool = state.health.pool_stats();
    let deliveries = match tokio::time::timeout(
        OUTBOX_COUNT_TIMEOUT,
        state.webhooks.repository().delivery_counts(),
    )
    .await
    {
        Ok(Ok(counts)) => Some(counts),
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "outbox counts unavailable for /metrics");
            None
        }
        Err(_) => {
            tracing::warn!("outbox counts timed out for /metrics");
            None
        }
    };
    let indexer = state.health.indexer_report();
    let snapshot = ScrapeSnapshot {
        pool_size: pool.size,
        pool_idle: pool.idle,
        pool_max: pool.max,
        deliveries,
        indexer_status: indexer.status,
        indexer_lag_ms: indexer.lag_ms,
        last_ingested_ledger: indexer.last_ingested_ledger,
        last_safe_ledger: indexer.last_safe_ledger,
        reorg_in_progress: indexer.reorg_detected,
    };
    let body = state.metrics.render(&snapshot);
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROMETHEUS_CONTENT_TYPE),
    );
    Ok(response)
}

/// Counts one request by method, route template and status, and records its latency (the
/// outermost layer, [`crate::http::request_id::observe`], calls it for every response).
/// Requests that matched no route (`route` is `None`) are labelled `unmatched`, so label values
/// stay bounded whatever paths clients send.
pub fn track(method: &Method, route: Option<&MatchedPath>, status: u16, elapsed: Duration) {
    record_request(
        crate::telemetry::metrics::method_label(method.as_str()),
        route.map_or("unmatched", MatchedPath::as_str),
        status,
        elapsed,
    );
}
