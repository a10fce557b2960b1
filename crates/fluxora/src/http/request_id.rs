//! Request ids and per-request logging (design §4).
//!
//! An inbound `x-request-id` of 1–128 visible ASCII characters is honoured; anything else is
//! replaced by a fresh UUID v7. The id is stored in the request's extensions, recorded on the
//! request's tracing span (so every log line of the request carries it), and echoed on the
//! response. One INFO line per request records method, path, status and latency.

use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use uuid::Uuid;

/// The `x-request-id` header.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// Honours `inbound` if it is 1–128 visible ASCII characters (0x21–0x7E), else generates a
    /// UUID v7.
    pub fn from_inbound(inbound: Option<&HeaderValue>) -> Self {
        match inbound.map(HeaderValue::as_bytes) {
            Some(bytes)
                if !bytes.is_empty()
                    && bytes.len() <= 128
                    && bytes.iter().all(|b| (0x21..=0x7e).contains(b)) =>
            {
                Self(String::from_utf8_lossy(bytes).into_owned())
            }
            _ => Self(Uuid::now_v7().to_string()),
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Middleware: assigns the request id, runs the request inside a span carrying it, logs the
/// outcome and echoes the id. Must be the outermost layer.
pub async fn observe(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = RequestId::from_inbound(request.headers().get(&X_REQUEST_ID));
    request.extensions_mut().insert(id.clone());
    let method = request.method().clone();
    let path = crate::http::redacted_path(request.uri().path());
    let span = tracing::info_span!(
        "request",
        request_id = %id.as_str(),
        method = %method,
        path = %path,
    );

    let mut response = next.run(request).instrument(span.clone()).await;

    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        // 503 is an expected operational state (database down, shutting down, overloaded):
        // WARN; any other 5xx is a bug or an outage: ERROR.
        if status == 503 {
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
}
