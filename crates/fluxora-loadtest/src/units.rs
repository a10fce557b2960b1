//! Parsing of the command line's durations (`30s`, `500ms`, `2m`) and rates (`500`, `500/s`,
//! `1200/m`), and the millisecond conversions used by the reports.

use std::time::Duration;

/// Parses a duration: a non-negative decimal number followed by a unit (`us`, `ms`, `s`, `m`,
/// `h`); a bare number is seconds. `"30s"`, `"1.5s"`, `"500ms"`, `"2m"`, `"20m"`, `"10"`.
///
/// Errors: a message naming the accepted forms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let seconds_per_unit = match unit.trim() {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "" | "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown duration unit {other:?} in {text:?} (use us, ms, s, m or h: \"30s\", \"500ms\", \"2m\")"
            ))
        }
    };
    let value = parse_number(number)
        .ok_or_else(|| format!("{text:?} is not a duration (e.g. \"30s\", \"500ms\", \"2m\")"))?;
    Duration::try_from_secs_f64(value * seconds_per_unit)
        .map_err(|_| format!("{text:?} is out of range"))
}

/// Parses a request rate in requests per second: `"500"`, `"500/s"`, `"1.5/s"`, `"1200/m"`
/// (per minute). The rate must be positive.
///
/// Errors: a message naming the accepted forms.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let (number, per_seconds) = match text.split_once('/') {
        None => (text, 1.0),
        Some((number, "s" | "sec")) => (number, 1.0),
        Some((number, "m" | "min")) => (number, 60.0),
        Some((_, unit)) => {
            return Err(format!(
                "unknown rate unit {unit:?} in {text:?} (use \"500\", \"500/s\" or \"1200/m\")"
            ))
        }
    };
    match parse_number(number.trim()) {
        Some(value) if value > 0.0 => Ok(value / per_seconds),
        _ => Err(format!(
            "{text:?} is not a positive rate (e.g. \"500/s\", \"1200/m\")"
        )),
    }
}

/// A finite, non-negative decimal number (`"12"`, `"0.5"`); no sign, exponent or spaces.
fn parse_number(text: &str) -> Option<f64> {
    let valid = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_digit() || c == '.')
        && text.chars().filter(|&c| c == '.').count() <= 1
        && text.chars().any(|c| c.is_ascii_digit());
    if !valid {
        return None;
    }
    text.parse::<f64>().ok().filter(|value| value.is_finite())
}

/// A duration in milliseconds, as a float (for reports).
pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// A short human form of a duration: `"250 ms"`, `"1.5 s"`, `"20 min"`.
pub fn human(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds < 1.0 {
        format!("{} ms", trim_float(seconds * 1e3))
    } else if seconds < 120.0 {
        format!("{} s", trim_float(seconds))
    } else {
        format!("{} min", trim_float(seconds / 60.0))
    }
}

/// `1.50` → `"1.5"`, `2.0` → `"2"`: at most 3 decimals, trailing zeros removed.
pub fn trim_float(value: f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() || text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_the_usual_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("20min"), Ok(Duration::from_secs(1200)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn durations_refuse_garbage() {
        for text in ["", "s", "-1s", "1e3s", "1..2s", "3 days", "10x", "1,5s"] {
            assert!(parse_duration(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn rates_are_per_second() {
        assert_eq!(parse_rate("500"), Ok(500.0));
        assert_eq!(parse_rate("500/s"), Ok(500.0));
        assert_eq!(parse_rate("1.5/s"), Ok(1.5));
        assert_eq!(parse_rate("1200/m"), Ok(20.0));
        assert_eq!(parse_rate("30/min"), Ok(0.5));
    }

    #[test]
    fn rates_must_be_positive_numbers() {
        for text in ["0", "0/s", "-5", "abc", "5/h", "", "/s", "1e3"] {
            assert!(parse_rate(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn human_forms() {
        assert_eq!(human(Duration::from_millis(250)), "250 ms");
        assert_eq!(human(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human(Duration::from_secs(1200)), "20 min");
        assert_eq!(trim_float(2.0), "2");
        assert_eq!(trim_float(0.1234), "0.123");
        assert!((millis(Duration::from_micros(1500)) - 1.5).abs() < 1e-12);
    }
}
