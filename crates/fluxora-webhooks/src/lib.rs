//! Sign and verify Fluxora webhooks — the consumer-facing signature contract, described in full
//! in the service's `docs/webhooks.md` — and deduplicate deliveries safely.
//!
//! Every Fluxora delivery is a `POST` with a JSON body and these headers:
//!
//! | header | value |
//! |---|---|
//! | `x-fluxora-delivery-id` | stable across the retries of one delivery: the dedup key |
//! | `x-fluxora-timestamp` | unix seconds of this attempt, `^[1-9][0-9]*$` |
//! | `x-fluxora-signature` | lowercase hex HMAC-SHA256(secret, `"{timestamp}.{rawBody}"`) |
//! | `x-fluxora-event` | `stream.created`, `stream.updated`, `stream.cancelled`, … |
//!
//! A consumer verifies on the raw bytes, before any JSON parsing, with a [`Verifier`]; each
//! failure is a [`Rejection`] naming one row of the verification table ([`Outcome`]) with a stable
//! `code()` and the `http_status()` to answer. The delivery id is not signed, so a
//! [`DeliveryDedup`] store (in memory, or Redis with the `redis` feature) refuses both retries
//! of processed deliveries and replays of a signature under a fresh id. With the `axum`
//! feature, [`axum::VerifiedWebhook`] does the verification as an extractor. Deliveries can
//! also carry [Standard Webhooks](https://www.standardwebhooks.com) headers
//! ([`Signer::with_standard_webhooks`], [`Scheme::StandardWebhooks`]).
//!
//! This crate depends on nothing of the Fluxora service, and by default on no server or
//! database crate (only `hmac`, `sha2`, `subtle`, `hex`, `base64`, `thiserror`, `async-trait`).
//! It never panics on any input, and forbids `unsafe`.
//!
//! # Example
//!
//! ```
//! use fluxora_webhooks::{sign, FixedClock, Outcome, Verifier};
//!
//! // The sender signs "{timestamp}.{rawBody}" (the contract's reference vector).
//! let body = br#"{"event":"stream.updated"}"#;
//! let signature = sign(b"topsecret", 1_710_000_000, body);
//! assert_eq!(signature, "925006549b879c8d9e91c10a153254fb4b6e2241820a1b072e28aa2fa8caeb79");
//!
//! // The consumer verifies the raw body with its headers (names in any case).
//! let verifier = Verifier::new("topsecret").with_clock(FixedClock(1_710_000_120));
//! let headers = [
//!     ("x-fluxora-delivery-id", "0190f1e0-7c1a-7d3e-9f00-000000000001"),
//!     ("x-fluxora-timestamp", "1710000000"),
//!     ("x-fluxora-signature", signature.as_str()),
//!     ("x-fluxora-event", "stream.updated"),
//! ];
//! let delivery = verifier.verify(headers, body).expect("a valid delivery");
//! assert_eq!(delivery.event.as_deref(), Some("stream.updated"));
//!
//! // A body changed by one byte (e.g. re-serialised by a framework) no longer verifies.
//! let rejection = verifier.verify(headers, br#"{"event": "stream.updated"}"#).unwrap_err();
//! assert_eq!(rejection.outcome(), Outcome::SignatureMismatch);
//! assert_eq!((rejection.code(), rejection.http_status()), ("signature_mismatch", 401));
//! ```
//!
//! The full protocol with deduplication (verify → claim → business action → complete on
//! success, release on failure) is in the [`dedup`] module's docs.
//!
//! # Features
//!
//! - `axum`: [`axum::VerifiedWebhook`] extractor for axum 0.8.
//! - `redis`: [`RedisDedup`], a dedup store shared by several replicas (the `redis` crate 1.x, tokio).

#![forbid(unsafe_code)]

#[cfg(feature = "axum")]
pub mod axum;
pub mod dedup;
mod outcome;
mod sign;
mod standard;
mod verifier;

pub use dedup::memory::InMemoryDedup;
#[cfg(feature = "redis")]
pub use dedup::redis::RedisDedup;
pub use dedup::{Claim, ClaimError, DedupError, DeliveryDedup, Lease};
pub use outcome::{DuplicateReason, Outcome, Rejection};
pub use sign::{sign, Signature, Signer};
pub use standard::{sign_standard, SecretError, StandardSecret};
pub use verifier::{
    Clock, FixedClock, HeaderPair, Scheme, SecretUsed, SystemClock, VerifiedDelivery, Verifier,
};

// The Rust examples of docs/webhooks.md compile as doctests, so the guide cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/webhooks.md")]
struct WebhooksGuide;

/// `x-fluxora-delivery-id`: the delivery's id, stable across retries (the dedup key). Not signed.
pub const DELIVERY_ID_HEADER: &str = "x-fluxora-delivery-id";
/// `x-fluxora-timestamp`: unix seconds of the attempt, `^[1-9][0-9]*$`.
pub const TIMESTAMP_HEADER: &str = "x-fluxora-timestamp";
/// `x-fluxora-signature`: 64 lowercase hex digits of HMAC-SHA256(secret,
/// `"{timestamp}.{rawBody}"`).
pub const SIGNATURE_HEADER: &str = "x-fluxora-signature";
/// `x-fluxora-event`: the event type, e.g. `stream.updated`. Not signed.
pub const EVENT_HEADER: &str = "x-fluxora-event";
/// `webhook-id` (Standard Webhooks): Fluxora sends its delivery id.
pub const STANDARD_ID_HEADER: &str = "webhook-id";
/// `webhook-timestamp` (Standard Webhooks): unix seconds.
pub const STANDARD_TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// `webhook-signature` (Standard Webhooks): space-separated `v1,<base64>` signatures.
pub const STANDARD_SIGNATURE_HEADER: &str = "webhook-signature";

/// Default tolerance between a delivery's timestamp and the consumer's clock: 300 s, either
/// direction, boundary included.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;
/// Default largest body: 262 144 bytes (256 KiB), boundary included: the largest body the
/// service itself accepts, too.
pub const DEFAULT_MAX_BODY_BYTES: usize = 262_144;
/// Default grace window of the previous secret after a rotation: 86 400 s (24 h), boundary
/// included.
pub const DEFAULT_GRACE_SECS: u64 = 86_400;
