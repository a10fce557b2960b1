//! Create-body and query-string validation through real HTTP (`docs/api.md`, "Field codes" and
//! "Create rules"): every case is a request to the running service, checked on the error envelope
//! and its `details`.

use serde_json::{json, Value};

use crate::helpers::{
    detail_codes, expect_error, now, valid_body, TestApp, C1, G1, G2, RECIPIENT, SENDER,
};

/// `i128::MAX` stroops, the largest amount the contract can hold.
const I128_MAX_AMOUNT: &str = "17014118346046923173168730371588.4105727";
/// One stroop more than [`I128_MAX_AMOUNT`].
const I128_MAX_PLUS_ONE: &str = "17014118346046923173168730371588.4105728";
/// A valid ed25519 secret seed (never to be echoed).
const SECRET_SEED: &str = "SBGWKM3CD4IL47QN6X54N6Y33T3JDNVI6AIJ6CD5IM47HG3IG4O36XCU";
/// A fixed start time for cases that need exact arithmetic.
const START: u64 = 1_700_000_000;
/// `i64::MAX`, the largest accepted unix time.
const MAX_TIME: u64 = i64::MAX as u64;

/// `valid_body()` with `field` set to `value` exactly (a JSON `null` stays a `null`).
fn body_with(field: &str, value: Value) -> Value {
    let mut body = valid_body();
    body[field] = value;
    body
}

/// `valid_body()` without `field`.
fn body_without(field: &str) -> Value {
    let mut body = valid_body();
    body.as_object_mut().expect("object").remove(field);
    body
}

/// `valid_body()` with every key of `overrides` set exactly (nulls kept).
fn body_merged(overrides: Value) -> Value {
    let mut body = valid_body();
    for (key, value) in overrides.as_object().expect("object overrides") {
        body[key.as_str()] = value.clone();
    }
    body
}

/// POSTs `body` and returns the `(field, code)` pairs of the 400 envelope.
async fn rejected(app: &TestApp, body: &Value, case: &str) -> (Value, Vec<(String, String)>) {
    let response = app.post_json("/api/streams", body).await;
    assert_eq!(response.status(), 400, "{case}: expected 400 for {body}");
    let error = expect_error(response, 400, "VALIDATION_ERROR").await;
    let codes = detail_codes(&error);
    (error, codes)
}

/// Asserts `body` is refused with exactly one detail, `(field, code)`.
async fn assert_only(app: &TestApp, body: &Value, field: &str, code: &str, case: &str) {
    let (error, codes) = rejected(app, body, case).await;
    assert_eq!(
        codes,
        vec![(field.to_string(), code.to_string())],
        "{case}: details of {error}"
    );
    let message = error["details"][0]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{case}: detail message in {error}");
}

/// POSTs `body`, asserts 201 and returns the stream.
async fn created(app: &TestApp, body: &Value, case: &str) -> Value {
    let response = app.post_json("/api/streams", body).await;
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().expect("ascii").to_string());
    let stream: Value = response.json().await.expect("json body");
    assert_eq!(status, 201, "{case}: {body} → {stream}");
    let id = stream["id"].as_str().expect("id");
    assert_eq!(
        location.as_deref(),
        Some(format!("/api/streams/{id}").as_str()),
        "{case}: Location"
    );
    stream
}

/// `GET /api/streams` → the number of streams on the first page.
async fn stream_count(app: &TestApp) -> usize {
    let response = app.get("/api/streams?limit=100").await;
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.expect("json");
    page["streams"].as_array().expect("streams").len()
}

fn sorted(mut pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    pairs.sort();
    pairs
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    sorted(
        list.iter()
            .map(|(f, c)| (f.to_string(), c.to_string()))
            .collect(),
    )
}

