//! Delivery retry policy for live webhooks (issue 6 §3, `design.md` §3 `WEBHOOK_RETRY_SCHEDULE`).
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
//! Endpoints that keep failing are disabled after [`DISABLE_AFTER_CONSECUTIVE_FAILURES`].

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

/// Default of `WEBHOOK_RETRY_SCHEDULE` (`design.md` §3): the delays between delivery attempts
/// after the immediate one. 8 attempts in all, spread over about 27.6 hours before jitter.
pub const DEFAULT_RETRY_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

/// Most items a [`RetrySchedule`] may have (a guard against pasting mistakes).
pub const MAX_SCHEDULE_ITEMS: usize = 100;

/// Longest single delay a [`RetrySchedule`] item may have: 30 days.
pub const MAX_SCHEDULE_DELAY: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Jitter applied to every scheduled delay: the delay is scaled by a factor in
/// `[1 − JITTER, 1 + JITTER]` = `[0.8, 1.2]` (issue 6: "±20 % jitter").
pub const JITTER: f64 = 0.2;

/// Minimum wait after a timeout or a `429 Too Many Requests` (issue 6: "timeouts and 429s wait at
/// least 60 s"): 60 seconds, applied after jitter.
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

/// An endpoint is disabled automatically (its `disabled_reason` set, deliveries stop being
/// attempted until an operator re-enables it) once this many delivery attempts in a row have
/// not been delivered: 50.
///
/// Counting rule: every attempt whose [`Disposition`] is [`Disposition::Retry`] or
/// [`Disposition::Failed`] increments the endpoint's `consecutive_failures`; any
/// [`Disposition::Delivered`] (including a 409 `duplicate_delivery`) resets it to 0. When the
/// counter reaches this value the endpoint is disabled. Re-enabling resets the counter.
pub const DISABLE_AFTER_CONSECUTIVE_FAILURES: u32 = 50;

/// The delays between delivery attempts after the immediate one (`WEBHOOK_RETRY_SCHEDULE`,
/// `design.md` §3, issue 6 §3).
///
/// Item *n* (1-based) is the nominal wait before retry *n*, i.e. between attempt *n* and attempt
/// *n + 1*; [`next_attempt_delay`] applies jitter and floors. A schedule of *k* items allows
/// `1 + k` attempts ([`RetrySchedule::attempts_total`]). An empty schedule is valid and means
/// "no retries": one immediate attempt, then a retryable failure is a dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

impl RetrySchedule {
    /// Parses `WEBHOOK_RETRY_SCHEDULE`: comma-separated durations, each a whole positive number
    /// followed directly by a unit — `ms` (milliseconds), `s` (seconds), `m` (minutes), `h`
    /// (hours) or `d` (days) — e.g. `500ms,5s,5m,2h,1d`. Whitespace around items is ignored;
    /// units are lower-case; no sign, fraction or space between number and unit.
    ///
    /// An empty or all-whitespace value is the empty schedule (no retries). The configuration
    /// layer decides whether an *unset* variable means [`RetrySchedule::default`].
    ///
    /// # Errors
    ///
    /// A [`ScheduleError`] naming the first bad item (1-based position and text): an empty item
    /// (`5s,,5m`, trailing comma), a negative, zero or fractional value, a missing or unknown
    /// unit, a delay above [`MAX_SCHEDULE_DELAY`] (30 days), or more than
    /// [`MAX_SCHEDULE_ITEMS`] items.
    pub fn parse(value: &str) -> Result<Self, ScheduleError> {
        if value.trim().is_empty() {
            return Ok(Self { delays: Vec::new() });
        }
        let items: Vec<&str> = value.split(',').collect();
        if items.len() > MAX_SCHEDULE_ITEMS {
            return Err(ScheduleError::TooManyItems { count: items.len() });
        }
        let delays = items
            .iter()
            .enumerate()
            .map(|(index, item)| parse_item(index + 1, item))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { delays })
    }

    /// The nominal delays (before jitter and floors), in order.
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// Number of retries after the immediate attempt (the number of items).
    pub fn retries(&self) -> usize {
        self.delays.len()
    }

    /// Total number of attempts a delivery can get: 1 (immediate) + [`RetrySchedule::retries`].
    /// 8 for the default schedule.
    pub fn attempts_total(&self) -> u32 {
        // At most MAX_SCHEDULE_ITEMS (100) items, so this never saturates in practice.
        u32::try_from(self.delays.len())
            .unwrap_or(u32::MAX - 1)
            .saturating_add(1)
    }

    /// Sum of the nominal delays: how long after the first attempt the last one happens, before
    /// jitter, floors and `Retry-After` (27 h 35 min 5 s for the default schedule).
    pub fn total_delay(&self) -> Duration {
        self.delays
            .iter()
            .fold(Duration::ZERO, |sum, d| sum.saturating_add(*d))
    }
}

