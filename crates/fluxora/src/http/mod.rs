//! The HTTP layer (design §4): router, middleware and the error envelope. Handlers are thin; the
//! rules live in [`crate::streams`].
//!
//! Every route is registered with [`utoipa_axum::routes!`] from a handler carrying
//! `#[utoipa::path]`, so the router and the OpenAPI document ([`openapi`], served by [`docs`])
//! come from the same lines.
//!
//! Layers, outermost first (see [`router`]): request id, logging, request metrics and security
//! headers ([`request_id::observe`], one layer), CORS, the error envelope
//! ([`error::render_errors`]), panic capture (500 envelope), the request timeout, the per-IP
//! rate limit, authentication ([`auth::authenticate`]: 401, and the [`auth::Principal`]
//! extension), the per-key rate limit, the body guard ([`body::guard`]: 413/415), then the
//! routes with their scope requirements.

// A route registered without `routes!` would be missing from the OpenAPI document.
#![deny(clippy::disallowed_methods)]

pub mod auth;
pub mod body;
pub mod client_ip;
pub mod docs;
pub mod error;
pub mod hardening;
pub mod internal;
pub mod keys;
pub mod meta;
pub mod metrics;
pub mod openapi;
pub mod ratelimit;
pub mod request_id;
pub mod streams;
pub mod webhooks;

use axum::extract::Request;
use axum::middleware;
use axum::response::IntoResponse;
use axum::{Extension, Router};
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::health::HealthService;
use crate::streams::service::StreamService;
use error::ApiError;

/// Shared state of every handler: one [`AppContext`] behind an `Arc`, so the clone axum makes
/// for every handler and every stateful middleware of every request is one reference-count
/// increment (not one per field).
#[derive(Clone)]
pub struct AppState(std::sync::Arc<AppContext>);

impl AppState {
    /// Wraps the context.
    pub fn new(context: AppContext) -> Self {
        Self(std::sync::Arc::new(context))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppContext;

    fn deref(&self) -> &AppContext {
        &self.0
    }
}

/// What the handlers share (see [`AppState`]).
pub struct AppContext {
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

/// [`redacted_path`] of the path it holds, computed only when formatted: a tracing field that
/// costs nothing unless a subscriber records it.
#[derive(Debug, Clone, Copy)]
pub struct RedactedPath<'a>(pub &'a str);

impl std::fmt::Display for RedactedPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redacted_path(self.0))
    }
}

/// The 404 of a route that does not exist (or is switched off): `Route 'GET /x' not found`,
/// with the path redacted ([`redacted_path`]).
pub fn route_not_found(request: &Request) -> ApiError {
    let path = redacted_path(request.uri().path());
    ApiError::NotFound(format!("Route '{} {path}' not found", request.method()))
}

async fn not_found(request: Request) -> impl IntoResponse {
    route_not_found(&request)
}

/// The cross-cutting layers' settings (issue 7): rate limits and hardening.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// The rate limiter; `None` when `RATE_LIMIT_ENABLED=false`.
    pub rate_limiter: Option<std::sync::Arc<ratelimit::RateLimiter>>,
    /// `REQUEST_TIMEOUT_MS`.
    pub request_timeout: std::time::Duration,
    /// `CORS_ALLOWED_ORIGINS`.
    pub cors: hardening::CorsOrigins,
}

/// Every route with its documentation, before state and layers: the one place routes are
/// listed. `state` is needed only by route layers (the scope checks).
pub fn api_router(state: AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(meta::router())
        .merge(docs::router())
        .merge(metrics::router())
        .merge(streams::router(state.clone()))
        .merge(internal::router())
        .merge(webhooks::router(state.clone()))
        .merge(keys::router(state))
}

/// Builds the complete router with every layer.
///
/// Layer order, outermost (first to see a request) to innermost — each `.layer` call below wraps
/// everything above it, so the calls read innermost first:
/// 1.–3. [`request_id::observe`], one layer for: the request id and the access log line; the
///    request metrics ([`metrics::track`]: counts and times every request by route template and
///    status); the security headers ([`hardening::SECURITY_HEADERS`]) — on every response,
///    errors included;
/// 4. CORS ([`hardening::CorsOrigins`], when configured) — outside the limits and the envelope,
///    so a 429 or any error can be read by an allowed page; preflights are answered here;
/// 5. `error::render_errors` — writes the envelope of every error below (and `no-store`);
/// 6. panic capture — a panic becomes a 500 envelope;
/// 7. request timeout ([`hardening::with_timeout`]) — 503 envelope;
/// 8. per-IP rate limit ([`ratelimit::per_ip`]) — before authentication, so floods are refused
///    before any key is hashed;
/// 9. authentication ([`auth::authenticate`]) — 401, and the [`auth::Principal`] extension;
/// 10. per-key rate limit ([`ratelimit::per_key`]) — reads the `Principal`;
/// 11. `body::guard` — 413/415 before any body is read;
/// 12. the routes (JSON bodies parsed by [`body::JsonValue`], depth-limited) with their scope
///     requirements.
pub fn router(state: AppState, edge: EdgeConfig) -> Router {
    let (routes, document) = api_router(state.clone()).split_for_parts();
    // Serializing a document of plain data cannot fail; an empty body would show if it did.
    let document = docs::OpenApiJson(serde_json::to_vec(&document).unwrap_or_default().into());
    let mut router = routes
        .fallback(not_found)
        .layer(Extension(document))
        .with_state(state.clone())
        // 11. body guard
        .layer(middleware::from_fn(body::guard));
    // 10. per-key rate limit
    if let Some(limiter) = &edge.rate_limiter {
        router = router.layer(middleware::from_fn_with_state(
            limiter.clone(),
            ratelimit::per_key,
        ));
    }
    // 9. authentication: sees only requests the per-IP limit let through; its Principal
    //    reaches the per-key limit.
    router = router.layer(middleware::from_fn_with_state(state, auth::authenticate));
    // 8. per-IP rate limit
    if let Some(limiter) = &edge.rate_limiter {
        router = router.layer(middleware::from_fn_with_state(
            limiter.clone(),
            ratelimit::per_ip,
        ));
    }
    // 7. request timeout
    router = hardening::with_timeout(router, edge.request_timeout);
    // 6. panic capture, 5. error envelope
    router = router
        .layer(CatchPanicLayer::new())
        .layer(middleware::from_fn(error::render_errors));
    // 4. CORS
    if let Some(cors) = edge.cors.layer() {
        router = router.layer(cors);
    }
    // 1.–3. request id, metrics, security headers and logging: one layer
    router.layer(middleware::from_fn(request_id::observe))
}
