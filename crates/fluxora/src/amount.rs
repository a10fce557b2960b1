//! Exact token amounts: decimal strings ↔ integer stroops (the API's field codes are listed in
//! `docs/api.md`, "Field codes").
//!
//! Every amount the API accepts or returns (`depositAmount`, `ratePerSecond`, `withdrawnAmount`,
//! `streamedAmount`, `remainingAmount`, …) is a JSON **string** holding a plain decimal number with at
//! most 7 fractional digits (Stellar assets have 7 decimals). Internally it is an integer number of
//! stroops (1 unit = 10⁷ stroops) held in an `i128`, exactly like the Soroban contract, so no value
//! ever passes through a float.
//!
//! Input rules:
//! - a value must match `^[0-9]+(\.[0-9]+)?$` (ASCII digits only, no sign, exponent, separators,
//!   or surrounding/inner spaces); leading zeros are accepted and dropped on output
//!   (`"0100.5"` → `"100.5000000"`);
//! - missing, `null`, `""` or whitespace-only → [`DecimalError::Empty`] (`DECIMAL_EMPTY_VALUE`);
//! - a JSON number, boolean, array or object → [`DecimalError::InvalidType`]
//!   (`DECIMAL_INVALID_TYPE`), even when the number is exact;
//! - any other malformed string → [`DecimalError::InvalidFormat`] (`DECIMAL_INVALID_FORMAT`);
//! - more than 7 fractional digits (even zeros) or more stroops than `i128::MAX` →
//!   [`DecimalError::OutOfRange`] (`DECIMAL_OUT_OF_RANGE`).
//!
//! Semantic checks (a deposit must be `> 0`, …) belong to the domain layer, not to this module:
//! `"0"` parses to [`Amount::ZERO`].
//!
//! Output is always the canonical form with exactly 7 fractional digits (`"100.5000000"`,
//! `"0.0000001"`, `"-1.0000000"`), so `Amount::parse(&a.to_string()) == Ok(a)` for every
//! non-negative `a`.
//!
//! Error messages never echo the raw input (it may be arbitrarily large or sensitive); they
//! describe what is expected instead.

use std::fmt;
use std::str::FromStr;

/// A token amount in stroops (1 unit = 10⁷ stroops), held in an `i128` like the contract.
///
/// Built from a decimal string with [`Amount::parse`] / [`Amount::from_json`] (the module's input
/// rules) or from a raw stroop count with [`Amount::from_stroops`]. Displays and serializes as a
/// decimal string with exactly 7 fractional digits. Ordering and equality are those of the stroop
/// count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(i128);

impl Amount {
    /// Number of fractional decimal digits of every supported asset (Stellar: 7).
    pub const DECIMALS: u32 = 7;
    /// Stroops in one whole unit: 10^[`Amount::DECIMALS`] = 10 000 000.
    pub const STROOPS_PER_UNIT: i128 = 10_000_000;
    /// Zero stroops (`"0.0000000"`).
    pub const ZERO: Amount = Amount(0);
    /// The largest representable amount: `i128::MAX` stroops
    /// (`"17014118346046923173168730371588.4105727"`), the contract's upper bound.
    pub const MAX: Amount = Amount(i128::MAX);
    /// The smallest representable amount: `i128::MIN` stroops. Never produced by parsing (inputs
    /// are unsigned); it exists for arithmetic on values read from the chain or the store.
    pub const MIN: Amount = Amount(i128::MIN);

    /// Wraps a raw stroop count (e.g. an `i128` from a contract event or a database column).
    #[must_use]
    pub const fn from_stroops(stroops: i128) -> Self {
        Amount(stroops)
    }

    /// The amount as a raw stroop count (1 unit = 10⁷ stroops).
    #[must_use]
    pub const fn stroops(self) -> i128 {
        self.0
    }

