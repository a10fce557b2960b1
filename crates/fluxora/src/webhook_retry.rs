//! Limits of webhook delivery retries, as configured: the per-delivery [`RetrySchedule`]
//! (`WEBHOOK_RETRY_SCHEDULE`) and the per-endpoint [`DISABLE_AFTER_CONSECUTIVE_FAILURES`]
//! (default of `WEBHOOK_DISABLE_AFTER_FAILURES`).
//!
//! Plain values with their parsing, shared by [`crate::config`] (which reads them) and
//! [`crate::webhooks::policy`] (which applies them); this module imports neither.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Default of `WEBHOOK_RETRY_SCHEDULE`: the delays between delivery attempts
/// after the immediate one. 8 attempts in all, spread over about 27.6 hours before jitter.
pub const DEFAULT_RETRY_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

/// Most items a [`RetrySchedule`] may have (a guard against pasting mistakes).
pub const MAX_SCHEDULE_ITEMS: usize = 100;

/// Longest single delay a [`RetrySchedule`] item may have: 30 days.
pub const MAX_SCHEDULE_DELAY: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// An endpoint is disabled automatically (its `disabled_reason` set, deliveries stop being
/// attempted until an operator re-enables it) once this many delivery attempts in a row have
/// not been delivered: 50.
///
/// Counting rule: every attempt whose [`Disposition`] is [`Disposition::Retry`] or
/// [`Disposition::Failed`] increments the endpoint's `consecutive_failures`; any
/// [`Disposition::Delivered`] (including a 409 `duplicate_delivery`) resets it to 0. When the
/// counter reaches this value the endpoint is disabled. Re-enabling resets the counter.
///
/// [`Disposition`]: crate::webhooks::policy::Disposition
/// [`Disposition::Retry`]: crate::webhooks::policy::Disposition::Retry
/// [`Disposition::Failed`]: crate::webhooks::policy::Disposition::Failed
/// [`Disposition::Delivered`]: crate::webhooks::policy::Disposition::Delivered
pub const DISABLE_AFTER_CONSECUTIVE_FAILURES: u32 = 50;

/// The delays between delivery attempts after the immediate one (`WEBHOOK_RETRY_SCHEDULE`;
/// `docs/webhooks.md`, "Attempts, retries and dead letters").
///
/// Item *n* (1-based) is the nominal wait before retry *n*, i.e. between attempt *n* and attempt
/// *n + 1*; [`next_attempt_delay`] applies jitter and floors. A schedule of *k* items allows
/// `1 + k` attempts ([`RetrySchedule::attempts_total`]). An empty schedule is valid and means
/// "no retries": one immediate attempt, then a retryable failure is a dead letter.
///
/// [`next_attempt_delay`]: crate::webhooks::policy::next_attempt_delay
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

impl RetrySchedule {
    /// Parses `WEBHOOK_RETRY_SCHEDULE`: comma-separated durations, each a whole positive number
    /// followed directly by a unit — `ms` (milliseconds), `s` (seconds), `m` (minutes), `h`
    /// (hours) or `d` (days) — e.g. `500ms,5s,5m,2h,1d`. Whitespace around items is ignored;
    /// units are lower-case; no sign, fraction or space between number and unit.
    ///
    /// An empty or all-whitespace value is the empty schedule (no retries). The configuration
    /// layer decides whether an *unset* variable means [`RetrySchedule::default`].
    ///
    /// # Errors
    ///
    /// A [`ScheduleError`] naming the first bad item (1-based position and text): an empty item
    /// (`5s,,5m`, trailing comma), a negative, zero or fractional value, a missing or unknown
    /// unit, a delay above [`MAX_SCHEDULE_DELAY`] (30 days), or more than
    /// [`MAX_SCHEDULE_ITEMS`] items.
    pub fn parse(value: &str) -> Result<Self, ScheduleError> {
        if value.trim().is_empty() {
            return Ok(Self { delays: Vec::new() });
        }
        let items: Vec<&str> = value.split(',').collect();
        if items.len() > MAX_SCHEDULE_ITEMS {
            return Err(ScheduleError::TooManyItems { count: items.len() });
        }
        let delays = items
            .iter()
            .enumerate()
            .map(|(index, item)| parse_item(index + 1, item))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { delays })
    }

    /// The nominal delays (before jitter and floors), in order.
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// Number of retries after the immediate attempt (the number of items).
    pub fn retries(&self) -> usize {
        self.delays.len()
    }

    /// Total number of attempts a delivery can get: 1 (immediate) + [`RetrySchedule::retries`].
    /// 8 for the default schedule.
    pub fn attempts_total(&self) -> u32 {
        // At most MAX_SCHEDULE_ITEMS (100) items, so this never saturates in practice.
        u32::try_from(self.delays.len())
            .unwrap_or(u32::MAX - 1)
            .saturating_add(1)
    }

    /// Sum of the nominal delays: how long after the first attempt the last one happens, before
    /// jitter, floors and `Retry-After` (27 h 35 min 5 s for the default schedule).
    pub fn total_delay(&self) -> Duration {
        self.delays
            .iter()
            .fold(Duration::ZERO, |sum, d| sum.saturating_add(*d))
    }
}

