//! The claim / complete / release protocol, checked the same way on every `DeliveryDedup`.

use std::sync::Arc;

use fluxora_webhooks::{Claim, DeliveryDedup, DuplicateReason, Lease};
use tokio::sync::Barrier;

/// A 64-hex-digit signature distinct for each `n`.
pub fn sig(n: u64) -> String {
    format!("{n:064x}")
}

pub async fn claimed(dedup: &dyn DeliveryDedup, id: &str, signature: &str) -> Lease {
    match dedup.claim(id, signature, 300).await.unwrap() {
        Claim::Claimed(lease) => lease,
        other => panic!("expected a claim of {id}, got {other:?}"),
    }
}

pub async fn duplicate(dedup: &dyn DeliveryDedup, id: &str, signature: &str) -> DuplicateReason {
    match dedup.claim(id, signature, 300).await.unwrap() {
        Claim::Duplicate(reason) => reason,
        other => panic!("expected a duplicate of {id}, got {other:?}"),
    }
}

/// Claim → in progress → release → claim again → complete → processed.
pub async fn claim_release_complete(dedup: &dyn DeliveryDedup, id: &str) {
    let first = claimed(dedup, id, &sig(1)).await;
    assert_eq!(first.delivery_id(), id);
    assert_eq!(first.signature(), sig(1));
    // A concurrent retry (new timestamp, so new signature) while the first is in progress.
    assert_eq!(
        duplicate(dedup, id, &sig(2)).await,
        DuplicateReason::InProgress
    );
    // The business action failed: release, and the sender's retry can process it.
    dedup.release(&first).await.unwrap();
    let second = claimed(dedup, id, &sig(2)).await;
    assert_ne!(second.token(), first.token());
    // Releasing twice, or releasing the old lease, is harmless.
    dedup.release(&first).await.unwrap();
    assert_eq!(
        duplicate(dedup, id, &sig(3)).await,
        DuplicateReason::InProgress
    );
    // Success: completed, and every later retry is a processed duplicate.
    dedup.complete(&second).await.unwrap();
    assert_eq!(
        duplicate(dedup, id, &sig(3)).await,
        DuplicateReason::Processed
    );
    assert_eq!(
        duplicate(dedup, id, &sig(2)).await,
        DuplicateReason::Processed
    );
    // Completing again, or releasing after completion, changes nothing.
    dedup.complete(&second).await.unwrap();
    dedup.release(&second).await.unwrap();
    assert_eq!(
        duplicate(dedup, id, &sig(4)).await,
        DuplicateReason::Processed
    );
}

/// A signature accepted under one id is a duplicate under any other id; under its own id it is
/// not a replay (e.g. a network-level resend after a release).
pub async fn replayed_signature_under_a_fresh_id(
    dedup: &dyn DeliveryDedup,
    id: &str,
    other_id: &str,
) {
    let lease = claimed(dedup, id, &sig(10)).await;
    assert_eq!(
        duplicate(dedup, other_id, &sig(10)).await,
        DuplicateReason::ReplayedSignature
    );
    dedup.release(&lease).await.unwrap();
    assert_eq!(
        duplicate(dedup, other_id, &sig(10)).await,
        DuplicateReason::ReplayedSignature,
        "a release keeps the signature"
    );
    let again = claimed(dedup, id, &sig(10)).await;
    dedup.complete(&again).await.unwrap();
    assert_eq!(
        duplicate(dedup, other_id, &sig(10)).await,
        DuplicateReason::ReplayedSignature
    );
    // The fresh id with its own signature is a new delivery.
    let other = claimed(dedup, other_id, &sig(11)).await;
    dedup.complete(&other).await.unwrap();
}

/// `tasks` tasks claim one delivery id at once: exactly one wins, the others are told it is in
/// progress. With `same_signature`, they all carry the same request; otherwise each carries a
/// retry of its own (another timestamp, so another signature). Signatures are `sig(base + …)`:
/// give each race its own `base`.
pub async fn race(
    dedup: Arc<dyn DeliveryDedup>,
    id: &str,
    tasks: u64,
    same_signature: bool,
    base: u64,
) {
    let barrier = Arc::new(Barrier::new(tasks as usize));
    let handles: Vec<_> = (0..tasks)
        .map(|n| {
            let dedup = Arc::clone(&dedup);
            let barrier = Arc::clone(&barrier);
            let id = id.to_string();
            let signature = sig(if same_signature { base } else { base + n });
            tokio::spawn(async move {
                barrier.wait().await;
                dedup.claim(&id, &signature, 300).await.unwrap()
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut losers = Vec::new();
    for handle in handles {
        match handle.await.unwrap() {
            Claim::Claimed(lease) => winners.push(lease),
            Claim::Duplicate(reason) => losers.push(reason),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one task wins");
    assert_eq!(losers.len() as u64, tasks - 1);
    assert!(
        losers
            .iter()
            .all(|reason| *reason == DuplicateReason::InProgress),
        "{losers:?}"
    );
    dedup.complete(&winners[0]).await.unwrap();
}

/// `tasks` tasks claim `id` at once, with signatures `sig(base + n)`; returns how many won
/// (for races across several stores).
pub async fn race_counting(
    dedup: Arc<dyn DeliveryDedup>,
    id: &str,
    tasks: u64,
    base: u64,
) -> usize {
    let handles: Vec<_> = (0..tasks)
        .map(|n| {
            let dedup = Arc::clone(&dedup);
            let id = id.to_string();
            tokio::spawn(async move { dedup.claim(&id, &sig(base + n), 300).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for handle in handles {
        if let Claim::Claimed(lease) = handle.await.unwrap() {
            won += 1;
            dedup.complete(&lease).await.unwrap();
        }
    }
    won
}