    /// Parses a decimal string per the module's input rules.
    ///
    /// Accepts `^[0-9]+(\.[0-9]+)?$` with at most 7 fractional digits and at most `i128::MAX`
    /// stroops; leading zeros are allowed. Never panics, whatever the input length.
    ///
    /// # Errors
    /// - [`DecimalError::Empty`]: `""` or whitespace only;
    /// - [`DecimalError::InvalidFormat`]: anything else that is not a plain unsigned decimal
    ///   (`"+5"`, `"-5"`, `"1e5"`, `".5"`, `"5."`, `"1,000"`, `"NaN"`, `"0x10"`, `" 5"`,
    ///   `"1 000"`, non-ASCII digits such as `"１２"`);
    /// - [`DecimalError::OutOfRange`] with [`OutOfRangeReason::TooManyDecimals`]: more than 7
    ///   fractional digits, even if they are zeros (`"1.00000000"`);
    /// - [`DecimalError::OutOfRange`] with [`OutOfRangeReason::TooLarge`]: more than `i128::MAX`
    ///   stroops.
    pub fn parse(s: &str) -> Result<Amount, DecimalError> {
        if s.trim().is_empty() {
            return Err(DecimalError::Empty);
        }
        let (int_part, frac_part) = match s.split_once('.') {
            Some((int_part, frac_part)) => (int_part, Some(frac_part)),
            None => (s, None),
        };
        if !is_ascii_digits(int_part) {
            return Err(DecimalError::InvalidFormat);
        }
        if let Some(frac) = frac_part {
            // Also rejects a second '.', since '.' is not a digit.
            if !is_ascii_digits(frac) {
                return Err(DecimalError::InvalidFormat);
            }
        }
        let frac = frac_part.unwrap_or("");
        if frac.len() > Self::DECIMALS as usize {
            return Err(DecimalError::OutOfRange(OutOfRangeReason::TooManyDecimals));
        }

        let too_large = DecimalError::OutOfRange(OutOfRangeReason::TooLarge);
        let mut whole: i128 = 0;
        for digit in int_part.bytes() {
            whole = whole
                .checked_mul(10)
                .and_then(|w| w.checked_add(i128::from(digit - b'0')))
                .ok_or_else(|| too_large.clone())?;
        }
        // `frac` has at most 7 digits, so this cannot overflow; right-pad it to 7 digits.
        let mut fraction: i128 = 0;
        for digit in frac.bytes() {
            fraction = fraction * 10 + i128::from(digit - b'0');
        }
        for _ in frac.len()..Self::DECIMALS as usize {
            fraction *= 10;
        }
        whole
            .checked_mul(Self::STROOPS_PER_UNIT)
            .and_then(|w| w.checked_add(fraction))
            .map(Amount)
            .ok_or(too_large)
    }

    /// Parses a JSON request-body field per the module's input rules; `None` means the field is
    /// absent.
    ///
    /// # Errors
    /// - [`DecimalError::Empty`]: absent, `null`, `""` or whitespace-only string;
    /// - [`DecimalError::InvalidType`]: a JSON number (even an exact one such as `100`), boolean,
    ///   array or object;
    /// - otherwise whatever [`Amount::parse`] returns for the string.
    pub fn from_json(value: Option<&serde_json::Value>) -> Result<Amount, DecimalError> {
        match value {
            None | Some(serde_json::Value::Null) => Err(DecimalError::Empty),
            Some(serde_json::Value::String(s)) => Amount::parse(s),
            Some(
                serde_json::Value::Number(_)
                | serde_json::Value::Bool(_)
                | serde_json::Value::Array(_)
                | serde_json::Value::Object(_),
            ) => Err(DecimalError::InvalidType),
        }
    }

    /// `true` if the amount is strictly greater than zero stroops.
    #[must_use]
    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// `true` if the amount is exactly zero stroops.
    #[must_use]
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `true` if the amount is strictly less than zero stroops.
    #[must_use]
    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Sum of two amounts, or `None` if it would overflow `i128` stroops.
    #[must_use]
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// Difference of two amounts, or `None` if it would overflow `i128` stroops.
    #[must_use]
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }
}

