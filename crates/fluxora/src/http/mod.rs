//! The HTTP layer (`docs/api.md`): router, middleware and the error envelope. Handlers are thin;
//! the rules live in [`crate::streams`].
//!
//! Every route is registered with [`utoipa_axum::routes!`] from a handler carrying
//! `#[utoipa::path]`, so the router and the OpenAPI document ([`openapi`], served by [`docs`])
//! come from the same lines.
//!
//! Layers, outermost first (see [`router`]): request id, logging, the error envelope, request
//! metrics and security headers ([`request_id::observe`], one layer), CORS, then admission
//! ([`admission::admit`], one layer: the request timeout, panic capture, the per-IP rate limit,
//! the method check (405 before authentication, [`routing`]), authentication, the per-key rate
//! limit and the body rules), then the routes with their scope requirements.

// A route registered without `routes!` would be missing from the OpenAPI document.
#![deny(clippy::disallowed_methods)]

pub mod admission;
pub mod auth;
pub mod body;
pub mod client_ip;
pub mod connections;
pub mod docs;
pub mod error;
pub mod hardening;
pub mod internal;
pub mod keys;
pub mod limits;
pub mod meta;
pub mod metrics;
pub mod openapi;
pub mod ratelimit;
pub mod ratelimit_status;
pub mod request_id;
pub mod routing;
pub mod server;
pub mod streams;
pub mod webhooks;

use axum::extract::Request;
use axum::middleware;
use axum::response::IntoResponse;
use axum::Router;
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
    /// Webhook endpoint and delivery administration.
    pub webhooks: crate::webhooks::service::WebhookService,
    /// `ADMIN_TOKEN`.
    pub admin_token: Option<crate::secret::Secret>,
    /// The metrics recorder (`GET /metrics`).
    pub metrics: crate::telemetry::metrics::Metrics,
    /// `METRICS_TOKEN`.
    pub metrics_token: Option<crate::secret::Secret>,
    /// API keys: the active ones the auth layer checks, and key administration
    /// ([`crate::apikeys::KeyRegistry`]).
    pub keys: std::sync::Arc<crate::apikeys::KeyRegistry>,
    /// `AUTH_REQUIRE_READ_KEY`: stream reads need `streams:read` once keys exist.
    pub require_read_key: bool,
    /// The serialized OpenAPI document (`GET /openapi.json`), set once by [`router`] from the
    /// routes it builds.
    pub openapi_document: std::sync::OnceLock<docs::OpenApiJson>,
}

impl AppState {
    /// Stores the OpenAPI document served at `/openapi.json` (the first one set stays: the
    /// routes, hence the document, are the same for every router built from one state).
    fn set_openapi_document(&self, document: docs::OpenApiJson) {
        // An error only means it was already set, to the same document.
        let _ = self.openapi_document.set(document);
    }
}

/// A request path as it may be echoed in messages and logs: at most 256 characters, anything
/// seed-like redacted ([`crate::address::redact_secret_seeds`]).
pub fn redacted_path(path: &str) -> String {
    RedactedPath(path).to_string()
}

/// [`redacted_path`] of the path it holds, computed only when formatted: a tracing field that
/// costs nothing unless a subscriber records it.
#[derive(Debug, Clone, Copy)]
pub struct RedactedPath<'a>(pub &'a str);

impl std::fmt::Display for RedactedPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const MAX_CHARS: usize = 256;
        let redacted = crate::address::redact_secret_seeds(self.0);
        let end = redacted
            .char_indices()
            .nth(MAX_CHARS)
            .map_or(redacted.len(), |(index, _)| index);
        f.write_str(&redacted[..end])
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

/// The cross-cutting layers' settings: rate limits and hardening.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// The rate limiter; `None` when `RATE_LIMIT_ENABLED=false`.
    pub rate_limiter: Option<std::sync::Arc<ratelimit::RateLimiter>>,
    /// `REQUEST_TIMEOUT_MS`.
    pub request_timeout: std::time::Duration,
    /// `CORS_ALLOWED_ORIGINS`.
    pub cors: crate::cors::CorsOrigins,
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
/// Layers, outermost (first to see a request) to innermost — each `.layer` call below wraps
/// everything above it, so the calls read innermost first:
/// 1. [`request_id::observe`]: the request id and the request span; on the way out the error
///    envelope ([`error::render_envelope`]), the request metrics ([`metrics::track`]), the
///    security headers ([`hardening::SECURITY_HEADERS`]) and the access log line — on every
///    response, errors included;
/// 2. CORS ([`hardening::cors_layer`], when `CORS_ALLOWED_ORIGINS` is set) — outside the
///    limits, so a 429 or any error can be read by an allowed page; preflights are answered here;
/// 3. [`admission::admit`]: the request timeout (503), panic capture (500), the per-IP rate
///    limit, the method check (405 with `Allow` for a method the path does not allow, before
///    any credential is checked; [`routing::MethodTable`], built from the document),
///    authentication (401, and the [`auth::Principal`] extension), the per-key rate limit and
///    the body rules (413/415), in that order;
/// 4. the routes (JSON bodies parsed by [`body::JsonValue`], depth-limited) with their scope
///    requirements.
pub fn router(state: AppState, edge: EdgeConfig) -> Router {
    let (routes, mut document) = api_router(state.clone()).split_for_parts();
    openapi::add_head_limit_responses(&mut document);
    let methods = routing::MethodTable::from_document(&document);
    // Serializing a document of plain data cannot fail; an empty body would show if it did.
    let document = docs::OpenApiJson(serde_json::to_vec(&document).unwrap_or_default().into());
    // The document reaches its handler through the state, not through a layer every request
    // would pass.
    state.set_openapi_document(document);
    let admission = std::sync::Arc::new(admission::Admission {
        state: state.clone(),
        methods,
        rate_limiter: edge.rate_limiter,
        request_timeout: edge.request_timeout,
    });
    let mut router = routes
        .fallback(not_found)
        .with_state(state)
        // 3. admission
        .layer(middleware::from_fn_with_state(admission, admission::admit));
    // 2. CORS
    if let Some(cors) = hardening::cors_layer(&edge.cors) {
        router = router.layer(cors);
    }
    // 1. request id, logging, the envelope, metrics and security headers: one layer
    router.layer(middleware::from_fn(request_id::observe))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_paths_are_cut_at_256_characters_and_hide_seeds() {
        let seed = "SB3KJRSQ2KHFAPDD4JOGUHFQH6T4NTMBIAJ6UKSMXEWEFN7LY3BO7X2E";
        assert_eq!(
            redacted_path(&format!("/api/streams/{seed}")),
            "/api/streams/S…[redacted]"
        );
        assert_eq!(redacted_path("/api/streams/abc"), "/api/streams/abc");
        // Characters, not bytes: 300 two-byte characters keep 256 of them.
        let long = format!("/{}", "é".repeat(300));
        let cut = redacted_path(&long);
        assert_eq!(cut.chars().count(), 256);
        assert!(long.starts_with(&cut));
        assert_eq!(redacted_path(&"a".repeat(256)), "a".repeat(256));
        assert_eq!(RedactedPath(&long).to_string(), cut);
    }
}
