//! Standard Webhooks interoperability, both directions, against that specification's published
//! test vectors.
//!
//! Source of the vectors: repository `standard-webhooks/standard-webhooks`, file
//! `libraries/javascript/src/webhook.test.ts` — the test "sign function works" (secret, message
//! id, timestamp, payload and expected signature) and "multi sig payload is valid" (the decoy
//! `v1,`/`v2,` entries). Only the values are taken from there.

use fluxora_webhooks::{
    sign_standard, FixedClock, Outcome, Rejection, Scheme, SecretUsed, Signer, StandardSecret,
    Verifier,
};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TIMESTAMP: u64 = 1_614_265_330;
const PAYLOAD: &[u8] = br#"{"test": 2432232314}"#;
const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
const DECOY: &str = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
const DECOY_V2: &str = "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";

fn verifier(secret: &str, now: u64) -> Verifier {
    Verifier::new(secret)
        .with_scheme(Scheme::StandardWebhooks)
        .with_clock(FixedClock(now))
}

fn headers(id: &str, timestamp: &str, signature: &str) -> Vec<(&'static str, String)> {
    vec![
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature.to_string()),
    ]
}

fn outcome(verifier: &Verifier, headers: Vec<(&'static str, String)>) -> Outcome {
    match verifier.verify(headers, PAYLOAD) {
        Ok(_) => Outcome::Ok,
        Err(rejection) => rejection.outcome(),
    }
}

#[test]
fn signs_the_published_vector() {
    let secret = StandardSecret::parse(SECRET).unwrap();
    assert_eq!(
        sign_standard(&secret, MSG_ID, TIMESTAMP, PAYLOAD),
        SIGNATURE
    );
    // Without the prefix, as the specification's libraries accept.
    let bare = StandardSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    assert_eq!(sign_standard(&bare, MSG_ID, TIMESTAMP, PAYLOAD), SIGNATURE);
    // The Signer emits the same value in `webhook-signature`, beside the Fluxora headers.
    let signer = Signer::new(SECRET).with_standard_webhooks(&secret);
    let sent = signer.headers(MSG_ID, "stream.updated", TIMESTAMP, PAYLOAD);
    let names: Vec<&str> = sent.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        vec![
            "x-fluxora-delivery-id",
            "x-fluxora-event",
            "x-fluxora-timestamp",
            "x-fluxora-signature",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature"
        ]
    );
    assert_eq!(sent[4].1, MSG_ID);
    assert_eq!(sent[5].1, "1614265330");
    assert_eq!(sent[6].1, SIGNATURE);
}

#[test]
fn verifies_the_published_vector() {
    let delivery = verifier(SECRET, TIMESTAMP)
        .verify(headers(MSG_ID, "1614265330", SIGNATURE), PAYLOAD)
        .unwrap();
    assert_eq!(delivery.delivery_id, MSG_ID);
    assert_eq!(delivery.timestamp, TIMESTAMP);
    assert_eq!(delivery.secret, SecretUsed::Current);
    // With the prefix or without it.
    assert_eq!(
        outcome(
            &verifier("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", TIMESTAMP),
            headers(MSG_ID, "1614265330", SIGNATURE)
        ),
        Outcome::Ok
    );
    // Several space-separated signatures, the valid one among decoys of v1 and v2.
    let multi = [DECOY, DECOY_V2, SIGNATURE, DECOY].join(" ");
    assert_eq!(
        outcome(
            &verifier(SECRET, TIMESTAMP),
            headers(MSG_ID, "1614265330", &multi)
        ),
        Outcome::Ok
    );
    // Within the tolerance, both directions.
    for now in [TIMESTAMP - 300, TIMESTAMP + 300] {
        assert_eq!(
            outcome(
                &verifier(SECRET, now),
                headers(MSG_ID, "1614265330", SIGNATURE)
            ),
            Outcome::Ok
        );
    }
}

#[test]
fn refuses_what_the_specification_refuses() {
    let v = verifier(SECRET, TIMESTAMP);
    let good = || headers(MSG_ID, "1614265330", SIGNATURE);
    let drop = |name: &str| {
        let mut headers = good();
        headers.retain(|(n, _)| *n != name);
        headers
    };
    assert_eq!(outcome(&v, drop("webhook-id")), Outcome::MissingDeliveryId);
    assert_eq!(
        outcome(&v, drop("webhook-timestamp")),
        Outcome::MissingTimestamp
    );
    assert_eq!(
        outcome(&v, drop("webhook-signature")),
        Outcome::MissingSignature
    );
    assert_eq!(
        v.verify(drop("webhook-signature"), PAYLOAD).unwrap_err(),
        Rejection::MissingSignature {
            header: "webhook-signature"
        }
    );
    assert_eq!(
        outcome(&v, headers(MSG_ID, "hello", SIGNATURE)),
        Outcome::InvalidTimestamp
    );
    for bad in [
        "v1,dawfeoifkpqwoekfpqoekf",
        "v1,g0hM9",
        "v1,",
        DECOY,
        DECOY_V2,
        "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    ] {
        assert_eq!(
            outcome(&v, headers(MSG_ID, "1614265330", bad)),
            Outcome::SignatureMismatch,
            "{bad}"
        );
    }
    // The id is signed in this scheme: another id does not verify.
    assert_eq!(
        outcome(&v, headers("msg_other", "1614265330", SIGNATURE)),
        Outcome::SignatureMismatch
    );
    // Old and new timestamps (the specification's tolerance is five minutes too).
    for now in [TIMESTAMP - 301, TIMESTAMP + 301] {
        assert_eq!(
            outcome(&verifier(SECRET, now), good()),
            Outcome::TimestampOutsideTolerance
        );
    }
    // A secret that is not whsec_<base64> cannot verify this scheme.
    assert_eq!(
        outcome(&verifier("topsecret!", TIMESTAMP), good()),
        Outcome::MissingSecret
    );
    // The Fluxora headers are not read by this scheme, nor these by the Fluxora scheme.
    assert_eq!(
        outcome(
            &Verifier::new(SECRET).with_clock(FixedClock(TIMESTAMP)),
            good()
        ),
        Outcome::MissingDeliveryId
    );
}

#[test]
fn one_secret_string_serves_both_formats_and_rotation_applies() {
    let new = StandardSecret::from_key(vec![42u8; 32])
        .unwrap()
        .expose_whsec();
    let old = StandardSecret::from_key(vec![7u8; 32])
        .unwrap()
        .expose_whsec();
    let now = 1_800_000_000;
    let body = br#"{"type":"stream.updated"}"#;
    let signer = |secret: &str| {
        Signer::new(secret).with_standard_webhooks(&StandardSecret::parse(secret).unwrap())
    };
    let sent = signer(&old).headers("dlv_9", "stream.updated", now, body);
    assert!(signer(&old).signs_standard_webhooks());
    let verifier = |scheme| {
        Verifier::new(&new)
            .with_previous_secret(&old, now - 10)
            .with_scheme(scheme)
            .with_clock(FixedClock(now))
    };
    for scheme in [Scheme::Fluxora, Scheme::StandardWebhooks] {
        let delivery = verifier(scheme).verify(sent.clone(), body).unwrap();
        assert_eq!(delivery.delivery_id, "dlv_9");
        assert_eq!(delivery.secret, SecretUsed::Previous, "{scheme:?}");
        assert_eq!(delivery.event.as_deref(), Some("stream.updated"));
    }
}
