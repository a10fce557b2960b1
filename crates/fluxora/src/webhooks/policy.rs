//! Delivery retry policy for live webhooks: what happens after each attempt, under the
//! configured `WEBHOOK_RETRY_SCHEDULE` ([`RetrySchedule`]; `docs/webhooks.md`).
//!
//! Pure functions, no I/O: the dispatcher feeds in what happened and stores what comes out.
//!
//! 1. [`classify`] turns the result of one attempt ([`AttemptResult`]: an HTTP status, or a
//!    transport error kind; plus the first bytes of the body) into a [`Disposition`]:
//!
//!    | result | disposition |
//!    |---|---|
//!    | 2xx | [`Disposition::Delivered`] |
//!    | 409 whose JSON body has `"error": "duplicate_delivery"` | [`Disposition::Delivered`] (`duplicate: true`): the consumer already has it |
//!    | 408, 425, 429, 5xx | [`Disposition::Retry`] |
//!    | timeout, connection error, other transport error | [`Disposition::Retry`] |
//!    | the SSRF guard refused every resolved address | [`Disposition::Failed`] |
//!    | every other status: 1xx, 3xx (redirects are not followed), other 4xx, ≥ 600 | [`Disposition::Failed`] |
//!
//! 2. [`next_attempt_delay`] turns a disposition into a [`NextStep`]: done (delivered), failed
//!    (no retry), retry after a delay, or dead (the [`RetrySchedule`] is exhausted → dead letter).
//!
//! Delays: after the immediate attempt, retry *n* waits `schedule[n − 1]` scaled by a jitter
//! factor in `[0.8, 1.2]` (±20 %). Timeouts and 429s wait at least [`SLOW_DOWN_FLOOR`] (60 s).
//! A `Retry-After` header ([`parse_retry_after`]) can lengthen the wait, never shorten it:
//! `delay = max(computed, clamp(retry_after, 1 s, 24 h))` (see [`next_attempt_delay`]).
//!
//! Endpoints that keep failing are disabled after `WEBHOOK_DISABLE_AFTER_FAILURES` attempts in a
//! row that were not delivered (default [`DISABLE_AFTER_CONSECUTIVE_FAILURES`], 50).
//!
//! [`DISABLE_AFTER_CONSECUTIVE_FAILURES`]: crate::webhook_retry::DISABLE_AFTER_CONSECUTIVE_FAILURES

use std::time::{Duration, SystemTime};

use crate::webhook_retry::RetrySchedule;

/// Jitter applied to every scheduled delay: the delay is scaled by a factor in
/// `[1 − JITTER, 1 + JITTER]` = `[0.8, 1.2]` (±20 %), so retries of many deliveries that failed
/// together spread out instead of arriving at once.
pub const JITTER: f64 = 0.2;

/// Minimum wait after a timeout or a `429 Too Many Requests` (a consumer that is slow or asks us
/// to slow down is given at least a minute): 60 seconds, applied after jitter.
pub const SLOW_DOWN_FLOOR: Duration = Duration::from_secs(60);

/// Smallest `Retry-After` honoured: 1 second (a `Retry-After: 0` still waits for the computed
/// delay, and at least this long).
pub const RETRY_AFTER_MIN: Duration = Duration::from_secs(1);

/// Largest `Retry-After` honoured: 24 hours. Longer values (or HTTP dates further ahead) are
/// capped here, so a consumer cannot park a delivery indefinitely.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(24 * 60 * 60);

/// How many leading bytes of a 409 body [`classify`] reads to recognise `duplicate_delivery`:
/// 1 KiB, the same prefix every attempt records. A longer body is judged on this prefix only.
pub const DUPLICATE_BODY_PREFIX: usize = 1024;

/// How an attempt failed before any HTTP response arrived (mapped from the HTTP client's error,
/// see [`TransportErrorKind::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportErrorKind {
    /// The 10 s request timeout (or the connect timeout) elapsed. Retried, waiting at least
    /// [`SLOW_DOWN_FLOOR`].
    Timeout,
    /// DNS failure, connection refused or reset, TLS handshake failure. Retried.
    Connect,
    /// The SSRF guard refused every address the host resolved to (`ADDRESS_FORBIDDEN`,
    /// [`crate::ssrf`]). Failed without retry.
    AddressForbidden,
    /// Any other transport error (broken body, protocol error). Retried.
    Other,
}

