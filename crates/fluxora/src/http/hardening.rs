//! HTTP hardening (issue 7, scope 6): the CORS allow-list and the security headers every
//! response carries. The request timeout is applied by [`crate::http::admission`], the JSON
//! nesting limit lives with the body rules ([`crate::http::body::MAX_JSON_DEPTH`]), and
//! `Cache-Control: no-store` on errors with the envelope
//! ([`crate::http::error::render_envelope`]).

use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

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

/// An invalid `CORS_ALLOWED_ORIGINS` entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not an origin: expected scheme://host[:port] (http or https, no path), or a lone '*'"
)]
pub struct CorsOriginError(pub String);

/// Which browser origins may call the API (`CORS_ALLOWED_ORIGINS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Unset: no CORS headers at all; browsers keep the same-origin policy.
    #[default]
    Disabled,
    /// `*`: any origin. Safe for this API because credentials are bearer tokens a page must
    /// hold itself (never cookies), and `Access-Control-Allow-Credentials` is never sent.
    Any,
    /// Exact origins (`https://app.example`, `http://localhost:5173`), compared byte for byte
    /// with the request's `Origin` after normalisation (lower-case scheme and host, default port
    /// dropped).
    List(Vec<HeaderValue>),
}

impl CorsOrigins {
    /// Parses a comma-separated list of origins, or `*` alone.
    ///
    /// Errors: [`CorsOriginError`] for an entry that is not `scheme://host[:port]` (http/https,
    /// no path, query or credentials), or `*` mixed with origins.
    pub fn parse(raw: &str) -> Result<Self, CorsOriginError> {
        let entries: Vec<&str> = raw
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if entries == ["*"] {
            return Ok(CorsOrigins::Any);
        }
        let mut origins = Vec::new();
        for entry in entries {
            let bad = || CorsOriginError(entry.chars().take(64).collect());
            let url = url::Url::parse(entry).map_err(|_| bad())?;
            let plain = matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some()
                && url.username().is_empty()
                && url.password().is_none()
                && url.path() == "/"
                && url.query().is_none()
                && url.fragment().is_none()
                && !entry.trim_end_matches('/').ends_with(['?', '#']);
            if !plain {
                return Err(bad());
            }
            let origin = url.origin().ascii_serialization();
            origins.push(HeaderValue::from_str(&origin).map_err(|_| bad())?);
        }
        if origins.is_empty() {
            return Ok(CorsOrigins::Disabled);
        }
        Ok(CorsOrigins::List(origins))
    }

    /// Whether CORS is off (no layer, no headers).
    pub fn is_disabled(&self) -> bool {
        matches!(self, CorsOrigins::Disabled)
    }

    /// The CORS layer for these origins; `None` when disabled. Preflights are answered for
    /// the API's methods and request headers (`Authorization`, `Content-Type`,
    /// `Idempotency-Key`, `X-Request-Id`) and cached 10 minutes; responses expose
    /// `X-Request-Id`, `Location`, `Retry-After` and the `RateLimit-*` headers to scripts.
    pub fn layer(&self) -> Option<CorsLayer> {
        let allow_origin = match self {
            CorsOrigins::Disabled => return None,
            CorsOrigins::Any => AllowOrigin::any(),
            CorsOrigins::List(origins) => AllowOrigin::list(origins.iter().cloned()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_origins() {
        assert_eq!(CorsOrigins::parse("*").unwrap(), CorsOrigins::Any);
        assert_eq!(CorsOrigins::parse(" , ").unwrap(), CorsOrigins::Disabled);
        assert_eq!(
            CorsOrigins::parse("https://App.Example, http://localhost:5173/,https://x.example:443")
                .unwrap(),
            CorsOrigins::List(vec![
                HeaderValue::from_static("https://app.example"),
                HeaderValue::from_static("http://localhost:5173"),
                HeaderValue::from_static("https://x.example"),
            ])
        );
        for bad in [
            "app.example",
            "ftp://app.example",
            "https://app.example/path",
            "https://user@app.example",
            "https://app.example?x=1",
            "*, https://app.example",
            "null",
        ] {
            assert!(CorsOrigins::parse(bad).is_err(), "{bad}");
        }
    }
}
