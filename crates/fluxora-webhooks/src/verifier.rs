//! The receiving side of the contract: [`Verifier`] checks a delivery's headers and raw body, in
//! exactly the order of the verification table ([`Outcome::ALL`]), and answers with a
//! [`VerifiedDelivery`] or a [`Rejection`].

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::outcome::Rejection;
use crate::sign::{fluxora_mac, keyed, HmacSha256, Signature};
use crate::standard::{self, StandardSecret};
use crate::{
    DEFAULT_GRACE_SECS, DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE_SECS, DELIVERY_ID_HEADER,
    EVENT_HEADER, SIGNATURE_HEADER, STANDARD_ID_HEADER, STANDARD_SIGNATURE_HEADER,
    STANDARD_TIMESTAMP_HEADER, TIMESTAMP_HEADER,
};

/// A source of the current time in unix seconds. Inject one to test time-dependent rules
/// (tolerance, rotation grace, dedup TTLs) without waiting.
///
/// Implemented by [`SystemClock`], [`FixedClock`] and every `Fn() -> u64 + Send + Sync`.
pub trait Clock: Send + Sync {
    /// Seconds since 1970-01-01T00:00:00Z.
    fn now_unix(&self) -> u64;
}

/// The system's wall clock. A clock set before 1970 reads 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or(0)
    }
}

/// A clock stopped at the given unix second (tests, `fluxora webhook verify --now`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedClock(pub u64);

impl Clock for FixedClock {
    fn now_unix(&self) -> u64 {
        self.0
    }
}

impl<F> Clock for F
where
    F: Fn() -> u64 + Send + Sync,
{
    fn now_unix(&self) -> u64 {
        self()
    }
}

/// Which headers and signing string a [`Verifier`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    /// Fluxora's own: `x-fluxora-delivery-id`, `x-fluxora-timestamp`, `x-fluxora-signature`
    /// (64 hex digits of HMAC-SHA256(secret bytes, `"{timestamp}.{rawBody}"`)).
    #[default]
    Fluxora,
    /// Standard Webhooks 1.0: `webhook-id`, `webhook-timestamp`, `webhook-signature`
    /// (space-separated `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{rawBody}")>`), where
    /// the key is the base64 part of the `whsec_…` secret. Same table of outcomes.
    StandardWebhooks,
}

impl Scheme {
    /// `(delivery id, timestamp, signature)` header names, lowercase.
    pub const fn header_names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Scheme::Fluxora => (DELIVERY_ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER),
            Scheme::StandardWebhooks => (
                STANDARD_ID_HEADER,
                STANDARD_TIMESTAMP_HEADER,
                STANDARD_SIGNATURE_HEADER,
            ),
        }
    }
}

/// Which configured secret produced the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretUsed {
    /// The current secret.
    Current,
    /// The previous secret, within its grace window after the rotation.
    Previous,
}

/// A delivery that passed every check of the verification table up to (not including)
/// deduplication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedDelivery {
    /// The delivery id (`x-fluxora-delivery-id`, or `webhook-id`), trimmed: stable across
    /// retries of one delivery, the dedup key. Not covered by the Fluxora signature.
    pub delivery_id: String,
    /// The signed timestamp, unix seconds.
    pub timestamp: u64,
    /// The `x-fluxora-event` header (`stream.created`, …), if present and UTF-8. Not covered by
    /// the signature: trust the event type inside the verified body.
    pub event: Option<String>,
    /// The signature that matched (for Standard Webhooks, the matching `v1` entry).
    pub signature: Signature,
    /// Which secret matched.
    pub secret: SecretUsed,
    /// How long, in seconds, this signature must be remembered to refuse a replay of the same
    /// request under a fresh delivery id: until `timestamp + tolerance` has passed
    /// (`timestamp + tolerance − now + 1`, so between 1 and 2 × tolerance + 1).
    pub replay_window_secs: u64,
}

/// The HMAC keys derived from one configured secret.
#[derive(Clone)]
struct Key {
    /// Keyed with the secret's raw bytes, as given (a `whsec_…` secret is not decoded).
    fluxora: HmacSha256,
    /// Keyed with the base64-decoded `whsec_…` key, when the secret is in that form.
    standard: Option<HmacSha256>,
}

