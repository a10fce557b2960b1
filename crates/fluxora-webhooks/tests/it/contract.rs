//! The verification table (`docs/webhooks.md`): every row, its order, and its boundaries.

use fluxora_webhooks::{
    sign, ClaimError, FixedClock, InMemoryDedup, Outcome, Rejection, SecretUsed, Verifier,
};

use crate::common::*;

/// Owned header pairs.
type Headers = Vec<(String, Vec<u8>)>;

fn outcome_of(verifier: &Verifier, headers: Headers, body: &[u8]) -> Outcome {
    match verifier.verify(headers, body) {
        Ok(_) => Outcome::Ok,
        Err(rejection) => rejection.outcome(),
    }
}

#[test]
fn reference_vector() {
    assert_eq!(sign(SECRET.as_bytes(), TIMESTAMP, BODY), SIGNATURE);
    let delivery = verifier()
        .verify(headers(DELIVERY_ID, "1710000000", SIGNATURE), BODY)
        .unwrap();
    assert_eq!(delivery.delivery_id, DELIVERY_ID);
    assert_eq!(delivery.timestamp, TIMESTAMP);
    assert_eq!(delivery.event.as_deref(), Some("stream.updated"));
    assert_eq!(delivery.signature.to_hex(), SIGNATURE);
    assert_eq!(delivery.secret, SecretUsed::Current);
    // Remembered until timestamp + tolerance has passed: 300 − 0 + 1.
    assert_eq!(delivery.replay_window_secs, 301);
}

/// One request per row of the table, each answered with its code and status.
#[tokio::test]
async fn every_row_of_the_table_has_its_code_and_status() {
    let good = || headers(DELIVERY_ID, "1710000000", SIGNATURE);
    let dedup = InMemoryDedup::new().with_clock(FixedClock(TIMESTAMP));
    // Process the delivery once, so that the duplicate row can be produced.
    let (_, lease) = verifier()
        .verify_and_claim(&dedup, good(), BODY)
        .await
        .unwrap();
    fluxora_webhooks::DeliveryDedup::complete(&dedup, &lease)
        .await
        .unwrap();

    let cases: Vec<(&str, Verifier, Headers, Vec<u8>)> = vec![
        (
            "missing_secret",
            Verifier::unconfigured(),
            good(),
            BODY.to_vec(),
        ),
        (
            "missing_delivery_id",
            verifier(),
            without(good(), "x-fluxora-delivery-id"),
            BODY.to_vec(),
        ),
        (
            "missing_timestamp",
            verifier(),
            without(good(), "x-fluxora-timestamp"),
            BODY.to_vec(),
        ),
        (
            "missing_signature",
            verifier(),
            without(good(), "x-fluxora-signature"),
            BODY.to_vec(),
        ),
        ("payload_too_large", verifier(), good(), vec![b' '; 262_145]),
        (
            "invalid_timestamp",
            verifier(),
            with(good(), "x-fluxora-timestamp", b"01710000000"),
            BODY.to_vec(),
        ),
        (
            "timestamp_outside_tolerance",
            verifier().with_clock(FixedClock(TIMESTAMP + 301)),
            good(),
            BODY.to_vec(),
        ),
        (
            "signature_mismatch",
            Verifier::new("another").with_clock(FixedClock(TIMESTAMP)),
            good(),
            BODY.to_vec(),
        ),
        ("duplicate_delivery", verifier(), good(), BODY.to_vec()),
        // A new delivery (its own id and signature).
        (
            "ok",
            verifier(),
            signed("a-new-delivery", TIMESTAMP + 1, BODY),
            BODY.to_vec(),
        ),
    ];
    let mut seen = Vec::new();
    for (expected, verifier, headers, body) in cases {
        let result = verifier.verify_and_claim(&dedup, headers, &body).await;
        let (code, status, message) = match &result {
            Ok(_) => (Outcome::Ok.code(), Outcome::Ok.http_status(), String::new()),
            Err(ClaimError::Rejected(rejection)) => (
                rejection.code(),
                rejection.http_status(),
                rejection.message(),
            ),
            Err(ClaimError::Store(error)) => panic!("store failed: {error}"),
        };
        assert_eq!(code, expected, "{message}");
        if expected != "ok" {
            assert!(!message.is_empty());
            assert!(!message.contains(SECRET), "{message}");
        }
        seen.push((code, status));
    }
    let table: Vec<(&str, u16)> = Outcome::ALL
        .iter()
        .map(|outcome| (outcome.code(), outcome.http_status()))
        .collect();
    assert_eq!(seen, table, "rows, codes and statuses in the table's order");
    assert_eq!(
        seen.iter().map(|(_, status)| *status).collect::<Vec<_>>(),
        vec![500, 401, 401, 401, 413, 400, 401, 401, 409, 200]
    );
}

