//! The outcomes of verification: one per row of the verification table, with stable codes and the
//! HTTP status a consumer should answer.

use std::fmt;

/// Every row of the verification table (the service's `docs/webhooks.md`), in the order the
/// checks run.
///
/// `code()` is stable (consumers log and alert on it); `http_status()` is the status the
/// consumer should answer the sender with. The successful row is [`Outcome::Ok`].
///
/// | variant | `code()` | `http_status()` |
/// |---|---|---|
/// | `MissingSecret` | `missing_secret` | 500 (do not acknowledge) |
/// | `MissingDeliveryId` | `missing_delivery_id` | 401 |
/// | `MissingTimestamp` | `missing_timestamp` | 401 |
/// | `MissingSignature` | `missing_signature` | 401 |
/// | `PayloadTooLarge` | `payload_too_large` | 413 |
/// | `InvalidTimestamp` | `invalid_timestamp` | 400 |
/// | `TimestampOutsideTolerance` | `timestamp_outside_tolerance` | 401 |
/// | `SignatureMismatch` | `signature_mismatch` | 401 |
/// | `DuplicateDelivery` | `duplicate_delivery` | 409 |
/// | `Ok` | `ok` | 200 |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// No secret is configured (absent or empty): the consumer cannot verify anything.
    MissingSecret,
    /// The delivery id header is absent, empty or not UTF-8.
    MissingDeliveryId,
    /// The timestamp header is absent or empty.
    MissingTimestamp,
    /// The signature header is absent or empty (after trimming whitespace).
    MissingSignature,
    /// The body is longer than the maximum (262 144 bytes by default).
    PayloadTooLarge,
    /// The timestamp is not `^[1-9][0-9]*$` (or overflows a u64).
    InvalidTimestamp,
    /// The timestamp is more than the tolerance (300 s by default) away from now.
    TimestampOutsideTolerance,
    /// No configured secret produces the signature.
    SignatureMismatch,
    /// The delivery id was already processed (or is being processed), or the signature was
    /// already accepted under another delivery id.
    DuplicateDelivery,
    /// The delivery is authentic, fresh and new.
    Ok,
}

impl Outcome {
    /// Every outcome, in the order of the verification table (the order of the checks).
    pub const ALL: [Outcome; 10] = [
        Outcome::MissingSecret,
        Outcome::MissingDeliveryId,
        Outcome::MissingTimestamp,
        Outcome::MissingSignature,
        Outcome::PayloadTooLarge,
        Outcome::InvalidTimestamp,
        Outcome::TimestampOutsideTolerance,
        Outcome::SignatureMismatch,
        Outcome::DuplicateDelivery,
        Outcome::Ok,
    ];