impl Default for RetrySchedule {
    /// The [`DEFAULT_RETRY_SCHEDULE`]: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    fn default() -> Self {
        let hours = |h: u64| Duration::from_secs(h * 60 * 60);
        Self {
            delays: vec![
                Duration::from_secs(5),
                Duration::from_secs(5 * 60),
                Duration::from_secs(30 * 60),
                hours(2),
                hours(5),
                hours(10),
                hours(10),
            ],
        }
    }
}

impl FromStr for RetrySchedule {
    type Err = ScheduleError;

    /// Same as [`RetrySchedule::parse`].
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl fmt::Display for RetrySchedule {
    /// The canonical `WEBHOOK_RETRY_SCHEDULE` form, each delay in its largest exact unit
    /// (`5s,5m,30m,2h,5h,10h,10h` for the default); parsing it gives the same schedule.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, delay) in self.delays.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            let millis = delay.as_millis();
            let (amount, unit) = UNITS
                .iter()
                .rev()
                .find(|(_, unit_millis)| millis % u128::from(*unit_millis) == 0)
                .map_or((millis, "ms"), |(name, unit_millis)| {
                    (millis / u128::from(*unit_millis), *name)
                });
            write!(f, "{amount}{unit}")?;
        }
        Ok(())
    }
}

/// Units of a schedule item and their length in milliseconds, smallest first.
const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// Parses one schedule item (`position` is 1-based, for the error message).
fn parse_item(position: usize, raw: &str) -> Result<Duration, ScheduleError> {
    let item = raw.trim();
    let err = |kind: fn(usize, String) -> ScheduleError| Err(kind(position, item.to_owned()));
    if item.is_empty() {
        return Err(ScheduleError::EmptyItem { position });
    }
    if item.starts_with('-') {
        return err(|position, item| ScheduleError::Negative { position, item });
    }
    let digits_end = item
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(item.len());
    let (digits, unit) = item.split_at(digits_end);
    if digits.is_empty() {
        return err(|position, item| ScheduleError::InvalidNumber { position, item });
    }
    if unit.starts_with(['.', ',']) {
        return err(|position, item| ScheduleError::Fractional { position, item });
    }
    if unit.is_empty() {
        return err(|position, item| ScheduleError::MissingUnit { position, item });
    }
    let Some(&(_, unit_millis)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(ScheduleError::UnknownUnit {
            position,
            item: item.to_owned(),
            unit: unit.to_owned(),
        });
    };
    // Digits only, so a parse failure is an overflow.
    let millis = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_millis));
    let Some(millis) = millis else {
        return err(|position, item| ScheduleError::TooLong { position, item });
    };
    if millis == 0 {
        return err(|position, item| ScheduleError::Zero { position, item });
    }
    let delay = Duration::from_millis(millis);
    if delay > MAX_SCHEDULE_DELAY {
        return err(|position, item| ScheduleError::TooLong { position, item });
    }
    Ok(delay)
}

