//! `InMemoryDedup`: the protocol, races, expiry (with a hand-moved clock) and the size bound.

use std::sync::Arc;

use fluxora_webhooks::{
    Claim, ClaimError, DeliveryDedup, DuplicateReason, InMemoryDedup, Rejection, Verifier,
};

use crate::common::*;
use crate::dedup_protocol::{self, claimed, duplicate, sig};

#[tokio::test]
async fn claim_release_complete() {
    dedup_protocol::claim_release_complete(&InMemoryDedup::new(), "dlv_1").await;
}

#[tokio::test]
async fn replayed_signature_under_a_fresh_id() {
    dedup_protocol::replayed_signature_under_a_fresh_id(&InMemoryDedup::new(), "dlv_a", "dlv_b")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_tasks_racing_for_one_delivery_one_wins() {
    let dedup: Arc<dyn DeliveryDedup> = Arc::new(InMemoryDedup::new());
    dedup_protocol::race(Arc::clone(&dedup), "dlv_race_same", 32, true, 1_000).await;
    dedup_protocol::race(Arc::clone(&dedup), "dlv_race_retries", 32, false, 2_000).await;
    // Repeated rounds on fresh ids, to give the scheduler chances to interleave differently.
    for round in 0..20 {
        dedup_protocol::race(
            Arc::clone(&dedup),
            &format!("dlv_round_{round}"),
            32,
            round % 2 == 0,
            10_000 * (round + 1),
        )
        .await;
    }
}

#[tokio::test]
async fn leases_expire_so_a_crashed_consumer_blocks_a_delivery_only_for_the_lease() {
    let clock = ManualClock::at(1_000);
    let dedup = InMemoryDedup::new()
        .with_lease_ttl_secs(300)
        .with_clock(clock.clone());
    let crashed = claimed(&dedup, "dlv_1", &sig(1)).await;
    clock.advance(299);
    assert_eq!(
        duplicate(&dedup, "dlv_1", &sig(2)).await,
        DuplicateReason::InProgress
    );
    clock.advance(1);
    let next = claimed(&dedup, "dlv_1", &sig(2)).await;
    // The crashed task comes back and releases: the new lease is not its to drop.
    dedup.release(&crashed).await.unwrap();
    assert_eq!(
        duplicate(&dedup, "dlv_1", &sig(3)).await,
        DuplicateReason::InProgress
    );
    // It completes after all (its action did happen): processed.
    dedup.complete(&crashed).await.unwrap();
    assert_eq!(
        duplicate(&dedup, "dlv_1", &sig(3)).await,
        DuplicateReason::Processed
    );
    dedup.release(&next).await.unwrap();
    assert_eq!(
        duplicate(&dedup, "dlv_1", &sig(3)).await,
        DuplicateReason::Processed
    );
}

#[tokio::test]
async fn processed_ids_and_signatures_are_forgotten_after_their_ttl() {
    let clock = ManualClock::at(1_000);
    let dedup = InMemoryDedup::new().with_clock(clock.clone());
    // Processed TTL: 86 400 s by default.
    let lease = claimed(&dedup, "dlv_1", &sig(1)).await;
    dedup.complete(&lease).await.unwrap();
    clock.advance(86_399);
    assert_eq!(
        duplicate(&dedup, "dlv_1", &sig(2)).await,
        DuplicateReason::Processed
    );
    clock.advance(1);
    let lease = claimed(&dedup, "dlv_1", &sig(2)).await;
    dedup.complete(&lease).await.unwrap();

    // A signature is remembered for the TTL the claim gave (its replay window).
    clock.set(5_000);
    let Claim::Claimed(lease) = dedup.claim("dlv_s", &sig(50), 301).await.unwrap() else {
        panic!("claimed")
    };
    dedup.complete(&lease).await.unwrap();
    clock.advance(300);
    assert_eq!(
        duplicate(&dedup, "dlv_fresh", &sig(50)).await,
        DuplicateReason::ReplayedSignature
    );
    clock.advance(1);
    let fresh = claimed(&dedup, "dlv_fresh", &sig(50)).await;
    dedup.complete(&fresh).await.unwrap();
    // Expired entries are swept, so memory is bounded in time too.
    clock.advance(10 * 86_400);
    let _ = claimed(&dedup, "dlv_later", &sig(99)).await;
    assert_eq!(dedup.len(), (1, 1));
}

#[tokio::test]
async fn size_is_bounded_by_evicting_the_oldest() {
    let dedup = InMemoryDedup::new().with_max_entries(10);
    for n in 0..100u64 {
        let lease = claimed(&dedup, &format!("dlv_{n}"), &sig(n)).await;
        dedup.complete(&lease).await.unwrap();
    }
    assert_eq!(dedup.len(), (10, 10));
    // The newest are remembered, the oldest were evicted.
    assert_eq!(
        duplicate(&dedup, "dlv_99", &sig(1_000)).await,
        DuplicateReason::Processed
    );
    let _ = claimed(&dedup, "dlv_0", &sig(1_001)).await;
    assert!(!dedup.is_empty());
}

/// The whole consumer protocol through `verify_and_claim`, as the module docs describe it.
#[tokio::test]
async fn verify_then_claim_then_complete_or_release() {
    let clock = ManualClock::at(TIMESTAMP);
    let verifier = Verifier::new(SECRET).with_clock(clock.clone());
    let dedup: Arc<dyn DeliveryDedup> = Arc::new(InMemoryDedup::new().with_clock(clock.clone()));
    let request = signed(DELIVERY_ID, TIMESTAMP, BODY);

    // First attempt: the business action fails, the lease is released.
    let (delivery, lease) = verifier
        .verify_and_claim(dedup.as_ref(), request.clone(), BODY)
        .await
        .unwrap();
    assert_eq!(delivery.delivery_id, DELIVERY_ID);
    dedup.release(&lease).await.unwrap();

    // The sender retries 5 s later (a new timestamp, a new signature): processed this time.
    clock.advance(5);
    let retry = signed(DELIVERY_ID, TIMESTAMP + 5, BODY);
    let (_, lease) = verifier
        .verify_and_claim(dedup.as_ref(), retry.clone(), BODY)
        .await
        .unwrap();
    dedup.complete(&lease).await.unwrap();

    // Its 200 was lost; the next retry is a duplicate (409, or 200 since it was processed).
    let again = verifier
        .verify_and_claim(
            dedup.as_ref(),
            signed(DELIVERY_ID, TIMESTAMP + 10, BODY),
            BODY,
        )
        .await;
    match again {
        Err(ClaimError::Rejected(rejection)) => {
            assert_eq!(
                rejection,
                Rejection::DuplicateDelivery {
                    reason: DuplicateReason::Processed
                }
            );
            assert_eq!(
                (rejection.code(), rejection.http_status()),
                ("duplicate_delivery", 409)
            );
        }
        other => panic!("expected a duplicate, got {other:?}"),
    }

    // An attacker replays the captured retry under a fresh delivery id within the tolerance.
    let replay = with(
        retry,
        "x-fluxora-delivery-id",
        b"0190f1e0-ffff-7d3e-9f00-00000000beef",
    );
    match verifier
        .verify_and_claim(dedup.as_ref(), replay, BODY)
        .await
    {
        Err(error) => {
            assert_eq!(error.code(), "duplicate_delivery");
            assert_eq!(error.http_status(), 409);
            assert!(error.to_string().contains("replay"), "{error}");
        }
        Ok(_) => panic!("a replayed signature must not be processed"),
    }

    // A forged request is rejected before the store is touched.
    let forged = headers("dlv_forged", &TIMESTAMP.to_string(), &"ab".repeat(32));
    let error = verifier
        .verify_and_claim(dedup.as_ref(), forged, BODY)
        .await
        .unwrap_err();
    assert_eq!(
        (error.code(), error.http_status()),
        ("signature_mismatch", 401)
    );
    // The forged delivery id was never claimed: a real delivery under it can still be.
    let _ = claimed(dedup.as_ref(), "dlv_forged", &sig(7)).await;
}

/// A store that cannot be reached.
struct Unreachable;

#[async_trait::async_trait]
impl DeliveryDedup for Unreachable {
    async fn claim(&self, _: &str, _: &str, _: u64) -> Result<Claim, fluxora_webhooks::DedupError> {
        Err(fluxora_webhooks::DedupError::new(
            "connection refused",
            None,
        ))
    }
    async fn complete(
        &self,
        _: &fluxora_webhooks::Lease,
    ) -> Result<(), fluxora_webhooks::DedupError> {
        Err(fluxora_webhooks::DedupError::new(
            "connection refused",
            None,
        ))
    }
    async fn release(
        &self,
        _: &fluxora_webhooks::Lease,
    ) -> Result<(), fluxora_webhooks::DedupError> {
        Err(fluxora_webhooks::DedupError::new(
            "connection refused",
            None,
        ))
    }
}

#[tokio::test]
async fn a_failing_store_is_a_503_not_a_verdict() {
    let error = crate::common::verifier()
        .verify_and_claim(&Unreachable, signed(DELIVERY_ID, TIMESTAMP, BODY), BODY)
        .await
        .unwrap_err();
    assert!(matches!(error, ClaimError::Store(_)));
    assert_eq!(
        (error.code(), error.http_status()),
        ("dedup_unavailable", 503)
    );
    assert!(error.to_string().contains("connection refused"));
    // Verification still comes first: a forged request is a 401 even when the store is down.
    let error = crate::common::verifier()
        .verify_and_claim(
            &Unreachable,
            headers(DELIVERY_ID, "1710000000", &"0".repeat(64)),
            BODY,
        )
        .await
        .unwrap_err();
    assert_eq!(error.http_status(), 401);
}
