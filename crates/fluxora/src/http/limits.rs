//! Limits on the request head (`docs/api.md`, "The error envelope"): a request target longer
//! than [`MAX_URI_BYTES`] is refused with 414 `URI_TOO_LONG`, a header section larger than
//! [`MAX_HEADER_BYTES`] or with more than [`MAX_HEADER_COUNT`] fields with 431
//! `HEADERS_TOO_LARGE`, both in the error envelope.
//!
//! hyper parses heads up to higher limits ([`crate::http::server::HYPER_MAX_HEAD_BYTES`],
//! [`crate::http::server::HYPER_MAX_HEADERS`]) so that these checks, not hyper's bare answers,
//! are what a client over the API's limits meets.

use axum::http::{HeaderMap, Uri};

use crate::http::error::ApiError;

/// Longest request target (path and query), in bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest header section, in bytes: each field counted as `name: value` plus its line end
/// (4 bytes).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most header fields in one request.
pub const MAX_HEADER_COUNT: usize = 100;

/// Checks the request head against the limits above.
///
/// Errors: [`ApiError::UriTooLong`] (414) or [`ApiError::HeadersTooLarge`] (431).
pub fn check_head(uri: &Uri, headers: &HeaderMap) -> Result<(), ApiError> {
    let uri_len = uri
        .path_and_query()
        .map_or(uri.path().len(), |pq| pq.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return Err(ApiError::UriTooLong { max: MAX_URI_BYTES });
    }
    if headers.len() > MAX_HEADER_COUNT {
        return Err(ApiError::HeadersTooLarge {
            max_bytes: MAX_HEADER_BYTES,
            max_count: MAX_HEADER_COUNT,
        });
    }
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if bytes > MAX_HEADER_BYTES {
        return Err(ApiError::HeadersTooLarge {
            max_bytes: MAX_HEADER_BYTES,
            max_count: MAX_HEADER_COUNT,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn uri_and_header_limits() {
        let ok: Uri = format!("/{}", "a".repeat(MAX_URI_BYTES - 1))
            .parse()
            .unwrap_or_default();
        assert!(check_head(&ok, &HeaderMap::new()).is_ok());
        let long: Uri = format!("/?q={}", "a".repeat(MAX_URI_BYTES))
            .parse()
            .unwrap_or_default();
        assert!(matches!(
            check_head(&long, &HeaderMap::new()),
            Err(ApiError::UriTooLong { .. })
        ));
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-big",
            HeaderValue::from_str(&"v".repeat(MAX_HEADER_BYTES))
                .unwrap_or(HeaderValue::from_static("")),
        );
        assert!(matches!(
            check_head(&Uri::from_static("/"), &headers),
            Err(ApiError::HeadersTooLarge { .. })
        ));
        let mut many = HeaderMap::new();
        for i in 0..=MAX_HEADER_COUNT {
            if let Ok(name) = axum::http::HeaderName::from_bytes(format!("x-h{i}").as_bytes()) {
                many.insert(name, HeaderValue::from_static("1"));
            }
        }
        assert!(check_head(&Uri::from_static("/"), &many).is_err());
    }
}
