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

/// Last unix millisecond of the year 9999 (`9999-12-31T23:59:59.999Z`): up to here
/// [`write_millis`] formats by hand.
const LAST_FOUR_DIGIT_YEAR_MILLIS: i64 = 253_402_300_799_999;

/// Appends [`format_millis`]`(millis)` to `out`, byte for byte, without building a `String`:
/// times from 1970 to the year 9999 are formatted here (the civil date from the day count, as
/// in Howard Hinnant's `civil_from_days`), any other falls back to [`format_millis`].
pub fn write_millis(millis: i64, out: &mut Vec<u8>) {
    if !(0..=LAST_FOUR_DIGIT_YEAR_MILLIS).contains(&millis) {
        out.extend_from_slice(format_millis(millis).as_bytes());
        return;
    }
    let days = millis / 86_400_000;
    let in_day = millis % 86_400_000;
    // Days since 0000-03-01 in 400-year eras (all positive here).
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Every field is non-negative and below 10^width here; the divisions are by constants.
    let digit = |value: i64| b'0' + (value % 10) as u8;
    let two = |value: i64| [digit(value / 10), digit(value)];
    let [y0, y1] = two(year / 100);
    let [y2, y3] = two(year % 100);
    let [mo0, mo1] = two(month);
    let [d0, d1] = two(day);
    let [h0, h1] = two(in_day / 3_600_000);
    let [mi0, mi1] = two(in_day / 60_000 % 60);
    let [s0, s1] = two(in_day / 1_000 % 60);
    let ms = in_day % 1_000;
    out.extend_from_slice(&[
        y0,
        y1,
        y2,
        y3,
        b'-',
        mo0,
        mo1,
        b'-',
        d0,
        d1,
        b'T',
        h0,
        h1,
        b':',
        mi0,
        mi1,
        b':',
        s0,
        s1,
        b'.',
        digit(ms / 100),
        digit(ms / 10),
        digit(ms),
        b'Z',
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand formatter writes what chrono writes: the epoch, leap days, month and year ends,
    /// the last four-digit-year millisecond, the fallbacks either side, and a spread of instants.
    #[test]
    fn write_millis_matches_format_millis() {
        let mut instants = vec![
            0,
            1,
            999,
            86_399_999,
            951_782_400_000,   // 2000-02-29
            4_107_542_400_000, // 2100-02-28
            4_107_628_800_000, // 2100-03-01
            1_798_761_599_999, // 2026-12-31T23:59:59.999
            LAST_FOUR_DIGIT_YEAR_MILLIS,
            LAST_FOUR_DIGIT_YEAR_MILLIS + 1,
            -1,
            i64::MIN,
            i64::MAX,
        ];
        let mut state: u64 = 1;
        for _ in 0..20_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            instants.push((state >> 16) as i64 % (LAST_FOUR_DIGIT_YEAR_MILLIS + 1));
        }
        for millis in instants {
            let mut out = Vec::new();
            write_millis(millis, &mut out);
            assert_eq!(
                String::from_utf8(out).ok(),
                Some(format_millis(millis)),
                "{millis}"
            );
        }
    }
}