/// `true` if `s` is non-empty and made only of ASCII digits `0`–`9`.
fn is_ascii_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl Amount {
    /// Hands `write` the canonical decimal form (see the `Display` impl), built on the stack:
    /// every response carries several amounts, so this avoids the formatting machinery and,
    /// for every amount below 2⁶⁴ stroops, 128-bit division.
    fn with_text<R>(&self, write: impl FnOnce(&str) -> R) -> R {
        const PER_UNIT: u128 = Amount::STROOPS_PER_UNIT.unsigned_abs();
        let magnitude = self.0.unsigned_abs();
        let mut whole_digits = itoa::Buffer::new();
        let (whole, fraction) = match u64::try_from(magnitude) {
            Ok(small) => {
                let per_unit = PER_UNIT as u64;
                (whole_digits.format(small / per_unit), small % per_unit)
            }
            // The remainder is below 10⁷, so it always fits.
            Err(_) => (
                whole_digits.format(magnitude / PER_UNIT),
                (magnitude % PER_UNIT) as u64,
            ),
        };
        // 10⁷ + fraction has exactly 8 digits: its last 7 are the zero-padded fraction.
        let mut fraction_digits = itoa::Buffer::new();
        let fraction = &fraction_digits.format(PER_UNIT as u64 + fraction)[1..];
        // "-" + at most 39 digits of an i128 + "." + 7 digits.
        let mut text = [0u8; 48];
        let mut len = 0;
        let sign: &[u8] = if self.0 < 0 { b"-" } else { b"" };
        for part in [sign, whole.as_bytes(), b".", fraction.as_bytes()] {
            text[len..len + part.len()].copy_from_slice(part);
            len += part.len();
        }
        // ASCII digits, a sign and a dot only; the fallback is unreachable.
        write(std::str::from_utf8(&text[..len]).unwrap_or_default())
    }
}

impl Amount {
    /// Appends the amount as a JSON string (`"100.5000000"`) to `out`: the bytes its
    /// `Serialize` impl writes with `serde_json`.
    pub fn write_json(self, out: &mut Vec<u8>) {
        self.with_text(|text| {
            out.push(b'"');
            out.extend_from_slice(text.as_bytes());
            out.push(b'"');
        });
    }
}

impl fmt::Display for Amount {
    /// Canonical decimal form with exactly 7 fractional digits and no leading zeros in the
    /// integer part: `"100.5000000"`, `"0.0000001"`, `"-1.0000000"`. Total for every `i128`
    /// (including `i128::MIN`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_text(|text| f.write_str(text))
    }
}

impl FromStr for Amount {
    type Err = DecimalError;

    /// Same as [`Amount::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Amount::parse(s)
    }
}

impl serde::Serialize for Amount {
    /// Serializes as the [`Display`](fmt::Display) string (exactly 7 fractional digits).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.with_text(|text| serializer.serialize_str(text))
    }
}

/// `^[0-9]+\.[0-9]{7}$`: how every amount appears in responses (always exactly 7 fractional
/// digits).
pub const AMOUNT_OUTPUT_PATTERN: &str = r"^[0-9]+\.[0-9]{7}$";

impl utoipa::PartialSchema for Amount {
    /// A string matching [`AMOUNT_OUTPUT_PATTERN`] (the OpenAPI `Amount` schema).
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(AMOUNT_OUTPUT_PATTERN))
            .description(Some(
                "A decimal amount as a string with exactly 7 fractional digits (1 unit = 10^7 \
                 stroops).",
            ))
            .examples([serde_json::json!("1000.0000000")])
            .into()
    }
}

impl utoipa::ToSchema for Amount {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Amount")
    }
}

impl<'de> serde::Deserialize<'de> for Amount {
    /// Accepts only a string, parsed with [`Amount::parse`]; numbers and other types are refused
    /// (`DECIMAL_INVALID_TYPE`). For HTTP bodies prefer [`Amount::from_json`], which keeps the
    /// per-field error code; this impl is for trusted sources (stored rows, configuration, tests).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AmountVisitor;