fn is_canonical_amount(value: &Value) -> bool {
    value.as_str().is_some_and(|s| {
        s.split_once('.').is_some_and(|(int, frac)| {
            !int.is_empty()
                && int.bytes().all(|b| b.is_ascii_digit())
                && (int == "0" || !int.starts_with('0'))
                && frac.len() == 7
                && frac.bytes().all(|b| b.is_ascii_digit())
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Amounts (the `DECIMAL_*` codes)
// ---------------------------------------------------------------------------------------------

/// The cases that are refused the same way for `depositAmount` and `ratePerSecond`.
fn amount_cases() -> Vec<(Value, &'static str)> {
    vec![
        // DECIMAL_INVALID_TYPE: JSON numbers (even exact), booleans, arrays, objects.
        (json!(100), "DECIMAL_INVALID_TYPE"),
        (json!(1.5), "DECIMAL_INVALID_TYPE"),
        (json!(0), "DECIMAL_INVALID_TYPE"),
        (json!(true), "DECIMAL_INVALID_TYPE"),
        (json!(false), "DECIMAL_INVALID_TYPE"),
        (json!([]), "DECIMAL_INVALID_TYPE"),
        (json!(["100"]), "DECIMAL_INVALID_TYPE"),
        (json!({}), "DECIMAL_INVALID_TYPE"),
        (json!({"value": "100"}), "DECIMAL_INVALID_TYPE"),
        // DECIMAL_EMPTY_VALUE: null, "", whitespace only.
        (Value::Null, "DECIMAL_EMPTY_VALUE"),
        (json!(""), "DECIMAL_EMPTY_VALUE"),
        (json!("   "), "DECIMAL_EMPTY_VALUE"),
        (json!("\t\n "), "DECIMAL_EMPTY_VALUE"),
        // DECIMAL_INVALID_FORMAT: anything else that is not a plain decimal.
        (json!("1e5"), "DECIMAL_INVALID_FORMAT"),
        (json!("1E5"), "DECIMAL_INVALID_FORMAT"),
        (json!("+5"), "DECIMAL_INVALID_FORMAT"),
        (json!("-5"), "DECIMAL_INVALID_FORMAT"),
        (json!("-0"), "DECIMAL_INVALID_FORMAT"),
        (json!("１００"), "DECIMAL_INVALID_FORMAT"),
        (json!(".5"), "DECIMAL_INVALID_FORMAT"),
        (json!("5."), "DECIMAL_INVALID_FORMAT"),
        (json!("1,000"), "DECIMAL_INVALID_FORMAT"),
        (json!("1,5"), "DECIMAL_INVALID_FORMAT"),
        (json!("NaN"), "DECIMAL_INVALID_FORMAT"),
        (json!("Infinity"), "DECIMAL_INVALID_FORMAT"),
        (json!("0x10"), "DECIMAL_INVALID_FORMAT"),
        (json!(" 5"), "DECIMAL_INVALID_FORMAT"),
        (json!("5 "), "DECIMAL_INVALID_FORMAT"),
        (json!("1 000"), "DECIMAL_INVALID_FORMAT"),
        (json!("1..5"), "DECIMAL_INVALID_FORMAT"),
        (json!("1.2.3"), "DECIMAL_INVALID_FORMAT"),
        (json!("abc"), "DECIMAL_INVALID_FORMAT"),
        (json!("٣"), "DECIMAL_INVALID_FORMAT"),
        // DECIMAL_OUT_OF_RANGE: more than 7 fractional digits (even zeros), more than i128::MAX.
        (json!("1.00000000"), "DECIMAL_OUT_OF_RANGE"),
        (json!("0.00000001"), "DECIMAL_OUT_OF_RANGE"),
        (json!("1.12345678"), "DECIMAL_OUT_OF_RANGE"),
        (json!(I128_MAX_PLUS_ONE), "DECIMAL_OUT_OF_RANGE"),
        (
            json!("17014118346046923173168730371589"),
            "DECIMAL_OUT_OF_RANGE",
        ),
        (json!("9".repeat(200)), "DECIMAL_OUT_OF_RANGE"),
    ]
}

#[tokio::test]
async fn amount_fields_report_each_decimal_code() {
    let app = TestApp::spawn().await;
    for field in ["depositAmount", "ratePerSecond"] {
        for (value, code) in amount_cases() {
            let case = format!("{field} = {value}");
            assert_only(&app, &body_with(field, value), field, code, &case).await;
        }
        let case = format!("{field} missing");
        assert_only(
            &app,
            &body_without(field),
            field,
            "DECIMAL_EMPTY_VALUE",
            &case,
        )
        .await;
    }
    assert_eq!(stream_count(&app).await, 0, "nothing was created");
}

#[tokio::test]
async fn amount_error_messages_never_echo_the_input() {
    let app = TestApp::spawn().await;
    let marker = "12345678901234567890xyz";
    let (error, codes) = rejected(
        &app,
        &body_with("depositAmount", json!(marker)),
        "echo check",
    )
    .await;
    assert_eq!(
        codes,
        pairs(&[("depositAmount", "DECIMAL_INVALID_FORMAT")]),
        "{error}"
    );
    assert!(
        !error.to_string().contains(marker),
        "the raw value is echoed: {error}"
    );
}

#[tokio::test]
async fn seven_fractional_digits_are_accepted_eight_are_not() {
    let app = TestApp::spawn().await;
    let stream = created(
        &app,
        &body_with("depositAmount", json!("1.0000001")),
        "deposit 1.0000001",
    )
    .await;
    assert_eq!(stream["depositAmount"], "1.0000001");
    let stream = created(
        &app,
        &body_with("ratePerSecond", json!("1.0000001")),
        "rate 1.0000001",
    )
    .await;
    assert_eq!(stream["ratePerSecond"], "1.0000001");
    let stream = created(
        &app,
        &body_merged(json!({"depositAmount": "0.0000001", "ratePerSecond": "0.0000001"})),
        "one stroop",
    )
    .await;
    assert_eq!(stream["depositAmount"], "0.0000001");
    assert_eq!(stream["ratePerSecond"], "0.0000001");
    assert_eq!(
        stream["endTime"].as_u64(),
        stream["startTime"].as_u64().map(|s| s + 1)
    );

    for field in ["depositAmount", "ratePerSecond"] {
        for value in ["1.00000000", "100.00000010"] {
            let case = format!("{field} = {value}");
            assert_only(
                &app,
                &body_with(field, json!(value)),
                field,
                "DECIMAL_OUT_OF_RANGE",
                &case,
            )
            .await;
        }
    }
}

#[tokio::test]
async fn deposit_of_i128_max_stroops_is_accepted_and_one_more_is_out_of_range() {
    let app = TestApp::spawn().await;
    // deposit ≥ rate × (end − start): i128::MAX stroops ≥ 1 unit/s × 1000 s.
    let body = body_merged(json!({
        "depositAmount": I128_MAX_AMOUNT,
        "ratePerSecond": "1",
        "startTime": START,
        "endTime": START + 1000,
    }));
    let stream = created(&app, &body, "i128::MAX deposit").await;
    assert_eq!(stream["depositAmount"], I128_MAX_AMOUNT);
    assert_eq!(stream["ratePerSecond"], "1.0000000");
    assert_eq!(stream["status"], "completed", "{stream}");
    assert_eq!(stream["streamedAmount"], "1000.0000000");
    assert_eq!(
        stream["remainingAmount"], "17014118346046923173168730370588.4105727",
        "deposit − 1000 units"
    );

    // The stored value round-trips exactly.
    let id = stream["id"].as_str().expect("id");
    let response = app.get(&format!("/api/streams/{id}")).await;
    assert_eq!(response.status(), 200);
    let read: Value = response.json().await.expect("json");
    assert_eq!(read["depositAmount"], I128_MAX_AMOUNT);

    // Rate at i128::MAX too: deposit covers exactly one second.
    let body = body_merged(json!({
        "depositAmount": I128_MAX_AMOUNT,
        "ratePerSecond": I128_MAX_AMOUNT,
        "startTime": START,
        "endTime": START + 1,
    }));
    let stream = created(&app, &body, "i128::MAX rate").await;
    assert_eq!(stream["ratePerSecond"], I128_MAX_AMOUNT);
    assert_eq!(stream["streamedAmount"], I128_MAX_AMOUNT);
    assert_eq!(stream["remainingAmount"], "0.0000000");

    // One stroop more is out of range, for both fields.
    let body = body_merged(json!({
        "depositAmount": I128_MAX_PLUS_ONE,
        "ratePerSecond": "1",
        "startTime": START,
        "endTime": START + 1000,
    }));
    assert_only(
        &app,
        &body,
        "depositAmount",
        "DECIMAL_OUT_OF_RANGE",
        "deposit + 1",
    )
    .await;
    let body = body_merged(json!({
        "depositAmount": I128_MAX_AMOUNT,
        "ratePerSecond": I128_MAX_PLUS_ONE,
        "startTime": START,
        "endTime": START + 1,
    }));
    assert_only(
        &app,
        &body,
        "ratePerSecond",
        "DECIMAL_OUT_OF_RANGE",
        "rate + 1",
    )
    .await;
}

#[tokio::test]
async fn leading_zeros_are_dropped_and_amounts_have_seven_decimals() {
    let app = TestApp::spawn().await;
    let stream = created(
        &app,
        &body_merged(json!({"depositAmount": "0100.5", "ratePerSecond": "00.001"})),
        "leading zeros",
    )
    .await;
    assert_eq!(stream["depositAmount"], "100.5000000");
    assert_eq!(stream["ratePerSecond"], "0.0010000");

    let stream = created(&app, &valid_body(), "plain").await;
    assert_eq!(stream["depositAmount"], "100.0000000");
    assert_eq!(stream["ratePerSecond"], "0.0010000");
    assert_eq!(stream["withdrawnAmount"], "0.0000000");
    for field in [
        "depositAmount",
        "ratePerSecond",
        "withdrawnAmount",
        "streamedAmount",
        "remainingAmount",
    ] {
        assert!(
            is_canonical_amount(&stream[field]),
            "{field} is not canonical: {stream}"
        );
    }
    // Started an hour ago at 0.001/s: 3.6 units streamed (± a second of clock drift).
    let streamed = stream["streamedAmount"].as_str().expect("string");
    assert!(
        ["3.6000000", "3.6010000", "3.6020000"].contains(&streamed),
        "streamedAmount {streamed}"
    );

    // The list shows the same canonical form.
    let response = app.get("/api/streams").await;
    let page: Value = response.json().await.expect("json");
    for stream in page["streams"].as_array().expect("streams") {
        for field in [
            "depositAmount",
            "ratePerSecond",
            "withdrawnAmount",
            "streamedAmount",
            "remainingAmount",
        ] {
            assert!(is_canonical_amount(&stream[field]), "{field}: {stream}");
        }
    }
}

#[tokio::test]
async fn zero_amounts_are_semantic_validation_errors() {
    let app = TestApp::spawn().await;
    for (field, value) in [
        ("depositAmount", "0"),
        ("depositAmount", "0.0000000"),
        ("depositAmount", "000"),
        ("ratePerSecond", "0"),
        ("ratePerSecond", "0.0"),
    ] {
        let case = format!("{field} = {value}");
        assert_only(
            &app,
            &body_with(field, json!(value)),
            field,
            "VALIDATION_ERROR",
            &case,
        )
        .await;
    }
    assert_eq!(stream_count(&app).await, 0);
}

#[tokio::test]
async fn every_failing_field_is_listed_in_one_response() {
    let app = TestApp::spawn().await;
    let body = json!({
        "recipient": 42,
        "depositAmount": 100,
        "ratePerSecond": "1e5",
        "startTime": -1,
        "cliffTime": "soon",
        "endTime": 1.5,
        "memo": "hello",
    });
    let (error, codes) = rejected(&app, &body, "many failures").await;
    assert_eq!(
        sorted(codes),
        pairs(&[
            ("memo", "UNKNOWN_FIELD"),
            ("sender", "STRKEY_EMPTY_VALUE"),
            ("recipient", "STRKEY_INVALID_TYPE"),
            ("depositAmount", "DECIMAL_INVALID_TYPE"),
            ("ratePerSecond", "DECIMAL_INVALID_FORMAT"),
            ("startTime", "TIME_INVALID"),
            ("cliffTime", "TIME_INVALID"),
            ("endTime", "TIME_INVALID"),
        ]),
        "{error}"
    );
    for detail in error["details"].as_array().expect("details") {
        let keys: Vec<&String> = detail.as_object().expect("object").keys().collect();
        assert_eq!(keys.len(), 3, "field, code, message: {detail}");
        assert!(detail["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    // Semantic failures are listed together too (both amounts zero, sender = recipient).
    let body = body_merged(json!({
        "recipient": SENDER,
        "depositAmount": "0",
        "ratePerSecond": "0",
    }));
    let (error, codes) = rejected(&app, &body, "semantic failures").await;
    assert_eq!(
        sorted(codes),
        pairs(&[
            ("depositAmount", "VALIDATION_ERROR"),
            ("ratePerSecond", "VALIDATION_ERROR"),
            ("recipient", "VALIDATION_ERROR"),
        ]),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// StrKeys
// ---------------------------------------------------------------------------------------------

fn muxed_address() -> String {
    let muxed = stellar_strkey::ed25519::MuxedAccount {
        ed25519: [7; 32],
        id: 7,
    };
    let encoded = format!("{muxed}");
    assert!(encoded.starts_with('M'), "{encoded}");
    encoded
}

/// `s` with the character at `index` replaced by another base32 character.
fn change_char(s: &str, index: usize) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    chars[index] = if chars[index] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn valid_account_and_contract_strkeys_are_accepted() {
    let app = TestApp::spawn().await;
    for (sender, recipient) in [(G1, G2), (C1, RECIPIENT), (SENDER, C1), (C1, G1)] {
        let case = format!("{sender} → {recipient}");
        let stream = created(
            &app,
            &body_merged(json!({"sender": sender, "recipient": recipient})),
            &case,
        )
        .await;
        assert_eq!(stream["sender"], sender, "{case}");
        assert_eq!(stream["recipient"], recipient, "{case}");
    }
}

#[tokio::test]
async fn invalid_strkeys_are_refused_with_their_codes() {
    let app = TestApp::spawn().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "bad checksum (middle)",
            json!(change_char(G1, 20)),
            "STRKEY_INVALID",
        ),
        (
            "bad checksum (last)",
            json!(change_char(G1, 55)),
            "STRKEY_INVALID",
        ),
        (
            "bad contract checksum",
            json!(change_char(C1, 30)),
            "STRKEY_INVALID",
        ),
        ("55 characters", json!(&G1[..55]), "STRKEY_INVALID"),
        ("57 characters", json!(format!("{G1}A")), "STRKEY_INVALID"),
        ("lowercase", json!(G1.to_lowercase()), "STRKEY_INVALID"),
        ("leading space", json!(format!(" {G1}")), "STRKEY_INVALID"),
        ("trailing space", json!(format!("{G1} ")), "STRKEY_INVALID"),
        (
            "surrounding tab/newline",
            json!(format!("\t{G1}\n")),
            "STRKEY_INVALID",
        ),
        (
            "not base32",
            json!("G0000000000000000000000000000000000000000000000000000000"),
            "STRKEY_INVALID",
        ),
        ("garbage", json!("hello"), "STRKEY_INVALID"),
        ("muxed M…", json!(muxed_address()), "STRKEY_UNSUPPORTED"),
        ("number", json!(5), "STRKEY_INVALID_TYPE"),
        ("boolean", json!(true), "STRKEY_INVALID_TYPE"),
        ("array", json!([G1]), "STRKEY_INVALID_TYPE"),
        ("object", json!({"address": G1}), "STRKEY_INVALID_TYPE"),
        ("null", Value::Null, "STRKEY_EMPTY_VALUE"),
        ("empty", json!(""), "STRKEY_EMPTY_VALUE"),
        ("blank", json!("   "), "STRKEY_EMPTY_VALUE"),
    ];
    for field in ["sender", "recipient"] {
        for (name, value, code) in &cases {
            let case = format!("{field}: {name} ({value})");
            assert_only(&app, &body_with(field, value.clone()), field, code, &case).await;
        }
        let case = format!("{field}: missing");
        assert_only(
            &app,
            &body_without(field),
            field,
            "STRKEY_EMPTY_VALUE",
            &case,
        )
        .await;
    }
    assert_eq!(stream_count(&app).await, 0);
}

#[tokio::test]
async fn secret_seed_is_refused_and_never_echoed() {
    let app = TestApp::spawn().await;
    let variants = [
        SECRET_SEED.to_string(),
        format!(" {SECRET_SEED} "),
        SECRET_SEED.to_lowercase(),
    ];
    for field in ["sender", "recipient"] {
        for seed in &variants {
            let case = format!("{field}: seed variant {}", seed.len());
            let response = app
                .post_json("/api/streams", &body_with(field, json!(seed)))
                .await;
            assert_eq!(response.status(), 400, "{case}");
            for (name, value) in response.headers() {
                let value = String::from_utf8_lossy(value.as_bytes()).to_uppercase();
                assert!(
                    !value.contains(SECRET_SEED),
                    "{case}: seed echoed in header {name}"
                );
            }
            let text = response.text().await.expect("body");
            assert!(
                !text.to_uppercase().contains(SECRET_SEED),
                "{case}: seed echoed in body {text}"
            );
            let error: Value = serde_json::from_str(&text).expect("json");
            assert_eq!(error["error"]["code"], "VALIDATION_ERROR", "{case}");
            assert_eq!(
                detail_codes(&error["error"]),
                vec![(field.to_string(), "STRKEY_SECRET_SEED".to_string())],
                "{case}: {text}"
            );
            let message = error["error"]["details"][0]["message"]
                .as_str()
                .expect("message")
                .to_lowercase();
            assert!(
                message.contains("never"),
                "{case}: the message says never to send seeds: {message}"
            );
        }
    }

    // Also as a list filter.
    for filter in ["sender", "recipient"] {
        let response = app
            .get(&format!("/api/streams?{filter}={SECRET_SEED}"))
            .await;
        assert_eq!(response.status(), 400, "{filter} filter");
        for (name, value) in response.headers() {
            assert!(
                !String::from_utf8_lossy(value.as_bytes()).contains(SECRET_SEED),
                "seed echoed in header {name}"
            );
        }
        let text = response.text().await.expect("body");
        assert!(!text.contains(SECRET_SEED), "seed echoed: {text}");
        let error: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(
            detail_codes(&error["error"]),
            vec![(filter.to_string(), "STRKEY_SECRET_SEED".to_string())],
            "{text}"
        );
    }
    assert_eq!(stream_count(&app).await, 0);
}

#[tokio::test]
async fn sender_equal_to_recipient_is_a_recipient_error() {
    let app = TestApp::spawn().await;
    for address in [SENDER, C1] {
        let body = body_merged(json!({"sender": address, "recipient": address}));
        assert_only(&app, &body, "recipient", "VALIDATION_ERROR", address).await;
    }
    assert_eq!(stream_count(&app).await, 0);
}

// ---------------------------------------------------------------------------------------------
// Times (non-negative integer unix seconds; start ≤ cliff ≤ end)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn malformed_times_are_time_invalid() {
    let app = TestApp::spawn().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!(1.5), "TIME_INVALID"),
        (json!(1_700_000_000.5), "TIME_INVALID"),
        (json!(-1), "TIME_INVALID"),
        (json!(-1.5), "TIME_INVALID"),
        (json!("1000"), "TIME_INVALID"),
        (json!(true), "TIME_INVALID"),
        (json!([1000]), "TIME_INVALID"),
        (json!({"t": 1000}), "TIME_INVALID"),
        (json!(MAX_TIME + 1), "TIME_OUT_OF_RANGE"),
        (json!(u64::MAX), "TIME_OUT_OF_RANGE"),
        (json!(1e30), "TIME_OUT_OF_RANGE"),
    ];
    for field in ["startTime", "cliffTime", "endTime"] {
        for (value, code) in &cases {
            let case = format!("{field} = {value}");
            assert_only(&app, &body_with(field, value.clone()), field, code, &case).await;
        }
    }
    // A number above u64::MAX, written literally (serde_json reads it as a float).
    let text = valid_body()
        .to_string()
        .replacen('}', ",\"endTime\":18446744073709551616000}", 1);
    let response = app
        .client
        .post(app.url("/api/streams"))
        .header("content-type", "application/json")
        .body(text)
        .send()
        .await
        .expect("request");
    let error = expect_error(response, 400, "VALIDATION_ERROR").await;
    assert_eq!(
        detail_codes(&error),
        vec![("endTime".to_string(), "TIME_OUT_OF_RANGE".to_string())],
        "{error}"
    );
    assert_eq!(stream_count(&app).await, 0);
}

#[tokio::test]
async fn contract_time_rules_are_enforced() {
    let app = TestApp::spawn().await;
    // deposit 100, rate 1/s → at most 100 s.
    let base = json!({"depositAmount": "100", "ratePerSecond": "1", "startTime": START});
    let with_base = |extra: Value| {
        let mut body = body_merged(base.clone());
        for (key, value) in extra.as_object().expect("object") {
            body[key.as_str()] = value.clone();
        }
        body
    };
    let refused: Vec<(&str, Value, &str)> = vec![
        ("end = start", json!({"endTime": START}), "endTime"),
        ("end < start", json!({"endTime": START - 1}), "endTime"),
        ("end = 0", json!({"endTime": 0}), "endTime"),
        (
            "cliff < start",
            json!({"cliffTime": START - 1}),
            "cliffTime",
        ),
        (
            "cliff > default end",
            json!({"cliffTime": START + 101}),
            "cliffTime",
        ),
        (
            "cliff > explicit end",
            json!({"endTime": START + 50, "cliffTime": START + 51}),
            "cliffTime",
        ),
        (
            "deposit < rate × (end − start)",
            json!({"endTime": START + 101}),
            "depositAmount",
        ),
        (
            "rate × (end − start) overflows i128",
            json!({"depositAmount": I128_MAX_AMOUNT, "ratePerSecond": I128_MAX_AMOUNT, "endTime": START + 2}),
            "depositAmount",
        ),
        (
            "deposit < one second of rate",
            json!({"depositAmount": "0.5"}),
            "depositAmount",
        ),
    ];
    for (case, extra, field) in refused {
        assert_only(&app, &with_base(extra), field, "VALIDATION_ERROR", case).await;
    }
    assert_eq!(
        stream_count(&app).await,
        0,
        "nothing created by refused bodies"
    );

    let accepted: Vec<(&str, Value, u64, u64)> = vec![
        (
            "deposit exactly covers",
            json!({"endTime": START + 100}),
            START,
            START + 100,
        ),
        (
            "deposit more than covers",
            json!({"endTime": START + 10}),
            START,
            START + 10,
        ),
        (
            "cliff = start",
            json!({"cliffTime": START}),
            START,
            START + 100,
        ),
        (
            "cliff = end",
            json!({"cliffTime": START + 100}),
            START + 100,
            START + 100,
        ),
        (
            "cliff inside",
            json!({"cliffTime": START + 30}),
            START + 30,
            START + 100,
        ),
        ("start = 0", json!({"startTime": 0, "endTime": 100}), 0, 100),
    ];
    for (case, extra, cliff, end) in accepted {
        let stream = created(&app, &with_base(extra), case).await;
        assert_eq!(stream["cliffTime"], cliff, "{case}: {stream}");
        assert_eq!(stream["endTime"], end, "{case}: {stream}");
    }
}

#[tokio::test]
async fn defaults_follow_the_contract() {
    let app = TestApp::spawn().await;
    // end = start + ⌊deposit / rate⌋, cliff = start.
    for (deposit, rate, seconds) in [
        ("100", "3", 33),
        ("100", "1", 100),
        ("1", "0.3", 3),
        ("100", "0.001", 100_000),
        ("0.0000009", "0.0000002", 4),
    ] {
        let case = format!("{deposit} at {rate}/s");
        let body = body_merged(
            json!({"depositAmount": deposit, "ratePerSecond": rate, "startTime": START}),
        );
        let stream = created(&app, &body, &case).await;
        assert_eq!(stream["startTime"], START, "{case}");
        assert_eq!(stream["cliffTime"], START, "{case}: default cliff = start");
        assert_eq!(stream["endTime"], START + seconds, "{case}: default end");
    }

    // Default start = now.
    let before = now();
    let stream = created(&app, &body_without("startTime"), "default start").await;
    let after = now();
    let start = stream["startTime"].as_u64().expect("startTime");
    assert!(
        (before..=after).contains(&start),
        "default startTime {start} not in [{before}, {after}]"
    );
    assert_eq!(stream["cliffTime"], start);
    assert_eq!(stream["endTime"], start + 100_000);
    assert_eq!(stream["status"], "active");

    // The largest accepted explicit times.
    let body = body_merged(json!({
        "depositAmount": "100",
        "ratePerSecond": "1",
        "startTime": MAX_TIME - 100,
    }));
    let stream = created(&app, &body, "end at i64::MAX").await;
    assert_eq!(stream["endTime"], MAX_TIME);
}

#[tokio::test]
async fn overflowing_default_end_time_is_refused() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            "start at i64::MAX",
            json!({"depositAmount": "100", "ratePerSecond": "1", "startTime": MAX_TIME}),
        ),
        (
            "default end one past i64::MAX",
            json!({"depositAmount": "101", "ratePerSecond": "1", "startTime": MAX_TIME - 100}),
        ),
        (
            "deposit / rate beyond u64",
            json!({"depositAmount": I128_MAX_AMOUNT, "ratePerSecond": "0.0000001", "startTime": START}),
        ),
        (
            "deposit / rate beyond i64",
            json!({"depositAmount": I128_MAX_AMOUNT, "ratePerSecond": "1", "startTime": START}),
        ),
    ];
    for (case, overrides) in cases {
        let (error, codes) = rejected(&app, &body_merged(overrides), case).await;
        assert_eq!(codes.len(), 1, "{case}: {error}");
        assert_eq!(codes[0].0, "endTime", "{case}: {error}");
        assert_eq!(codes[0].1, "TIME_OUT_OF_RANGE", "{case}: {error}");
    }
    assert_eq!(stream_count(&app).await, 0);
}

// ---------------------------------------------------------------------------------------------
// Unknown fields and non-object bodies
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_fields_are_refused_and_nothing_is_created() {
    let app = TestApp::spawn().await;
    // A typo: the intended field is then missing too.
    let mut body = body_without("depositAmount");
    body["depositAmont"] = json!("100");
    let (error, codes) = rejected(&app, &body, "typo").await;
    assert_eq!(
        sorted(codes),
        pairs(&[
            ("depositAmont", "UNKNOWN_FIELD"),
            ("depositAmount", "DECIMAL_EMPTY_VALUE"),
        ]),
        "{error}"
    );

    // An extra field on an otherwise valid body.
    for (name, value) in [
        ("memo", json!("hi")),
        ("DepositAmount", json!("100")),
        ("id", json!("abc")),
        ("status", json!("paused")),
        ("withdrawnAmount", json!("1")),
    ] {
        let case = format!("extra field {name}");
        assert_only(&app, &body_with(name, value), name, "UNKNOWN_FIELD", &case).await;
    }

    // A very long unknown name is not echoed in full.
    let long = "x".repeat(10_000);
    let (error, codes) = rejected(&app, &body_with(&long, json!(1)), "long name").await;
    assert_eq!(codes.len(), 1, "{error}");
    assert_eq!(codes[0].1, "UNKNOWN_FIELD");
    assert!(codes[0].0.len() < 200, "field name echoed in full");

    let response = app.get("/api/streams").await;
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.expect("json");
    assert_eq!(
        page,
        json!({"streams": [], "nextCursor": null, "hasMore": false})
    );
}

#[tokio::test]
async fn non_object_bodies_are_refused() {
    let app = TestApp::spawn().await;
    for body in [
        json!([]),
        json!([valid_body()]),
        json!("a string"),
        json!(42),
        json!(true),
        Value::Null,
    ] {
        let response = app.post_json("/api/streams", &body).await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}: {error}"
        );
    }
    assert_eq!(stream_count(&app).await, 0);
}

