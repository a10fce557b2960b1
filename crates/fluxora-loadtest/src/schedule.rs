//! The open-loop schedule: request `i` is due at `i / rate` seconds after the start, whatever
//! happened to the requests before it.
//!
//! The runner releases each request at its due time (a dedicated thread, see
//! [`crate::runner::RELEASE_QUANTUM`]), workers send the released requests in order, and the
//! latency is recorded from the *due* time, not from the moment the request actually left. When
//! the server slows down, the requests due meanwhile are still sent (late, once a worker is free)
//! and their wait counts in their latency: the measurement does not suffer from coordinated
//! omission. (A closed loop, which waits for each answer before sending the next request, sends
//! fewer requests exactly when the server is slow, and so under-reports the slow periods.)

use std::time::Duration;

/// A constant-rate schedule over a fixed span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSchedule {
    rate: f64,
    span: Duration,
}

impl RateSchedule {
    /// `rate` requests per second (> 0) for `span`.
    ///
    /// Errors: a message when the rate is not a positive finite number.
    pub fn new(rate: f64, span: Duration) -> Result<Self, String> {
        if rate.is_finite() && rate > 0.0 {
            Ok(RateSchedule { rate, span })
        } else {
            Err(format!("the rate must be positive, not {rate}"))
        }
    }

    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The scheduled span.
    pub fn span(&self) -> Duration {
        self.span
    }

    /// The number of requests due within the span: every `i` with `i / rate < span`.
    pub fn total(&self) -> u64 {
        // The epsilon keeps an exact product (200/s × 1 s) from counting one request too many
        // when the float product lands a hair above the integer (30/s × 0.1 s).
        let count = (self.span.as_secs_f64() * self.rate - 1e-9).ceil();
        if count <= 0.0 {
            0
        } else if count >= u64::MAX as f64 {
            u64::MAX
        } else {
            count as u64
        }
    }

    /// When request `index` is due, from the start; `None` past the span. Computed from the
    /// index alone (never by adding intervals), so the schedule does not drift.
    pub fn offset(&self, index: u64) -> Option<Duration> {
        if index >= self.total() {
            return None;
        }
        Duration::try_from_secs_f64(index as f64 / self.rate).ok()
    }
}

/// The latency of a request due at `due` and answered at `done`, both measured from the start of
/// the run: the time since it was due (zero if, by clock granularity, it ended "before").
pub fn latency_from_due(due: Duration, done: Duration) -> Duration {
    done.saturating_sub(due)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(rate: f64, span_ms: u64) -> RateSchedule {
        RateSchedule::new(rate, Duration::from_millis(span_ms)).unwrap()
    }

    #[test]
    fn requests_are_evenly_spaced() {
        let s = schedule(1000.0, 1000);
        assert_eq!(s.offset(0), Some(Duration::ZERO));
        assert_eq!(s.offset(1), Some(Duration::from_millis(1)));
        assert_eq!(s.offset(250), Some(Duration::from_millis(250)));
        assert_eq!(s.offset(999), Some(Duration::from_millis(999)));
        assert_eq!(s.offset(1000), None);
        assert_eq!(s.total(), 1000);
        let slow = schedule(4.0, 2000);
        let offsets: Vec<_> = (0..10).map_while(|i| slow.offset(i)).collect();
        assert_eq!(
            offsets,
            (0..8)
                .map(|i| Duration::from_millis(250 * i))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_count_is_rate_times_span() {
        assert_eq!(schedule(200.0, 1000).total(), 200);
        assert_eq!(schedule(3.0, 1000).total(), 3);
        // 1.5/s over 1 s: requests at 0 and 0.667 s.
        assert_eq!(schedule(1.5, 1000).total(), 2);
        assert_eq!(schedule(10.0, 0).total(), 0);
        assert_eq!(schedule(10.0, 0).offset(0), None);
        assert_eq!(schedule(7.0, 10_000).total(), 70);
        assert_eq!(schedule(30.0, 100).total(), 3);
    }

    #[test]
    fn the_schedule_does_not_drift() {
        // One million requests at an interval that is not exact in binary: the last one is due
        // where it should be, to the nanosecond.
        let s = schedule(3.0, 400_000_000);
        let last = s.offset(1_000_000).unwrap();
        let expected = Duration::from_nanos(333_333_333_333_333);
        let gap = last.abs_diff(expected);
        assert!(gap < Duration::from_micros(1), "{last:?}");
        // Offsets never go backwards.
        let s = schedule(7919.0, 2000);
        let mut previous = Duration::ZERO;
        for i in 0..s.total() {
            let offset = s.offset(i).unwrap();
            assert!(offset >= previous);
            previous = offset;
        }
        assert!(previous < Duration::from_secs(2));
    }

    #[test]
    fn latency_counts_from_the_due_time() {
        // Due at 10 ms, sent late at 40 ms (the worker was busy), answered at 41 ms: 31 ms, not
        // the 1 ms of service time.
        let due = Duration::from_millis(10);
        let done = Duration::from_millis(41);
        assert_eq!(latency_from_due(due, done), Duration::from_millis(31));
        assert_eq!(latency_from_due(done, due), Duration::ZERO);
    }

    #[test]
    fn rates_must_be_positive() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(RateSchedule::new(rate, Duration::from_secs(1)).is_err());
        }
    }
}
