//! `Idempotency-Key` handling for `POST /api/streams` (`docs/api.md`, "Idempotency").
//!
//! A key is 1–128 characters of `[A-Za-z0-9:_-]`. The request is fingerprinted by SHA-256 of its
//! canonical JSON (object keys sorted, insignificant whitespace removed, defaults not applied), so
//! the same body with reordered keys or different spacing replays instead of conflicting. Records
//! live [`KEY_TTL_MS`] (24 h); an in-flight claim is held at most [`CLAIM_LOCK_MS`] so a crashed
//! request does not block its key forever.
//!
//! Keys are scoped by credential ([`IdempotencyScope`]): each API key has its own key space and
//! anonymous requests share one, so two clients choosing the same key never see each other's
//! streams.

use sha2::{Digest, Sha256};

/// How long a completed key is remembered (durably, across restarts): 24 hours, in milliseconds.
pub const KEY_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// How long an in-flight claim blocks its key if its request never completes (crash), in ms.
pub const CLAIM_LOCK_MS: i64 = 60 * 1000;

/// Maximum key length in characters (a key is 1–128 characters of `[A-Za-z0-9:_-]`).
pub const MAX_KEY_LEN: usize = 128;

/// How long a client is told to wait (`Retry-After`, seconds) before retrying a key whose first
/// request is still in flight: a live request finishes within a second or two, and one that
/// crashed releases the key when its claim lapses ([`CLAIM_LOCK_MS`]).
pub const IN_FLIGHT_RETRY_AFTER_SECS: u64 = 1;

/// Whose key space an idempotency key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyScope {
    /// Requests without a credential (all of them share one key space).
    Anonymous,
    /// Requests made with the API key of this public id (`key_…`, never the secret).
    ApiKey(String),
}

impl IdempotencyScope {
    /// The stored form: `""` for [`IdempotencyScope::Anonymous`], the key id otherwise (ids are
    /// never empty).
    pub fn as_str(&self) -> &str {
        match self {
            IdempotencyScope::Anonymous => "",
            IdempotencyScope::ApiKey(id) => id,
        }
    }
}

/// A validated idempotency key, in the scope of the credential that sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    scope: IdempotencyScope,
    key: String,
}

/// Why an `Idempotency-Key` header was refused (400 `VALIDATION_ERROR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdempotencyKeyError {
    /// Present but empty.
    #[error("Idempotency-Key must not be empty")]
    Empty,
    /// Longer than 128 characters.
    #[error("Idempotency-Key must be at most 128 characters")]
    TooLong,
    /// A character outside `[A-Za-z0-9:_-]` (or a header that is not visible ASCII).
    #[error("Idempotency-Key may contain only letters, digits, ':', '_' and '-'")]
    InvalidCharacters,
}

impl IdempotencyKey {
    /// Parses a header value (as raw bytes, since header values need not be UTF-8) sent with
    /// the credential of `scope`.
    ///
    /// Errors: [`IdempotencyKeyError`].
    pub fn parse(raw: &[u8], scope: IdempotencyScope) -> Result<Self, IdempotencyKeyError> {
        if raw.is_empty() {
            return Err(IdempotencyKeyError::Empty);
        }
        if raw.len() > MAX_KEY_LEN {
            return Err(IdempotencyKeyError::TooLong);
        }
        if !raw
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
        {
            return Err(IdempotencyKeyError::InvalidCharacters);
        }
        Ok(Self {
            scope,
            key: String::from_utf8_lossy(raw).into_owned(),
        })
    }

    /// The key as the client sent it.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// The credential scope it belongs to.
    pub fn scope(&self) -> &IdempotencyScope {
        &self.scope
    }
}

/// SHA-256 of the canonical form of a JSON value: serde_json's map keeps keys sorted, and
/// compact serialization removes whitespace, so equal documents hash equally.
pub fn request_fingerprint(body: &serde_json::Value) -> Vec<u8> {
    let canonical = serde_json::to_vec(body).unwrap_or_default();
    Sha256::digest(canonical).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_rules() {
        let parse = |raw: &[u8]| IdempotencyKey::parse(raw, IdempotencyScope::Anonymous);
        assert!(parse(b"abc:DEF_123-x").is_ok());
        assert!(parse(&[b'a'; 128]).is_ok());
        assert_eq!(parse(b""), Err(IdempotencyKeyError::Empty));
        assert_eq!(parse(&[b'a'; 129]), Err(IdempotencyKeyError::TooLong));
        for bad in [&b"a b"[..], b"a/b", b"a.b", "é".as_bytes(), b"a\tb"] {
            assert_eq!(parse(bad), Err(IdempotencyKeyError::InvalidCharacters));
        }
    }

    #[test]
    fn fingerprint_ignores_key_order_and_spacing() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": 2, "x": 3}}"#).unwrap();
        let b = json!({"a": {"x": 3, "y": 2}, "b": 1});
        assert_eq!(request_fingerprint(&a), request_fingerprint(&b));
        assert_ne!(
            request_fingerprint(&a),
            request_fingerprint(&json!({"b": 2}))
        );
    }
}
