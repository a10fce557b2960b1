//! Request ids and per-request logging (`docs/operations.md`, "Logs").
//!
//! An inbound `x-request-id` of 1–128 visible ASCII characters is honoured, unless it looks like
//! a secret ([`looks_secret`]: a Stellar secret seed, an API key, a webhook signing secret);
//! anything else is replaced by a fresh UUID v7, so a secret pasted into the header is neither
//! logged nor echoed. The id is stored in the request's extensions, recorded on the request's
//! tracing span (so every log line of the request carries it), and echoed on the response. One
//! INFO line per request records method, path, status and latency — except a 429, which is
//! logged at DEBUG and counted in the refusal summary ([`crate::telemetry::refusals`]), so a
//! flood writes O(1) lines.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;
use uuid::Uuid;

/// The `x-request-id` header.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request: visible ASCII, kept as the header value it is echoed as (so
/// echoing it and handing it to later layers copies no text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// Honours `inbound` if it is 1–128 visible ASCII characters (0x21–0x7E) and does not look
    /// like a secret ([`looks_secret`]), else generates a UUID v7.
    pub fn from_inbound(inbound: Option<&HeaderValue>) -> Self {
        match inbound {
            Some(value)
                if !value.is_empty()
                    && value.len() <= 128
                    && value.as_bytes().iter().all(|b| (0x21..=0x7e).contains(b))
                    && !looks_secret(value.as_bytes()) =>
            {
                Self(value.clone())
            }
            _ => Self::generate(),
        }
    }

    /// A fresh UUID v7 in its hyphenated lower-case form.
    fn generate() -> Self {
        let mut buffer = Uuid::encode_buffer();
        let text = Uuid::now_v7().hyphenated().encode_lower(&mut buffer);
        // 36 hex digits and hyphens are always a valid header value; the fallback is unreachable.
        Self(HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("unknown")))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        // Only visible ASCII is ever stored (checked above), so this never falls back.
        self.0.to_str().unwrap_or_default()
    }

    /// The id as the `x-request-id` header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

/// Whether `id` (visible ASCII) holds something shaped like a secret this service knows: a
/// Stellar secret seed (`S` and 55 base32 characters, the shape
/// [`crate::address::redact_secret_seeds`] hides), an API key (`flx_…`,
/// [`crate::apikeys::KEY_PREFIX`]) or a generated webhook signing secret (`fxwh_…`).
pub fn looks_secret(id: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(id) else {
        return true;
    };
    let lower = text.to_ascii_lowercase();
    lower.contains(crate::apikeys::KEY_PREFIX)
        || lower.contains("fxwh_")
        || matches!(
            crate::address::redact_secret_seeds(text),
            std::borrow::Cow::Owned(_)
        )
}