// ---------------------------------------------------------------------------------------------
// Query strings
// ---------------------------------------------------------------------------------------------

/// GETs `path` and asserts a 400 with exactly one detail `(field, code)`.
async fn assert_query_refused(app: &TestApp, path: &str, field: &str, code: &str) {
    let response = app.get(path).await;
    assert_eq!(response.status(), 400, "{path}");
    let error = expect_error(response, 400, "VALIDATION_ERROR").await;
    assert_eq!(
        detail_codes(&error),
        vec![(field.to_string(), code.to_string())],
        "{path}: {error}"
    );
}

#[tokio::test]
async fn list_parameters_are_validated() {
    let app = TestApp::spawn().await;
    app.create_stream(json!({})).await;

    for limit in [
        "0",
        "101",
        "abc",
        "-1",
        "",
        "1.5",
        "%2B5",
        "1000",
        "99999999999",
    ] {
        let path = format!("/api/streams?limit={limit}");
        assert_query_refused(&app, &path, "limit", "INVALID_PARAMETER").await;
    }
    for limit in ["1", "100", "20"] {
        let response = app.get(&format!("/api/streams?limit={limit}")).await;
        assert_eq!(response.status(), 200, "limit={limit}");
    }

    for status in ["done", "ACTIVE", "Active", "", "all"] {
        let path = format!("/api/streams?status={status}");
        assert_query_refused(&app, &path, "status", "INVALID_PARAMETER").await;
    }
    for status in ["active", "paused", "completed", "cancelled"] {
        let response = app.get(&format!("/api/streams?status={status}")).await;
        assert_eq!(response.status(), 200, "status={status}");
    }
    for source in ["web", "API", "", "chains"] {
        let path = format!("/api/streams?source={source}");
        assert_query_refused(&app, &path, "source", "INVALID_PARAMETER").await;
    }
    for source in ["api", "chain"] {
        let response = app.get(&format!("/api/streams?source={source}")).await;
        assert_eq!(response.status(), 200, "source={source}");
    }

    let muxed = muxed_address();
    for filter in ["sender", "recipient"] {
        for (value, code) in [
            ("GABC".to_string(), "STRKEY_INVALID"),
            (change_char(G1, 20), "STRKEY_INVALID"),
            (G1.to_lowercase(), "STRKEY_INVALID"),
            (format!("%20{G1}"), "STRKEY_INVALID"),
            (muxed.clone(), "STRKEY_UNSUPPORTED"),
        ] {
            let path = format!("/api/streams?{filter}={value}");
            let response = app.get(&path).await;
            let error = expect_error(response, 400, "VALIDATION_ERROR").await;
            let codes = detail_codes(&error);
            assert_eq!(codes.len(), 1, "{path}: {error}");
            assert_eq!(codes[0].0, filter, "{path}: {error}");
            assert_eq!(codes[0].1, code, "{path}: {error}");
        }
        for value in [G1, C1] {
            let response = app.get(&format!("/api/streams?{filter}={value}")).await;
            assert_eq!(response.status(), 200, "{filter}={value}");
        }
    }

    for (path, field) in [
        ("/api/streams?sendr=x", "sendr"),
        ("/api/streams?page=2", "page"),
        ("/api/streams?Limit=5", "Limit"),
    ] {
        assert_query_refused(&app, path, field, "UNKNOWN_PARAMETER").await;
    }
    assert_query_refused(
        &app,
        "/api/streams?limit=1&limit=2",
        "limit",
        "DUPLICATE_PARAMETER",
    )
    .await;
    for at in ["-1", "1.5", "abc"] {
        let path = format!("/api/streams?at={at}");
        assert_query_refused(&app, &path, "at", "INVALID_PARAMETER").await;
    }

    // Several failures are all listed.
    let response = app
        .get("/api/streams?limit=0&status=done&source=web&sendr=1")
        .await;
    let error = expect_error(response, 400, "VALIDATION_ERROR").await;
    assert_eq!(
        sorted(detail_codes(&error)),
        pairs(&[
            ("sendr", "UNKNOWN_PARAMETER"),
            ("limit", "INVALID_PARAMETER"),
            ("status", "INVALID_PARAMETER"),
            ("source", "INVALID_PARAMETER"),
        ]),
        "{error}"
    );
}