        impl serde::de::Visitor<'_> for AmountVisitor {
            type Value = Amount;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal string with at most 7 fractional digits, such as \"100.5\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Amount, E> {
                Amount::parse(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(AmountVisitor)
    }
}

/// Why a syntactically valid decimal is out of range (`DECIMAL_OUT_OF_RANGE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutOfRangeReason {
    /// More than 7 fractional digits (even trailing zeros: `"1.00000000"`).
    TooManyDecimals,
    /// More stroops than the contract's `i128` can hold (`> i128::MAX` stroops).
    TooLarge,
}

impl fmt::Display for OutOfRangeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutOfRangeReason::TooManyDecimals => "more than 7 fractional digits",
            OutOfRangeReason::TooLarge => "larger than the maximum of i128::MAX stroops",
        })
    }
}

/// Why a value is not an acceptable amount (the module's input rules). Carries no copy of the
/// input.
///
/// [`DecimalError::code`] gives the stable per-field code for the error envelope's `details`
/// (`docs/api.md`, "Field codes"); [`DecimalError::message`] gives a human message naming the
/// field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// Missing where required, `null`, `""` or whitespace only (`DECIMAL_EMPTY_VALUE`).
    #[error("value is empty; expected a decimal string such as \"100.5\"")]
    Empty,
    /// A JSON number, boolean, array or object instead of a string (`DECIMAL_INVALID_TYPE`).
    #[error("value must be a decimal string such as \"100.5\"; JSON numbers are not accepted")]
    InvalidType,
    /// A string that is not a plain unsigned decimal (`DECIMAL_INVALID_FORMAT`).
    #[error(
        "value is not a plain decimal: expected ASCII digits with an optional fractional part, \
         such as \"100.5\""
    )]
    InvalidFormat,
    /// Too many fractional digits or too large for `i128` stroops (`DECIMAL_OUT_OF_RANGE`).
    #[error("value is out of range: {0}")]
    OutOfRange(OutOfRangeReason),
}

