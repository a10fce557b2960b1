//! Opaque, tamper-proof list cursors (their contract for clients: `docs/api.md`, "Lists and
//! cursors").
//!
//! A cursor carries the insertion position of the last stream on a page and a fingerprint of the
//! filters it was issued for, authenticated with HMAC-SHA256 (verified in constant time) under a
//! per-database secret ([`crate::store::meta::ServiceMeta::cursor_secret`]), so every replica and
//! restart accepts it. A forged, tampered or truncated cursor, or one issued for other filters, is
//! refused.
//!
//! Wire format: unpadded base64url of `version (1) ‖ position (i64 BE, 8) ‖ filter fingerprint (8)
//! ‖ tag (first 16 bytes of the HMAC)`, 44 characters.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
const PAYLOAD_LEN: usize = 1 + 8 + 8;
const CURSOR_LEN: usize = PAYLOAD_LEN + TAG_LEN;

/// Why a cursor was refused (answered with 400 `VALIDATION_ERROR`, field `cursor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// Not a cursor this service issued, or altered since.
    #[error("cursor is malformed or was not issued by this service")]
    Invalid,
    /// Issued for a different set of filters.
    #[error("cursor was issued for different filters; start again without a cursor")]
    FilterMismatch,
}

/// Fingerprint of a filter set: the first 8 bytes of SHA-256 over a canonical rendering
/// (`name=value` pairs in a fixed order, absent filters included as empty).
pub fn filter_fingerprint(parts: &[(&str, Option<&str>)]) -> [u8; 8] {
    let mut hasher = Sha256::new();
    for (name, value) in parts {
        hasher.update(name.as_bytes());
        hasher.update(b"=");
        hasher.update(value.unwrap_or("").as_bytes());
        hasher.update(b"\n");
    }
    let digest = hasher.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// Encodes and verifies cursors with one secret.
#[derive(Clone)]
pub struct CursorCodec {
    secret: Vec<u8>,
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec { secret: <redacted> }")
    }
}

impl CursorCodec {
    /// A codec keyed with `secret` (any length; 32 random bytes in practice).
    pub fn new(secret: Vec<u8>) -> Self {
        Self { secret }
    }

    fn tag(&self, payload: &[u8]) -> [u8; TAG_LEN] {
        let mut out = [0u8; TAG_LEN];
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
        if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) {
            mac.update(payload);
            out.copy_from_slice(&mac.finalize().into_bytes()[..TAG_LEN]);
        }
        out
    }

    /// Issues a cursor for `position` under `fingerprint`.
    pub fn encode(&self, position: i64, fingerprint: [u8; 8]) -> String {
        let mut bytes = Vec::with_capacity(CURSOR_LEN);
        bytes.push(VERSION);
        bytes.extend_from_slice(&position.to_be_bytes());
        bytes.extend_from_slice(&fingerprint);
        let tag = self.tag(&bytes);
        bytes.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Verifies a cursor and returns its position.
    ///
    /// Errors: [`CursorError::Invalid`] for anything not issued by [`CursorCodec::encode`] with
    /// this secret; [`CursorError::FilterMismatch`] when issued for another `fingerprint`.
    pub fn decode(&self, cursor: &str, fingerprint: [u8; 8]) -> Result<i64, CursorError> {
        if cursor.len() > 64 {
            return Err(CursorError::Invalid);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| CursorError::Invalid)?;
        if bytes.len() != CURSOR_LEN || bytes[0] != VERSION {
            return Err(CursorError::Invalid);
        }
        let (payload, tag) = bytes.split_at(PAYLOAD_LEN);
        let verified = Hmac::<Sha256>::new_from_slice(&self.secret)
            .map(|mut mac| {
                mac.update(payload);
                mac.verify_truncated_left(tag).is_ok()
            })
            .unwrap_or(false);
        if !verified {
            return Err(CursorError::Invalid);
        }
        if payload[9..17] != fingerprint {
            return Err(CursorError::FilterMismatch);
        }
        let mut position = [0u8; 8];
        position.copy_from_slice(&payload[1..9]);
        Ok(i64::from_be_bytes(position))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let codec = CursorCodec::new(vec![7; 32]);
        let fp = filter_fingerprint(&[("status", Some("active")), ("sender", None)]);
        let cursor = codec.encode(42, fp);
        assert_eq!(cursor.len(), 44);
        assert_eq!(codec.decode(&cursor, fp), Ok(42));

        let other = filter_fingerprint(&[("status", Some("paused")), ("sender", None)]);
        assert_eq!(
            codec.decode(&cursor, other),
            Err(CursorError::FilterMismatch)
        );

        // Flip each character in turn: every change is caught.
        for i in 0..cursor.len() {
            let mut chars: Vec<char> = cursor.chars().collect();
            chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
            let tampered: String = chars.into_iter().collect();
            assert!(codec.decode(&tampered, fp).is_err(), "position {i}");
        }
        assert_eq!(codec.decode("", fp), Err(CursorError::Invalid));
        assert_eq!(codec.decode("not base64!", fp), Err(CursorError::Invalid));
        assert_eq!(
            CursorCodec::new(vec![8; 32]).decode(&cursor, fp),
            Err(CursorError::Invalid)
        );
    }
}