impl Key {
    /// `None` for an empty secret (an empty environment variable configures nothing).
    fn new(secret: &[u8]) -> Option<Key> {
        if secret.is_empty() {
            return None;
        }
        let standard = std::str::from_utf8(secret)
            .ok()
            .and_then(|text| StandardSecret::parse(text).ok())
            .map(|secret| keyed(secret.key()));
        Some(Key {
            fluxora: keyed(secret),
            standard,
        })
    }

    fn for_scheme(&self, scheme: Scheme) -> Option<&HmacSha256> {
        match scheme {
            Scheme::Fluxora => Some(&self.fluxora),
            Scheme::StandardWebhooks => self.standard.as_ref(),
        }
    }
}

/// Verifies webhook deliveries, checking in exactly the verification table's order:
///
/// 1. `missing_secret` (500) — no current secret (absent or empty; for
///    [`Scheme::StandardWebhooks`], a current secret that is not `whsec_<base64>`);
/// 2. `missing_delivery_id` / `missing_timestamp` / `missing_signature` (401) — header absent
///    or empty (the delivery id also when not UTF-8; the signature after trimming whitespace);
/// 3. `payload_too_large` (413) — body longer than [`Verifier::max_body_bytes`] (262 144
///    bytes by default; exactly that many are accepted);
/// 4. `invalid_timestamp` (400) — not `^[1-9][0-9]*$`, or more than a u64 holds;
/// 5. `timestamp_outside_tolerance` (401) — more than [`Verifier::tolerance_secs`] (300 by
///    default; exactly 300 accepted) from the clock, in either direction;
/// 6. `signature_mismatch` (401) — the signature, trimmed and in any letter case, is not
///    exactly 64 hex digits, or differs (constant-time compare) from the MAC of the current
///    secret and of the previous secret while `now ≤ rotated_at + grace` (24 h by default).
///
/// The last row, `duplicate_delivery`, needs state: see [`crate::DeliveryDedup`] and
/// [`Verifier::verify_and_claim`].
///
/// Header names are matched case-insensitively; when a header repeats, its first occurrence
/// counts. No input panics, whatever its bytes or size, and clock arithmetic saturates.
///
/// A `Verifier` is cheap to clone (it holds pre-keyed HMAC states and an `Arc` clock) and is
/// `Send + Sync`. Its `Debug` output never shows a secret.
///
/// ```
/// use fluxora_webhooks::{FixedClock, Verifier};
///
/// let verifier = Verifier::new("new-secret")
///     .with_previous_secret("old-secret", 1_710_000_000) // rotated at this unix second
///     .with_grace_secs(24 * 3600)
///     .with_tolerance_secs(300)
///     .with_max_body_bytes(262_144)
///     .with_clock(FixedClock(1_710_000_100));
///
/// let body = br#"{"event":"stream.updated"}"#;
/// let signature = fluxora_webhooks::sign(b"old-secret", 1_710_000_000, body);
/// let headers = [
///     ("X-Fluxora-Delivery-Id", "dlv_1"),
///     ("X-Fluxora-Timestamp", "1710000000"),
///     ("X-Fluxora-Signature", signature.as_str()),
/// ];
/// let delivery = verifier.verify(headers, body).unwrap();
/// assert_eq!(delivery.delivery_id, "dlv_1");
/// assert_eq!(delivery.secret, fluxora_webhooks::SecretUsed::Previous);
/// ```
#[derive(Clone)]
pub struct Verifier {
    current: Option<Key>,
    previous: Option<(Key, u64)>,
    grace_secs: u64,
    tolerance_secs: u64,
    max_body_bytes: usize,
    clock: Arc<dyn Clock>,
    scheme: Scheme,
}

impl Default for Verifier {
    /// Same as [`Verifier::unconfigured`].
    fn default() -> Self {
        Verifier::unconfigured()
    }
}

