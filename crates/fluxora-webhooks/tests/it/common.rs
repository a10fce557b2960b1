//! Shared fixtures: the contract's reference delivery and header builders.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use fluxora_webhooks::{sign, FixedClock, Verifier};

/// The contract's reference vector (`docs/webhooks.md`).
pub const SECRET: &str = "topsecret";
pub const TIMESTAMP: u64 = 1_710_000_000;
pub const BODY: &[u8] = br#"{"event":"stream.updated"}"#;
pub const SIGNATURE: &str = "925006549b879c8d9e91c10a153254fb4b6e2241820a1b072e28aa2fa8caeb79";
pub const DELIVERY_ID: &str = "0190f1e0-7c1a-7d3e-9f00-000000000001";

/// A verifier for [`SECRET`] whose clock reads [`TIMESTAMP`].
pub fn verifier() -> Verifier {
    Verifier::new(SECRET).with_clock(FixedClock(TIMESTAMP))
}

/// The four Fluxora headers of a delivery, as owned pairs.
pub fn headers(delivery_id: &str, timestamp: &str, signature: &str) -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "x-fluxora-delivery-id".into(),
            delivery_id.as_bytes().to_vec(),
        ),
        ("x-fluxora-timestamp".into(), timestamp.as_bytes().to_vec()),
        ("x-fluxora-signature".into(), signature.as_bytes().to_vec()),
        ("x-fluxora-event".into(), b"stream.updated".to_vec()),
    ]
}

/// The headers of a correctly signed delivery of `body` at `timestamp`.
pub fn signed(delivery_id: &str, timestamp: u64, body: &[u8]) -> Vec<(String, Vec<u8>)> {
    headers(
        delivery_id,
        &timestamp.to_string(),
        &sign(SECRET.as_bytes(), timestamp, body),
    )
}

/// `headers` without the named header.
pub fn without(mut headers: Vec<(String, Vec<u8>)>, name: &str) -> Vec<(String, Vec<u8>)> {
    headers.retain(|(n, _)| n != name);
    headers
}

/// `headers` with the named header's value replaced.
pub fn with(
    mut headers: Vec<(String, Vec<u8>)>,
    name: &str,
    value: &[u8],
) -> Vec<(String, Vec<u8>)> {
    for (n, v) in &mut headers {
        if n == name {
            *v = value.to_vec();
        }
    }
    headers
}

/// A clock the test moves by hand.
#[derive(Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn at(now: u64) -> Self {
        ManualClock(Arc::new(AtomicU64::new(now)))
    }
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl fluxora_webhooks::Clock for ManualClock {
    fn now_unix(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}
