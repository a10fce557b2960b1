//! Capped exponential backoff with jitter, shared by every retry loop (RPC calls, the supervised
//! indexer task). Pure except for the jitter source, so the schedule is unit-tested.

use std::time::Duration;

/// A retry schedule: the n-th retry (0-based) waits `base × 2ⁿ`, capped at `cap`, then scaled by a
/// random factor in `[1 − jitter, 1]` ("equal-ish" jitter) so replicas do not retry in lockstep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// First delay.
    pub base: Duration,
    /// Largest delay.
    pub cap: Duration,
    /// Fraction of the delay that is randomized, 0.0–1.0.
    pub jitter: f64,
}

impl Backoff {
    /// The delay before retry `attempt` (0-based), before jitter.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.checked_pow(attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The delay before retry `attempt`, with jitter drawn from `unit` (a number in `[0, 1)`).
    pub fn delay_with(&self, attempt: u32, unit: f64) -> Duration {
        let ceiling = self.ceiling(attempt);
        let jitter = self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
        ceiling.mul_f64(1.0 - jitter)
    }

    /// The delay before retry `attempt`, with fresh randomness.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, random_unit())
    }
}

/// A uniformly distributed number in `[0, 1)` from the OS's randomness (0.5 if unavailable).
pub fn random_unit() -> f64 {
    let mut bytes = [0u8; 4];
    match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_caps() {
        let backoff = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
            jitter: 0.0,
        };
        let delays: Vec<u64> = (0..8)
            .map(|n| backoff.delay(n).as_millis() as u64)
            .collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let backoff = Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            jitter: 0.5,
        };
        assert_eq!(backoff.delay_with(0, 0.0), Duration::from_secs(1));
        assert_eq!(backoff.delay_with(0, 1.0), Duration::from_millis(500));
        for _ in 0..1000 {
            let d = backoff.delay(3);
            assert!(
                d >= Duration::from_secs(4) && d <= Duration::from_secs(8),
                "{d:?}"
            );
        }
    }
}