/// Why `WEBHOOK_RETRY_SCHEDULE` was refused ([`RetrySchedule::parse`]). Every variant names the
/// offending item by its 1-based position and its text, so the boot error points at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Two commas in a row, or a leading or trailing comma.
    #[error(
        "retry schedule item {position} is empty; expected durations such as 5s,5m,2h separated by single commas"
    )]
    EmptyItem {
        /// 1-based position of the item.
        position: usize,
    },
    /// A leading minus sign.
    #[error("retry schedule item {position} ({item:?}) is negative; delays must be positive")]
    Negative {
        /// 1-based position of the item.
        position: usize,
        /// The item, trimmed.
        item: String,
    },
    /// The value is zero (`0s`, `0ms`).
    #[error("retry schedule item {position} ({item:?}) is zero; delays must be positive")]
    Zero {
        /// 1-based position of the item.
        position: usize,
        /// The item, trimmed.
        item: String,
    },
    /// The item does not start with a digit (`s5`, `+5s`, `abc`).
    #[error(
        "retry schedule item {position} ({item:?}) is not a duration; expected a whole number and a unit, e.g. 500ms, 5s, 5m, 2h, 1d"
    )]
    InvalidNumber {
        /// 1-based position of the item.
        position: usize,
        /// The item, trimmed.
        item: String,
    },
    /// A decimal fraction (`1.5h`).
    #[error(
        "retry schedule item {position} ({item:?}) has a fraction; use a whole number of a smaller unit (e.g. 90m instead of 1.5h)"
    )]
    Fractional {
        /// 1-based position of the item.
        position: usize,
        /// The item, trimmed.
        item: String,
    },
    /// A bare number (`5`).
    #[error(
        "retry schedule item {position} ({item:?}) has no unit; add ms, s, m, h or d (e.g. 5s)"
    )]
    MissingUnit {
        /// 1-based position of the item.
        position: usize,
        /// The item, trimmed.
        item: String,
    },
    /// A unit other than `ms`, `s`, `m`, `h`, `d` (units are lower-case, with no space before).
    #[error(
        "retry schedule item {position} ({item:?}) has unknown unit {unit:?}; use ms, s, m, h or d, lower-case, directly after the number"
    )]
    UnknownUnit {
        /// 1-based position of the item.
        position: usize,
        /// The item, trimmed.
        item: String,
        /// Everything after the number.
        unit: String,
    },
    /// Longer than [`MAX_SCHEDULE_DELAY`] (30 days).
    #[error("retry schedule item {position} ({item:?}) is longer than the 30d maximum")]
    TooLong {
        /// 1-based position of the item.
        position: usize,
        /// The item, trimmed.
        item: String,
    },
    /// More than [`MAX_SCHEDULE_ITEMS`] items.
    #[error("retry schedule has {count} items; at most 100 are allowed")]
    TooManyItems {
        /// How many items the value has.
        count: usize,
    },
}

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
    /// `super::ssrf`). Failed without retry.
    AddressForbidden,
    /// Any other transport error (broken body, protocol error). Retried.
    Other,
}

impl TransportErrorKind {
    /// Classifies a `reqwest` error: an SSRF guard refusal anywhere in its source chain →
    /// [`TransportErrorKind::AddressForbidden`]; else `is_timeout` → `Timeout`; else
    /// `is_connect` → `Connect`; else `Other`.
    pub fn of(err: &reqwest::Error) -> Self {
        if super::ssrf::SsrfError::find_in(err).is_some() {
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
    /// (see [`DISABLE_AFTER_CONSECUTIVE_FAILURES`]); anything else increments it.
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

/// Classifies one attempt (issue 6 §3; the table is in the module docs).
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
/// string (a §4-style envelope). Exact, case-sensitive; anything else (not JSON, truncated
/// JSON, another code) is `false`.
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
/// it records (design §9.1: `pending`, `delivered`, `failed`, `dead`).
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
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);
    const MINUTE: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    fn response(status: u16) -> Disposition {
        classify(&AttemptResult::Status(status), b"")
    }

    fn response_with_body(status: u16, body: &[u8]) -> Disposition {
        classify(&AttemptResult::Status(status), body)
    }

    fn transport(kind: TransportErrorKind) -> Disposition {
        classify(&AttemptResult::Transport(kind), "")
    }

    fn retry_status(status: u16) -> Disposition {
        Disposition::Retry(RetryReason::Status(status))
    }

    /// A uniform number in [0, 1) from the OS.
    fn random_unit() -> f64 {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).unwrap();
        f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
    }

