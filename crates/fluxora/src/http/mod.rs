//! The HTTP layer (design §4): router, middleware and the error envelope. Handlers are thin; the
//! rules live in [`crate::streams`].
//!
//! Layers, outermost first: request id and logging ([`request_id::observe`]), request metrics
//! ([`metrics::track`]), the error envelope ([`error::render_errors`]), panic capture (500
//! envelope), authentication ([`auth::authenticate`]: 401, and the [`auth::Principal`]
//! extension), the body guard ([`body::guard`]: 413/415), then the routes with their scope
//! requirements.

pub mod auth;
pub mod body;
pub mod error;
pub mod internal;
pub mod keys;
pub mod meta;
pub mod metrics;
pub mod ratelimit;
pub mod request_id;
pub mod streams;
pub mod webhooks;

use axum::extract::Request;
use axum::middleware;
use axum::response::IntoResponse;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

use crate::health::HealthService;
use crate::streams::service::StreamService;
use error::ApiError;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// Stream use cases.
    pub streams: StreamService,
    /// Health reports.
    pub health: HealthService,
    /// Configured network name (`testnet`, …) for `GET /`.
    pub network: &'static str,
    /// Push ingest, when `INDEXER_WORKER_TOKEN` is set.
    pub push_ingest: Option<internal::PushIngest>,
    /// The store (admin routes).
    pub store: std::sync::Arc<dyn crate::store::Store>,
    /// `ADMIN_TOKEN`.
    pub admin_token: Option<crate::config::Secret>,
    /// Webhook URL rules.
    pub ssrf: std::sync::Arc<crate::webhooks::ssrf::SsrfPolicy>,
    /// Cursor signing for admin lists.
    pub cursors: crate::pagination::CursorCodec,
    /// Wakes the webhook dispatcher when deliveries were queued.
    pub dispatch_now: std::sync::Arc<tokio::sync::Notify>,
    /// The metrics recorder (`GET /metrics`).
    pub metrics: crate::telemetry::metrics::Metrics,
    /// `METRICS_TOKEN`.
    pub metrics_token: Option<crate::config::Secret>,
    /// The active API keys ([`crate::apikeys::KeyRegistry`]).
    pub keys: std::sync::Arc<crate::apikeys::KeyRegistry>,
    /// `AUTH_REQUIRE_READ_KEY`: stream reads need `streams:read` once keys exist.
    pub require_read_key: bool,
}

/// A request path as it may be echoed in messages and logs: at most 256 characters, anything
/// seed-like redacted ([`crate::address::redact_secret_seeds`]).
pub fn redacted_path(path: &str) -> String {
    crate::address::redact_secret_seeds(path)
        .chars()
        .take(256)
        .collect()
}

async fn not_found(request: Request) -> impl IntoResponse {
    let path = redacted_path(request.uri().path());
    ApiError::NotFound(format!("Route '{} {path}' not found", request.method()))
}

/// Builds the complete router with every layer.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(meta::router())
        .merge(metrics::router())
        .merge(streams::router(state.clone()))
        .merge(internal::router())
        .merge(webhooks::router(state.clone()))
        .merge(keys::router(state.clone()))
        .fallback(not_found)
        .with_state(state.clone())
        .layer(middleware::from_fn(body::guard))
        .layer(middleware::from_fn_with_state(state, auth::authenticate))
        .layer(CatchPanicLayer::new())
        .layer(middleware::from_fn(error::render_errors))
        .layer(middleware::from_fn(metrics::track))
        .layer(middleware::from_fn(request_id::observe))
}
