//! Property tests: no header list, body, clock or configuration makes verification panic, and
//! whatever verifies was really signed.

use fluxora_webhooks::{sign, FixedClock, Outcome, Scheme, Signature, StandardSecret, Verifier};
use proptest::collection::vec;
use proptest::prelude::*;

/// Header names: mostly the ones the verifier reads (in random letter case), some others.
fn header_name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            "x-fluxora-delivery-id",
            "x-fluxora-timestamp",
            "x-fluxora-signature",
            "x-fluxora-event",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
        ])
        .prop_flat_map(|name| {
            vec(any::<bool>(), name.len()).prop_map(move |upper| {
                name.bytes()
                    .zip(upper)
                    .map(|(byte, up)| if up { byte.to_ascii_uppercase() } else { byte })
                    .collect()
            })
        }),
        vec(any::<u8>(), 0..24),
    ]
}

/// Header values: arbitrary bytes, digit strings, hex strings, and `v1,` lists.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..80),
        "[0-9]{0,25}".prop_map(String::into_bytes),
        "[ \t]{0,2}[0-9a-fA-F]{60,68}[ \t\0]{0,2}".prop_map(String::into_bytes),
        "(v[0-9],[A-Za-z0-9+/=]{0,50} ?){0,4}".prop_map(String::into_bytes),
        Just(b"1710000000".to_vec()),
    ]
}

fn verifier_config() -> impl Strategy<Value = Verifier> {
    (
        vec(any::<u8>(), 0..80),
        proptest::option::of((vec(any::<u8>(), 0..40), any::<u64>())),
        any::<u64>(),
        any::<u64>(),
        prop_oneof![Just(usize::MAX), 0usize..4096],
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(|(secret, previous, grace, tolerance, max, now, standard)| {
            let mut verifier = Verifier::new(secret)
                .with_grace_secs(grace)
                .with_tolerance_secs(tolerance)
                .with_max_body_bytes(max)
                .with_clock(FixedClock(now));
            if let Some((secret, rotated_at)) = previous {
                verifier = verifier.with_previous_secret(secret, rotated_at);
            }
            if standard {
                verifier = verifier.with_scheme(Scheme::StandardWebhooks);
            }
            verifier
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn verify_never_panics(
        verifier in verifier_config(),
        headers in vec((header_name(), header_value()), 0..10),
        body in vec(any::<u8>(), 0..2048),
    ) {
        let result = verifier.verify(headers.clone(), &body);
        let _ = verifier.precheck(&headers);
        if let Err(rejection) = &result {
            prop_assert!(rejection.outcome() != Outcome::Ok);
            let _ = rejection.message();
        }
    }

    /// Any change to a correctly signed delivery (body, timestamp, signature digit) is refused.
    #[test]
    fn only_the_signed_bytes_verify(
        secret in vec(any::<u8>(), 1..64),
        body in vec(any::<u8>(), 0..512),
        flip in any::<prop::sample::Index>(),
        timestamp in 1u64..=u64::MAX,
    ) {
        let verifier = Verifier::new(&secret).with_clock(FixedClock(timestamp));
        let signature = sign(&secret, timestamp, &body);
        let ts = timestamp.to_string();
        let headers = |signature: &str| vec![
            ("x-fluxora-delivery-id", "d".to_string()),
            ("x-fluxora-timestamp", ts.clone()),
            ("x-fluxora-signature", signature.to_string()),
        ];
        prop_assert!(verifier.verify(headers(&signature), &body).is_ok());
        if !body.is_empty() {
            let mut changed = body.clone();
            let i = flip.index(changed.len());
            changed[i] ^= 0x01;
            prop_assert_eq!(
                verifier.verify(headers(&signature), &changed).unwrap_err().outcome(),
                Outcome::SignatureMismatch
            );
        }
        let mut digits = signature.into_bytes();
        let i = flip.index(digits.len());
        digits[i] = if digits[i] == b'0' { b'1' } else { b'0' };
        let changed = String::from_utf8(digits).unwrap();
        prop_assert_eq!(
            verifier.verify(headers(&changed), &body).unwrap_err().outcome(),
            Outcome::SignatureMismatch
        );
    }

    #[test]
    fn parsers_never_panic(text in ".{0,100}", bytes in vec(any::<u8>(), 0..100)) {
        let _ = StandardSecret::parse(&text);
        let _ = Signature::parse_hex(&bytes);
        let _ = Signature::parse_hex(text.as_bytes());
    }
}
