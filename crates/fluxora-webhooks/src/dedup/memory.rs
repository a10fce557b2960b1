//! [`InMemoryDedup`]: a [`DeliveryDedup`] for a single consumer process, bounded in time (every
//! entry has a TTL) and in size (oldest entries are evicted first).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use super::{
    Claim, DedupError, DeliveryDedup, Lease, DEFAULT_LEASE_TTL_SECS, DEFAULT_PROCESSED_TTL_SECS,
};
use crate::outcome::DuplicateReason;
use crate::verifier::{Clock, SystemClock};

/// Default bound of each of the two tables (delivery ids, signatures): 100 000 entries, about
/// 20 MB at most with typical ids. Size it above the deliveries you receive in a processed TTL
/// (24 h): an evicted processed id would be processed again if redelivered.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

/// Every this many seconds, a claim also drops every expired entry (not only the oldest).
const SWEEP_INTERVAL_SECS: u64 = 60;

/// An in-process, thread-safe [`DeliveryDedup`]. Claims are atomic (one mutex, never held
/// across an `.await`). For several replicas, use the Redis store (`redis` feature).
///
/// Times come from a [`Clock`] (unix seconds; [`SystemClock`] by default), so expiry is
/// testable without waiting. An entry is alive while `now < inserted_at + ttl`.
///
/// ```
/// use fluxora_webhooks::{Claim, DeliveryDedup, InMemoryDedup};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), fluxora_webhooks::DedupError> {
/// let dedup = InMemoryDedup::new()
///     .with_lease_ttl_secs(300)
///     .with_processed_ttl_secs(86_400)
///     .with_max_entries(100_000);
/// let signature = "925006549b879c8d9e91c10a153254fb4b6e2241820a1b072e28aa2fa8caeb79";
/// let Claim::Claimed(lease) = dedup.claim("dlv_1", signature, 301).await? else { unreachable!() };
/// dedup.complete(&lease).await?;
/// assert!(matches!(dedup.claim("dlv_1", signature, 301).await?, Claim::Duplicate(_)));
/// # Ok(())
/// # }
/// ```
pub struct InMemoryDedup {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
    lease_ttl_secs: u64,
    processed_ttl_secs: u64,
}

struct State {
    deliveries: TtlMap<DeliveryState>,
    /// Signature (hex) → the delivery id it was accepted under.
    signatures: TtlMap<String>,
    next_sweep: u64,
}

enum DeliveryState {
    Leased { token: String },
    Processed,
}

impl Default for InMemoryDedup {
    fn default() -> Self {
        InMemoryDedup::new()
    }
}

impl InMemoryDedup {
    /// A store with the defaults: lease 300 s, processed TTL 86 400 s, 100 000 entries per
    /// table, [`SystemClock`].
    pub fn new() -> Self {
        InMemoryDedup {
            state: Mutex::new(State {
                deliveries: TtlMap::new(DEFAULT_MAX_ENTRIES),
                signatures: TtlMap::new(DEFAULT_MAX_ENTRIES),
                next_sweep: 0,
            }),
            clock: Arc::new(SystemClock),
            lease_ttl_secs: DEFAULT_LEASE_TTL_SECS,
            processed_ttl_secs: DEFAULT_PROCESSED_TTL_SECS,
        }
    }

    /// How long a claim blocks other claims of the same id, in seconds (at least 1).
    pub fn with_lease_ttl_secs(mut self, secs: u64) -> Self {
        self.lease_ttl_secs = secs.max(1);
        self
    }

    /// How long a completed delivery id is remembered, in seconds (at least 1).
    pub fn with_processed_ttl_secs(mut self, secs: u64) -> Self {
        self.processed_ttl_secs = secs.max(1);
        self
    }

    /// The bound of each table (delivery ids; signatures), in entries (at least 1). Beyond it
    /// the oldest entries are evicted first.
    pub fn with_max_entries(self, max_entries: usize) -> Self {
        let mut state = self.lock();
        state.deliveries.max_entries = max_entries.max(1);
        state.signatures.max_entries = max_entries.max(1);
        drop(state);
        self
    }

    /// Replaces the clock (unix seconds).
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How many delivery ids and signatures are stored, including expired entries not swept
    /// yet (for metrics and tests).
    pub fn len(&self) -> (usize, usize) {
        let state = self.lock();
        (
            state.deliveries.entries.len(),
            state.signatures.entries.len(),
        )
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-updated entry behind (each
        // operation is a few map inserts/removals), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn claim_now(&self, delivery_id: &str, signature: &str, signature_ttl_secs: u64) -> Claim {
        let now = self.clock.now_unix();
        let mut state = self.lock();
        if now >= state.next_sweep {
            state.deliveries.sweep(now);
            state.signatures.sweep(now);
            state.next_sweep = now.saturating_add(SWEEP_INTERVAL_SECS);
        }
        match state.deliveries.get(delivery_id, now) {
            Some(DeliveryState::Processed) => return Claim::Duplicate(DuplicateReason::Processed),
            Some(DeliveryState::Leased { .. }) => {
                return Claim::Duplicate(DuplicateReason::InProgress)
            }
            None => {}
        }
        let signature_expires = now.saturating_add(signature_ttl_secs.max(1));
        match state.signatures.get_entry(signature, now) {
            Some(entry) if entry.value != delivery_id => {
                return Claim::Duplicate(DuplicateReason::ReplayedSignature)
            }
            Some(entry) if entry.expires_at >= signature_expires => {}
            _ => state.signatures.insert(
                signature.to_string(),
                delivery_id.to_string(),
                signature_expires,
                now,
            ),
        }
        let token = Lease::new_token();
        state.deliveries.insert(
            delivery_id.to_string(),
            DeliveryState::Leased {
                token: token.clone(),
            },
            now.saturating_add(self.lease_ttl_secs),
            now,
        );
        Claim::Claimed(Lease::new(
            delivery_id.to_string(),
            signature.to_string(),
            token,
        ))
    }
}

#[async_trait]
impl DeliveryDedup for InMemoryDedup {
    async fn claim(
        &self,
        delivery_id: &str,
        signature: &str,
        signature_ttl_secs: u64,
    ) -> Result<Claim, DedupError> {
        Ok(self.claim_now(delivery_id, signature, signature_ttl_secs))
    }