#[test]
fn checks_run_in_the_order_of_the_table() {
    let stale_bad = headers(DELIVERY_ID, "1709999000", &"0".repeat(64));
    let big = vec![b'x'; 262_145];
    // 1. A missing secret wins over everything, even no headers at all.
    assert_eq!(
        outcome_of(&Verifier::unconfigured(), Vec::new(), &big),
        Outcome::MissingSecret
    );
    // 2. Missing headers are reported before the body's size, id before timestamp before
    //    signature.
    assert_eq!(
        outcome_of(&verifier(), Vec::new(), &big),
        Outcome::MissingDeliveryId
    );
    assert_eq!(
        outcome_of(
            &verifier(),
            without(
                without(stale_bad.clone(), "x-fluxora-timestamp"),
                "x-fluxora-signature"
            ),
            &big
        ),
        Outcome::MissingTimestamp
    );
    assert_eq!(
        outcome_of(
            &verifier(),
            without(stale_bad.clone(), "x-fluxora-signature"),
            &big
        ),
        Outcome::MissingSignature
    );
    // 3. Size before the timestamp's form.
    assert_eq!(
        outcome_of(
            &verifier(),
            with(stale_bad.clone(), "x-fluxora-timestamp", b"abc"),
            &big
        ),
        Outcome::PayloadTooLarge
    );
    // 4. Form before tolerance and signature.
    assert_eq!(
        outcome_of(
            &verifier(),
            with(stale_bad.clone(), "x-fluxora-timestamp", b"abc"),
            BODY
        ),
        Outcome::InvalidTimestamp
    );
    // 5. Tolerance before the signature.
    assert_eq!(
        outcome_of(&verifier(), stale_bad, BODY),
        Outcome::TimestampOutsideTolerance
    );
}

#[test]
fn missing_means_absent_or_empty() {
    let good = || headers(DELIVERY_ID, "1710000000", SIGNATURE);
    for (name, value, expected) in [
        (
            "x-fluxora-delivery-id",
            &b""[..],
            Outcome::MissingDeliveryId,
        ),
        ("x-fluxora-delivery-id", b"  \t", Outcome::MissingDeliveryId),
        (
            "x-fluxora-delivery-id",
            b"\xff\xfe",
            Outcome::MissingDeliveryId,
        ),
        ("x-fluxora-timestamp", b"", Outcome::MissingTimestamp),
        ("x-fluxora-signature", b"", Outcome::MissingSignature),
        ("x-fluxora-signature", b"   ", Outcome::MissingSignature),
    ] {
        assert_eq!(
            outcome_of(&verifier(), with(good(), name, value), BODY),
            expected,
            "{name}: {value:?}"
        );
    }
    // An empty or absent secret configures nothing.
    assert_eq!(
        outcome_of(&Verifier::new(""), good(), BODY),
        Outcome::MissingSecret
    );
    assert_eq!(
        outcome_of(&Verifier::default(), good(), BODY),
        Outcome::MissingSecret
    );
    let absent = Verifier::from_env("FLUXORA_WEBHOOKS_TEST_NO_SUCH_VARIABLE");
    assert!(!absent.has_secret());
    assert_eq!(outcome_of(&absent, good(), BODY), Outcome::MissingSecret);
    assert_eq!(
        Verifier::unconfigured().verify(good(), BODY).unwrap_err(),
        Rejection::MissingSecret
    );
    // The event header is optional.
    let delivery = verifier()
        .verify(without(good(), "x-fluxora-event"), BODY)
        .unwrap();
    assert_eq!(delivery.event, None);
    let delivery = verifier()
        .verify(with(good(), "x-fluxora-event", b"\xff"), BODY)
        .unwrap();
    assert_eq!(
        delivery.event, None,
        "a non-UTF-8 event is dropped, not trusted"
    );
}

