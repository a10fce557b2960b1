//! Deduplication and replay protection: the `duplicate_delivery` row of the verification table.
//!
//! The sender retries a delivery (same delivery id) until it gets a 2xx, so a consumer sees
//! some deliveries more than once; and the delivery id is not covered by the signature, so a
//! captured request could be replayed within the tolerance under a fresh id. A
//! [`DeliveryDedup`] store answers both with one atomic protocol:
//!
//! 1. **verify** the delivery ([`crate::Verifier::verify`]);
//! 2. **claim** it: [`DeliveryDedup::claim`] takes a short lease on the delivery id (5 min by
//!    default) and records the signature for its replay window — or answers
//!    [`Claim::Duplicate`] when the id was processed, is leased by another task, or the
//!    signature was accepted under another id;
//! 3. run the **business action**;
//! 4. **complete** on success ([`DeliveryDedup::complete`]: the id is remembered as processed,
//!    24 h by default), or **release** on failure ([`DeliveryDedup::release`]: the lease is
//!    dropped, so the sender's retry can process it). A crashed consumer's lease expires.
//!
//! A delivery is therefore marked processed only after the business action succeeded.
//! [`crate::Verifier::verify_and_claim`] does steps 1 and 2 in one call:
//!
//! ```
//! use fluxora_webhooks::{Claim, ClaimError, DeliveryDedup, FixedClock, InMemoryDedup, Verifier};
//!
//! # async fn business_action(_body: &[u8]) -> Result<(), std::io::Error> { Ok(()) }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let verifier = Verifier::new("topsecret").with_clock(FixedClock(1_710_000_000));
//! let dedup = InMemoryDedup::new();
//! let body = br#"{"event":"stream.updated"}"#;
//! let signature = fluxora_webhooks::sign(b"topsecret", 1_710_000_000, body);
//! let headers = [
//!     ("x-fluxora-delivery-id", "dlv_1"),
//!     ("x-fluxora-timestamp", "1710000000"),
//!     ("x-fluxora-signature", signature.as_str()),
//! ];
//!
//! // 1 + 2: verify, then claim (a rejection carries the code and status to answer).
//! let (delivery, lease) = match verifier.verify_and_claim(&dedup, headers, body).await {
//!     Ok(claimed) => claimed,
//!     Err(ClaimError::Rejected(rejection)) => panic!("answer {}: {}", rejection.http_status(), rejection.code()),
//!     Err(ClaimError::Store(error)) => panic!("answer 503 so the sender retries: {error}"),
//! };
//! // 3 + 4: the business action, then complete on success or release on failure.
//! match business_action(body).await {
//!     Ok(()) => dedup.complete(&lease).await.unwrap(), // answer 200
//!     Err(_) => dedup.release(&lease).await.unwrap(),  // answer 500: the retry will process it
//! }
//!
//! // The sender's retry of the same delivery is now a duplicate.
//! let again = verifier.verify_and_claim(&dedup, headers, body).await;
//! assert!(matches!(again, Err(ClaimError::Rejected(r)) if r.code() == "duplicate_delivery"));
//! # let _ = delivery;
//! # }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use async_trait::async_trait;

use crate::outcome::{DuplicateReason, Rejection};
use crate::verifier::{VerifiedDelivery, Verifier};

pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;

/// Default lease on a claimed delivery: 300 s (5 min). A consumer that crashes mid-action
/// blocks that delivery id for at most this long.
pub const DEFAULT_LEASE_TTL_SECS: u64 = 300;

/// Default time a processed delivery id is remembered: 86 400 s (24 h).
///
/// The sender retries an unacknowledged delivery for about 27.6 h (the service's default
/// `WEBHOOK_RETRY_SCHEDULE` `5s,5m,30m,2h,5h,10h,10h`, ±20 % jitter), but a processed delivery is
/// retried only when its 2xx answer was lost, and such a retry normally arrives within minutes. A
/// consumer whose business action must never repeat even then sets a processed TTL of 34 h or more.
pub const DEFAULT_PROCESSED_TTL_SECS: u64 = 86_400;

/// The answer to [`DeliveryDedup::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This task holds the lease: run the business action, then
    /// [`DeliveryDedup::complete`] or [`DeliveryDedup::release`].
    Claimed(Lease),
    /// Do not run the business action (`duplicate_delivery`).
    Duplicate(DuplicateReason),
}

/// Proof of a claim on one delivery id, needed to complete or release it.
///
/// The token identifies this claim, so a task whose lease expired cannot release the claim a
/// later task took over.
#[derive(Clone, PartialEq, Eq)]
pub struct Lease {
    delivery_id: String,
    signature: String,
    token: String,
}

impl Lease {
    /// Builds a lease (for [`DeliveryDedup`] implementations). `token` must be unique per
    /// claim; [`Lease::new_token`] makes one.
    pub fn new(delivery_id: String, signature: String, token: String) -> Self {
        Lease {
            delivery_id,
            signature,
            token,
        }
    }

