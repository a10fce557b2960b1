//! `RedisDedup` against the Redis at 127.0.0.1:6379. Each test owns a unique key prefix and
//! deletes its keys at the end (every key also expires by itself).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use fluxora_webhooks::{DeliveryDedup, DuplicateReason, RedisDedup};
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;

use crate::dedup_protocol::{self, claimed, duplicate, sig};

const REDIS_URL: &str = "redis://127.0.0.1:6379";

struct Fixture {
    dedup: RedisDedup,
    raw: MultiplexedConnection,
    prefix: String,
}

impl Fixture {
    async fn new(name: &str) -> Fixture {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let prefix = format!(
            "fluxora-webhooks-test:{}:{nanos}:{name}:",
            std::process::id()
        );
        let dedup = RedisDedup::connect(REDIS_URL)
            .await
            .unwrap_or_else(|error| panic!("Redis must run at {REDIS_URL}: {error}"))
            .with_prefix(prefix.clone())
            .with_processed_ttl_secs(600);
        let raw = redis::Client::open(REDIS_URL)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        Fixture { dedup, raw, prefix }
    }

    async fn keys(&mut self) -> Vec<String> {
        self.raw.keys(format!("{}*", self.prefix)).await.unwrap()
    }

    async fn pttl(&mut self, key: &str) -> i64 {
        self.raw.pttl(key).await.unwrap()
    }

    /// Deletes every key of this test and checks none is left.
    async fn cleanup(mut self) {
        let keys = self.keys().await;
        if !keys.is_empty() {
            let _: i64 = self.raw.del(&keys).await.unwrap();
        }
        assert!(self.keys().await.is_empty());
    }
}

#[tokio::test]
async fn claim_release_complete() {
    let fixture = Fixture::new("protocol").await;
    dedup_protocol::claim_release_complete(&fixture.dedup, "dlv_1").await;
    fixture.cleanup().await;
    // Ids with separators and non-ASCII are keys like any other.
    let fixture = Fixture::new("protocol-odd-id").await;
    dedup_protocol::claim_release_complete(&fixture.dedup, "dlv:2/é *?").await;
    fixture.cleanup().await;
}

#[tokio::test]
async fn replayed_signature_under_a_fresh_id() {
    let fixture = Fixture::new("replay").await;
    dedup_protocol::replayed_signature_under_a_fresh_id(&fixture.dedup, "dlv_a", "dlv_b").await;
    fixture.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_tasks_racing_for_one_delivery_one_wins() {
    let fixture = Fixture::new("race").await;
    let dedup: Arc<dyn DeliveryDedup> = Arc::new(fixture.dedup.clone());
    dedup_protocol::race(Arc::clone(&dedup), "dlv_race_same", 32, true, 1_000).await;
    dedup_protocol::race(Arc::clone(&dedup), "dlv_race_retries", 32, false, 2_000).await;
    // A second, independent connection races too (as another replica would).
    let replica: Arc<dyn DeliveryDedup> = Arc::new(
        RedisDedup::connect(REDIS_URL)
            .await
            .unwrap()
            .with_prefix(fixture.prefix.clone()),
    );
    for round in 0..5 {
        let id = format!("dlv_round_{round}");
        let (a, b) = tokio::join!(
            dedup_protocol::race_counting(Arc::clone(&dedup), &id, 16, 10_000 * round),
            dedup_protocol::race_counting(Arc::clone(&replica), &id, 16, 10_000 * round + 100),
        );
        assert_eq!(
            a + b,
            1,
            "exactly one of 32 claims across two replicas wins"
        );
    }
    fixture.cleanup().await;
}

#[tokio::test]
async fn every_key_expires_by_itself() {
    let mut fixture = Fixture::new("ttl").await;
    let lease = claimed(&fixture.dedup, "dlv_1", &sig(1)).await;
    let delivery_key = fixture.dedup.delivery_key("dlv_1");
    let signature_key = fixture.dedup.signature_key(&sig(1));
    assert_eq!(delivery_key, format!("{}d:dlv_1", fixture.prefix));
    let lease_ttl = fixture.pttl(&delivery_key).await;
    assert!(
        0 < lease_ttl && lease_ttl <= 300_000,
        "lease PTTL {lease_ttl}"
    );
    let signature_ttl = fixture.pttl(&signature_key).await;
    assert!(
        0 < signature_ttl && signature_ttl <= 300_000,
        "signature PTTL {signature_ttl}"
    );
    fixture.dedup.complete(&lease).await.unwrap();
    let processed_ttl = fixture.pttl(&delivery_key).await;
    assert!(
        300_000 < processed_ttl && processed_ttl <= 600_000,
        "processed PTTL {processed_ttl}"
    );
    let mut keys = fixture.keys().await;
    keys.sort();
    assert_eq!(keys, vec![delivery_key, signature_key]);
    fixture.cleanup().await;
}

#[tokio::test]
async fn an_expired_lease_cannot_release_its_successor() {
    let mut fixture = Fixture::new("stale").await;
    let crashed = claimed(&fixture.dedup, "dlv_1", &sig(1)).await;
    // The lease expires (simulated: the key is gone, as after its PX).
    let key = fixture.dedup.delivery_key("dlv_1");
    let _: i64 = fixture.raw.del(&key).await.unwrap();
    let next = claimed(&fixture.dedup, "dlv_1", &sig(2)).await;
    fixture.dedup.release(&crashed).await.unwrap();
    assert_eq!(
        duplicate(&fixture.dedup, "dlv_1", &sig(3)).await,
        DuplicateReason::InProgress
    );
    fixture.dedup.release(&next).await.unwrap();
    let last = claimed(&fixture.dedup, "dlv_1", &sig(3)).await;
    fixture.dedup.complete(&last).await.unwrap();
    fixture.cleanup().await;
}