#[tokio::test]
async fn at_parameter_on_get_is_validated() {
    let app = TestApp::spawn().await;
    let stream = app.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id");
    for at in [
        "-1",
        "1.5",
        "abc",
        "",
        "%2B1",
        "1e3",
        "99999999999999999999",
    ] {
        let path = format!("/api/streams/{id}?at={at}");
        assert_query_refused(&app, &path, "at", "INVALID_PARAMETER").await;
    }
    assert_query_refused(
        &app,
        &format!("/api/streams/{id}?when=5"),
        "when",
        "UNKNOWN_PARAMETER",
    )
    .await;

    // Valid values are accepted and used.
    let start = stream["startTime"].as_u64().expect("startTime");
    for (at, streamed) in [
        (0, "0.0000000"),
        (start, "0.0000000"),
        (start + 1000, "1.0000000"),
    ] {
        let response = app.get(&format!("/api/streams/{id}?at={at}")).await;
        assert_eq!(response.status(), 200, "at={at}");
        let read: Value = response.json().await.expect("json");
        assert_eq!(read["streamedAmount"], streamed, "at={at}: {read}");
    }
}

/// Lists `query` and returns the page.
async fn list_page(app: &TestApp, query: &[(&str, &str)]) -> reqwest::Response {
    let encoded: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    app.get(&format!("/api/streams?{encoded}")).await
}

