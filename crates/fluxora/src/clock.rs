//! Wall-clock access in the units the service uses: unix seconds for stream times (the
//! contract's time unit: ledger close times are whole unix seconds) and milliseconds for record
//! timestamps.

use chrono::{DateTime, SecondsFormat, Utc};

/// Current unix time in whole seconds (the contract's time unit). A clock set before 1970 reads 0.
pub fn now_unix() -> u64 {
    u64::try_from(Utc::now().timestamp()).unwrap_or(0)
}

/// Current unix time in milliseconds, as stored in `created_at`/`updated_at` columns.
pub fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

/// Formats unix milliseconds as RFC 3339 UTC with millisecond precision and a `Z` suffix,
/// e.g. `2026-11-29T08:08:05.123Z` (the format of `createdAt`, `updatedAt` and `/health`).
pub fn format_millis(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}