    // ---- schedule parsing ----

    #[test]
    fn default_string_parses_to_default_schedule() {
        let parsed = RetrySchedule::parse(DEFAULT_RETRY_SCHEDULE).unwrap();
        assert_eq!(parsed, RetrySchedule::default());
        assert_eq!(
            parsed.delays(),
            &[
                5 * SECOND,
                5 * MINUTE,
                30 * MINUTE,
                2 * HOUR,
                5 * HOUR,
                10 * HOUR,
                10 * HOUR
            ]
        );
        assert_eq!(parsed.retries(), 7);
        assert_eq!(parsed.attempts_total(), 8);
        assert_eq!(parsed.total_delay(), 27 * HOUR + 35 * MINUTE + 5 * SECOND);
        assert_eq!(parsed.to_string(), DEFAULT_RETRY_SCHEDULE);
        assert_eq!(
            DEFAULT_RETRY_SCHEDULE.parse::<RetrySchedule>().unwrap(),
            parsed
        );
    }

    #[test]
    fn every_unit_parses() {
        let parsed = RetrySchedule::parse("500ms,5s,3m,2h,1d").unwrap();
        assert_eq!(
            parsed.delays(),
            &[
                Duration::from_millis(500),
                5 * SECOND,
                3 * MINUTE,
                2 * HOUR,
                24 * HOUR
            ]
        );
        assert_eq!(parsed.attempts_total(), 6);
        assert_eq!(parsed.to_string(), "500ms,5s,3m,2h,1d");
        // Display picks the largest exact unit.
        assert_eq!(
            RetrySchedule::parse("1000ms,60s,90m,48h")
                .unwrap()
                .to_string(),
            "1s,1m,90m,2d"
        );
        assert_eq!(
            RetrySchedule::parse("30d").unwrap().delays(),
            &[MAX_SCHEDULE_DELAY]
        );
    }

    #[test]
    fn whitespace_around_items_is_ignored() {
        let parsed = RetrySchedule::parse("  5s , 5m,\t30m ,2h\n").unwrap();
        assert_eq!(
            parsed.delays(),
            &[5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR]
        );
    }

    #[test]
    fn empty_value_means_no_retries() {
        for value in ["", "   ", "\t\n"] {
            let parsed = RetrySchedule::parse(value).unwrap();
            assert_eq!(parsed.retries(), 0);
            assert_eq!(parsed.attempts_total(), 1);
            assert_eq!(parsed.to_string(), "");
            // The immediate attempt failing retryably is a dead letter at once.
            assert_eq!(
                next_attempt_delay(&parsed, 1, retry_status(503), None, 0.5),
                NextStep::Dead
            );
        }
    }

