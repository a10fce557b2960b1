//! Parsing and validation of `POST /api/streams` bodies (the rules for clients: `docs/api.md`,
//! "Create rules" and "Field codes").
//!
//! The body is described once, as [`NEW_STREAM`] (which the OpenAPI document renders), and read
//! field by field with [`crate::fields::FieldReader`] so that one 400 lists every failing field;
//! unknown fields are refused so that typos do not pass silently. The contract's `create_stream`
//! rules are then applied to the parsed values: deposit > 0, rate > 0, sender ≠ recipient,
//! start < end, start ≤ cliff ≤ end, deposit ≥ rate × (end − start). Unlike the contract, a
//! start in the past is allowed (records of streams already running).

use serde_json::Value;

use crate::address::StellarAddress;
use crate::amount::Amount;
use crate::fields::{
    BodySpec, FieldReader, FieldSpec, Format, Integer, Shape, Text, UnknownFields,
};
use crate::streams::accrual::AccrualSchedule;
use crate::streams::MAX_UNIX_TIME;
use crate::validation::{FieldError, ValidationErrors};

/// Field code: a time that is not a non-negative integer of unix seconds.
pub const TIME_INVALID: &str = "TIME_INVALID";
/// Field code: a time beyond [`MAX_UNIX_TIME`].
pub const TIME_OUT_OF_RANGE: &str = "TIME_OUT_OF_RANGE";
/// Field code for values that parse but break a rule (a zero deposit, an end before the start):
/// `VALIDATION_ERROR`, with a message naming the rule.
pub const SEMANTIC: &str = "VALIDATION_ERROR";

/// The amount strings a create body accepts: a positive decimal with 1–7 fractional digits
/// (`"1"`, `"0.5"`, `"0.0000001"`, `"007"`), i.e. what [`Amount::parse`] accepts that is above
/// zero: the integer part has a non-zero digit, or the fraction has one within its 7 digits.
/// Only the i128 range (at most `17014118346046923173168730371588.4105727`) is left to the
/// parser and the field descriptions: a pattern would have to spell it digit by digit.
pub const AMOUNT_INPUT_PATTERN: &str = concat!(
    r"^(?:0*[1-9][0-9]*(?:\.[0-9]{1,7})?",
    r"|0+\.(?:[1-9][0-9]{0,6}|0[1-9][0-9]{0,5}|00[1-9][0-9]{0,4}|000[1-9][0-9]{0,3}",
    r"|0000[1-9][0-9]{0,2}|00000[1-9][0-9]?|000000[1-9]))$"
);

/// A time field: unix seconds from 0 to [`MAX_UNIX_TIME`] (i64::MAX).
const TIME: Shape = Shape::Integer(Integer::range(0, i64::MAX, Format::Int64));
const AMOUNT: Shape = Shape::String(Text::ANY.pattern(AMOUNT_INPUT_PATTERN));
const ADDRESS: Shape = Shape::Component(crate::fields::Component::of::<StellarAddress>());