impl TransportErrorKind {
    /// Classifies a `reqwest` error: an SSRF guard refusal anywhere in its source chain →
    /// [`TransportErrorKind::AddressForbidden`]; else `is_timeout` → `Timeout`; else
    /// `is_connect` → `Connect`; else `Other`.
    pub fn of(err: &reqwest::Error) -> Self {
        if crate::ssrf::SsrfError::find_in(err).is_some() {
            TransportErrorKind::AddressForbidden
        } else if err.is_timeout() {
            TransportErrorKind::Timeout
        } else if err.is_connect() {
            TransportErrorKind::Connect
        } else {
            TransportErrorKind::Other
        }
    }
}

/// What one delivery attempt produced: the input of [`classify`] (with the body's first bytes).
///
/// A response's `Retry-After` is not part of it: parse the header with [`parse_retry_after`] and
/// hand the delay to [`next_attempt_delay`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    /// An HTTP response arrived with this status code (100–999 as the HTTP client accepts them).
    Status(u16),
    /// No response: the request failed in transport.
    Transport(TransportErrorKind),
}

/// The classification of one attempt ([`classify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The consumer has the event: the delivery is `delivered`.
    Delivered {
        /// `true` when the answer was a 409 `duplicate_delivery` (an earlier attempt got through).
        duplicate: bool,
    },
    /// A transient failure: try again per the schedule ([`next_attempt_delay`]).
    Retry(RetryReason),
    /// A permanent failure: the delivery is `failed`, no retry.
    Failed(FailReason),
}

impl Disposition {
    /// `true` for [`Disposition::Delivered`]: resets the endpoint's consecutive-failure counter
    /// (see [`crate::webhook_retry::DISABLE_AFTER_CONSECUTIVE_FAILURES`]); anything else
    /// increments it.
    pub fn is_delivered(self) -> bool {
        matches!(self, Disposition::Delivered { .. })
    }
}

/// Why an attempt is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    /// 408, 425, 429 or 5xx.
    Status(u16),
    /// The request timed out.
    Timeout,
    /// The connection could not be made (DNS, refused, reset, TLS).
    Connect,
    /// Another transport error.
    Transport,
}

impl RetryReason {
    /// The least the next attempt waits for this reason: [`SLOW_DOWN_FLOOR`] (60 s) for timeouts
    /// and 429s, zero otherwise.
    pub fn min_delay(self) -> Duration {
        match self {
            RetryReason::Timeout | RetryReason::Status(429) => SLOW_DOWN_FLOOR,
            _ => Duration::ZERO,
        }
    }
}

/// Why an attempt failed for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// A status that retrying will not change: 1xx, 3xx (redirects are not followed), 4xx other
    /// than 408/425/429 (and other than a 409 `duplicate_delivery`), or ≥ 600.
    Status(u16),
    /// The SSRF guard refused every resolved address.
    AddressForbidden,
}

/// Classifies one attempt (the table is in the module docs).
///
/// `body_prefix` is the first bytes of the response body (the recorded 1 KiB excerpt, as bytes
/// or as a lossily decoded string; empty for a transport error). It is only read for a 409, to
/// recognise `duplicate_delivery` ([`is_duplicate_delivery`]).
pub fn classify(result: &AttemptResult, body_prefix: impl AsRef<[u8]>) -> Disposition {
    match *result {
        AttemptResult::Status(status) => match status {
            200..=299 => Disposition::Delivered { duplicate: false },
            409 if is_duplicate_delivery(body_prefix.as_ref()) => {
                Disposition::Delivered { duplicate: true }
            }
            408 | 425 | 429 | 500..=599 => Disposition::Retry(RetryReason::Status(status)),
            _ => Disposition::Failed(FailReason::Status(status)),
        },
        AttemptResult::Transport(kind) => match kind {
            TransportErrorKind::Timeout => Disposition::Retry(RetryReason::Timeout),
            TransportErrorKind::Connect => Disposition::Retry(RetryReason::Connect),
            TransportErrorKind::Other => Disposition::Retry(RetryReason::Transport),
            TransportErrorKind::AddressForbidden => {
                Disposition::Failed(FailReason::AddressForbidden)
            }
        },
    }
}

/// Whether a (409) body says `duplicate_delivery`: its first [`DUPLICATE_BODY_PREFIX`] bytes are
/// a JSON object whose `error` is the string `"duplicate_delivery"` (the `fluxora-webhooks`
/// receiver's `{"error":"duplicate_delivery","message":"…"}`) or an object whose `code` is that
/// string (an error envelope like this service's own,
/// `{"error":{"code":"duplicate_delivery",…}}`). Exact, case-sensitive; anything else (not
/// JSON, truncated JSON, another code) is `false`.
pub fn is_duplicate_delivery(body_prefix: &[u8]) -> bool {
    let prefix = body_prefix
        .get(..DUPLICATE_BODY_PREFIX)
        .unwrap_or(body_prefix);
    let Ok(serde_json::Value::Object(body)) = serde_json::from_slice(prefix) else {
        return false;
    };
    match body.get("error") {
        Some(serde_json::Value::String(code)) => code == "duplicate_delivery",
        Some(serde_json::Value::Object(error)) => error
            .get("code")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|code| code == "duplicate_delivery"),
        _ => false,
    }
}