    async fn complete(&self, lease: &Lease) -> Result<(), DedupError> {
        let now = self.clock.now_unix();
        let mut state = self.lock();
        state.deliveries.insert(
            lease.delivery_id().to_string(),
            DeliveryState::Processed,
            now.saturating_add(self.processed_ttl_secs),
            now,
        );
        Ok(())
    }

    async fn release(&self, lease: &Lease) -> Result<(), DedupError> {
        let now = self.clock.now_unix();
        let mut state = self.lock();
        let held = matches!(
            state.deliveries.get(lease.delivery_id(), now),
            Some(DeliveryState::Leased { token }) if token == lease.token()
        );
        if held {
            state.deliveries.remove(lease.delivery_id());
        }
        Ok(())
    }
}

impl fmt::Debug for InMemoryDedup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (deliveries, signatures) = self.len();
        f.debug_struct("InMemoryDedup")
            .field("lease_ttl_secs", &self.lease_ttl_secs)
            .field("processed_ttl_secs", &self.processed_ttl_secs)
            .field("deliveries", &deliveries)
            .field("signatures", &signatures)
            .finish_non_exhaustive()
    }
}

/// A map whose entries expire, bounded in size by evicting the least recently written.
struct TtlMap<V> {
    entries: HashMap<String, Entry<V>>,
    /// Write order: `(sequence, key)`; an item is stale when the key was rewritten or removed
    /// since (its entry's sequence differs).
    order: VecDeque<(u64, String)>,
    next_seq: u64,
    max_entries: usize,
}

struct Entry<V> {
    value: V,
    expires_at: u64,
    seq: u64,
}

impl<V> TtlMap<V> {
    fn new(max_entries: usize) -> Self {
        TtlMap {
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
            max_entries,
        }
    }

    fn get_entry(&self, key: &str, now: u64) -> Option<&Entry<V>> {
        self.entries.get(key).filter(|entry| now < entry.expires_at)
    }

    fn get(&self, key: &str, now: u64) -> Option<&V> {
        self.get_entry(key, now).map(|entry| &entry.value)
    }

    fn insert(&mut self, key: String, value: V, expires_at: u64, now: u64) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.order.push_back((seq, key.clone()));
        self.entries.insert(
            key,
            Entry {
                value,
                expires_at,
                seq,
            },
        );
        self.trim(now);
    }

    fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// Drops, from the oldest write on, stale order items and entries that expired or exceed
    /// the bound; compacts the order queue when stale items pile up behind a live one.
    fn trim(&mut self, now: u64) {
        while let Some((seq, key)) = self.order.front() {
            let entry = self.entries.get(key).filter(|entry| entry.seq == *seq);
            match entry {
                None => {}
                Some(entry) if entry.expires_at <= now || self.entries.len() > self.max_entries => {
                    self.entries.remove(key);
                }
                Some(_) => break,
            }
            self.order.pop_front();
        }
        if self.order.len() > 2 * self.entries.len() + 64 {
            let entries = &self.entries;
            self.order
                .retain(|(seq, key)| entries.get(key).is_some_and(|entry| entry.seq == *seq));
        }
    }

    /// Drops every expired entry.
    fn sweep(&mut self, now: u64) {
        self.entries.retain(|_, entry| now < entry.expires_at);
        self.trim(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_map_evicts_oldest_beyond_the_bound_and_compacts() {
        let mut map = TtlMap::new(3);
        for i in 0..5u64 {
            map.insert(format!("k{i}"), i, 1_000, 0);
        }
        assert_eq!(map.entries.len(), 3);
        assert!(map.get("k0", 0).is_none() && map.get("k1", 0).is_none());
        assert_eq!(map.get("k4", 0), Some(&4));
        // Rewriting one key many times leaves no pile of stale order items.
        for i in 0..1_000u64 {
            map.insert("k2".to_string(), i, 1_000, 0);
        }
        assert!(map.order.len() <= 2 * map.entries.len() + 64);
        assert_eq!(map.entries.len(), 3);
        assert_eq!(map.get("k2", 0), Some(&999));
    }

    #[test]
    fn ttl_map_expires_entries() {
        let mut map = TtlMap::new(10);
        map.insert("a".to_string(), 1, 100, 0);
        map.insert("b".to_string(), 2, 200, 0);
        assert_eq!(map.get("a", 99), Some(&1));
        assert_eq!(map.get("a", 100), None);
        map.sweep(150);
        assert_eq!(map.entries.len(), 1);
        map.insert("c".to_string(), 3, 300, 250);
        assert_eq!(
            map.entries.len(),
            1,
            "b expired and was trimmed from the front"
        );
    }
}