impl Default for RetrySchedule {
    /// The [`DEFAULT_RETRY_SCHEDULE`]: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    fn default() -> Self {
        let hours = |h: u64| Duration::from_secs(h * 60 * 60);
        Self {
            delays: vec![
                Duration::from_secs(5),
                Duration::from_secs(5 * 60),
                Duration::from_secs(30 * 60),
                hours(2),
                hours(5),
                hours(10),
                hours(10),
            ],
        }
    }
}

impl FromStr for RetrySchedule {
    type Err = ScheduleError;

    /// Same as [`RetrySchedule::parse`].
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl fmt::Display for RetrySchedule {
    /// The canonical `WEBHOOK_RETRY_SCHEDULE` form, each delay in its largest exact unit
    /// (`5s,5m,30m,2h,5h,10h,10h` for the default); parsing it gives the same schedule.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, delay) in self.delays.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            let millis = delay.as_millis();
            let (amount, unit) = UNITS
                .iter()
                .rev()
                .find(|(_, unit_millis)| millis % u128::from(*unit_millis) == 0)
                .map_or((millis, "ms"), |(name, unit_millis)| {
                    (millis / u128::from(*unit_millis), *name)
                });
            write!(f, "{amount}{unit}")?;
        }
        Ok(())
    }
}

/// Units of a schedule item and their length in milliseconds, smallest first.
const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// Parses one schedule item (`position` is 1-based, for the error message).
fn parse_item(position: usize, raw: &str) -> Result<Duration, ScheduleError> {
    let item = raw.trim();
    let err = |kind: fn(usize, String) -> ScheduleError| Err(kind(position, item.to_owned()));
    if item.is_empty() {
        return Err(ScheduleError::EmptyItem { position });
    }
    if item.starts_with('-') {
        return err(|position, item| ScheduleError::Negative { position, item });
    }
    let digits_end = item
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(item.len());
    let (digits, unit) = item.split_at(digits_end);
    if digits.is_empty() {
        return err(|position, item| ScheduleError::InvalidNumber { position, item });
    }
    if unit.starts_with(['.', ',']) {
        return err(|position, item| ScheduleError::Fractional { position, item });
    }
    if unit.is_empty() {
        return err(|position, item| ScheduleError::MissingUnit { position, item });
    }
    let Some(&(_, unit_millis)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(ScheduleError::UnknownUnit {
            position,
            item: item.to_owned(),
            unit: unit.to_owned(),
        });
    };
    // Digits only, so a parse failure is an overflow.
    let millis = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_millis));
    let Some(millis) = millis else {
        return err(|position, item| ScheduleError::TooLong { position, item });
    };
    if millis == 0 {
        return err(|position, item| ScheduleError::Zero { position, item });
    }
    let delay = Duration::from_millis(millis);
    if delay > MAX_SCHEDULE_DELAY {
        return err(|position, item| ScheduleError::TooLong { position, item });
    }
    Ok(delay)
}