#[test]
fn body_size_boundary_is_262_144_bytes() {
    let at_limit = vec![b'a'; 262_144];
    let over = vec![b'a'; 262_145];
    assert!(verifier()
        .verify(signed(DELIVERY_ID, TIMESTAMP, &at_limit), &at_limit)
        .is_ok());
    assert_eq!(
        verifier()
            .verify(signed(DELIVERY_ID, TIMESTAMP, &over), &over)
            .unwrap_err(),
        Rejection::PayloadTooLarge {
            length: 262_145,
            max: 262_144
        }
    );
    // Configurable, boundary included.
    let small = verifier().with_max_body_bytes(10);
    assert!(small
        .verify(signed(DELIVERY_ID, TIMESTAMP, b"0123456789"), b"0123456789")
        .is_ok());
    assert_eq!(
        outcome_of(
            &small,
            signed(DELIVERY_ID, TIMESTAMP, b"0123456789a"),
            b"0123456789a"
        ),
        Outcome::PayloadTooLarge
    );
    // An empty body is a valid body.
    assert!(verifier()
        .verify(signed(DELIVERY_ID, TIMESTAMP, b""), b"")
        .is_ok());
}

#[test]
fn timestamps_must_be_canonical_positive_integers() {
    for bad in [
        "0",
        "-1",
        "1.5",
        "abc",
        " 123",
        "123 ",
        "0123",
        "+1710000000",
        "1710000000.0",
        "1e9",
        "18446744073709551616",
        "99999999999999999999999999999999",
        "1710000000\0",
    ] {
        let headers = headers(DELIVERY_ID, bad, SIGNATURE);
        assert_eq!(
            verifier().verify(headers, BODY).unwrap_err(),
            Rejection::InvalidTimestamp {
                header: "x-fluxora-timestamp"
            },
            "{bad:?}"
        );
    }
    // Non-UTF-8 bytes too.
    let headers = with(
        headers(DELIVERY_ID, "1", SIGNATURE),
        "x-fluxora-timestamp",
        b"17\xff",
    );
    assert_eq!(
        outcome_of(&verifier(), headers, BODY),
        Outcome::InvalidTimestamp
    );
}