/// The `POST /api/streams` body: what [`parse_new_stream`] reads and the OpenAPI document shows.
pub const NEW_STREAM: BodySpec = BodySpec {
    name: "CreateStreamRequest",
    description: "The `POST /api/streams` body. Unknown fields are refused; every failing field \
                  is reported in the error's `details` with its own code.",
    fields: &[
        FieldSpec::required(
            "sender",
            ADDRESS,
            "The funding account or contract: a G… or C… StrKey, fully checked (never an S… \
             seed).",
        ),
        FieldSpec::required(
            "recipient",
            ADDRESS,
            "The payee: a G… or C… StrKey, different from the sender.",
        ),
        FieldSpec::required(
            "depositAmount",
            AMOUNT,
            "Total escrowed amount, > 0: a decimal string with at most 7 fractional digits \
             (`\"1000\"`, `\"0.5\"`; JSON numbers are refused, even exact ones).",
        )
        .example("\"1000.5\""),
        FieldSpec::required(
            "ratePerSecond",
            AMOUNT,
            "Accrual per second, > 0, same format as `depositAmount`.",
        )
        .example("\"0.001\""),
        FieldSpec::optional(
            "startTime",
            TIME,
            "Accrual start, unix seconds (default: now).",
        )
        .nullable()
        .example("1700000000"),
        FieldSpec::optional(
            "cliffTime",
            TIME,
            "Cliff, unix seconds, start ≤ cliff ≤ end (default: the start).",
        )
        .nullable()
        .example("1700000000"),
        FieldSpec::optional(
            "endTime",
            TIME,
            "End, unix seconds, after the start (default: when the deposit runs out at the \
             rate).",
        )
        .nullable()
        .example("1700086400"),
    ],
    unknown: UnknownFields::Refuse {
        message: "unknown field; allowed fields are ",
        list_names: true,
        mark_cut: true,
    },
    not_object: "the request body must be a JSON object",
};

/// A validated stream creation: every field parsed and every create rule holds, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStream {
    /// Sender StrKey.
    pub sender: StellarAddress,
    /// Recipient StrKey (≠ sender).
    pub recipient: StellarAddress,
    /// Deposit (> 0, ≥ rate × (end − start)).
    pub deposit_amount: Amount,
    /// Rate per second (> 0).
    pub rate_per_second: Amount,
    /// Start (unix seconds; defaults to the request time; may be in the past).
    pub start_time: u64,
    /// Cliff (unix seconds; defaults to start; start ≤ cliff ≤ end).
    pub cliff_time: u64,
    /// End (unix seconds; defaults to start + ⌊deposit / rate⌋; after start).
    pub end_time: u64,
}