async fn assert_cursor_refused(app: &TestApp, query: &[(&str, &str)], case: &str) {
    let response = list_page(app, query).await;
    assert_eq!(response.status(), 400, "{case}");
    let error = expect_error(response, 400, "VALIDATION_ERROR").await;
    assert_eq!(
        detail_codes(&error),
        vec![("cursor".to_string(), "INVALID_CURSOR".to_string())],
        "{case}: {error}"
    );
}

#[tokio::test]
async fn forged_tampered_and_reused_cursors_are_refused() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    let app = TestApp::spawn().await;
    for _ in 0..3 {
        app.create_stream(json!({})).await;
    }
    let response = list_page(&app, &[("limit", "1")]).await;
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.expect("json");
    assert_eq!(page["hasMore"], true, "{page}");
    let cursor = page["nextCursor"].as_str().expect("nextCursor").to_string();

    // The real cursor works with the filters it was issued for (and another limit).
    let response = list_page(&app, &[("limit", "1"), ("cursor", &cursor)]).await;
    assert_eq!(response.status(), 200, "genuine cursor");
    let next: Value = response.json().await.expect("json");
    assert_ne!(next["streams"][0]["id"], page["streams"][0]["id"]);
    let response = list_page(&app, &[("limit", "5"), ("cursor", &cursor)]).await;
    assert_eq!(response.status(), 200, "genuine cursor, other limit");

    // Forged: random base64 text, and a well-formed payload with a made-up tag.
    let mut fake = vec![1u8];
    fake.extend_from_slice(&1i64.to_be_bytes());
    fake.extend_from_slice(&[0u8; 8]);
    fake.extend_from_slice(&[0u8; 16]);
    let forged = [
        URL_SAFE_NO_PAD.encode(b"this is definitely not a cursor"),
        URL_SAFE_NO_PAD.encode(fake),
        "bm90LWEtY3Vyc29y".to_string(),
        "!!!not base64!!!".to_string(),
        String::new(),
        "A".repeat(5000),
    ];
    for forged_cursor in &forged {
        let case = format!("forged {forged_cursor:.40}");
        assert_cursor_refused(&app, &[("limit", "1"), ("cursor", forged_cursor)], &case).await;
    }

    // Tampered: each of several single-character changes.
    for index in [0, 5, 10, 20, 30, cursor.len() - 1] {
        let tampered = change_char(&cursor, index);
        assert_ne!(tampered, cursor);
        let case = format!("tampered at {index}");
        assert_cursor_refused(&app, &[("limit", "1"), ("cursor", &tampered)], &case).await;
    }
    // Truncated and extended.
    assert_cursor_refused(
        &app,
        &[("limit", "1"), ("cursor", &cursor[..cursor.len() - 1])],
        "truncated",
    )
    .await;
    let extended = format!("{cursor}AA");
    assert_cursor_refused(&app, &[("limit", "1"), ("cursor", &extended)], "extended").await;

    // Reused with other filters.
    for (name, value) in [
        ("status", "active"),
        ("source", "api"),
        ("sender", SENDER),
        ("recipient", RECIPIENT),
    ] {
        let case = format!("reused with {name}={value}");
        assert_cursor_refused(
            &app,
            &[("limit", "1"), (name, value), ("cursor", &cursor)],
            &case,
        )
        .await;
    }
    // And a cursor issued under a filter, reused without it.
    let response = list_page(&app, &[("limit", "1"), ("status", "active")]).await;
    assert_eq!(response.status(), 200);
    let filtered: Value = response.json().await.expect("json");
    let filtered_cursor = filtered["nextCursor"].as_str().expect("nextCursor");
    assert_cursor_refused(
        &app,
        &[("limit", "1"), ("cursor", filtered_cursor)],
        "filtered cursor reused without the filter",
    )
    .await;
    assert_cursor_refused(
        &app,
        &[
            ("limit", "1"),
            ("status", "paused"),
            ("cursor", filtered_cursor),
        ],
        "filtered cursor reused with another status",
    )
    .await;
    let response = list_page(
        &app,
        &[
            ("limit", "1"),
            ("status", "active"),
            ("cursor", filtered_cursor),
        ],
    )
    .await;
    assert_eq!(response.status(), 200, "filtered cursor with its filter");
}

