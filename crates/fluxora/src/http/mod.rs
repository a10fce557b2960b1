//! The HTTP layer (design §4): router, middleware and the error envelope. Handlers are thin; the
//! rules live in [`crate::streams`].
//!
//! Layers, outermost first (see [`router`]): request id and logging ([`request_id::observe`]),
//! security headers, CORS, the error envelope ([`error::render_errors`]), panic capture (500
//! envelope), the request timeout, the per-IP rate limit, (authentication), the per-key rate
//! limit, the body guard ([`body::guard`]: 413/415), then the routes.

pub mod auth;
pub mod body;
pub mod client_ip;
pub mod error;
pub mod hardening;
pub mod internal;
pub mod meta;
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

/// Builds the complete router with every layer.
///
/// Layer order, outermost (first to see a request) to innermost — each `.layer` call below wraps
/// everything above it, so the calls read innermost first:
/// 1. `request_id::observe` — request id, the access log line;
/// 2. security headers ([`hardening::SECURITY_HEADERS`]) — on every response, errors included;
/// 3. CORS ([`hardening::CorsOrigins`], when configured) — outside the limits and the envelope,
///    so a 429 or any error can be read by an allowed page; preflights are answered here;
/// 4. `error::render_errors` — writes the envelope of every error below (and `no-store`);
/// 5. panic capture — a panic becomes a 500 envelope;
/// 6. request timeout ([`hardening::with_timeout`]) — 503 envelope;
/// 7. per-IP rate limit ([`ratelimit::per_ip`]) — before authentication, so floods are refused
///    before any key is hashed;
/// 8. authentication — inserts the `Principal` (added by the auth work; see the marker below);
/// 9. per-key rate limit ([`ratelimit::per_key`]) — reads the `Principal`;
/// 10. `body::guard` — 413/415 before any body is read;
/// 11. the routes (JSON bodies parsed by [`body::JsonValue`], depth-limited).
pub fn router(state: AppState, edge: EdgeConfig) -> Router {
    let mut router = Router::new()
        .merge(meta::router())
        .merge(streams::router())
        .merge(internal::router())
        .merge(webhooks::router(state.clone()))
        .fallback(not_found)
        .with_state(state)
        // 10. body guard
        .layer(middleware::from_fn(body::guard));
    // 9. per-key rate limit
    if let Some(limiter) = &edge.rate_limiter {
        router = router.layer(middleware::from_fn_with_state(
            limiter.clone(),
            ratelimit::per_key,
        ));
    }
    // 8. AUTH LAYER GOES HERE: between the per-key limit (9, above) and the per-IP limit (7,
    //    below), so it sees only requests the IP limit let through and its Principal reaches
    //    the per-key limit.
    // 7. per-IP rate limit
    if let Some(limiter) = &edge.rate_limiter {
        router = router.layer(middleware::from_fn_with_state(
            limiter.clone(),
            ratelimit::per_ip,
        ));
    }
    // 6. request timeout
    router = hardening::with_timeout(router, edge.request_timeout);
    // 5. panic capture, 4. error envelope
    router = router
        .layer(CatchPanicLayer::new())
        .layer(middleware::from_fn(error::render_errors));
    // 3. CORS
    if let Some(cors) = edge.cors.layer() {
        router = router.layer(cors);
    }
    // 2. security headers
    for layer in hardening::security_header_layers() {
        router = router.layer(layer);
    }
    // 1. request id and logging
    router.layer(middleware::from_fn(request_id::observe))
}