/// Parses and validates a create body at unix time `now` (the default start).
///
/// Errors: [`ValidationErrors`] listing every failing field: the `DECIMAL_*` codes for amounts
/// ([`crate::amount`]), the `STRKEY_*` codes for addresses, [`TIME_INVALID`]/[`TIME_OUT_OF_RANGE`]
/// for times, [`crate::fields::UNKNOWN_FIELD`], [`crate::fields::INVALID_BODY`], and [`SEMANTIC`]
/// for the contract's rules.
pub fn parse_new_stream(body: &Value, now: u64) -> Result<NewStream, ValidationErrors> {
    let mut errors = FieldReader::body(&NEW_STREAM, body)?;
    let sender = errors.parse("sender", |value| address_field(value, "sender"));
    let recipient = errors.parse("recipient", |value| address_field(value, "recipient"));
    let deposit = errors.parse("depositAmount", |value| {
        amount_field(value, "depositAmount")
    });
    let rate = errors.parse("ratePerSecond", |value| {
        amount_field(value, "ratePerSecond")
    });
    let start = errors.parse("startTime", |value| time_field(value, "startTime"));
    let cliff = errors.parse("cliffTime", |value| time_field(value, "cliffTime"));
    let end = errors.parse("endTime", |value| time_field(value, "endTime"));

    // Semantic rules need the parsed values; check those whose inputs parsed.
    if let Some(deposit) = deposit {
        if !deposit.is_positive() {
            errors.push(FieldError::new(
                "depositAmount",
                SEMANTIC,
                "depositAmount must be greater than 0",
            ));
        }
    }
    if let Some(rate) = rate {
        if !rate.is_positive() {
            errors.push(FieldError::new(
                "ratePerSecond",
                SEMANTIC,
                "ratePerSecond must be greater than 0",
            ));
        }
    }
    if let (Some(sender), Some(recipient)) = (&sender, &recipient) {
        if sender == recipient {
            errors.push(FieldError::new(
                "recipient",
                SEMANTIC,
                "recipient must be different from sender",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors.into_errors());
    }

    // Every field parsed; the options below are all Some.
    let (
        Some(sender),
        Some(recipient),
        Some(deposit),
        Some(rate),
        Some(start),
        Some(cliff),
        Some(end),
    ) = (sender, recipient, deposit, rate, start, cliff, end)
    else {
        return Err(errors.into_errors());
    };
    let start_time = start.unwrap_or(now);
    if start_time > MAX_UNIX_TIME {
        errors.push(FieldError::new(
            "startTime",
            TIME_OUT_OF_RANGE,
            format!("the default startTime (now) exceeds {MAX_UNIX_TIME}"),
        ));
        return Err(errors.into_errors());
    }

    let end_time = match end {
        Some(end_time) => {
            if end_time <= start_time {
                errors.push(FieldError::new(
                    "endTime",
                    SEMANTIC,
                    "endTime must be after startTime",
                ));
                return Err(errors.into_errors());
            }
            end_time
        }
        None => {
            match AccrualSchedule::default_end_time(start_time, deposit.stroops(), rate.stroops()) {
                Some(end_time) if end_time > MAX_UNIX_TIME => {
                    errors.push(FieldError::new(
                    "endTime",
                    TIME_OUT_OF_RANGE,
                    format!(
                        "the default endTime (startTime + depositAmount / ratePerSecond) exceeds {MAX_UNIX_TIME}; give endTime explicitly"
                    ),
                ));
                    return Err(errors.into_errors());
                }
                Some(end_time) if end_time == start_time => {
                    errors.push(FieldError::new(
                    "depositAmount",
                    SEMANTIC,
                    "depositAmount is less than one second of ratePerSecond, so the stream would end at its start",
                ));
                    return Err(errors.into_errors());
                }
                Some(end_time) => end_time,
                None => {
                    errors.push(FieldError::new(
                    "endTime",
                    TIME_OUT_OF_RANGE,
                    "the default endTime (startTime + depositAmount / ratePerSecond) overflows; give endTime explicitly",
                ));
                    return Err(errors.into_errors());
                }
            }
        }
    };

    let cliff_time = cliff.unwrap_or(start_time);
    if cliff_time < start_time || cliff_time > end_time {
        errors.push(FieldError::new(
            "cliffTime",
            SEMANTIC,
            "cliffTime must be between startTime and endTime (inclusive)",
        ));
    }
    if !AccrualSchedule::deposit_covers_duration(
        deposit.stroops(),
        rate.stroops(),
        start_time,
        end_time,
    ) {
        errors.push(FieldError::new(
            "depositAmount",
            SEMANTIC,
            match required_deposit(rate, start_time, end_time) {
                Some(required) => format!(
                    "depositAmount must be at least ratePerSecond × (endTime − startTime) = {required}"
                ),
                None => "ratePerSecond × (endTime − startTime) exceeds the contract's i128 range".to_string(),
            },
        ));
    }
    errors.finish()?;

    Ok(NewStream {
        sender,
        recipient,
        deposit_amount: deposit,
        rate_per_second: rate,
        start_time,
        cliff_time,
        end_time,
    })
}

fn required_deposit(rate: Amount, start: u64, end: u64) -> Option<Amount> {
    let duration = i128::from(end.checked_sub(start)?);
    rate.stroops()
        .checked_mul(duration)
        .map(Amount::from_stroops)
}

fn address_field(value: Option<&Value>, field: &str) -> Result<StellarAddress, FieldError> {
    StellarAddress::from_json(value)
        .map_err(|error| FieldError::new(field, error.code(), error.message(field)))
}

fn amount_field(value: Option<&Value>, field: &str) -> Result<Amount, FieldError> {
    Amount::from_json(value)
        .map_err(|error| FieldError::new(field, error.code(), error.message(field)))
}

/// An optional time field: absent or `null` → `None`; otherwise a non-negative JSON integer of
/// unix seconds no larger than [`MAX_UNIX_TIME`] (`1700000000.0` counts as an integer, as in
/// JSON Schema).
fn time_field(value: Option<&Value>, field: &str) -> Result<Option<u64>, FieldError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => match crate::fields::unsigned_integer(number) {
            Some(value) if value <= MAX_UNIX_TIME => Ok(Some(value)),
            Some(_) => Err(FieldError::new(
                field,
                TIME_OUT_OF_RANGE,
                format!("{field} must be at most {MAX_UNIX_TIME}"),
            )),
            None if number.is_f64()
                && number.as_f64().is_some_and(|v| v > MAX_UNIX_TIME as f64) =>
            {
                Err(FieldError::new(
                    field,
                    TIME_OUT_OF_RANGE,
                    format!("{field} must be at most {MAX_UNIX_TIME}"),
                ))
            }
            None => Err(FieldError::new(
                field,
                TIME_INVALID,
                format!(
                    "{field} must be a non-negative integer of unix seconds (no fraction, no sign)"
                ),
            )),
        },
        Some(_) => Err(FieldError::new(
            field,
            TIME_INVALID,
            format!("{field} must be a JSON integer of unix seconds"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::UNKNOWN_FIELD;
    use serde_json::json;

    const G1: &str = "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5";
    const G2: &str = "GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZ";

    fn codes(result: Result<NewStream, ValidationErrors>) -> Vec<(String, &'static str)> {
        match result {
            Ok(_) => Vec::new(),
            Err(ValidationErrors(errors)) => {
                errors.into_iter().map(|e| (e.field, e.code)).collect()
            }
        }
    }

    /// What the documented amount pattern refuses, the create body refuses (as a format error or
    /// the > 0 rule); what it accepts is a valid create amount, within the i128 range the pattern
    /// leaves to the parser.
    #[test]
    fn the_amount_pattern_is_the_amount_format() {
        let schema = json!({"type": "string", "pattern": AMOUNT_INPUT_PATTERN});
        let validator = jsonschema::validator_for(&schema).unwrap();
        let digits_31 = "9".repeat(31);
        let digits_31_padded = format!("000{digits_31}.5");
        let i128_max_units = "17014118346046923173168730371588.4105727";
        for text in [
            "0",
            "0.0",
            "00",
            "0.0000000",
            "000.0000001",
            "0.0000010",
            "0.1000000",
            "0.00000001",
            "007",
            "10",
            digits_31.as_str(),
            digits_31_padded.as_str(),
            i128_max_units,
            "1",
            "100",
            "0.5",
            "1.0000001",
            "1.00000000",
            "0.00000001",
            "1e5",
            ".5",
            "5.",
            "+5",
            "-5",
            " 5",
            "5 ",
            "1,000",
            "1..5",
            "NaN",
            "0x10",
            "１００",
            "",
            "1.2.3",
        ] {
            let accepted =
                amount_field(Some(&json!(text)), "depositAmount").is_ok_and(Amount::is_positive);
            assert_eq!(validator.is_valid(&json!(text)), accepted, "{text:?}");
        }
    }

    /// An integral number is an integer (JSON Schema's rule): `1700000000.0` is a time.
    #[test]
    fn integral_numbers_are_times() {
        let body = json!({"sender": G1, "recipient": G2, "depositAmount": "100",
            "ratePerSecond": "1", "startTime": 1_000.0, "endTime": 1e3 + 100.0});
        let stream = parse_new_stream(&body, 0).unwrap();
        assert_eq!((stream.start_time, stream.end_time), (1_000, 1_100));
        // Parsed from text as a request body is: exact, even where the float is near 2^53.
        let body: Value = serde_json::from_str(&format!(
            r#"{{"sender": "{G1}", "recipient": "{G2}", "depositAmount": "100",
                "ratePerSecond": "1", "startTime": 1000, "cliffTime": 2224769355031569.0}}"#
        ))
        .unwrap();
        assert_eq!(
            codes(parse_new_stream(&body, 0)),
            [("cliffTime".to_string(), SEMANTIC)],
            "an integer, after the end: refused by the cross-field rule only"
        );
        let body = json!({"sender": G1, "recipient": G2, "depositAmount": "100",
            "ratePerSecond": "1", "startTime": 1_000.5});
        assert_eq!(
            codes(parse_new_stream(&body, 0)),
            [("startTime".to_string(), TIME_INVALID)]
        );
    }

    #[test]
    fn defaults_follow_the_contract() {
        let body = json!({"sender": G1, "recipient": G2, "depositAmount": "100", "ratePerSecond": "0.001"});
        let stream = parse_new_stream(&body, 1_700_000_000).unwrap();
        assert_eq!(stream.start_time, 1_700_000_000);
        assert_eq!(stream.cliff_time, 1_700_000_000);
        assert_eq!(stream.end_time, 1_700_000_000 + 100_000);
    }

    #[test]
    fn every_failing_field_is_reported() {
        let body = json!({"sender": "x", "recipient": 5, "depositAmount": 1, "ratePerSecond": "1e5", "startTime": -1, "extra": true});
        let got = codes(parse_new_stream(&body, 0));
        assert_eq!(
            got,
            vec![
                ("extra".to_string(), UNKNOWN_FIELD),
                ("sender".to_string(), "STRKEY_INVALID"),
                ("recipient".to_string(), "STRKEY_INVALID_TYPE"),
                ("depositAmount".to_string(), "DECIMAL_INVALID_TYPE"),
                ("ratePerSecond".to_string(), "DECIMAL_INVALID_FORMAT"),
                ("startTime".to_string(), TIME_INVALID),
            ]
        );
    }

    #[test]
    fn contract_rules() {
        let base = |extra: Value| {
            let mut body = json!({"sender": G1, "recipient": G2, "depositAmount": "100", "ratePerSecond": "1", "startTime": 1000});
            if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
                for (k, v) in e {
                    b.insert(k.clone(), v.clone());
                }
            }
            codes(parse_new_stream(&body, 5000))
        };
        assert_eq!(
            base(json!({"endTime": 1000})),
            vec![("endTime".into(), SEMANTIC)]
        );
        assert_eq!(
            base(json!({"endTime": 1101})),
            vec![("depositAmount".into(), SEMANTIC)]
        );
        assert!(base(json!({"endTime": 1100})).is_empty());
        assert_eq!(
            base(json!({"cliffTime": 999})),
            vec![("cliffTime".into(), SEMANTIC)]
        );
        assert_eq!(
            base(json!({"cliffTime": 1101})),
            vec![("cliffTime".into(), SEMANTIC)]
        );
        assert!(base(json!({"cliffTime": 1100})).is_empty());
        assert_eq!(
            base(json!({"recipient": G1})),
            vec![("recipient".into(), SEMANTIC)]
        );
        assert_eq!(
            base(json!({"depositAmount": "0"})),
            vec![("depositAmount".into(), SEMANTIC)]
        );
        assert_eq!(
            base(json!({"ratePerSecond": "0.0000000"})),
            vec![("ratePerSecond".into(), SEMANTIC)]
        );
        assert_eq!(
            base(json!({"ratePerSecond": "101"})),
            vec![("depositAmount".into(), SEMANTIC)]
        );
        assert_eq!(
            base(json!({"startTime": 1.5})),
            vec![("startTime".into(), TIME_INVALID)]
        );
        assert_eq!(
            base(json!({"startTime": "1000"})),
            vec![("startTime".into(), TIME_INVALID)]
        );
        assert_eq!(
            base(json!({"startTime": u64::MAX})),
            vec![("startTime".into(), TIME_OUT_OF_RANGE)]
        );
        // A default end time beyond the storable range is refused, not wrapped.
        assert_eq!(
            base(json!({"startTime": MAX_UNIX_TIME, "depositAmount": "100", "ratePerSecond": "1"})),
            vec![("endTime".into(), TIME_OUT_OF_RANGE)]
        );
    }
}