/// Why `WEBHOOK_RETRY_SCHEDULE` was refused ([`RetrySchedule::parse`]). Every variant names the
/// offending item by its 1-based position and its text, so the boot error points at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Two commas in a row, or a leading or trailing comma.
    #[error(
        "retry schedule item {position} is empty; expected durations such as 5s,5m,2h separated by single commas"
    )]
    EmptyItem {
        /// 1-based position of the item.
        position: usize,
    },
    /// A leading minus sign.
    #[error("retry schedule item {position} ({item:?}) is negative; delays must be positive")]
    Negative {
        /// 1-based position of the item.
        position: usize,
        /// The item, trimmed.
        item: String,
    },
    /// The value is zero (`0s`, `0ms`).
    #[error("retry schedule item {position} ({item:?}) is zero; delays must be positive")]
    Zero {
        /// 1-based position of the item.
        position: usize,
        /// The item, trimmed.
        item: String,
    },
    /// The item does not start with a digit (`s5`, `+5s`, `abc`).
    #[error(
        "retry schedule item {position} ({item:?}) is not a duration; expected a whole number and a unit, e.g. 500ms, 5s, 5m, 2h, 1d"
    )]
    InvalidNumber {
        /// 1-based position of the item.
        position: usize,
        /// The item, trimmed.
        item: String,
    },
    /// A decimal fraction (`1.5h`).
    #[error(
        "retry schedule item {position} ({item:?}) has a fraction; use a whole number of a smaller unit (e.g. 90m instead of 1.5h)"
    )]
    Fractional {
        /// 1-based position of the item.
        position: usize,
        /// The item, trimmed.
        item: String,
    },
    /// A bare number (`5`).
    #[error(
        "retry schedule item {position} ({item:?}) has no unit; add ms, s, m, h or d (e.g. 5s)"
    )]
    MissingUnit {
        /// 1-based position of the item.
        position: usize,
        /// The item, trimmed.
        item: String,
    },
    /// A unit other than `ms`, `s`, `m`, `h`, `d` (units are lower-case, with no space before).
    #[error(
        "retry schedule item {position} ({item:?}) has unknown unit {unit:?}; use ms, s, m, h or d, lower-case, directly after the number"
    )]
    UnknownUnit {
        /// 1-based position of the item.
        position: usize,
        /// The item, trimmed.
        item: String,
        /// Everything after the number.
        unit: String,
    },
    /// Longer than [`MAX_SCHEDULE_DELAY`] (30 days).
    #[error("retry schedule item {position} ({item:?}) is longer than the 30d maximum")]
    TooLong {
        /// 1-based position of the item.
        position: usize,
        /// The item, trimmed.
        item: String,
    },
    /// More than [`MAX_SCHEDULE_ITEMS`] items.
    #[error("retry schedule has {count} items; at most 100 are allowed")]
    TooManyItems {
        /// How many items the value has.
        count: usize,
    },
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);
    const MINUTE: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn default_string_parses_to_default_schedule() {
        let parsed = RetrySchedule::parse(DEFAULT_RETRY_SCHEDULE).unwrap();
        assert_eq!(parsed, RetrySchedule::default());
        assert_eq!(
            parsed.delays(),
            &[
                5 * SECOND,
                5 * MINUTE,
                30 * MINUTE,
                2 * HOUR,
                5 * HOUR,
                10 * HOUR,
                10 * HOUR
            ]
        );
        assert_eq!(parsed.retries(), 7);
        assert_eq!(parsed.attempts_total(), 8);
        assert_eq!(parsed.total_delay(), 27 * HOUR + 35 * MINUTE + 5 * SECOND);
        assert_eq!(parsed.to_string(), DEFAULT_RETRY_SCHEDULE);
        assert_eq!(
            DEFAULT_RETRY_SCHEDULE.parse::<RetrySchedule>().unwrap(),
            parsed
        );
    }

    #[test]
    fn every_unit_parses() {
        let parsed = RetrySchedule::parse("500ms,5s,3m,2h,1d").unwrap();
        assert_eq!(
            parsed.delays(),
            &[
                Duration::from_millis(500),
                5 * SECOND,
                3 * MINUTE,
                2 * HOUR,
                24 * HOUR
            ]
        );
        assert_eq!(parsed.attempts_total(), 6);
        assert_eq!(parsed.to_string(), "500ms,5s,3m,2h,1d");
        // Display picks the largest exact unit.
        assert_eq!(
            RetrySchedule::parse("1000ms,60s,90m,48h")
                .unwrap()
                .to_string(),
            "1s,1m,90m,2d"
        );
        assert_eq!(
            RetrySchedule::parse("30d").unwrap().delays(),
            &[MAX_SCHEDULE_DELAY]
        );
    }

    #[test]
    fn whitespace_around_items_is_ignored() {
        let parsed = RetrySchedule::parse("  5s , 5m,\t30m ,2h\n").unwrap();
        assert_eq!(
            parsed.delays(),
            &[5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR]
        );
    }

    #[test]
    fn bad_items_are_refused_with_their_position_and_text() {
        use ScheduleError as E;
        let cases: Vec<(&str, ScheduleError)> = vec![
            ("5s,,5m", E::EmptyItem { position: 2 }),
            ("5s,", E::EmptyItem { position: 2 }),
            (",5s", E::EmptyItem { position: 1 }),
            (
                "5s,-5m",
                E::Negative {
                    position: 2,
                    item: "-5m".into(),
                },
            ),
            (
                "0s",
                E::Zero {
                    position: 1,
                    item: "0s".into(),
                },
            ),
            (
                "5s,0ms",
                E::Zero {
                    position: 2,
                    item: "0ms".into(),
                },
            ),
            (
                "abc",
                E::InvalidNumber {
                    position: 1,
                    item: "abc".into(),
                },
            ),
            (
                "+5s",
                E::InvalidNumber {
                    position: 1,
                    item: "+5s".into(),
                },
            ),
            (
                "s5",
                E::InvalidNumber {
                    position: 1,
                    item: "s5".into(),
                },
            ),
            (
                "1.5h",
                E::Fractional {
                    position: 1,
                    item: "1.5h".into(),
                },
            ),
            (
                "5s,5",
                E::MissingUnit {
                    position: 2,
                    item: "5".into(),
                },
            ),
            (
                "5x",
                E::UnknownUnit {
                    position: 1,
                    item: "5x".into(),
                    unit: "x".into(),
                },
            ),
            (
                "5S",
                E::UnknownUnit {
                    position: 1,
                    item: "5S".into(),
                    unit: "S".into(),
                },
            ),
            (
                "5 s",
                E::UnknownUnit {
                    position: 1,
                    item: "5 s".into(),
                    unit: " s".into(),
                },
            ),
            (
                "5sec",
                E::UnknownUnit {
                    position: 1,
                    item: "5sec".into(),
                    unit: "sec".into(),
                },
            ),
            (
                "31d",
                E::TooLong {
                    position: 1,
                    item: "31d".into(),
                },
            ),
            (
                "99999999999999999999s",
                E::TooLong {
                    position: 1,
                    item: "99999999999999999999s".into(),
                },
            ),
            (
                "18446744073709551615d",
                E::TooLong {
                    position: 1,
                    item: "18446744073709551615d".into(),
                },
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(RetrySchedule::parse(value), Err(expected), "{value:?}");
        }
        let too_many = vec!["1s"; MAX_SCHEDULE_ITEMS + 1].join(",");
        assert_eq!(
            RetrySchedule::parse(&too_many),
            Err(E::TooManyItems { count: 101 })
        );
        assert!(RetrySchedule::parse(&vec!["1s"; MAX_SCHEDULE_ITEMS].join(",")).is_ok());
    }

    #[test]
    fn error_messages_name_the_bad_item_and_the_rule() {
        let message = RetrySchedule::parse("5s, 5x ,2h").unwrap_err().to_string();
        assert!(message.contains("item 2"), "{message}");
        assert!(message.contains("\"5x\""), "{message}");
        assert!(message.contains("ms, s, m, h or d"), "{message}");
        let message = RetrySchedule::parse("0s").unwrap_err().to_string();
        assert!(
            message.contains("\"0s\"") && message.contains("positive"),
            "{message}"
        );
        let message = RetrySchedule::parse("5s,,5m").unwrap_err().to_string();
        assert!(
            message.contains("item 2") && message.contains("empty"),
            "{message}"
        );
    }
}