/// Middleware, the outermost layer: assigns the request id and runs the request inside a span
/// carrying it; then, on the response, writes the error envelope of an error
/// ([`crate::http::error::render_envelope`]), records the request metrics
/// ([`crate::http::metrics::track`]: method, route template, status, latency), sets the
/// security headers the response lacks ([`crate::http::hardening::SECURITY_HEADERS`]), echoes
/// the id and logs the outcome. One layer for these five (instead of one each): every
/// response, errors included, goes through each step in this order, with fewer boxed services
/// per request.
pub async fn observe(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    // `MatchedPath` (set by the router before the route's layers run), `Method` and `Uri`
    // share their text: these clones copy none.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    let uri = request.uri().clone();
    let id = RequestId::from_inbound(request.headers().get(&X_REQUEST_ID));
    // An ERROR-level span, so that it is enabled whatever LOG_LEVEL lets through: every log line
    // of a request carries its id, method and path, the WARN and ERROR lines (a 503, a timeout,
    // a failure) as well as those at info. Disabled only when logging is off.
    // All fields at creation, formatted only if a subscriber records the span (the path's
    // redaction included): a later `record` would make the JSON formatter parse and re-write
    // the span's fields.
    let span = tracing::error_span!(
        "request",
        request_id = id.as_str(),
        method = method.as_str(),
        path = %crate::http::RedactedPath(uri.path()),
    );
    request.extensions_mut().insert(id.clone());

    let response = match crate::http::limits::check_head(&uri, request.headers()) {
        Ok(()) => next.run(request).instrument(span.clone()).await,
        Err(refused) => refused.into_response(),
    };
    let mut response = span.in_scope(|| {
        crate::http::error::render_envelope(response, id.as_str(), &method, uri.path())
    });

    let status = response.status().as_u16();
    crate::http::metrics::track(&method, route.as_ref(), status, started.elapsed());
    crate::http::hardening::set_security_headers(response.headers_mut());
    response
        .headers_mut()
        .insert(X_REQUEST_ID.clone(), id.header_value().clone());
    // Whole microseconds, shown in ms: `0.153`, not `0.15309700000000001`.
    let latency_ms =
        f64::from(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX)) / 1000.0;
    span.in_scope(|| {
        // 503 is an expected operational state (database down, shutting down, overloaded):
        // WARN; any other 5xx is a bug or an outage: ERROR.
        if status == 429 {
            // One summary line per interval instead of a line per refused request.
            let client = response
                .extensions()
                .get::<crate::http::ratelimit::Bucket>()
                .map_or_else(|| "unknown".to_string(), |bucket| bucket.redis_suffix());
            let route = route
                .as_ref()
                .map_or("(unmatched)", |matched| matched.as_str());
            crate::telemetry::refusals::record(
                &client,
                &format!("{method} {route}"),
                crate::telemetry::refusals::Reason::RateLimited,
            );
            tracing::debug!(status, latency_ms, "request completed");
        } else if let Some(code) = response
            .extensions()
            .get::<crate::http::error::ErrorCode>()
            .map(|code| code.as_str())
        {
            // An error: its envelope code on the line, so logs can be searched by it.
            if status == 503 {
                tracing::warn!(status, error_code = code, latency_ms, "request completed");
            } else if status >= 500 {
                tracing::error!(status, error_code = code, latency_ms, "request completed");
            } else {
                tracing::info!(status, error_code = code, latency_ms, "request completed");
            }
        } else if status == 503 {
            // The health report at 503 (not an error envelope).
            tracing::warn!(status, latency_ms, "request completed");
        } else if status >= 500 {
            tracing::error!(status, latency_ms, "request completed");
        } else {
            tracing::info!(status, latency_ms, "request completed");
        }
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_rules() {
        let ok = HeaderValue::from_static("abc-123_!~");
        assert_eq!(RequestId::from_inbound(Some(&ok)).as_str(), "abc-123_!~");
        let long = HeaderValue::from_str(&"a".repeat(128)).unwrap();
        assert_eq!(RequestId::from_inbound(Some(&long)).as_str().len(), 128);
        for bad in ["", "has space", &"a".repeat(129)] {
            let value = HeaderValue::from_str(bad).unwrap();
            let id = RequestId::from_inbound(Some(&value));
            assert_ne!(id.as_str(), bad);
            assert!(Uuid::parse_str(id.as_str()).is_ok());
        }
        let opaque = HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap();
        assert!(Uuid::parse_str(RequestId::from_inbound(Some(&opaque)).as_str()).is_ok());
    }

    #[test]
    fn secret_shaped_ids_are_replaced() {
        let seed = "SB3KJRSQ2KHFAPDD4JOGUHFQH6T4NTMBIAJ6UKSMXEWEFN7LY3BO7X2E";
        for secret in [
            seed.to_string(),
            seed.to_lowercase(),
            format!("req-{seed}"),
            "flx_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd".to_string(),
            "fxwh_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789".to_string(),
        ] {
            let value = HeaderValue::from_str(&secret).unwrap();
            let id = RequestId::from_inbound(Some(&value));
            assert!(Uuid::parse_str(id.as_str()).is_ok(), "{secret} kept");
        }
        // An account id (G…) and ordinary ids are kept.
        for fine in [
            "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5",
            "0192f6d3-7c4e-7a1b-9c2d-3e4f5a6b7c8d",
            "trace-abc-123",
        ] {
            let value = HeaderValue::from_str(fine).unwrap();
            assert_eq!(RequestId::from_inbound(Some(&value)).as_str(), fine);
        }
    }
}
