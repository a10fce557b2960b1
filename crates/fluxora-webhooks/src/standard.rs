//! Standard Webhooks interoperability (<https://www.standardwebhooks.com>, specification 1.0):
//! `whsec_` secrets and `v1,<base64>` signatures over `"{id}.{timestamp}.{body}"`.
//!
//! Fluxora can send these headers beside its own (`Signer::with_standard_webhooks`), so a
//! consumer may verify deliveries with any Standard Webhooks library; and a [`crate::Verifier`]
//! configured with [`crate::Scheme::StandardWebhooks`] verifies them with the same table of
//! outcomes as the Fluxora headers.

use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use crate::sign::{keyed, mac, HmacSha256, Signature};

/// The prefix of a Standard Webhooks secret's text form: `whsec_<base64 key>`.
pub const SECRET_PREFIX: &str = "whsec_";

/// Standard base64 alphabet that accepts keys with or without `=` padding.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a text is not a Standard Webhooks secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The text (after an optional `whsec_` prefix) is empty, or decodes to zero bytes.
    #[error("the Standard Webhooks secret is empty")]
    Empty,
    /// The text after the optional `whsec_` prefix is not standard base64.
    #[error("the Standard Webhooks secret is not base64 after its whsec_ prefix")]
    NotBase64,
}

/// A Standard Webhooks signing key: the bytes that `whsec_<base64>` encodes.
///
/// `Debug` never shows the key; there is deliberately no `Display`.
///
/// ```
/// use fluxora_webhooks::StandardSecret;
///
/// let secret = StandardSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
/// assert_eq!(secret.key().len(), 24);
/// assert_eq!(secret.expose_whsec(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
/// # Ok::<(), fluxora_webhooks::SecretError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct StandardSecret {
    key: Vec<u8>,
}

impl StandardSecret {
    /// Parses `whsec_<base64>` (the prefix is optional, as in the specification's libraries;
    /// padding is optional). Surrounding ASCII whitespace is ignored.
    ///
    /// Errors: [`SecretError::Empty`] for an empty key, [`SecretError::NotBase64`] otherwise.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim_ascii();
        let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        if encoded.is_empty() {
            return Err(SecretError::Empty);
        }
        let key = LENIENT
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(StandardSecret { key })
    }

    /// Wraps raw key bytes (the specification recommends 24 to 64 random bytes).
    ///
    /// Errors: [`SecretError::Empty`] when `key` is empty.
    pub fn from_key(key: impl Into<Vec<u8>>) -> Result<Self, SecretError> {
        let key = key.into();
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(StandardSecret { key })
    }

    /// The HMAC-SHA256 key bytes.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The text form, `whsec_<base64 key with padding>`. Handle it as a secret.
    pub fn expose_whsec(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }
}

impl fmt::Debug for StandardSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StandardSecret(<redacted>)")
    }
}

/// Signs a message in the Standard Webhooks format: `v1,<base64 HMAC-SHA256(key,
/// "{msg_id}.{timestamp}.{raw_body}")>` — the value of the `webhook-signature` header.
///
/// `timestamp` is unix seconds (the `webhook-timestamp` header); `msg_id` is the `webhook-id`
/// header (Fluxora uses its delivery id). Never fails.
///
/// ```
/// // The specification's published test vector.
/// use fluxora_webhooks::{sign_standard, StandardSecret};
///
/// let secret = StandardSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
/// let signature = sign_standard(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, br#"{"test": 2432232314}"#);
/// assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
/// # Ok::<(), fluxora_webhooks::SecretError>(())
/// ```
pub fn sign_standard(
    secret: &StandardSecret,
    msg_id: &str,
    timestamp: u64,
    raw_body: &[u8],
) -> String {
    let signature = standard_mac(
        &keyed(secret.key()),
        msg_id.as_bytes(),
        timestamp.to_string().as_bytes(),
        raw_body,
    );
    format_signature(&signature)
}

/// The Standard Webhooks MAC over `"{id}.{timestamp}.{body}"` with a keyed instance.
pub(crate) fn standard_mac(
    key: &HmacSha256,
    msg_id: &[u8],
    timestamp: &[u8],
    raw_body: &[u8],
) -> Signature {
    mac(key, &[msg_id, b".", timestamp, b".", raw_body])
}

/// `v1,<base64 with padding>`.
pub(crate) fn format_signature(signature: &Signature) -> String {
    format!("v1,{}", STANDARD.encode(signature.as_bytes()))
}

/// The `v1` signatures of a `webhook-signature` header: space-delimited `version,base64`
/// entries. Entries of other versions, and `v1` entries that are not base64 of exactly 32
/// bytes, are skipped (they can never match).
pub(crate) fn parse_signatures(header: &[u8]) -> Vec<Signature> {
    header
        .split(|byte| byte.is_ascii_whitespace())
        .filter_map(|entry| {
            let rest = entry.strip_prefix(b"v1,")?;
            // 32 bytes are 44 base64 characters with padding; refuse anything longer before
            // decoding so a huge entry costs nothing.
            if rest.is_empty() || rest.len() > 44 {
                return None;
            }
            let bytes = STANDARD.decode(rest).ok()?;
            let bytes: [u8; 32] = bytes.try_into().ok()?;
            Some(Signature::from_bytes(bytes))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_parse_with_or_without_prefix_and_padding() {
        let with = StandardSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let without = StandardSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(with, without);
        let padded = StandardSecret::parse("whsec_YWJj").unwrap();
        assert_eq!(padded.key(), b"abc");
        assert_eq!(StandardSecret::parse("whsec_YWI=").unwrap().key(), b"ab");
        assert_eq!(StandardSecret::parse("whsec_YWI").unwrap().key(), b"ab");
        assert_eq!(StandardSecret::parse("whsec_"), Err(SecretError::Empty));
        assert_eq!(StandardSecret::parse(""), Err(SecretError::Empty));
        assert_eq!(
            StandardSecret::parse("whsec_not base64!"),
            Err(SecretError::NotBase64)
        );
        assert_eq!(
            StandardSecret::from_key(Vec::new()),
            Err(SecretError::Empty)
        );
        assert!(!format!("{with:?}").contains("MfKQ"));
    }

    #[test]
    fn signature_header_entries_are_filtered() {
        let good = Signature::from_bytes([7; 32]);
        let header = format!(
            "v2,{b} v1,short v1,{b}  v1a,{b} junk v1,{b}{b}",
            b = STANDARD.encode([7u8; 32])
        );
        assert_eq!(parse_signatures(header.as_bytes()), vec![good]);
        assert!(parse_signatures(b"").is_empty());
        assert!(parse_signatures(b"v1,").is_empty());
        assert!(parse_signatures(&[0xff, 0x00, b' ']).is_empty());
    }
}