    /// The stable snake_case code (e.g. `signature_mismatch`, `ok`).
    pub const fn code(self) -> &'static str {
        match self {
            Outcome::MissingSecret => "missing_secret",
            Outcome::MissingDeliveryId => "missing_delivery_id",
            Outcome::MissingTimestamp => "missing_timestamp",
            Outcome::MissingSignature => "missing_signature",
            Outcome::PayloadTooLarge => "payload_too_large",
            Outcome::InvalidTimestamp => "invalid_timestamp",
            Outcome::TimestampOutsideTolerance => "timestamp_outside_tolerance",
            Outcome::SignatureMismatch => "signature_mismatch",
            Outcome::DuplicateDelivery => "duplicate_delivery",
            Outcome::Ok => "ok",
        }
    }

    /// The HTTP status the consumer should answer: 500 for `missing_secret` (so the sender retries
    /// once the consumer is fixed), 401 for missing headers, a stale timestamp or a bad signature,
    /// 413, 400, 409 for duplicates, 200 for `ok`.
    pub const fn http_status(self) -> u16 {
        match self {
            Outcome::MissingSecret => 500,
            Outcome::MissingDeliveryId
            | Outcome::MissingTimestamp
            | Outcome::MissingSignature
            | Outcome::TimestampOutsideTolerance
            | Outcome::SignatureMismatch => 401,
            Outcome::PayloadTooLarge => 413,
            Outcome::InvalidTimestamp => 400,
            Outcome::DuplicateDelivery => 409,
            Outcome::Ok => 200,
        }
    }

    /// A one-sentence, human explanation of the outcome (without request-specific details; see
    /// [`Rejection::message`] for those).
    pub const fn message(self) -> &'static str {
        match self {
            Outcome::MissingSecret => "no webhook secret is configured, so nothing can be verified",
            Outcome::MissingDeliveryId => "the delivery id header is missing or empty",
            Outcome::MissingTimestamp => "the timestamp header is missing or empty",
            Outcome::MissingSignature => "the signature header is missing or empty",
            Outcome::PayloadTooLarge => "the body is larger than the maximum accepted size",
            Outcome::InvalidTimestamp => {
                "the timestamp is not a positive integer of unix seconds in canonical form"
            }
            Outcome::TimestampOutsideTolerance => "the timestamp is too far from the current time",
            Outcome::SignatureMismatch => "the signature does not match any configured secret",
            Outcome::DuplicateDelivery => "this delivery was already received",
            Outcome::Ok => "the delivery is verified",
        }
    }

    /// `true` only for [`Outcome::Ok`].
    pub const fn is_ok(self) -> bool {
        matches!(self, Outcome::Ok)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why a [`crate::DeliveryDedup`] answered "duplicate".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DuplicateReason {
    /// The delivery id was processed successfully before (remembered for the processed TTL,
    /// 24 h by default). Answering 200 is safe: the work is done.
    Processed,
    /// Another task holds the claim on this delivery id right now (its lease has not expired).
    /// Answer 409 so the sender retries later: if that task fails, the retry processes it.
    InProgress,
    /// The signature was already accepted under a different delivery id within the tolerance
    /// window: a captured request replayed with a fresh id (the id is not signed).
    ReplayedSignature,
}

impl DuplicateReason {
    /// A short human explanation, used in [`Rejection::message`].
    pub const fn describe(self) -> &'static str {
        match self {
            DuplicateReason::Processed => "this delivery id was already processed",
            DuplicateReason::InProgress => "this delivery id is being processed by another worker",
            DuplicateReason::ReplayedSignature => {
                "this signature was already accepted under another delivery id (replay)"
            }
        }
    }
}

/// A delivery that did not verify: one of the failing rows of the verification table, with the
/// details an operator needs to diagnose it. Never contains a secret.
///
/// [`Rejection::outcome`] maps it to its table row; `code()`, `http_status()` and `message()`
/// are shortcuts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// `missing_secret` (500): no usable secret is configured.
    #[error("no usable webhook secret is configured (set one, e.g. FLUXORA_WEBHOOK_SECRET; Standard Webhooks needs a whsec_<base64> secret); do not acknowledge the delivery")]
    MissingSecret,
    /// `missing_delivery_id` (401): `header` is absent, empty or not UTF-8.
    #[error("the {header} header is missing or empty")]
    MissingDeliveryId {
        /// The header that was looked up (`x-fluxora-delivery-id` or `webhook-id`).
        header: &'static str,
    },
    /// `missing_timestamp` (401): `header` is absent or empty.
    #[error("the {header} header is missing or empty")]
    MissingTimestamp {
        /// The header that was looked up (`x-fluxora-timestamp` or `webhook-timestamp`).
        header: &'static str,
    },
    /// `missing_signature` (401): `header` is absent or only whitespace.
    #[error("the {header} header is missing or empty")]
    MissingSignature {
        /// The header that was looked up (`x-fluxora-signature` or `webhook-signature`).
        header: &'static str,
    },
    /// `payload_too_large` (413): the body has `length` bytes or more, more than `max`.
    #[error("the body has at least {length} bytes; at most {max} bytes are accepted")]
    PayloadTooLarge {
        /// The body's length in bytes; a reader that stops as soon as the limit is passed (the
        /// axum extractor) reports `max + 1`.
        length: usize,
        /// The verifier's maximum body size in bytes (262 144 by default).
        max: usize,
    },
    /// `invalid_timestamp` (400): `header` is not `^[1-9][0-9]*$` or overflows a u64.
    #[error("the {header} header must be a positive integer of unix seconds with no sign, leading zeros or spaces")]
    InvalidTimestamp {
        /// The header that was looked up.
        header: &'static str,
    },
    /// `timestamp_outside_tolerance` (401): `|now − timestamp| > tolerance_secs`.
    #[error("{}", skew_message(*timestamp, *now, *tolerance_secs))]
    TimestampOutsideTolerance {
        /// The delivery's timestamp, unix seconds.
        timestamp: u64,
        /// The verifier's clock, unix seconds.
        now: u64,
        /// The tolerance in seconds (300 by default).
        tolerance_secs: u64,
    },
    /// `signature_mismatch` (401): no configured secret (current, or previous within its grace
    /// window) produces the signature, or the signature is not 64 hex digits.
    #[error("the signature does not match any configured secret (check the secret, and that the raw body was not re-serialised)")]
    SignatureMismatch,
    /// `duplicate_delivery` (409): see [`DuplicateReason`].
    #[error("duplicate delivery: {}", reason.describe())]
    DuplicateDelivery {
        /// Why the dedup store refused the delivery.
        reason: DuplicateReason,
    },
}

