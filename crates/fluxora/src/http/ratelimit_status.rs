//! What a rate limit said about one request ([`RateLimitStatus`]) and the `RateLimit-*` and
//! `Retry-After` headers that carry it.
//!
//! A leaf of the HTTP layer: [`crate::http::ratelimit`] produces statuses, and both it (for
//! allowed requests) and the error envelope ([`crate::http::error::ApiError::RateLimited`], for
//! a 429) write them, without the error module depending on the limiter.

use axum::http::{HeaderMap, HeaderValue};

/// What a limiter said about one request, as sent in the `RateLimit-*` headers
/// (IETF draft `RateLimit` header fields; seconds, integers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitStatus {
    /// `RateLimit-Limit`: requests allowed per window (the per-minute limit).
    pub limit: u32,
    /// `RateLimit-Remaining`: requests still allowed right now (the burst left).
    pub remaining: u32,
    /// `RateLimit-Reset`: seconds until the limiter is fully replenished.
    pub reset_secs: u64,
    /// `Retry-After` on a 429: seconds until the next request would be allowed (≥ 1).
    pub retry_after_secs: u64,
}

impl RateLimitStatus {
    /// Writes `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`, and with
    /// `rejected` also `Retry-After`.
    pub fn write_headers(&self, headers: &mut HeaderMap, rejected: bool) {
        headers.insert("ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("ratelimit-reset", HeaderValue::from(self.reset_secs));
        if rejected {
            headers.insert(
                "retry-after",
                HeaderValue::from(self.retry_after_secs.max(1)),
            );
        }
    }
}
