//! The signing side of the contract: the `x-fluxora-signature` MAC, the [`Signature`] value type
//! and the [`Signer`] that produces every header of a delivery.

use std::fmt;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::standard::{self, StandardSecret};
use crate::{
    DELIVERY_ID_HEADER, EVENT_HEADER, SIGNATURE_HEADER, STANDARD_ID_HEADER,
    STANDARD_SIGNATURE_HEADER, STANDARD_TIMESTAMP_HEADER, TIMESTAMP_HEADER,
};

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// SHA-256's block size in bytes: HMAC keys are padded (or first hashed) to this length.
const SHA256_BLOCK_BYTES: usize = 64;

/// An HMAC-SHA256 instance keyed with `secret`, ready to be cloned for each message.
///
/// Keys of any length are valid (RFC 2104 §2): a key longer than the 64-byte block is replaced
/// by its SHA-256 digest, and the key is zero-padded to the block. Building the block here makes
/// keying infallible, so no error path (and no panic) exists for any secret.
pub(crate) fn keyed(secret: &[u8]) -> HmacSha256 {
    let mut block = [0u8; SHA256_BLOCK_BYTES];
    if secret.len() > SHA256_BLOCK_BYTES {
        let digest = Sha256::digest(secret);
        block[..digest.len()].copy_from_slice(&digest);
    } else {
        block[..secret.len()].copy_from_slice(secret);
    }
    <HmacSha256 as KeyInit>::new(&block.into())
}

/// HMAC-SHA256 over the concatenation of `parts`, with an already keyed instance.
pub(crate) fn mac(key: &HmacSha256, parts: &[&[u8]]) -> Signature {
    let mut mac = key.clone();
    for part in parts {
        mac.update(part);
    }
    Signature(mac.finalize().into_bytes().into())
}

/// The Fluxora MAC of one delivery: HMAC-SHA256 over `"{timestamp}.{rawBody}"`, where `timestamp`
/// is the decimal text exactly as sent in `x-fluxora-timestamp`.
pub(crate) fn fluxora_mac(key: &HmacSha256, timestamp: &[u8], raw_body: &[u8]) -> Signature {
    mac(key, &[timestamp, b".", raw_body])
}

/// Signs one delivery: the lowercase hex HMAC-SHA256 of `"{timestamp}.{raw_body}"` keyed with
/// `secret` — the value of the `x-fluxora-signature` header.
///
/// - `secret`: the endpoint's secret, as raw bytes (the secret *string*'s UTF-8 bytes; a
///   `whsec_…` secret is used as-is here, not base64-decoded). Any length is accepted.
/// - `timestamp`: unix seconds, written in decimal without sign or leading zeros, exactly as the
///   `x-fluxora-timestamp` header carries it. Verifiers refuse `0` (`invalid_timestamp`).
/// - `raw_body`: the exact bytes of the HTTP request body.
///
/// Returns 64 lowercase hex characters. Never fails.
///
/// ```
/// // The contract's reference vector.
/// let signature = fluxora_webhooks::sign(b"topsecret", 1_710_000_000, br#"{"event":"stream.updated"}"#);
/// assert_eq!(signature, "925006549b879c8d9e91c10a153254fb4b6e2241820a1b072e28aa2fa8caeb79");
/// ```
pub fn sign(secret: &[u8], timestamp: u64, raw_body: &[u8]) -> String {
    fluxora_mac(&keyed(secret), timestamp.to_string().as_bytes(), raw_body).to_hex()
}

/// A 32-byte HMAC-SHA256 value: the signature of a delivery that was verified (or produced).
///
/// Equality is constant-time ([`subtle`]). [`fmt::Display`] and [`fmt::Debug`] print lowercase
/// hex, the wire form of `x-fluxora-signature`.
#[derive(Clone, Copy, Eq)]
pub struct Signature([u8; 32]);

impl Signature {
    /// Wraps 32 raw MAC bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Signature(bytes)
    }

    /// The 32 raw bytes of the MAC.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lowercase hex characters (the `x-fluxora-signature` form, and the key under which
    /// [`crate::DeliveryDedup`] remembers accepted signatures).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the wire form of `x-fluxora-signature`: surrounding ASCII whitespace is ignored,
    /// then exactly 64 hex digits in any letter case must remain. Any other input (wrong length,
    /// non-hex, NUL bytes, non-UTF-8) gives `None`; nothing is compared before the length check.
    pub fn parse_hex(value: &[u8]) -> Option<Self> {
        let value = value.trim_ascii();
        if value.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(value, &mut bytes).ok()?;
        Some(Signature(bytes))
    }

    /// Constant-time comparison with another signature.
    pub fn ct_matches(&self, other: &Signature) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl PartialEq for Signature {
    fn eq(&self, other: &Self) -> bool {
        self.ct_matches(other)
    }
}

impl std::hash::Hash for Signature {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_hex())
    }
}

