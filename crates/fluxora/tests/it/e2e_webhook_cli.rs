//! `fluxora webhook sign|verify`: the real binary, with a clean environment whose service
//! configuration is invalid (the webhook tools must not need it), secrets only in environment
//! variables, and a check that no secret ever reaches stdout or stderr.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::binary::BIN;

/// The signature contract's reference vector (`docs/webhooks.md`).
const SECRET: &str = "topsecret";
const TIMESTAMP: &str = "1710000000";
const BODY: &[u8] = br#"{"event":"stream.updated"}"#;
const SIGNATURE: &str = "925006549b879c8d9e91c10a153254fb4b6e2241820a1b072e28aa2fa8caeb79";
const PREVIOUS_SECRET: &str = "old-webhook-secret";
/// The Standard Webhooks specification's test vector (standard-webhooks/standard-webhooks,
/// libraries/javascript/src/webhook.test.ts, "sign function works").
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Runs `fluxora webhook <args>` with `stdin` as standard input, in an empty directory (no
/// `.env`), with only PATH, the two secrets and a deliberately invalid service configuration.
fn run(args: &[&str], stdin: &[u8]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .arg("webhook")
        .args(args)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("WEBHOOK_SECRET", SECRET)
        .env("OLD_WEBHOOK_SECRET", PREVIOUS_SECRET)
        .env("EMPTY_SECRET", "")
        .env("STANDARD_SECRET", STANDARD_SECRET)
        .env("PORT", "not-a-port")
        .env("DATABASE_URL", "nosuchdb://nowhere")
        .env("STELLAR_NETWORK", "nonsense")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A process that exits early (usage errors) may not read its input: a broken pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let output = child.wait_with_output().unwrap();
    for stream in [&output.stdout, &output.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(
            !text.contains(SECRET)
                && !text.contains(PREVIOUS_SECRET)
                && !text.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            "a secret leaked: {text}"
        );
    }
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The single JSON line `verify` prints.
fn report(output: &Output) -> Value {
    let text = stdout(output);
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    let value: Value = serde_json::from_str(text.trim_end()).unwrap();
    // Fields in the documented order: ok, code, status, message.
    let positions: Vec<usize> = ["\"ok\":", "\"code\":", "\"status\":", "\"message\":"]
        .iter()
        .map(|key| text.find(key).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 4, "{value}");
    for key in ["ok", "code", "status", "message"] {
        assert!(value.get(key).is_some(), "{key} in {value}");
    }
    value
}

fn verify_args<'a>(timestamp: &'a str, signature: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "verify",
        "--secret-env",
        "WEBHOOK_SECRET",
        "--delivery-id",
        "0190f1e0-7c1a-7d3e-9f00-000000000001",
        "--timestamp",
        timestamp,
        "--signature",
        signature,
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn sign_prints_the_reference_signature_from_stdin_or_a_file() {
    let from_stdin = run(
        &[
            "sign",
            "--secret-env",
            "WEBHOOK_SECRET",
            "--timestamp",
            TIMESTAMP,
        ],
        BODY,
    );
    assert_eq!(from_stdin.status.code(), Some(0), "{from_stdin:?}");
    assert_eq!(stdout(&from_stdin), format!("{SIGNATURE}\n"));
    assert!(from_stdin.stderr.is_empty());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    std::fs::write(&file, BODY).unwrap();
    let from_file = run(
        &[
            "sign",
            "--secret-env",
            "WEBHOOK_SECRET",
            "--timestamp",
            TIMESTAMP,
            "--body-file",
            file.to_str().unwrap(),
        ],
        b"stdin is ignored when a file is given",
    );
    assert_eq!(from_file.status.code(), Some(0));
    assert_eq!(stdout(&from_file), format!("{SIGNATURE}\n"));
}

#[test]
fn verify_ok_exits_0() {
    let output = run(
        &verify_args(TIMESTAMP, SIGNATURE, &["--now", "1710000120"]),
        BODY,
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let answer = report(&output);
    assert_eq!(answer["ok"], true);
    assert_eq!(answer["code"], "ok");
    assert_eq!(answer["status"], 200);
    assert!(answer["message"]
        .as_str()
        .unwrap()
        .contains("current secret"));
    // Upper-case signatures are accepted, as by the library.
    let upper = SIGNATURE.to_uppercase();
    let output = run(&verify_args(TIMESTAMP, &upper, &["--now", TIMESTAMP]), BODY);
    assert_eq!(output.status.code(), Some(0));
    // Standard Webhooks headers, with the specification's vector.
    let output = run(
        &[
            "verify",
            "--scheme",
            "standard-webhooks",
            "--secret-env",
            "STANDARD_SECRET",
            "--delivery-id",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "--timestamp",
            "1614265330",
            "--signature",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "--now",
            "1614265330",
        ],
        br#"{"test": 2432232314}"#,
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(report(&output)["code"], "ok");
}

#[test]
fn verify_failures_exit_1_with_the_code_and_status() {
    let other_body = br#"{"event": "stream.updated"}"#;
    let output = run(
        &verify_args(TIMESTAMP, SIGNATURE, &["--now", TIMESTAMP]),
        other_body,
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let answer = report(&output);
    assert_eq!(answer["ok"], false);
    assert_eq!(answer["code"], "signature_mismatch");
    assert_eq!(answer["status"], 401);
    assert!(output.stderr.is_empty());

    for (timestamp, signature, now, code, status) in [
        (
            TIMESTAMP,
            SIGNATURE,
            "1710000301",
            "timestamp_outside_tolerance",
            401,
        ),
        (
            TIMESTAMP,
            SIGNATURE,
            "1709999699",
            "timestamp_outside_tolerance",
            401,
        ),
        (
            "01710000000",
            SIGNATURE,
            TIMESTAMP,
            "invalid_timestamp",
            400,
        ),
        ("-1", SIGNATURE, TIMESTAMP, "invalid_timestamp", 400),
        ("", SIGNATURE, TIMESTAMP, "missing_timestamp", 401),
        (TIMESTAMP, "", TIMESTAMP, "missing_signature", 401),
        (
            TIMESTAMP,
            &SIGNATURE[..63],
            TIMESTAMP,
            "signature_mismatch",
            401,
        ),
    ] {
        let output = run(&verify_args(timestamp, signature, &["--now", now]), BODY);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{timestamp} {signature} {now}"
        );
        let answer = report(&output);
        assert_eq!(answer["code"], code, "{answer}");
        assert_eq!(answer["status"], status);
    }
    // At exactly the tolerance it still verifies.
    let output = run(
        &verify_args(TIMESTAMP, SIGNATURE, &["--now", "1710000300"]),
        BODY,
    );
    assert_eq!(output.status.code(), Some(0));
    // Bodies over 256 KiB.
    let big = vec![b'a'; 262_145];
    let output = run(
        &verify_args(TIMESTAMP, SIGNATURE, &["--now", TIMESTAMP]),
        &big,
    );
    assert_eq!(report(&output)["code"], "payload_too_large");
    assert_eq!(report(&output)["status"], 413);
}

#[test]
fn verify_honours_the_previous_secret_within_its_grace_window() {
    // Signed with the previous secret at 1710000000; rotated at 1710000000 - 86400.
    let signed_old = run(
        &[
            "sign",
            "--secret-env",
            "OLD_WEBHOOK_SECRET",
            "--timestamp",
            TIMESTAMP,
        ],
        BODY,
    );
    let old_signature = stdout(&signed_old).trim().to_string();
    let rotation = [
        "--previous-secret-env",
        "OLD_WEBHOOK_SECRET",
        "--rotated-at",
        "1709913600",
    ];
    let mut at_boundary = rotation.to_vec();
    at_boundary.extend(["--now", TIMESTAMP]);
    let output = run(&verify_args(TIMESTAMP, &old_signature, &at_boundary), BODY);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(report(&output)["message"]
        .as_str()
        .unwrap()
        .contains("previous secret"));

    let mut after = rotation.to_vec();
    after.extend(["--now", "1710000001"]);
    let output = run(&verify_args(TIMESTAMP, &old_signature, &after), BODY);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(report(&output)["code"], "signature_mismatch");
}

#[test]
fn usage_errors_exit_2_and_never_print_a_secret() {
    // The named variable is unset or empty: sign says so on stderr.
    for variable in ["NO_SUCH_VARIABLE", "EMPTY_SECRET"] {
        let output = run(
            &["sign", "--secret-env", variable, "--timestamp", TIMESTAMP],
            BODY,
        );
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(variable), "{stderr}");
    }
    // verify also prints its JSON line (missing_secret, 500) for scripts.
    let mut args = verify_args(TIMESTAMP, SIGNATURE, &["--now", TIMESTAMP]);
    args[2] = "NO_SUCH_VARIABLE";
    let output = run(&args, BODY);
    assert_eq!(output.status.code(), Some(2));
    let answer = report(&output);
    assert_eq!(
        (answer["code"].as_str(), answer["status"].as_u64()),
        (Some("missing_secret"), Some(500))
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("NO_SUCH_VARIABLE is not set"));

    // Missing or empty arguments: clap's usage errors.
    for args in [
        &["sign", "--timestamp", TIMESTAMP][..],
        &["sign", "--secret-env", "", "--timestamp", TIMESTAMP],
        &["sign", "--secret-env", "WEBHOOK_SECRET", "--timestamp", "0"],
        &["sign", "--secret-env", "WEBHOOK_SECRET"],
        &["sign", "--secret", SECRET, "--timestamp", TIMESTAMP],
        &[
            "verify",
            "--secret-env",
            "WEBHOOK_SECRET",
            "--timestamp",
            TIMESTAMP,
        ],
        &[
            "verify",
            "--secret-env",
            "WEBHOOK_SECRET",
            "--delivery-id",
            "d",
            "--timestamp",
            TIMESTAMP,
            "--signature",
            SIGNATURE,
            "--previous-secret-env",
            "OLD_WEBHOOK_SECRET",
        ],
        &[
            "verify",
            "--secret-env",
            "WEBHOOK_SECRET",
            "--delivery-id",
            "d",
            "--timestamp",
            TIMESTAMP,
            "--signature",
            SIGNATURE,
            "--now",
            "yesterday",
        ],
    ] {
        let output = run(args, BODY);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
    }
    // An unreadable body file.
    let output = run(
        &[
            "sign",
            "--secret-env",
            "WEBHOOK_SECRET",
            "--timestamp",
            TIMESTAMP,
            "--body-file",
            "/no/such/file",
        ],
        BODY,
    );
    assert_eq!(output.status.code(), Some(2));
}
