//! The HTTP layer (design §4): router, middleware and the error envelope. Handlers are thin; the
//! rules live in [`crate::streams`].
//!
//! Every route is registered with [`utoipa_axum::routes!`] from a handler carrying
//! `#[utoipa::path]`, so the router and the OpenAPI document ([`openapi`], served by [`docs`])
//! come from the same lines.
//!
//! Layers, outermost first: request id and logging ([`request_id::observe`]), the error envelope
//! ([`error::render_errors`]), panic capture (500 envelope), the body guard ([`body::guard`]:
//! 413/415), then the routes.

// A route registered without `routes!` would be missing from the OpenAPI document.
#![deny(clippy::disallowed_methods)]

pub mod auth;
pub mod body;
pub mod docs;
pub mod error;
pub mod internal;
pub mod meta;
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

/// Every route with its documentation, before state and layers: the one place routes are
/// listed. `state` is needed only by route layers (the admin check).
pub fn api_router(state: AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(meta::router())
        .merge(docs::router())
        .merge(streams::router())
        .merge(internal::router())
        .merge(webhooks::router(state))
}

/// Builds the complete router with every layer.
pub fn router(state: AppState) -> Router {
    let (routes, document) = api_router(state.clone()).split_for_parts();
    // Serializing a document of plain data cannot fail; an empty body would show if it did.
    let document = docs::OpenApiJson(serde_json::to_vec(&document).unwrap_or_default().into());
    routes
        .fallback(not_found)
        .layer(Extension(document))
        .with_state(state)
        .layer(middleware::from_fn(body::guard))
        .layer(CatchPanicLayer::new())
        .layer(middleware::from_fn(error::render_errors))
        .layer(middleware::from_fn(request_id::observe))
}
