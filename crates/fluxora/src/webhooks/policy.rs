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

    #[tokio::test]
    async fn a_refusal_of_the_ssrf_guard_is_address_forbidden() {
        // The guard refuses `localhost` while resolving, before any connection is attempted.
        let client = crate::ssrf::SsrfPolicy::default()
            .client_builder(Duration::from_secs(5))
            .build()
            .unwrap();
        let err = client
            .post("http://localhost:9/hook")
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            TransportErrorKind::of(&err),
            TransportErrorKind::AddressForbidden
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
        // Whitespace and an envelope like the service's own error envelope.
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