    /// A token unique across claims and processes: a per-process random seed (from the
    /// standard library's randomly keyed hasher) and a counter, as 32 hex digits. Unique, not
    /// secret.
    pub fn new_token() -> String {
        static SEED: OnceLock<u64> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let seed = *SEED.get_or_init(|| {
            use std::hash::{BuildHasher, Hasher};
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|elapsed| elapsed.as_nanos())
                    .unwrap_or(0),
            );
            hasher.write_u32(std::process::id());
            hasher.finish()
        });
        format!(
            "{seed:016x}{:016x}",
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// The claimed delivery id.
    pub fn delivery_id(&self) -> &str {
        &self.delivery_id
    }

    /// The signature (64 lowercase hex digits) recorded with the claim.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// This claim's unique token.
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("delivery_id", &self.delivery_id)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// The dedup store could not answer (e.g. Redis unreachable). The consumer should answer 503
/// (and not run the business action) so the sender retries later.
#[derive(Debug, thiserror::Error)]
#[error("the webhook dedup store failed: {message}")]
pub struct DedupError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl DedupError {
    /// An error with a message and an optional cause (for implementations).
    pub fn new(
        message: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        DedupError {
            message: message.into(),
            source,
        }
    }
}

/// Why [`Verifier::verify_and_claim`] did not hand out a lease.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// A failing row of the verification table (including `duplicate_delivery`): answer
    /// [`Rejection::http_status`] with [`Rejection::code`].
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The dedup store failed: answer 503 so the sender retries.
    #[error(transparent)]
    Store(#[from] DedupError),
}

impl ClaimError {
    /// The HTTP status to answer: the rejection's, or 503 when the store failed.
    pub fn http_status(&self) -> u16 {
        match self {
            ClaimError::Rejected(rejection) => rejection.http_status(),
            ClaimError::Store(_) => 503,
        }
    }

    /// The code to answer: the rejection's, or `dedup_unavailable` when the store failed (not
    /// a row of the table: the delivery was not judged).
    pub fn code(&self) -> &'static str {
        match self {
            ClaimError::Rejected(rejection) => rejection.code(),
            ClaimError::Store(_) => "dedup_unavailable",
        }
    }
}

/// An atomic claim / complete / release store of delivery ids and accepted signatures.
///
/// Every implementation must make `claim` atomic: of any number of concurrent claims of one
/// delivery id, at most one gets [`Claim::Claimed`] while its lease lives. Times are seconds.
/// Object-safe (`Arc<dyn DeliveryDedup>`), via `async_trait`.
#[async_trait]
pub trait DeliveryDedup: Send + Sync {
    /// Claims `delivery_id`, and records `signature` (64 lowercase hex digits) as accepted
    /// under that id for `signature_ttl_secs` (the delivery's
    /// [`VerifiedDelivery::replay_window_secs`]).
    ///
    /// Answers [`Claim::Duplicate`] with [`DuplicateReason::Processed`] when the id was
    /// completed within the processed TTL, [`DuplicateReason::InProgress`] when another claim's
    /// lease is alive, and [`DuplicateReason::ReplayedSignature`] when the signature is recorded
    /// under a different id. Otherwise takes a lease (default 300 s) and answers
    /// [`Claim::Claimed`].
    ///
    /// Errors: [`DedupError`] when the store is unreachable.
    async fn claim(
        &self,
        delivery_id: &str,
        signature: &str,
        signature_ttl_secs: u64,
    ) -> Result<Claim, DedupError>;

    /// Marks the lease's delivery id processed (remembered for the processed TTL, default
    /// 86 400 s), after the business action succeeded. Idempotent; also valid after the lease
    /// expired (the action did happen).
    ///
    /// Errors: [`DedupError`] when the store is unreachable.
    async fn complete(&self, lease: &Lease) -> Result<(), DedupError>;

    /// Drops the lease after the business action failed, so the sender's retry can claim the
    /// delivery again. Does nothing if the lease expired and another claim took over. The
    /// signature stays recorded for its replay window.
    ///
    /// Errors: [`DedupError`] when the store is unreachable.
    async fn release(&self, lease: &Lease) -> Result<(), DedupError>;
}

impl VerifiedDelivery {
    /// Claims this delivery in `dedup` (its id, its signature and replay window): the step
    /// after verification. See the [module docs](crate::dedup) for the whole protocol.
    ///
    /// Errors: [`DedupError`] when the store is unreachable.
    pub async fn claim<D>(&self, dedup: &D) -> Result<Claim, DedupError>
    where
        D: DeliveryDedup + ?Sized,
    {
        dedup
            .claim(
                &self.delivery_id,
                &self.signature.to_hex(),
                self.replay_window_secs,
            )
            .await
    }
}

impl Verifier {
    /// Verifies a delivery ([`Verifier::verify`]) and, when it verifies, claims it in `dedup`:
    /// every row of the verification table in order, `duplicate_delivery` included.
    ///
    /// On success the caller holds the [`Lease`]: run the business action, then
    /// [`DeliveryDedup::complete`] (success) or [`DeliveryDedup::release`] (failure).
    ///
    /// Errors: [`ClaimError::Rejected`] with the first failing row,
    /// [`ClaimError::Store`] when the dedup store failed.
    pub async fn verify_and_claim<D, I>(
        &self,
        dedup: &D,
        headers: I,
        raw_body: &[u8],
    ) -> Result<(VerifiedDelivery, Lease), ClaimError>
    where
        D: DeliveryDedup + ?Sized,
        I: IntoIterator,
        I::Item: crate::HeaderPair,
    {
        let delivery = self.verify(headers, raw_body)?;
        match delivery.claim(dedup).await? {
            Claim::Claimed(lease) => Ok((delivery, lease)),
            Claim::Duplicate(reason) => Err(Rejection::DuplicateDelivery { reason }.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_tokens_are_unique() {
        let tokens: std::collections::HashSet<String> =
            (0..1000).map(|_| Lease::new_token()).collect();
        assert_eq!(tokens.len(), 1000);
        assert!(tokens.iter().all(|t| t.len() == 32));
    }
}