impl DecimalError {
    /// Stable error code for the field-error `details` of a 400 `VALIDATION_ERROR`:
    /// `"DECIMAL_EMPTY_VALUE"`, `"DECIMAL_INVALID_TYPE"`, `"DECIMAL_INVALID_FORMAT"` or
    /// `"DECIMAL_OUT_OF_RANGE"`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            DecimalError::Empty => "DECIMAL_EMPTY_VALUE",
            DecimalError::InvalidType => "DECIMAL_INVALID_TYPE",
            DecimalError::InvalidFormat => "DECIMAL_INVALID_FORMAT",
            DecimalError::OutOfRange(_) => "DECIMAL_OUT_OF_RANGE",
        }
    }

    /// Human-readable message naming `field` (e.g. `"depositAmount"`), saying what is expected.
    /// Never contains the rejected value.
    #[must_use]
    pub fn message(&self, field: &str) -> String {
        match self {
            DecimalError::Empty => format!(
                "{field} is required and must be a non-empty decimal string such as \"100.5\""
            ),
            DecimalError::InvalidType => format!(
                "{field} must be a decimal string such as \"100.5\"; JSON numbers are not accepted"
            ),
            DecimalError::InvalidFormat => format!(
                "{field} must be a plain decimal string of ASCII digits with an optional \
                 fractional part, such as \"100.5\" (no sign, exponent, thousands separators \
                 or spaces)"
            ),
            DecimalError::OutOfRange(OutOfRangeReason::TooManyDecimals) => format!(
                "{field} has more than 7 fractional digits; amounts have at most 7 decimals \
                 (the smallest unit is 0.0000001)"
            ),
            DecimalError::OutOfRange(OutOfRangeReason::TooLarge) => format!(
                "{field} is too large; the maximum is {} (i128::MAX stroops)",
                Amount::MAX
            ),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const I128_MAX_STR: &str = "17014118346046923173168730371588.4105727";
    const I128_MAX_PLUS_ONE_STR: &str = "17014118346046923173168730371588.4105728";

    fn p(s: &str) -> Result<Amount, DecimalError> {
        Amount::parse(s)
    }

    fn stroops(s: &str) -> i128 {
        p(s).unwrap().stroops()
    }

    const TOO_MANY: DecimalError = DecimalError::OutOfRange(OutOfRangeReason::TooManyDecimals);
    const TOO_LARGE: DecimalError = DecimalError::OutOfRange(OutOfRangeReason::TooLarge);

    #[test]
    fn constants() {
        assert_eq!(Amount::STROOPS_PER_UNIT, 10_i128.pow(Amount::DECIMALS));
        assert_eq!(Amount::ZERO.stroops(), 0);
        assert_eq!(Amount::default(), Amount::ZERO);
        assert_eq!(Amount::MAX.stroops(), i128::MAX);
        assert_eq!(Amount::from_stroops(42).stroops(), 42);
    }

    #[test]
    fn parses_plain_decimals() {
        assert_eq!(stroops("1"), 10_000_000);
        assert_eq!(stroops("100.5"), 1_005_000_000);
        assert_eq!(stroops("0.0000001"), 1);
        assert_eq!(stroops("0.1"), 1_000_000);
        assert_eq!(stroops("1.2345678"), 12_345_678);
        assert_eq!(stroops("1000"), 10_000_000_000);
        assert_eq!(stroops("0"), 0);
        assert_eq!(stroops("0.0"), 0);
        assert_eq!(stroops("0.0000000"), 0);
    }

    #[test]
    fn seven_vs_eight_fractional_digits() {
        assert_eq!(stroops("1.0000000"), 10_000_000);
        assert_eq!(stroops("1.9999999"), 19_999_999);
        assert_eq!(p("1.00000000"), Err(TOO_MANY));
        assert_eq!(p("1.00000001"), Err(TOO_MANY));
        assert_eq!(p("0.12345678"), Err(TOO_MANY));
        assert_eq!(
            p("0.000000000000000000000000000000000000000000001"),
            Err(TOO_MANY)
        );
    }

    #[test]
    fn leading_zeros_are_accepted_and_dropped() {
        assert_eq!(p("0100.5").unwrap().to_string(), "100.5000000");
        assert_eq!(
            stroops("000000000000000000000000000000000000000001"),
            10_000_000
        );
        assert_eq!(stroops("00.0000001"), 1);
        let many_zeros = format!("{}{}", "0".repeat(10_000), "7.5");
        assert_eq!(stroops(&many_zeros), 75_000_000);
    }

    #[test]
    fn i128_bound_both_sides() {
        assert_eq!(p(I128_MAX_STR), Ok(Amount::MAX));
        assert_eq!(Amount::MAX.to_string(), I128_MAX_STR);
        assert_eq!(p(I128_MAX_PLUS_ONE_STR), Err(TOO_LARGE));
        assert_eq!(p("17014118346046923173168730371589"), Err(TOO_LARGE));
        assert_eq!(
            stroops("17014118346046923173168730371588"),
            i128::MAX - 4_105_727
        );
        assert_eq!(
            p("99999999999999999999999999999999999999999"),
            Err(TOO_LARGE)
        );
        // Too many decimals wins over size: the fraction rule is checked first.
        assert_eq!(p("17014118346046923173168730371.5884105727"), Err(TOO_MANY));
        // Arbitrarily long inputs never panic.
        assert_eq!(p(&"9".repeat(100_000)), Err(TOO_LARGE));
        assert_eq!(p(&format!("{}.5", "1".repeat(100_000))), Err(TOO_LARGE));
    }

    #[test]
    fn empty_and_whitespace() {
        for s in [
            "", " ", "   ", "\t", "\n", "\r\n", " \t \n", "\u{00a0}", "\u{3000}",
        ] {
            assert_eq!(p(s), Err(DecimalError::Empty), "{s:?}");
        }
    }

    #[test]
    fn invalid_formats() {
        for s in [
            "+5", "-5", "-0", "+0.5", "1e5", "1E5", "1.5e3", ".5", "5.", ".", "..", "1..5",
            "1.2.3", "1,000", "1,5", "NaN", "nan", "inf", "Infinity", "0x10", "0b1", " 5", "5 ",
            " 5 ", "1 000", "1_000", "\t5", "5\n", "１２", "１.５", "٣", "5\u{0}", "abc", "5a",
            "\"5\"", "'5'", "5%", "$5",
        ] {
            assert_eq!(p(s), Err(DecimalError::InvalidFormat), "{s:?}");
        }
        // Format errors take precedence over range errors.
        assert_eq!(p("-1.00000000"), Err(DecimalError::InvalidFormat));
        assert_eq!(p("1.000000000x"), Err(DecimalError::InvalidFormat));
    }

    #[test]
    fn from_json_types() {
        assert_eq!(Amount::from_json(None), Err(DecimalError::Empty));
        assert_eq!(
            Amount::from_json(Some(&json!(null))),
            Err(DecimalError::Empty)
        );
        assert_eq!(
            Amount::from_json(Some(&json!(""))),
            Err(DecimalError::Empty)
        );
        assert_eq!(
            Amount::from_json(Some(&json!("  \t"))),
            Err(DecimalError::Empty)
        );
        for v in [
            json!(100),
            json!(0),
            json!(-5),
            json!(100.5),
            json!(1e5),
            json!(u64::MAX),
            json!(true),
            json!(false),
            json!([]),
            json!(["100.5"]),
            json!({}),
            json!({"amount": "100.5"}),
        ] {
            assert_eq!(
                Amount::from_json(Some(&v)),
                Err(DecimalError::InvalidType),
                "{v}"
            );
        }
        assert_eq!(
            Amount::from_json(Some(&json!("100.5"))).unwrap().stroops(),
            1_005_000_000
        );
        assert_eq!(
            Amount::from_json(Some(&json!("1e5"))),
            Err(DecimalError::InvalidFormat)
        );
        assert_eq!(
            Amount::from_json(Some(&json!(" 5"))),
            Err(DecimalError::InvalidFormat)
        );
        assert_eq!(Amount::from_json(Some(&json!("1.00000000"))), Err(TOO_MANY));
        assert_eq!(
            Amount::from_json(Some(&json!(I128_MAX_PLUS_ONE_STR))),
            Err(TOO_LARGE)
        );
    }

    #[test]
    fn from_json_inside_a_body() {
        let body: serde_json::Value =
            serde_json::from_str(r#"{"depositAmount": 100, "ratePerSecond": "0.001"}"#).unwrap();
        assert_eq!(
            Amount::from_json(body.get("depositAmount")),
            Err(DecimalError::InvalidType)
        );
        assert_eq!(
            Amount::from_json(body.get("ratePerSecond"))
                .unwrap()
                .stroops(),
            10_000
        );
        assert_eq!(
            Amount::from_json(body.get("missing")),
            Err(DecimalError::Empty)
        );
    }

    #[test]
    fn codes() {
        assert_eq!(DecimalError::Empty.code(), "DECIMAL_EMPTY_VALUE");
        assert_eq!(DecimalError::InvalidType.code(), "DECIMAL_INVALID_TYPE");
        assert_eq!(DecimalError::InvalidFormat.code(), "DECIMAL_INVALID_FORMAT");
        assert_eq!(TOO_MANY.code(), "DECIMAL_OUT_OF_RANGE");
        assert_eq!(TOO_LARGE.code(), "DECIMAL_OUT_OF_RANGE");
    }

    #[test]
    fn messages_name_the_field_and_do_not_echo_input() {
        assert_eq!(
            DecimalError::InvalidType.message("depositAmount"),
            "depositAmount must be a decimal string such as \"100.5\"; JSON numbers are not accepted"
        );
        let huge = "9".repeat(500);
        let err = p(&huge).unwrap_err();
        for e in [
            DecimalError::Empty,
            DecimalError::InvalidType,
            DecimalError::InvalidFormat,
            TOO_MANY,
            TOO_LARGE,
        ] {
            let m = e.message("ratePerSecond");
            assert!(m.starts_with("ratePerSecond "), "{m}");
            assert!(!e.to_string().is_empty());
        }
        assert!(!err.message("depositAmount").contains(&huge));
        assert!(!err.to_string().contains(&huge));
        assert!(!format!("{err:?}").contains(&huge));
        assert!(TOO_MANY.message("x").contains('7'));
        assert!(TOO_LARGE.message("x").contains(I128_MAX_STR));
    }

    #[test]
    fn display() {
        let cases: [(i128, &str); 15] = [
            (0, "0.0000000"),
            // Either side of 2⁶⁴ stroops, where the 64-bit fast path ends.
            (u64::MAX as i128, "1844674407370.9551615"),
            (u64::MAX as i128 + 1, "1844674407370.9551616"),
            (-(u64::MAX as i128), "-1844674407370.9551615"),
            (-(u64::MAX as i128) - 1, "-1844674407370.9551616"),
            (1, "0.0000001"),
            (10, "0.0000010"),
            (9_999_999, "0.9999999"),
            (10_000_000, "1.0000000"),
            (1_005_000_000, "100.5000000"),
            (12_345_678, "1.2345678"),
            (-1, "-0.0000001"),
            (-10_000_000, "-1.0000000"),
            (i128::MAX, I128_MAX_STR),
            (i128::MIN, "-17014118346046923173168730371588.4105728"),
        ];
        for (stroops, text) in cases {
            assert_eq!(Amount::from_stroops(stroops).to_string(), text);
            let json = serde_json::to_string(&Amount::from_stroops(stroops)).unwrap();
            assert_eq!(json, format!("\"{text}\""));
        }
    }

    #[test]
    fn round_trip() {
        let values = [
            0,
            1,
            9,
            10,
            999_999,
            9_999_999,
            10_000_000,
            10_000_001,
            123_456_789_012_345,
            i128::from(i64::MAX),
            i128::from(u64::MAX),
            i128::MAX / 3,
            i128::MAX - 1,
            i128::MAX,
        ];
        for s in values {
            let a = Amount::from_stroops(s);
            assert_eq!(Amount::parse(&a.to_string()), Ok(a), "{s}");
            assert_eq!(a.to_string().parse::<Amount>(), Ok(a));
        }
    }

    #[test]
    fn predicates_and_checked_arithmetic() {
        let one = Amount::from_stroops(1);
        assert!(one.is_positive());
        assert!(!Amount::ZERO.is_positive());
        assert!(Amount::ZERO.is_zero());
        assert!(!Amount::from_stroops(-1).is_positive());
        assert!(Amount::from_stroops(-1).is_negative());
        assert_eq!(one.checked_add(one), Some(Amount::from_stroops(2)));
        assert_eq!(Amount::MAX.checked_add(one), None);
        assert_eq!(one.checked_sub(one), Some(Amount::ZERO));
        assert_eq!(Amount::MIN.checked_sub(one), None);
        assert_eq!(
            Amount::ZERO.checked_sub(one),
            Some(Amount::from_stroops(-1))
        );
        assert!(Amount::from_stroops(1) < Amount::from_stroops(2));
    }

    #[test]
    fn serde() {
        let a = p("100.5").unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"100.5000000\"");
        assert_eq!(
            serde_json::to_value(Amount::MAX).unwrap(),
            json!(I128_MAX_STR)
        );
        let back: Amount = serde_json::from_str("\"0100.5\"").unwrap();
        assert_eq!(back, a);
        assert!(serde_json::from_str::<Amount>("100.5").is_err());
        assert!(serde_json::from_str::<Amount>("\"1e5\"").is_err());
        assert!(serde_json::from_str::<Amount>("null").is_err());
    }
}