#[tokio::test]
async fn a_secret_seed_anywhere_in_the_request_is_never_echoed() {
    let app = TestApp::spawn().await;
    let fragment = &SECRET_SEED[1..24];
    let by_id = app.get(&format!("/api/streams/{SECRET_SEED}")).await;
    let error = expect_error(by_id, 404, "NOT_FOUND").await;
    let by_route = expect_error(
        app.get(&format!("/nowhere/{SECRET_SEED}")).await,
        404,
        "NOT_FOUND",
    )
    .await;
    let by_param = expect_error(
        app.get(&format!("/api/streams?{SECRET_SEED}=1")).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    let mut body = valid_body();
    body[SECRET_SEED] = json!(1);
    let by_field = expect_error(
        app.post_json("/api/streams", &body).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    for (case, echoed) in [
        ("id", error),
        ("route", by_route),
        ("parameter", by_param),
        ("field", by_field),
    ] {
        let text = echoed.to_string();
        assert!(!text.contains(fragment), "{case} echoed the seed: {text}");
        assert!(text.contains("[redacted]"), "{case}: {text}");
    }
}

#[tokio::test]
async fn duplicate_json_keys_are_refused() {
    let app = TestApp::spawn().await;
    // Parsers disagree on which duplicate wins; the service refuses the ambiguity.
    let raw = format!(
        r#"{{"sender":"{}","recipient":"{}","depositAmount":"abc","depositAmount":"100","ratePerSecond":"0.001"}}"#,
        SENDER, RECIPIENT
    );
    let response = app
        .client
        .post(app.url("/api/streams"))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 400, "VALIDATION_ERROR").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("duplicate key 'depositAmount'"),
        "{error}"
    );
    assert_eq!(stream_count(&app).await, 0);
}