impl Verifier {
    /// A verifier whose current secret is the raw bytes of `secret` (for a secret string, its
    /// UTF-8 bytes). An empty secret configures nothing: every delivery is `missing_secret`.
    ///
    /// Defaults: no previous secret, grace 86 400 s, tolerance 300 s, maximum body 262 144
    /// bytes, [`SystemClock`], [`Scheme::Fluxora`].
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Verifier {
            current: Key::new(secret.as_ref()),
            ..Verifier::unconfigured()
        }
    }

    /// A verifier without a secret: every delivery is `missing_secret` (500, so the sender
    /// keeps retrying until the consumer is configured).
    pub fn unconfigured() -> Self {
        Verifier {
            current: None,
            previous: None,
            grace_secs: DEFAULT_GRACE_SECS,
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            clock: Arc::new(SystemClock),
            scheme: Scheme::Fluxora,
        }
    }

    /// A verifier whose current secret is the environment variable `name` (e.g.
    /// `FLUXORA_WEBHOOK_SECRET`), taken byte for byte. Absent or empty: an unconfigured verifier
    /// (`missing_secret`), never an error, so a service still boots and answers 500 until
    /// configured.
    pub fn from_env(name: &str) -> Self {
        match std::env::var_os(name) {
            Some(value) => Verifier::new(value.into_encoded_bytes()),
            None => Verifier::unconfigured(),
        }
    }

    /// Adds the previous secret (before the last rotation) and the unix second of that
    /// rotation. It verifies while `now ≤ rotated_at + grace` (boundary inclusive); after that
    /// a match with it is `signature_mismatch`. An empty secret is ignored.
    pub fn with_previous_secret(mut self, secret: impl AsRef<[u8]>, rotated_at: u64) -> Self {
        self.previous = Key::new(secret.as_ref()).map(|key| (key, rotated_at));
        self
    }

    /// How long the previous secret stays valid after the rotation, in seconds (default
    /// 86 400 = 24 h).
    pub fn with_grace_secs(mut self, grace_secs: u64) -> Self {
        self.grace_secs = grace_secs;
        self
    }

    /// The largest accepted distance between the timestamp and the clock, in seconds, in either
    /// direction (default 300; exactly the tolerance is accepted).
    pub fn with_tolerance_secs(mut self, tolerance_secs: u64) -> Self {
        self.tolerance_secs = tolerance_secs;
        self
    }

    /// The largest accepted body, in bytes (default 262 144 = 256 KiB; exactly this many are
    /// accepted).
    pub fn with_max_body_bytes(mut self, max_body_bytes: usize) -> Self {
        self.max_body_bytes = max_body_bytes;
        self
    }

    /// Replaces the clock (default [`SystemClock`]).
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Selects the headers and signing string to verify (default [`Scheme::Fluxora`]).
    pub fn with_scheme(mut self, scheme: Scheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// Whether a current secret usable with the configured scheme is set (if not, every
    /// delivery is `missing_secret`).
    pub fn has_secret(&self) -> bool {
        self.current
            .as_ref()
            .and_then(|key| key.for_scheme(self.scheme))
            .is_some()
    }

    /// The tolerance in seconds.
    pub fn tolerance_secs(&self) -> u64 {
        self.tolerance_secs
    }

    /// The grace window of the previous secret in seconds.
    pub fn grace_secs(&self) -> u64 {
        self.grace_secs
    }

    /// The maximum body size in bytes.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// The configured scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The verifier's clock reading, unix seconds.
    pub fn now(&self) -> u64 {
        self.clock.now_unix()
    }

    /// Verifies one delivery: `headers` as `(name, value)` pairs (see [`HeaderPair`]:
    /// `&http::HeaderMap`, `[(&str, &str); N]`, `&Vec<(String, Vec<u8>)>`, …) and the exact raw
    /// body bytes, before any JSON parsing.
    ///
    /// Errors: the first failing row of the verification table as a [`Rejection`] (see the type's
    /// docs for the order). Deduplication is not done here: see
    /// [`Verifier::verify_and_claim`].
    pub fn verify<I>(&self, headers: I, raw_body: &[u8]) -> Result<VerifiedDelivery, Rejection>
    where
        I: IntoIterator,
        I::Item: HeaderPair,
    {
        let headers = Collected::from_pairs(self.scheme, headers);
        let present = self.check_present(&headers)?;
        self.check_rest(&present, headers.event.as_deref(), raw_body)
    }

    /// Only the checks that need no body (rows `missing_secret` to `missing_signature`), for
    /// callers that read the body afterwards, e.g. to refuse a request before buffering it.
    /// [`Verifier::verify`] repeats them.
    pub fn precheck<I>(&self, headers: I) -> Result<(), Rejection>
    where
        I: IntoIterator,
        I::Item: HeaderPair,
    {
        let headers = Collected::from_pairs(self.scheme, headers);
        self.check_present(&headers).map(|_| ())
    }

    fn check_present<'h>(&self, headers: &'h Collected) -> Result<Present<'h>, Rejection> {
        let (id_header, timestamp_header, signature_header) = self.scheme.header_names();
        if !self.has_secret() {
            return Err(Rejection::MissingSecret);
        }
        let delivery_id = headers
            .delivery_id
            .as_deref()
            .and_then(|value| std::str::from_utf8(value).ok())
            .map(str::trim_ascii)
            .filter(|value| !value.is_empty())
            .ok_or(Rejection::MissingDeliveryId { header: id_header })?;
        let timestamp = headers
            .timestamp
            .as_deref()
            .filter(|value| !value.is_empty())
            .ok_or(Rejection::MissingTimestamp {
                header: timestamp_header,
            })?;
        let signature = headers
            .signature
            .as_deref()
            .map(<[u8]>::trim_ascii)
            .filter(|value| !value.is_empty())
            .ok_or(Rejection::MissingSignature {
                header: signature_header,
            })?;
        Ok(Present {
            delivery_id,
            timestamp,
            signature,
        })
    }

    fn check_rest(
        &self,
        present: &Present<'_>,
        event: Option<&[u8]>,
        raw_body: &[u8],
    ) -> Result<VerifiedDelivery, Rejection> {
        let (_, timestamp_header, _) = self.scheme.header_names();
        if raw_body.len() > self.max_body_bytes {
            return Err(Rejection::PayloadTooLarge {
                length: raw_body.len(),
                max: self.max_body_bytes,
            });
        }
        let timestamp = parse_timestamp(present.timestamp).ok_or(Rejection::InvalidTimestamp {
            header: timestamp_header,
        })?;
        let now = self.clock.now_unix();
        if now.abs_diff(timestamp) > self.tolerance_secs {
            return Err(Rejection::TimestampOutsideTolerance {
                timestamp,
                now,
                tolerance_secs: self.tolerance_secs,
            });
        }
        let (signature, secret) = self
            .match_signature(present, raw_body, now)
            .ok_or(Rejection::SignatureMismatch)?;
        let replay_window_secs = timestamp
            .saturating_add(self.tolerance_secs)
            .saturating_sub(now)
            .saturating_add(1);
        Ok(VerifiedDelivery {
            delivery_id: present.delivery_id.to_string(),
            timestamp,
            event: event
                .and_then(|value| std::str::from_utf8(value).ok())
                .map(str::to_string),
            signature,
            secret,
            replay_window_secs,
        })
    }

    /// The configured keys that may verify at `now`, current first.
    fn candidate_keys(&self, now: u64) -> impl Iterator<Item = (&HmacSha256, SecretUsed)> {
        let current = self
            .current
            .as_ref()
            .and_then(|key| key.for_scheme(self.scheme))
            .map(|key| (key, SecretUsed::Current));
        let previous = self
            .previous
            .as_ref()
            .filter(|(_, rotated_at)| now <= rotated_at.saturating_add(self.grace_secs))
            .and_then(|(key, _)| key.for_scheme(self.scheme))
            .map(|key| (key, SecretUsed::Previous));
        current.into_iter().chain(previous)
    }

    fn match_signature(
        &self,
        present: &Present<'_>,
        raw_body: &[u8],
        now: u64,
    ) -> Option<(Signature, SecretUsed)> {
        match self.scheme {
            Scheme::Fluxora => {
                // Length and alphabet are checked before anything is compared.
                let received = Signature::parse_hex(present.signature)?;
                self.candidate_keys(now).find_map(|(key, used)| {
                    fluxora_mac(key, present.timestamp, raw_body)
                        .ct_matches(&received)
                        .then_some((received, used))
                })
            }
            Scheme::StandardWebhooks => {
                let received = standard::parse_signatures(present.signature);
                if received.is_empty() {
                    return None;
                }
                self.candidate_keys(now).find_map(|(key, used)| {
                    let expected = standard::standard_mac(
                        key,
                        present.delivery_id.as_bytes(),
                        present.timestamp,
                        raw_body,
                    );
                    // Compare with every entry, without stopping early.
                    let mut found = None;
                    for candidate in &received {
                        if expected.ct_matches(candidate) {
                            found = Some((*candidate, used));
                        }
                    }
                    found
                })
            }
        }
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("scheme", &self.scheme)
            .field(
                "current_secret",
                &self.current.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "previous_secret",
                &self
                    .previous
                    .as_ref()
                    .map(|(_, rotated_at)| format!("<redacted>, rotated at {rotated_at}")),
            )
            .field("grace_secs", &self.grace_secs)
            .field("tolerance_secs", &self.tolerance_secs)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

/// One `(name, value)` header, as bytes. Implemented for every `(N, V)` and `&(N, V)` whose
/// parts are `AsRef<[u8]>`: `(&str, &str)`, `(String, Vec<u8>)`, `(&HeaderName, &HeaderValue)`
/// (what iterating an `http::HeaderMap` yields), …
///
/// Names are compared ASCII-case-insensitively; values are raw bytes (they need not be UTF-8).
pub trait HeaderPair {
    /// The header's name.
    fn name(&self) -> &[u8];
    /// The header's value.
    fn value(&self) -> &[u8];
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> HeaderPair for (N, V) {
    fn name(&self) -> &[u8] {
        self.0.as_ref()
    }
    fn value(&self) -> &[u8] {
        self.1.as_ref()
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> HeaderPair for &(N, V) {
    fn name(&self) -> &[u8] {
        self.0.as_ref()
    }
    fn value(&self) -> &[u8] {
        self.1.as_ref()
    }
}

/// The first occurrence of each header the scheme reads, copied out of the caller's pairs.
struct Collected {
    delivery_id: Option<Vec<u8>>,
    timestamp: Option<Vec<u8>>,
    signature: Option<Vec<u8>>,
    event: Option<Vec<u8>>,
}

impl Collected {
    fn from_pairs<I>(scheme: Scheme, headers: I) -> Self
    where
        I: IntoIterator,
        I::Item: HeaderPair,
    {
        let (id_name, timestamp_name, signature_name) = scheme.header_names();
        let mut collected = Collected {
            delivery_id: None,
            timestamp: None,
            signature: None,
            event: None,
        };
        for pair in headers {
            let name = pair.name();
            let slot = if name.eq_ignore_ascii_case(id_name.as_bytes()) {
                &mut collected.delivery_id
            } else if name.eq_ignore_ascii_case(timestamp_name.as_bytes()) {
                &mut collected.timestamp
            } else if name.eq_ignore_ascii_case(signature_name.as_bytes()) {
                &mut collected.signature
            } else if name.eq_ignore_ascii_case(EVENT_HEADER.as_bytes()) {
                &mut collected.event
            } else {
                continue;
            };
            if slot.is_none() {
                *slot = Some(pair.value().to_vec());
            }
        }
        collected
    }
}

/// The three required headers, present and non-empty.
struct Present<'h> {
    delivery_id: &'h str,
    timestamp: &'h [u8],
    signature: &'h [u8],
}

/// `^[1-9][0-9]*$` as a u64; `None` for anything else (sign, leading zero, space, fraction,
/// non-ASCII, overflow).
pub(crate) fn parse_timestamp(value: &[u8]) -> Option<u64> {
    match value.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    value.iter().try_fold(0u64, |acc, &byte| {
        if !byte.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(byte - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_must_be_canonical_positive_integers() {
        assert_eq!(parse_timestamp(b"1710000000"), Some(1_710_000_000));
        assert_eq!(parse_timestamp(b"1"), Some(1));
        assert_eq!(parse_timestamp(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b"0"[..],
            b"-1",
            b"+1",
            b"1.5",
            b"abc",
            b" 123",
            b"123 ",
            b"0123",
            b"",
            b"18446744073709551616",
            b"99999999999999999999999",
            b"1e9",
            "１２３".as_bytes(),
            b"12\x003",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let verifier = Verifier::new("topsecret").with_previous_secret("oldsecret", 5);
        let debug = format!("{verifier:?}");
        assert!(
            !debug.contains("topsecret") && !debug.contains("oldsecret"),
            "{debug}"
        );
        assert!(debug.contains("rotated at 5"));
    }

    #[test]
    fn closures_are_clocks() {
        let verifier = Verifier::new("s").with_clock(|| 42);
        assert_eq!(verifier.now(), 42);
        assert!(SystemClock.now_unix() > 1_700_000_000);
    }
}
