//! Tests of the delivery outcome policy.

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
        100, 101, 199, 300, 301, 302, 304, 307, 308, 400, 401, 403, 404, 405, 409, 410, 413, 415,
        422, 451, 499, 600, 999,
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
    let receiver = br#"{"error":"duplicate_delivery","message":"delivery id already processed"}"#;
    assert_eq!(response_with_body(409, receiver), delivered);
    assert!(response_with_body(409, receiver).is_delivered());
    // Whitespace and an envelope like the service's own error envelope.
    let envelope = b" {\n  \"error\": {\"code\": \"duplicate_delivery\", \"message\": \"x\"}\n}\n";
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