/// What the dispatcher does after an attempt ([`next_attempt_delay`]), and the delivery status
/// it records (`pending`, `delivered`, `failed`, `dead`; see `docs/webhooks.md`, "Attempts,
/// retries and dead letters").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Attempt again after this delay: status `pending`, `next_attempt_at = now + delay`.
    RetryAfter(Duration),
    /// Retryable, but the schedule is exhausted: a dead letter, status `dead` (replayable).
    Dead,
    /// Delivered ([`Disposition::Delivered`], a 409 `duplicate_delivery` included): status
    /// `delivered`, nothing more to do.
    Done,
    /// Failed for good ([`Disposition::Failed`]: a non-retryable status or a forbidden address):
    /// status `failed`, no retry.
    Failed,
}

/// Decides what follows attempt number `attempt_number` (1-based count of attempts made so far,
/// this one included; 0 is treated as 1).
///
/// - [`Disposition::Delivered`] → [`NextStep::Done`]; [`Disposition::Failed`] →
///   [`NextStep::Failed`] (whatever the attempt number).
/// - [`Disposition::Retry`] with `attempt_number > schedule.retries()` → [`NextStep::Dead`].
/// - Otherwise [`NextStep::RetryAfter`] with, in this order:
///   1. `computed = jitter(schedule[attempt_number − 1], unit_random)` (factor 0.8–1.2);
///   2. `computed = max(computed, reason.min_delay())` (60 s for timeouts and 429s);
///   3. with a `retry_after` (from [`parse_retry_after`]):
///      `delay = max(computed, clamp(retry_after, 1 s, 24 h))` — `Retry-After` only ever
///      lengthens the wait, and to at most 24 h; a schedule item longer than 24 h is kept.
///
/// `unit_random` is a uniform number in `[0, 1)` (e.g. `crate::backoff::random_unit()`); values
/// outside are clamped to `[0, 1]` and NaN counts as 0.5 (no jitter).
pub fn next_attempt_delay(
    schedule: &RetrySchedule,
    attempt_number: u32,
    disposition: Disposition,
    retry_after: Option<Duration>,
    unit_random: f64,
) -> NextStep {
    let reason = match disposition {
        Disposition::Delivered { .. } => return NextStep::Done,
        Disposition::Failed(_) => return NextStep::Failed,
        Disposition::Retry(reason) => reason,
    };
    let index = usize::try_from(attempt_number.max(1) - 1).unwrap_or(usize::MAX);
    let Some(nominal) = schedule.delays().get(index) else {
        return NextStep::Dead;
    };
    let mut delay = jitter(*nominal, unit_random).max(reason.min_delay());
    if let Some(retry_after) = retry_after {
        delay = delay.max(retry_after.clamp(RETRY_AFTER_MIN, RETRY_AFTER_MAX));
    }
    NextStep::RetryAfter(delay)
}

/// Scales `delay` by the jitter factor `0.8 + 0.4 × unit_random` (so `[0, 1)` maps onto
/// `[0.8, 1.2)`), rounded to whole milliseconds. `unit_random` is clamped to `[0, 1]`; NaN
/// counts as 0.5 (factor 1.0).
pub fn jitter(delay: Duration, unit_random: f64) -> Duration {
    let unit = if unit_random.is_nan() {
        0.5
    } else {
        unit_random.clamp(0.0, 1.0)
    };
    let factor = 1.0 - JITTER + 2.0 * JITTER * unit;
    // Schedule delays are at most 30 days (2.6e9 ms), far inside f64's exact integer range.
    let millis = (delay.as_millis() as f64 * factor).round();
    Duration::from_millis(millis as u64)
}

/// Parses a `Retry-After` header value (RFC 9110 §10.2.3) into a delay from `now`:
///
/// - delta-seconds (`120`: ASCII digits only, no sign or fraction) → that many seconds;
///   absurdly long digit strings saturate to `u64::MAX` seconds (then capped to 24 h by
///   [`next_attempt_delay`]);
/// - an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`, also the obsolete RFC 850 and asctime
///   forms) → the time from `now` to that date, zero if it is in the past;
/// - anything else (empty, negative, fractional, garbage) → `None` (ignored).
///
/// Surrounding whitespace is ignored. The result is not clamped here.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
