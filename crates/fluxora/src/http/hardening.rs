//! HTTP hardening (`docs/operations.md`, "HTTP hardening"): the CORS layer of the configured
//! allow-list ([`CorsOrigins`]) and the security headers every response carries. The request
//! timeout is applied by [`crate::http::admission`], the JSON nesting limit lives with the body
//! rules ([`crate::http::body::MAX_JSON_DEPTH`]), and `Cache-Control: no-store` on errors with
//! the envelope ([`crate::http::error::render_envelope`]).

use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::cors::CorsOrigins;

/// Security headers set on every response that does not already carry them (a route may set its
/// own, e.g. a `Content-Security-Policy` for the `/docs` page):
/// - `X-Content-Type-Options: nosniff` — browsers never guess a type other than the declared one;
/// - `X-Frame-Options: DENY` and `Content-Security-Policy: frame-ancestors 'none'` — no page may
///   frame ours (clickjacking). The CSP restricts nothing else, so the `/docs` page's same-origin
///   and inline scripts and styles keep working;
/// - `Referrer-Policy: no-referrer` — URLs (stream ids, cursors) never leak to other sites.
///
/// `Strict-Transport-Security` is left to the TLS terminator in front of the service, which
/// knows whether the site is served over HTTPS only (`docs/operations.md`).
pub const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// Sets each [`SECURITY_HEADERS`] entry the response lacks (one pass over a fixed list, in
/// the outermost layer, [`crate::http::request_id::observe`]).
pub fn set_security_headers(headers: &mut axum::http::HeaderMap) {
    for (name, value) in SECURITY_HEADERS {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
}

/// The CORS layer for `origins`; `None` when disabled. Preflights are answered for
/// the API's methods and request headers (`Authorization`, `Content-Type`,
/// `Idempotency-Key`, `X-Request-Id`) and cached 10 minutes; responses expose
/// `X-Request-Id`, `Location`, `Retry-After` and the `RateLimit-*` headers to scripts.
pub fn cors_layer(origins: &CorsOrigins) -> Option<CorsLayer> {
    let allow_origin = match origins {
        CorsOrigins::Disabled => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(list.iter().cloned()),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([
                HeaderName::from_static("x-request-id"),
                header::LOCATION,
                header::RETRY_AFTER,
                HeaderName::from_static("ratelimit-limit"),
                HeaderName::from_static("ratelimit-remaining"),
                HeaderName::from_static("ratelimit-reset"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// `Cache-Control: no-store` on every response of a router (the admin routes: they return
/// secrets — a webhook signing secret, an API key — or operator data no intermediary should
/// keep). Overrides whatever a handler set.
pub fn no_store_layer() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    )
}