#[test]
fn tolerance_is_300_seconds_inclusive_in_both_directions() {
    let now = TIMESTAMP;
    let verifier = verifier();
    for (timestamp, expected) in [
        (now - 300, Outcome::Ok),
        (now - 301, Outcome::TimestampOutsideTolerance),
        (now + 300, Outcome::Ok),
        (now + 301, Outcome::TimestampOutsideTolerance),
        (now, Outcome::Ok),
        (1, Outcome::TimestampOutsideTolerance),
        (u64::MAX, Outcome::TimestampOutsideTolerance),
    ] {
        assert_eq!(
            outcome_of(&verifier, signed(DELIVERY_ID, timestamp, BODY), BODY),
            expected,
            "timestamp {timestamp}"
        );
    }
    let rejection = verifier
        .verify(signed(DELIVERY_ID, now - 301, BODY), BODY)
        .unwrap_err();
    assert_eq!(
        rejection,
        Rejection::TimestampOutsideTolerance {
            timestamp: now - 301,
            now,
            tolerance_secs: 300
        }
    );
    assert!(
        rejection.message().contains("301 s in the past"),
        "{rejection}"
    );
    // Replay windows: remembered until timestamp + 300 has passed.
    let early = verifier
        .verify(signed(DELIVERY_ID, now + 300, BODY), BODY)
        .unwrap();
    assert_eq!(early.replay_window_secs, 601);
    let late = verifier
        .verify(signed(DELIVERY_ID, now - 300, BODY), BODY)
        .unwrap();
    assert_eq!(late.replay_window_secs, 1);
    // A configured tolerance.
    let strict = crate::common::verifier().with_tolerance_secs(5);
    assert_eq!(
        outcome_of(&strict, signed(DELIVERY_ID, now - 5, BODY), BODY),
        Outcome::Ok
    );
    assert_eq!(
        outcome_of(&strict, signed(DELIVERY_ID, now - 6, BODY), BODY),
        Outcome::TimestampOutsideTolerance
    );
}

#[test]
fn signatures_are_trimmed_case_insensitive_and_exactly_64_hex_digits() {
    let check = |signature: &[u8]| {
        outcome_of(
            &verifier(),
            with(
                headers(DELIVERY_ID, "1710000000", SIGNATURE),
                "x-fluxora-signature",
                signature,
            ),
            BODY,
        )
    };
    assert_eq!(check(SIGNATURE.as_bytes()), Outcome::Ok);
    assert_eq!(
        check(SIGNATURE.to_uppercase().as_bytes()),
        Outcome::Ok,
        "upper case"
    );
    let mixed: String = SIGNATURE
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    assert_eq!(check(mixed.as_bytes()), Outcome::Ok, "mixed case");
    assert_eq!(
        check(format!("  {SIGNATURE}\t ").as_bytes()),
        Outcome::Ok,
        "trimmed"
    );

    let mismatch = Outcome::SignatureMismatch;
    assert_eq!(check(&SIGNATURE.as_bytes()[..63]), mismatch, "63 digits");
    assert_eq!(
        check(format!("{SIGNATURE}0").as_bytes()),
        mismatch,
        "65 digits"
    );
    assert_eq!(check(&SIGNATURE.as_bytes()[..32]), mismatch, "a prefix");
    assert_eq!(
        check(SIGNATURE.replace('9', "g").as_bytes()),
        mismatch,
        "non-hex"
    );
    assert_eq!(
        check(format!("sha256={SIGNATURE}").as_bytes()),
        mismatch,
        "prefixed"
    );
    let mut nul = SIGNATURE.as_bytes().to_vec();
    nul[20] = 0;
    assert_eq!(check(&nul), mismatch, "NUL inside");
    assert_eq!(
        check(format!("{SIGNATURE}\0").as_bytes()),
        mismatch,
        "NUL appended"
    );
    assert_eq!(check(&[0u8; 64]), mismatch, "64 NULs");
    assert_eq!(
        check("é".repeat(32).as_bytes()),
        mismatch,
        "64 non-ASCII bytes"
    );
    assert_eq!(check(&"0".repeat(64).into_bytes()), mismatch, "zeros");
    assert_eq!(check(b""), Outcome::MissingSignature, "empty");
    // A valid signature of anything else.
    assert_eq!(
        check(sign(b"other", TIMESTAMP, BODY).as_bytes()),
        mismatch,
        "other secret"
    );
    assert_eq!(
        check(sign(SECRET.as_bytes(), TIMESTAMP + 1, BODY).as_bytes()),
        mismatch,
        "other timestamp"
    );
    assert_eq!(
        check(
            sign(
                SECRET.as_bytes(),
                TIMESTAMP,
                b"{\"event\": \"stream.updated\"}"
            )
            .as_bytes()
        ),
        mismatch,
        "re-serialised body"
    );
}