fn skew_message(timestamp: u64, now: u64, tolerance_secs: u64) -> String {
    let direction = if timestamp < now {
        "in the past"
    } else {
        "in the future"
    };
    format!(
        "the timestamp is {} s {direction} (now {now}, timestamp {timestamp}); the tolerance is {tolerance_secs} s: check both clocks (NTP)",
        now.abs_diff(timestamp)
    )
}

impl Rejection {
    /// The row of the verification table this rejection belongs to.
    pub const fn outcome(&self) -> Outcome {
        match self {
            Rejection::MissingSecret => Outcome::MissingSecret,
            Rejection::MissingDeliveryId { .. } => Outcome::MissingDeliveryId,
            Rejection::MissingTimestamp { .. } => Outcome::MissingTimestamp,
            Rejection::MissingSignature { .. } => Outcome::MissingSignature,
            Rejection::PayloadTooLarge { .. } => Outcome::PayloadTooLarge,
            Rejection::InvalidTimestamp { .. } => Outcome::InvalidTimestamp,
            Rejection::TimestampOutsideTolerance { .. } => Outcome::TimestampOutsideTolerance,
            Rejection::SignatureMismatch => Outcome::SignatureMismatch,
            Rejection::DuplicateDelivery { .. } => Outcome::DuplicateDelivery,
        }
    }

    /// The stable code, e.g. `signature_mismatch` (see [`Outcome::code`]).
    pub const fn code(&self) -> &'static str {
        self.outcome().code()
    }

    /// The HTTP status the consumer should answer (see [`Outcome::http_status`]).
    pub const fn http_status(&self) -> u16 {
        self.outcome().http_status()
    }

    /// A human explanation with this request's details (header name, sizes, clock skew).
    /// Safe to log and to return to the sender: it never contains a secret or a signature.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl From<&Rejection> for Outcome {
    fn from(rejection: &Rejection) -> Self {
        rejection.outcome()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_follow_the_table() {
        let table: Vec<(&str, u16)> = Outcome::ALL
            .iter()
            .map(|o| (o.code(), o.http_status()))
            .collect();
        assert_eq!(
            table,
            vec![
                ("missing_secret", 500),
                ("missing_delivery_id", 401),
                ("missing_timestamp", 401),
                ("missing_signature", 401),
                ("payload_too_large", 413),
                ("invalid_timestamp", 400),
                ("timestamp_outside_tolerance", 401),
                ("signature_mismatch", 401),
                ("duplicate_delivery", 409),
                ("ok", 200),
            ]
        );
        assert!(Outcome::ALL.iter().filter(|o| o.is_ok()).count() == 1);
        assert!(Outcome::ALL.iter().all(|o| !o.message().is_empty()));
    }

    #[test]
    fn skew_message_says_direction_and_size() {
        let past = Rejection::TimestampOutsideTolerance {
            timestamp: 100,
            now: 500,
            tolerance_secs: 300,
        };
        assert!(past.message().contains("400 s in the past"), "{past}");
        let future = Rejection::TimestampOutsideTolerance {
            timestamp: 900,
            now: 500,
            tolerance_secs: 300,
        };
        assert!(future.message().contains("400 s in the future"));
        assert_eq!(future.code(), "timestamp_outside_tolerance");
    }
}