/// Produces the signature headers of a delivery (the sender's side of the contract), optionally
/// with the Standard Webhooks headers too, so consumers can verify with that specification's
/// libraries (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`).
///
/// The secret is never printed: `Debug` shows only whether Standard Webhooks signing is on.
///
/// ```
/// use fluxora_webhooks::Signer;
///
/// let signer = Signer::new(b"topsecret");
/// let headers = signer.headers("dlv_1", "stream.updated", 1_710_000_000, br#"{"event":"stream.updated"}"#);
/// assert_eq!(headers[0], ("x-fluxora-delivery-id", "dlv_1".to_string()));
/// assert_eq!(headers[1], ("x-fluxora-event", "stream.updated".to_string()));
/// assert_eq!(headers[2], ("x-fluxora-timestamp", "1710000000".to_string()));
/// assert_eq!(headers[3].1, "925006549b879c8d9e91c10a153254fb4b6e2241820a1b072e28aa2fa8caeb79");
/// ```
#[derive(Clone)]
pub struct Signer {
    fluxora: HmacSha256,
    standard: Option<HmacSha256>,
}

impl Signer {
    /// A signer for the Fluxora headers only, keyed with the raw bytes of `secret`.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Signer {
            fluxora: keyed(secret.as_ref()),
            standard: None,
        }
    }

    /// Also emit the Standard Webhooks headers, keyed with `secret` (a `whsec_<base64>` secret;
    /// the HMAC key is its base64-decoded bytes, as that specification requires). Usually the
    /// same secret string as [`Signer::new`]'s, so one endpoint secret serves both formats.
    pub fn with_standard_webhooks(mut self, secret: &StandardSecret) -> Self {
        self.standard = Some(keyed(secret.key()));
        self
    }

    /// Whether [`Signer::headers`] includes the Standard Webhooks headers.
    pub fn signs_standard_webhooks(&self) -> bool {
        self.standard.is_some()
    }

    /// The headers to send with one delivery attempt, as `(lowercase name, value)` pairs:
    /// `x-fluxora-delivery-id`, `x-fluxora-event`, `x-fluxora-timestamp` (unix seconds) and
    /// `x-fluxora-signature`, then, when enabled, `webhook-id` (= the delivery id),
    /// `webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
    /// "{id}.{timestamp}.{body}">`). `timestamp` should be the attempt's current time, so each
    /// retry is signed afresh.
    pub fn headers(
        &self,
        delivery_id: &str,
        event: &str,
        timestamp: u64,
        raw_body: &[u8],
    ) -> Vec<(&'static str, String)> {
        let ts = timestamp.to_string();
        let mut headers = vec![
            (DELIVERY_ID_HEADER, delivery_id.to_string()),
            (EVENT_HEADER, event.to_string()),
            (TIMESTAMP_HEADER, ts.clone()),
            (
                SIGNATURE_HEADER,
                fluxora_mac(&self.fluxora, ts.as_bytes(), raw_body).to_hex(),
            ),
        ];
        if let Some(key) = &self.standard {
            let signature =
                standard::standard_mac(key, delivery_id.as_bytes(), ts.as_bytes(), raw_body);
            headers.push((STANDARD_ID_HEADER, delivery_id.to_string()));
            headers.push((STANDARD_TIMESTAMP_HEADER, ts));
            headers.push((
                STANDARD_SIGNATURE_HEADER,
                standard::format_signature(&signature),
            ));
        }
        headers
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("secret", &"<redacted>")
            .field("standard_webhooks", &self.standard.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keying_matches_rfc_4231_for_short_and_long_keys() {
        // RFC 4231 test case 2 (a 4-byte key) and test case 6 (a 131-byte key, hashed first).
        let short = mac(&keyed(b"Jefe"), &[b"what do ya want for nothing?"]);
        assert_eq!(
            short.to_hex(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let long = mac(
            &keyed(&[0xaa; 131]),
            &[b"Test Using Larger Than Block-Size Key - Hash Key First"],
        );
        assert_eq!(
            long.to_hex(),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        // Exactly one block long: used as-is.
        let exact = keyed(&[0x0b; 64]);
        let via_crate = <HmacSha256 as Mac>::new_from_slice(&[0x0b; 64]).unwrap();
        assert_eq!(
            mac(&exact, &[b"x"]).to_hex(),
            hex::encode(via_crate.chain_update(b"x").finalize().into_bytes())
        );
    }

    #[test]
    fn reference_vector_of_design_section_7() {
        assert_eq!(
            sign(
                b"topsecret",
                1_710_000_000,
                br#"{"event":"stream.updated"}"#
            ),
            "925006549b879c8d9e91c10a153254fb4b6e2241820a1b072e28aa2fa8caeb79"
        );
    }

    #[test]
    fn parse_hex_accepts_any_case_and_trims_but_checks_length_first() {
        let lower = "925006549b879c8d9e91c10a153254fb4b6e2241820a1b072e28aa2fa8caeb79";
        let parsed = Signature::parse_hex(lower.as_bytes()).unwrap();
        assert_eq!(parsed.to_hex(), lower);
        let upper = format!("  {}\t", lower.to_uppercase());
        assert_eq!(Signature::parse_hex(upper.as_bytes()), Some(parsed));
        assert_eq!(Signature::parse_hex(b""), None);
        assert_eq!(Signature::parse_hex(&lower.as_bytes()[..63]), None);
        assert_eq!(Signature::parse_hex(format!("{lower}0").as_bytes()), None);
        let mut nul = lower.as_bytes().to_vec();
        nul[10] = 0;
        assert_eq!(Signature::parse_hex(&nul), None);
        let non_hex = lower.replace('9', "g");
        assert_eq!(Signature::parse_hex(non_hex.as_bytes()), None);
    }

    #[test]
    fn signer_debug_never_shows_the_secret() {
        let signer = Signer::new(b"topsecret");
        assert!(!format!("{signer:?}").contains("topsecret"));
    }
}