#[test]
fn previous_secret_verifies_until_the_end_of_its_grace_window_inclusive() {
    let rotated_at = TIMESTAMP;
    let grace = 86_400;
    let at = |now: u64| {
        Verifier::new("new-secret")
            .with_previous_secret("old-secret", rotated_at)
            .with_clock(FixedClock(now))
    };
    let old_signed = |now: u64| {
        headers(
            DELIVERY_ID,
            &now.to_string(),
            &sign(b"old-secret", now, BODY),
        )
    };
    let new_signed = |now: u64| {
        headers(
            DELIVERY_ID,
            &now.to_string(),
            &sign(b"new-secret", now, BODY),
        )
    };

    // Before the rotation, at it, and at the last second of the grace window.
    for now in [
        rotated_at - 1000,
        rotated_at,
        rotated_at + grace - 1,
        rotated_at + grace,
    ] {
        let delivery = at(now).verify(old_signed(now), BODY).unwrap();
        assert_eq!(delivery.secret, SecretUsed::Previous, "now = {now}");
        let delivery = at(now).verify(new_signed(now), BODY).unwrap();
        assert_eq!(delivery.secret, SecretUsed::Current);
    }
    // One second later the previous secret is refused, the current one still verifies.
    let after = rotated_at + grace + 1;
    assert_eq!(
        at(after).verify(old_signed(after), BODY).unwrap_err(),
        Rejection::SignatureMismatch
    );
    assert!(at(after).verify(new_signed(after), BODY).is_ok());
    // The default grace is 24 h; a configured one is honoured.
    assert_eq!(at(0).grace_secs(), 86_400);
    let short = |now: u64| at(now).with_grace_secs(60);
    assert!(short(rotated_at + 60)
        .verify(old_signed(rotated_at + 60), BODY)
        .is_ok());
    assert!(short(rotated_at + 61)
        .verify(old_signed(rotated_at + 61), BODY)
        .is_err());
    // Without a previous secret, its signatures never verify; an empty one is ignored.
    let plain = Verifier::new("new-secret")
        .with_previous_secret("", rotated_at)
        .with_clock(FixedClock(rotated_at));
    assert_eq!(
        plain.verify(old_signed(rotated_at), BODY).unwrap_err(),
        Rejection::SignatureMismatch
    );
    // The window's end saturates instead of overflowing.
    let far = Verifier::new("new-secret")
        .with_previous_secret("old-secret", u64::MAX - 5)
        .with_grace_secs(u64::MAX)
        .with_clock(FixedClock(u64::MAX));
    assert_eq!(
        far.verify(old_signed(u64::MAX), BODY).unwrap().secret,
        SecretUsed::Previous
    );
    // A previous secret alone is not a configured secret.
    let previous_only = Verifier::unconfigured().with_previous_secret("old-secret", rotated_at);
    assert_eq!(
        previous_only
            .verify(old_signed(TIMESTAMP), BODY)
            .unwrap_err(),
        Rejection::MissingSecret
    );
}