    #[test]
    fn bad_items_are_refused_with_their_position_and_text() {
        use ScheduleError as E;
        let cases: Vec<(&str, ScheduleError)> = vec![
            ("5s,,5m", E::EmptyItem { position: 2 }),
            ("5s,", E::EmptyItem { position: 2 }),
            (",5s", E::EmptyItem { position: 1 }),
            (
                "5s,-5m",
                E::Negative {
                    position: 2,
                    item: "-5m".into(),
                },
            ),
            (
                "0s",
                E::Zero {
                    position: 1,
                    item: "0s".into(),
                },
            ),
            (
                "5s,0ms",
                E::Zero {
                    position: 2,
                    item: "0ms".into(),
                },
            ),
            (
                "abc",
                E::InvalidNumber {
                    position: 1,
                    item: "abc".into(),
                },
            ),
            (
                "+5s",
                E::InvalidNumber {
                    position: 1,
                    item: "+5s".into(),
                },
            ),
            (
                "s5",
                E::InvalidNumber {
                    position: 1,
                    item: "s5".into(),
                },
            ),
            (
                "1.5h",
                E::Fractional {
                    position: 1,
                    item: "1.5h".into(),
                },
            ),
            (
                "5s,5",
                E::MissingUnit {
                    position: 2,
                    item: "5".into(),
                },
            ),
            (
                "5x",
                E::UnknownUnit {
                    position: 1,
                    item: "5x".into(),
                    unit: "x".into(),
                },
            ),
            (
                "5S",
                E::UnknownUnit {
                    position: 1,
                    item: "5S".into(),
                    unit: "S".into(),
                },
            ),
            (
                "5 s",
                E::UnknownUnit {
                    position: 1,
                    item: "5 s".into(),
                    unit: " s".into(),
                },
            ),
            (
                "5sec",
                E::UnknownUnit {
                    position: 1,
                    item: "5sec".into(),
                    unit: "sec".into(),
                },
            ),
            (
                "31d",
                E::TooLong {
                    position: 1,
                    item: "31d".into(),
                },
            ),
            (
                "99999999999999999999s",
                E::TooLong {
                    position: 1,
                    item: "99999999999999999999s".into(),
                },
            ),
            (
                "18446744073709551615d",
                E::TooLong {
                    position: 1,
                    item: "18446744073709551615d".into(),
                },
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(RetrySchedule::parse(value), Err(expected), "{value:?}");
        }
        let too_many = vec!["1s"; MAX_SCHEDULE_ITEMS + 1].join(",");
        assert_eq!(
            RetrySchedule::parse(&too_many),
            Err(E::TooManyItems { count: 101 })
        );
        assert!(RetrySchedule::parse(&vec!["1s"; MAX_SCHEDULE_ITEMS].join(",")).is_ok());
    }

    #[test]
    fn error_messages_name_the_bad_item_and_the_rule() {
        let message = RetrySchedule::parse("5s, 5x ,2h").unwrap_err().to_string();
        assert!(message.contains("item 2"), "{message}");
        assert!(message.contains("\"5x\""), "{message}");
        assert!(message.contains("ms, s, m, h or d"), "{message}");
        let message = RetrySchedule::parse("0s").unwrap_err().to_string();
        assert!(
            message.contains("\"0s\"") && message.contains("positive"),
            "{message}"
        );
        let message = RetrySchedule::parse("5s,,5m").unwrap_err().to_string();
        assert!(
            message.contains("item 2") && message.contains("empty"),
            "{message}"
        );
    }

    // ---- classification ----

    #[test]
    fn success_statuses_are_delivered() {
        for status in [200, 201, 202, 204, 299] {
            assert_eq!(
                response(status),
                Disposition::Delivered { duplicate: false },
                "{status}"
            );
        }
    }

    #[test]
    fn retryable_statuses_are_retried() {
        for status in [408, 425, 429, 500, 502, 503, 504, 599] {
            let disposition = response(status);
            assert_eq!(disposition, retry_status(status), "{status}");
            assert!(!disposition.is_delivered());
        }
    }

    #[test]
    fn other_statuses_fail_without_retry() {
        for status in [
            100, 101, 199, 300, 301, 302, 304, 307, 308, 400, 401, 403, 404, 405, 409, 410, 413,
            415, 422, 451, 499, 600, 999,
        ] {
            let disposition = response(status);
            assert_eq!(
                disposition,
                Disposition::Failed(FailReason::Status(status)),
                "{status}"
            );
            assert!(!disposition.is_delivered());
        }
    }

    #[test]
    fn transport_errors() {
        use TransportErrorKind as K;
        assert_eq!(
            transport(K::Timeout),
            Disposition::Retry(RetryReason::Timeout)
        );
        assert_eq!(
            transport(K::Connect),
            Disposition::Retry(RetryReason::Connect)
        );
        assert_eq!(
            transport(K::Other),
            Disposition::Retry(RetryReason::Transport)
        );
        assert_eq!(
            transport(K::AddressForbidden),
            Disposition::Failed(FailReason::AddressForbidden)
        );
    }

    #[test]
    fn conflict_with_duplicate_delivery_body_is_delivered() {
        let delivered = Disposition::Delivered { duplicate: true };
        // What the fluxora-webhooks axum extractor answers.
        let receiver =
            br#"{"error":"duplicate_delivery","message":"delivery id already processed"}"#;
        assert_eq!(response_with_body(409, receiver), delivered);
        assert!(response_with_body(409, receiver).is_delivered());
        // Whitespace and a design-§4-style envelope.
        let envelope =
            b" {\n  \"error\": {\"code\": \"duplicate_delivery\", \"message\": \"x\"}\n}\n";
        assert_eq!(response_with_body(409, envelope), delivered);
        // Only a 409 counts.
        assert_eq!(
            response_with_body(400, receiver),
            Disposition::Failed(FailReason::Status(400))
        );
        assert_eq!(
            response_with_body(200, receiver),
            Disposition::Delivered { duplicate: false }
        );
        // Anything else in a 409 is a plain failure.
        let failed = Disposition::Failed(FailReason::Status(409));
        for body in [
            &b""[..],
            b"duplicate_delivery",
            br#"{"error":"Duplicate_Delivery"}"#,
            br#"{"error":"conflict"}"#,
            br#"{"code":"duplicate_delivery"}"#,
            br#"{"error":{"code":"CONFLICT"}}"#,
            br#"["duplicate_delivery"]"#,
            br#""duplicate_delivery""#,
            br#"{"error":"duplicate_delivery""#,
            br#"{"error":"duplicate_delivery"} trailing"#,
        ] {
            assert_eq!(
                response_with_body(409, body),
                failed,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn duplicate_delivery_reads_only_the_first_kib() {
        let padding = " ".repeat(DUPLICATE_BODY_PREFIX);
        let short = format!(
            "{{\"error\":\"duplicate_delivery\",\"p\":\"{}\"}}",
            "x".repeat(900)
        );
        assert!(short.len() <= DUPLICATE_BODY_PREFIX);
        assert!(is_duplicate_delivery(short.as_bytes()));
        let long = format!("{{\"error\":\"duplicate_delivery\",\"p\":\"{padding}\"}}");
        assert!(!is_duplicate_delivery(long.as_bytes()));
    }

    // ---- delays ----

    #[test]
    fn jitter_factor_stays_within_bounds_over_the_whole_random_range() {
        let nominal = 5 * SECOND;
        assert_eq!(jitter(nominal, 0.0), Duration::from_millis(4000));
        assert_eq!(jitter(nominal, 0.5), nominal);
        assert_eq!(jitter(nominal, 1.0), Duration::from_millis(6000));
        assert_eq!(jitter(nominal, f64::NAN), nominal);
        assert_eq!(jitter(nominal, -3.0), Duration::from_millis(4000));
        assert_eq!(jitter(nominal, 7.0), Duration::from_millis(6000));
        let schedule = RetrySchedule::default();
        let mut samples: Vec<f64> = (0..=1000).map(|i| f64::from(i) / 1000.0).collect();
        samples.push(1.0 - f64::EPSILON);
        samples.extend((0..1000).map(|_| random_unit()));
        for (index, nominal) in schedule.delays().iter().enumerate() {
            let attempt = u32::try_from(index + 1).unwrap();
            let low = nominal.mul_f64(0.8);
            let high = nominal.mul_f64(1.2);
            for unit in &samples {
                let NextStep::RetryAfter(delay) =
                    next_attempt_delay(&schedule, attempt, retry_status(503), None, *unit)
                else {
                    panic!("attempt {attempt} should be retried");
                };
                assert!(
                    delay >= low && delay <= high,
                    "attempt {attempt}, unit {unit}: {delay:?}"
                );
                let factor = delay.as_secs_f64() / nominal.as_secs_f64();
                assert!((0.8..=1.2).contains(&factor), "{factor}");
            }
        }
    }

    #[test]
    fn the_nth_attempt_uses_the_nth_item() {
        let schedule = RetrySchedule::parse("1s,2s,3s").unwrap();
        let delay = |attempt| next_attempt_delay(&schedule, attempt, retry_status(500), None, 0.5);
        assert_eq!(delay(0), NextStep::RetryAfter(SECOND)); // 0 counts as 1
        assert_eq!(delay(1), NextStep::RetryAfter(SECOND));
        assert_eq!(delay(2), NextStep::RetryAfter(2 * SECOND));
        assert_eq!(delay(3), NextStep::RetryAfter(3 * SECOND));
        assert_eq!(delay(4), NextStep::Dead);
        assert_eq!(delay(u32::MAX), NextStep::Dead);
    }

    #[test]
    fn exhausting_the_default_schedule_is_dead_after_the_last_retry() {
        let schedule = RetrySchedule::default();
        let total = schedule.attempts_total();
        for attempt in 1..total {
            assert!(
                matches!(
                    next_attempt_delay(&schedule, attempt, retry_status(502), None, 0.3),
                    NextStep::RetryAfter(_)
                ),
                "attempt {attempt}"
            );
        }
        // Attempt 8 is the last scheduled one: a retryable failure now is a dead letter.
        assert_eq!(
            next_attempt_delay(
                &schedule,
                total,
                Disposition::Retry(RetryReason::Timeout),
                None,
                0.3
            ),
            NextStep::Dead
        );
        assert_eq!(
            next_attempt_delay(&schedule, total + 1, retry_status(502), None, 0.3),
            NextStep::Dead
        );
    }

    #[test]
    fn final_dispositions_are_done_or_failed() {
        let schedule = RetrySchedule::default();
        for attempt in [1, 3, 8, 100] {
            for (disposition, step) in [
                (Disposition::Delivered { duplicate: false }, NextStep::Done),
                (Disposition::Delivered { duplicate: true }, NextStep::Done),
                (
                    Disposition::Failed(FailReason::Status(404)),
                    NextStep::Failed,
                ),
                (
                    Disposition::Failed(FailReason::AddressForbidden),
                    NextStep::Failed,
                ),
            ] {
                assert_eq!(
                    next_attempt_delay(&schedule, attempt, disposition, Some(HOUR), 0.9),
                    step
                );
            }
        }
    }

    #[test]
    fn timeouts_and_429_wait_at_least_a_minute() {
        let schedule = RetrySchedule::default(); // first retry: 5 s
        for unit in [0.0, 0.5, 0.999] {
            for reason in [RetryReason::Timeout, RetryReason::Status(429)] {
                assert_eq!(
                    next_attempt_delay(&schedule, 1, Disposition::Retry(reason), None, unit),
                    NextStep::RetryAfter(MINUTE),
                    "{reason:?}"
                );
            }
            // Other retryable reasons keep the scheduled 5 s ± 20 %.
            for reason in [
                RetryReason::Connect,
                RetryReason::Transport,
                RetryReason::Status(503),
            ] {
                let NextStep::RetryAfter(delay) =
                    next_attempt_delay(&schedule, 1, Disposition::Retry(reason), None, unit)
                else {
                    panic!("retry expected");
                };
                assert!(delay <= 6 * SECOND, "{reason:?}: {delay:?}");
            }
        }
        // Longer scheduled delays are unaffected by the floor (5 m ± 20 %).
        assert_eq!(
            next_attempt_delay(
                &schedule,
                2,
                Disposition::Retry(RetryReason::Timeout),
                None,
                0.0
            ),
            NextStep::RetryAfter(4 * MINUTE)
        );
        assert_eq!(RetryReason::Status(429).min_delay(), SLOW_DOWN_FLOOR);
        assert_eq!(RetryReason::Status(503).min_delay(), Duration::ZERO);
    }

    #[test]
    fn retry_after_lengthens_within_bounds() {
        let schedule = RetrySchedule::parse("100ms,5m").unwrap();
        let step = |attempt, status, retry_after| {
            next_attempt_delay(&schedule, attempt, retry_status(status), retry_after, 0.5)
        };
        // Longer than computed → honoured.
        assert_eq!(
            step(1, 503, Some(120 * SECOND)),
            NextStep::RetryAfter(120 * SECOND)
        );
        // Shorter than computed → the computed delay stands.
        assert_eq!(
            step(2, 503, Some(10 * SECOND)),
            NextStep::RetryAfter(5 * MINUTE)
        );
        // Zero → at least 1 s.
        assert_eq!(
            step(1, 503, Some(Duration::ZERO)),
            NextStep::RetryAfter(SECOND)
        );
        // Huge → 24 h.
        assert_eq!(
            step(1, 503, Some(Duration::from_secs(u64::MAX))),
            NextStep::RetryAfter(RETRY_AFTER_MAX)
        );
        assert_eq!(
            step(1, 503, Some(48 * HOUR)),
            NextStep::RetryAfter(24 * HOUR)
        );
        // 429 floor then Retry-After.
        assert_eq!(step(1, 429, Some(5 * SECOND)), NextStep::RetryAfter(MINUTE));
        assert_eq!(
            step(1, 429, Some(90 * SECOND)),
            NextStep::RetryAfter(90 * SECOND)
        );
        // A schedule item above 24 h is not shortened by the cap.
        let long = RetrySchedule::parse("2d").unwrap();
        assert_eq!(
            next_attempt_delay(&long, 1, retry_status(503), Some(HOUR), 0.5),
            NextStep::RetryAfter(48 * HOUR)
        );
        // Exhausted stays dead whatever Retry-After says.
        assert_eq!(step(3, 503, Some(SECOND)), NextStep::Dead);
    }

    #[test]
    fn parse_retry_after_seconds() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_710_000_000);
        assert_eq!(parse_retry_after("120", now), Some(120 * SECOND));
        assert_eq!(parse_retry_after(" 7 ", now), Some(7 * SECOND));
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        for garbage in ["", " ", "-5", "+5", "1.5", "5s", "soon", "0x10", "12 34"] {
            assert_eq!(parse_retry_after(garbage, now), None, "{garbage:?}");
        }
    }

    #[test]
    fn parse_retry_after_http_dates() {
        // 2024-03-09T16:00:00Z
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_710_000_000);
        let later = now + 90 * SECOND;
        let formatted = httpdate::fmt_http_date(later);
        assert_eq!(parse_retry_after(&formatted, now), Some(90 * SECOND));
        assert_eq!(
            parse_retry_after("Sat, 09 Mar 2024 16:01:30 GMT", now),
            Some(90 * SECOND)
        );
        // Obsolete RFC 850 and asctime forms.
        assert_eq!(
            parse_retry_after("Saturday, 09-Mar-24 16:01:30 GMT", now),
            Some(90 * SECOND)
        );
        assert_eq!(
            parse_retry_after("Sat Mar  9 16:01:30 2024", now),
            Some(90 * SECOND)
        );
        // In the past → zero (then floored to the computed delay).
        assert_eq!(
            parse_retry_after("Sat, 09 Mar 2024 16:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        // Far future → a huge delay, capped to 24 h by next_attempt_delay.
        let far = parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now).unwrap();
        assert!(far > 1000 * 24 * HOUR);
        assert_eq!(
            next_attempt_delay(
                &RetrySchedule::default(),
                1,
                retry_status(503),
                Some(far),
                0.5
            ),
            NextStep::RetryAfter(24 * HOUR)
        );
        // Malformed dates.
        for garbage in [
            "Sat, 09 Mar 2024 16:01:30",
            "Sat, 32 Mar 2024 16:01:30 GMT",
            "2024-03-09T16:01:30Z",
            "tomorrow",
        ] {
            assert_eq!(parse_retry_after(garbage, now), None, "{garbage:?}");
        }
    }

    #[test]
    fn end_to_end_429_with_retry_after() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_710_000_000);
        let schedule = RetrySchedule::default();
        let result = AttemptResult::Status(429);
        // Retry-After: 30 is shorter than the 60 s floor of a 429.
        let step = |retry_after: &str| {
            next_attempt_delay(
                &schedule,
                1,
                classify(&result, "Too Many Requests"),
                parse_retry_after(retry_after, now),
                0.5,
            )
        };
        assert_eq!(step("30"), NextStep::RetryAfter(MINUTE));
        assert_eq!(step("600"), NextStep::RetryAfter(10 * MINUTE));
        assert_eq!(step("garbage"), NextStep::RetryAfter(MINUTE));
    }
}