#[test]
fn header_names_match_case_insensitively_from_any_pair_list_or_header_map() {
    let pairs = [
        ("X-Fluxora-Delivery-Id", DELIVERY_ID),
        ("X-FLUXORA-TIMESTAMP", "1710000000"),
        ("x-fluxora-SIGNATURE", SIGNATURE),
        ("Content-Type", "application/json"),
    ];
    assert!(verifier().verify(pairs, BODY).is_ok());

    let mut map = axum::http::HeaderMap::new();
    map.insert("x-fluxora-delivery-id", DELIVERY_ID.parse().unwrap());
    map.insert("x-fluxora-timestamp", "1710000000".parse().unwrap());
    map.insert("x-fluxora-signature", SIGNATURE.parse().unwrap());
    map.insert("x-fluxora-event", "stream.updated".parse().unwrap());
    let delivery = verifier().verify(&map, BODY).unwrap();
    assert_eq!(delivery.event.as_deref(), Some("stream.updated"));

    // When a header repeats, its first occurrence counts.
    let mut repeated = headers(DELIVERY_ID, "1710000000", SIGNATURE);
    repeated.push(("x-fluxora-signature".into(), b"0".repeat(64)));
    assert!(verifier().verify(repeated, BODY).is_ok());
    let mut repeated = headers(DELIVERY_ID, "1710000000", &"0".repeat(64));
    repeated.push(("x-fluxora-signature".into(), SIGNATURE.as_bytes().to_vec()));
    assert_eq!(
        outcome_of(&verifier(), repeated, BODY),
        Outcome::SignatureMismatch
    );

    // The delivery id is trimmed.
    let padded = with(
        headers(DELIVERY_ID, "1710000000", SIGNATURE),
        "x-fluxora-delivery-id",
        format!(" {DELIVERY_ID} ").as_bytes(),
    );
    assert_eq!(
        verifier().verify(padded, BODY).unwrap().delivery_id,
        DELIVERY_ID
    );
}

#[test]
fn precheck_covers_only_the_rows_before_the_body() {
    let good = headers(DELIVERY_ID, "bogus", "bogus");
    assert_eq!(verifier().precheck(&good), Ok(()));
    assert_eq!(
        verifier().precheck(without(good.clone(), "x-fluxora-timestamp")),
        Err(Rejection::MissingTimestamp {
            header: "x-fluxora-timestamp"
        })
    );
    assert_eq!(
        Verifier::unconfigured().precheck(&good),
        Err(Rejection::MissingSecret)
    );
}

#[test]
fn extreme_inputs_do_not_panic() {
    // Huge header values and bodies.
    let huge = vec![b'9'; 1 << 20];
    let headers = vec![
        ("x-fluxora-delivery-id".to_string(), huge.clone()),
        ("x-fluxora-timestamp".to_string(), huge.clone()),
        ("x-fluxora-signature".to_string(), huge.clone()),
        ("x-fluxora-event".to_string(), huge.clone()),
    ];
    assert_eq!(
        outcome_of(&verifier(), headers, BODY),
        Outcome::InvalidTimestamp
    );
    // Clock and tolerance at the extremes.
    for (now, tolerance) in [(u64::MAX, u64::MAX), (0, 0), (u64::MAX, 0), (0, u64::MAX)] {
        let verifier = verifier()
            .with_clock(FixedClock(now))
            .with_tolerance_secs(tolerance);
        for timestamp in [1, TIMESTAMP, u64::MAX] {
            let _ = verifier.verify(signed(DELIVERY_ID, timestamp, BODY), BODY);
        }
    }
    // `timestamp + tolerance` saturates at u64::MAX: the window is what is left until then.
    let wide = verifier()
        .with_clock(FixedClock(u64::MAX - 10))
        .with_tolerance_secs(u64::MAX);
    for timestamp in [1, u64::MAX] {
        let delivery = wide
            .verify(signed(DELIVERY_ID, timestamp, BODY), BODY)
            .unwrap();
        assert_eq!(delivery.replay_window_secs, 11);
    }
    // A zero-byte maximum accepts only empty bodies.
    let none = verifier().with_max_body_bytes(0);
    assert_eq!(
        outcome_of(&none, signed(DELIVERY_ID, TIMESTAMP, BODY), BODY),
        Outcome::PayloadTooLarge
    );
    // Long and binary secrets are fine.
    let long_secret = vec![0xffu8; 10_000];
    let verifier = Verifier::new(&long_secret).with_clock(FixedClock(TIMESTAMP));
    let signature = sign(&long_secret, TIMESTAMP, BODY);
    assert!(verifier.verify(headers_for(&signature), BODY).is_ok());
}

fn headers_for(signature: &str) -> Vec<(String, Vec<u8>)> {
    headers(DELIVERY_ID, "1710000000", signature)
}
