//! JSON request bodies, described once and read field by field.
//!
//! A body is described by a [`BodySpec`]: its fields ([`FieldSpec`]: name, JSON [`Shape`] with
//! the documented constraints, whether it is required or nullable, a description and an example)
//! and what becomes of the fields it does not declare ([`UnknownFields`]). The same description
//! is read twice:
//!
//! - [`FieldReader`] parses a body with it: it refuses a body that is not an object
//!   ([`INVALID_BODY`]), reports every undeclared field ([`UNKNOWN_FIELD`], the name cut and
//!   redacted by [`shown_name`]), reads the declared fields by JSON type (absent, `null` and
//!   required as the spec says), and collects every failing field into one
//!   [`ValidationErrors`];
//! - [`schema::object`] renders it as the OpenAPI schema of the request body, so the document
//!   lists exactly the fields the parser accepts, with the same required and nullable sets.
//!
//! The domain rules stay in the domain parsers (amounts in `amount.rs`, StrKeys in `address.rs`,
//! URLs in `ssrf.rs`, …): they read a field through [`FieldReader::parse`] or a typed getter and
//! report their own codes. The constraints a [`Shape`] documents (pattern, lengths, bounds) are
//! the ones those parsers enforce; the reader checks only names and JSON types.
//!
//! This module knows neither HTTP nor SQL.

pub mod schema;

use std::borrow::Cow;

use serde_json::{Map, Value};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;

use crate::validation::{Collector, FieldError, ValidationErrors};

/// Field code: a body field the body does not declare.
pub const UNKNOWN_FIELD: &str = "UNKNOWN_FIELD";
/// Field code (on the field `body`): the body is not a JSON object.
pub const INVALID_BODY: &str = "INVALID_BODY";
/// Longest unknown field name echoed in a detail, in characters; longer names are cut.
pub const MAX_SHOWN_NAME_CHARS: usize = 64;

/// One JSON request body: its fields and how undeclared ones are treated.
#[derive(Debug, Clone, Copy)]
pub struct BodySpec {
    /// The name of its schema in the OpenAPI document's components (`CreateStreamRequest`).
    pub name: &'static str,
    /// The schema's description.
    pub description: &'static str,
    /// The declared fields, in the order they are documented and listed in messages.
    pub fields: &'static [FieldSpec],
    /// What happens to a field the body does not declare.
    pub unknown: UnknownFields,
    /// The message of the [`INVALID_BODY`] detail when the body is not an object.
    pub not_object: &'static str,
}

impl BodySpec {
    /// The declared field `name`, if any.
    pub fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        self.fields.iter().find(|field| field.name == name)
    }

    /// The declared field names, in declaration order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        self.fields.iter().map(|field| field.name)
    }
}

/// What happens to a field a body does not declare.
#[derive(Debug, Clone, Copy)]
pub enum UnknownFields {
    /// Ignored, and the schema leaves other properties open (RPC events: new RPC versions add
    /// fields).
    Ignore,
    /// Each one is an [`UNKNOWN_FIELD`] detail, and the schema closes the object
    /// (`additionalProperties: false`).
    Refuse {
        /// The detail's message; the declared names, joined by `, `, follow it when
        /// `list_names` is set.
        message: &'static str,
        /// Whether the declared names are appended to `message`.
        list_names: bool,
        /// Whether a name cut at [`MAX_SHOWN_NAME_CHARS`] ends with `…`.
        mark_cut: bool,
    },
}

/// One declared field: its name, JSON shape, presence rules and documentation.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// The JSON name (camelCase).
    pub name: &'static str,
    /// Its JSON type and documented constraints.
    pub shape: Shape,
    /// Whether the field must be present (the typed getters report an absent required field).
    pub required: bool,
    /// Whether `null` is accepted, meaning the same as absent (the typed getters report a `null`
    /// otherwise).
    pub nullable: bool,
    /// The property's description in the document.
    pub description: &'static str,
    /// A valid value as JSON text (`"\"1000.5\""`, `"1700000000"`), documented under
    /// `examples`; a [`Shape::Component`] or [`Shape::Object`] shows its schema's examples
    /// instead.
    pub example: Option<&'static str>,
}

impl FieldSpec {
    /// A required, non-nullable field.
    pub const fn required(name: &'static str, shape: Shape, description: &'static str) -> Self {
        FieldSpec {
            name,
            shape,
            required: true,
            nullable: false,
            description,
            example: None,
        }
    }

    /// An optional, non-nullable field.
    pub const fn optional(name: &'static str, shape: Shape, description: &'static str) -> Self {
        FieldSpec {
            required: false,
            ..FieldSpec::required(name, shape, description)
        }
    }

    /// The same field, accepting `null`.
    pub const fn nullable(self) -> Self {
        FieldSpec {
            nullable: true,
            ..self
        }
    }

    /// The same field with an example value (JSON text).
    pub const fn example(self, json: &'static str) -> Self {
        FieldSpec {
            example: Some(json),
            ..self
        }
    }
}

/// The JSON type of a field and the constraints the document states for it.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// A string.
    String(Text),
    /// A JSON integer.
    Integer(Integer),
    /// `true` or `false`.
    Boolean,
    /// An array.
    Array(Array),
    /// A value described by a named schema of the document (a `$ref`).
    Component(Component),
    /// A nested object described by its own spec (a `$ref` to its schema).
    Object(&'static BodySpec),
}

/// Constraints of a string field.
#[derive(Debug, Clone, Copy)]
pub struct Text {
    /// An ECMA-262 regular expression the whole value matches (anchor it).
    pub pattern: Option<&'static str>,
    /// A format annotation.
    pub format: Option<Format>,
    /// Fewest characters (Unicode scalar values).
    pub min_length: Option<usize>,
    /// Most characters (Unicode scalar values).
    pub max_length: Option<usize>,
    /// The only values accepted, when not empty.
    pub one_of: &'static [&'static str],
}

impl Text {
    /// Any string.
    pub const ANY: Text = Text {
        pattern: None,
        format: None,
        min_length: None,
        max_length: None,
        one_of: &[],
    };

    /// With a pattern.
    pub const fn pattern(self, pattern: &'static str) -> Self {
        Text {
            pattern: Some(pattern),
            ..self
        }
    }

    /// With a format annotation.
    pub const fn format(self, format: Format) -> Self {
        Text {
            format: Some(format),
            ..self
        }
    }

    /// With length bounds in characters (`None`: unbounded on that side).
    pub const fn length(self, min: Option<usize>, max: Option<usize>) -> Self {
        Text {
            min_length: min,
            max_length: max,
            ..self
        }
    }

    /// Only these values.
    pub const fn one_of(self, values: &'static [&'static str]) -> Self {
        Text {
            one_of: values,
            ..self
        }
    }
}

/// Constraints of an integer field.
#[derive(Debug, Clone, Copy)]
pub struct Integer {
    /// Smallest value.
    pub minimum: Option<i64>,
    /// Largest value.
    pub maximum: Option<i64>,
    /// A format annotation ([`Format::Int32`], [`Format::Int64`]).
    pub format: Option<Format>,
}

impl Integer {
    /// A non-negative integer in `[minimum, maximum]`, annotated with `format`.
    pub const fn range(minimum: i64, maximum: i64, format: Format) -> Self {
        Integer {
            minimum: Some(minimum),
            maximum: Some(maximum),
            format: Some(format),
        }
    }
}

/// Constraints of an array field.
#[derive(Debug, Clone, Copy)]
pub struct Array {
    /// The shape of every item.
    pub items: &'static Shape,
    /// Fewest items.
    pub min_items: Option<usize>,
    /// Most items.
    pub max_items: Option<usize>,
}

impl Array {
    /// An array of `items`, of any length.
    pub const fn of(items: &'static Shape) -> Self {
        Array {
            items,
            min_items: None,
            max_items: None,
        }
    }

    /// With item count bounds (`None`: unbounded on that side).
    pub const fn count(self, min: Option<usize>, max: Option<usize>) -> Self {
        Array {
            min_items: min,
            max_items: max,
            ..self
        }
    }
}

/// The format annotations the bodies use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `uri`.
    Uri,
    /// `date-time` (RFC 3339).
    DateTime,
    /// `int32`.
    Int32,
    /// `int64`.
    Int64,
}

/// The component schemas a named schema adds to the document: `(name, schema)` pairs, as
/// [`utoipa::ToSchema::schemas`] collects them.
pub type SchemaList = Vec<(String, RefOr<Schema>)>;

/// A named schema of the document, from a type's [`utoipa::ToSchema`] implementation.
#[derive(Debug, Clone, Copy)]
pub struct Component {
    /// The schema's name.
    pub name: fn() -> Cow<'static, str>,
    /// The schema.
    pub schema: fn() -> RefOr<Schema>,
    /// The schemas it references in turn.
    pub schemas: fn(&mut SchemaList),
}

impl Component {
    /// The schema of `T` (`Component::of::<StellarAddress>()`).
    pub const fn of<T: utoipa::ToSchema>() -> Self {
        Component {
            name: T::name,
            schema: T::schema,
            schemas: T::schemas,
        }
    }
}

/// Why a typed getter could not read a field; given to the caller's error builder, which turns
/// it into the field's own code and message.
#[derive(Debug, Clone, Copy)]
pub enum Mismatch<'a> {
    /// The field is required and absent.
    Absent,
    /// The field is `null` and not nullable.
    Null,
    /// The value has another JSON type, or is outside the getter's range (an integer getter
    /// given a negative, fractional or too large number).
    Invalid(&'a Value),
    /// Item `index` of an array has another JSON type.
    InvalidItem {
        /// Its position in the array.
        index: usize,
        /// The item.
        value: &'a Value,
    },
}

/// `a string`, `a number`, … for messages that say what was received without echoing it.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value of a JSON number that is a non-negative integer as JSON Schema counts them: `81`,
/// and also `81.0` or `8.1e1` (a number whose value has no fraction). `None` for a negative
/// number, a fraction, or a value of 2^64 or more.
///
/// serde_json keeps a number written with a point or an exponent as an `f64`, so such a number
/// reads as the integer its `f64` holds (as every JSON Schema validator reads it).
pub fn unsigned_integer(number: &serde_json::Number) -> Option<u64> {
    if let Some(value) = number.as_u64() {
        return Some(value);
    }
    let value = number.as_f64()?;
    // 2^64 as f64 is exact; every integral f64 below it converts exactly.
    let in_range = value.is_finite() && (0.0..18_446_744_073_709_551_616.0).contains(&value);
    if in_range && value.fract() == 0.0 {
        // The checks above make the conversion exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let integer = value as u64;
        Some(integer)
    } else {
        None
    }
}

/// A client-sent field name as it may be echoed in a detail: secret seeds redacted
/// ([`crate::address::redact_secret_seeds`]), then cut at [`MAX_SHOWN_NAME_CHARS`] characters,
/// with a trailing `…` when `mark_cut`.
pub fn shown_name(name: &str, mark_cut: bool) -> String {
    let name = crate::address::redact_secret_seeds(name);
    let mut shown: String = name.chars().take(MAX_SHOWN_NAME_CHARS).collect();
    if mark_cut && shown.len() < name.len() {
        shown.push('…');
    }
    shown
}

/// Reads one JSON object against its [`BodySpec`], collecting every failing field.
///
/// Opening it reports the undeclared fields (first, in the object's key order); each getter
/// then reads one declared field and records its error, returning `None` when the field
/// failed. [`FieldReader::finish`] returns every recorded error, in the order recorded.
#[derive(Debug)]
pub struct FieldReader<'a> {
    spec: &'static BodySpec,
    object: &'a Map<String, Value>,
    errors: Collector,
}

impl<'a> FieldReader<'a> {
    /// Opens a request body.
    ///
    /// Errors: one [`INVALID_BODY`] detail on the field `body` (message
    /// [`BodySpec::not_object`]) when `body` is not a JSON object.
    pub fn body(spec: &'static BodySpec, body: &'a Value) -> Result<Self, ValidationErrors> {
        match body.as_object() {
            Some(object) => Ok(Self::object(spec, object)),
            None => Err(ValidationErrors(vec![FieldError::new(
                "body",
                INVALID_BODY,
                spec.not_object,
            )])),
        }
    }

    /// Opens an object (a body, or an object nested in one), reporting its undeclared fields
    /// as [`BodySpec::unknown`] says.
    pub fn object(spec: &'static BodySpec, object: &'a Map<String, Value>) -> Self {
        let mut errors = Collector::default();
        if let UnknownFields::Refuse {
            message,
            list_names,
            mark_cut,
        } = spec.unknown
        {
            for key in object.keys() {
                if spec.field(key).is_none() {
                    let message = if list_names {
                        format!("{message}{}", spec.names().collect::<Vec<_>>().join(", "))
                    } else {
                        message.to_owned()
                    };
                    errors.push(FieldError::new(
                        shown_name(key, mark_cut),
                        UNKNOWN_FIELD,
                        message,
                    ));
                }
            }
        }
        FieldReader {
            spec,
            object,
            errors,
        }
    }

    /// Whether the object has the key `name`, even with `null`.
    pub fn present(&self, name: &str) -> bool {
        self.object.contains_key(name)
    }

    /// Reads a field with a domain parser, which receives the raw value (`None` when absent) and
    /// decides everything, absence and `null` included; its error is recorded.
    pub fn parse<T>(
        &mut self,
        name: &'static str,
        read: impl FnOnce(Option<&'a Value>) -> Result<T, FieldError>,
    ) -> Option<T> {
        self.check_declared(name);
        self.errors.take(read(self.object.get(name)))
    }

    /// A string field: `Some(Some(text))`, `Some(None)` when absent or `null` and the spec
    /// allows it, `None` when the error `invalid` built was recorded.
    pub fn string(
        &mut self,
        name: &'static str,
        invalid: impl FnOnce(Mismatch<'a>) -> FieldError,
    ) -> Option<Option<&'a str>> {
        self.read(name, invalid, |value| {
            value.as_str().ok_or(Mismatch::Invalid(value))
        })
    }

    /// A boolean field, read like [`FieldReader::string`].
    pub fn boolean(
        &mut self,
        name: &'static str,
        invalid: impl FnOnce(Mismatch<'a>) -> FieldError,
    ) -> Option<Option<bool>> {
        self.read(name, invalid, |value| {
            value.as_bool().ok_or(Mismatch::Invalid(value))
        })
    }

    /// A non-negative JSON integer that fits `T`, `81.0` included ([`unsigned_integer`]); a
    /// number with a fraction, a sign or beyond `T` is [`Mismatch::Invalid`]. Read like
    /// [`FieldReader::string`].
    pub fn unsigned<T: TryFrom<u64>>(
        &mut self,
        name: &'static str,
        invalid: impl FnOnce(Mismatch<'a>) -> FieldError,
    ) -> Option<Option<T>> {
        self.read(name, invalid, |value| {
            value
                .as_number()
                .and_then(unsigned_integer)
                .and_then(|number| T::try_from(number).ok())
                .ok_or(Mismatch::Invalid(value))
        })
    }

    /// An array field (items unchecked), read like [`FieldReader::string`].
    pub fn array(
        &mut self,
        name: &'static str,
        invalid: impl FnOnce(Mismatch<'a>) -> FieldError,
    ) -> Option<Option<&'a [Value]>> {
        self.read(name, invalid, |value| match value {
            Value::Array(items) => Ok(items.as_slice()),
            other => Err(Mismatch::Invalid(other)),
        })
    }

    /// An array of strings, read like [`FieldReader::string`]; the first item that is not a
    /// string is [`Mismatch::InvalidItem`] (one error for the field).
    pub fn strings(
        &mut self,
        name: &'static str,
        invalid: impl FnOnce(Mismatch<'a>) -> FieldError,
    ) -> Option<Option<Vec<&'a str>>> {
        self.read(name, invalid, |value| match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(index, value)| value.as_str().ok_or(Mismatch::InvalidItem { index, value }))
                .collect(),
            other => Err(Mismatch::Invalid(other)),
        })
    }

    /// The value of a rule over a parsed value, recording its error (`None` then).
    pub fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        self.errors.take(result)
    }

    /// Records an error found by a rule over parsed values.
    pub fn push(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// Whether nothing failed so far.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok(())` when nothing failed, else every recorded error.
    ///
    /// Errors: [`ValidationErrors`] with every recorded error, in the order recorded.
    pub fn finish(self) -> Result<(), ValidationErrors> {
        self.errors.finish()
    }

    /// Every recorded error (empty when nothing failed), for a parser that stops early.
    pub fn into_errors(self) -> ValidationErrors {
        ValidationErrors(self.errors.into_errors())
    }

    /// The typed getters' common part: presence and `null` by the spec, then `convert`.
    fn read<T>(
        &mut self,
        name: &'static str,
        invalid: impl FnOnce(Mismatch<'a>) -> FieldError,
        convert: impl FnOnce(&'a Value) -> Result<T, Mismatch<'a>>,
    ) -> Option<Option<T>> {
        let (required, nullable) = self
            .check_declared(name)
            .map_or((false, true), |field| (field.required, field.nullable));
        let mismatch = match self.object.get(name) {
            None if required => Mismatch::Absent,
            None => return Some(None),
            Some(Value::Null) if nullable => return Some(None),
            Some(Value::Null) => Mismatch::Null,
            Some(value) => match convert(value) {
                Ok(parsed) => return Some(Some(parsed)),
                Err(mismatch) => mismatch,
            },
        };
        self.errors.push(invalid(mismatch));
        None
    }

    /// The spec of `name`; reading an undeclared field is a bug in the parser, caught by its
    /// tests in debug builds.
    fn check_declared(&self, name: &str) -> Option<&'static FieldSpec> {
        let field = self.spec.field(name);
        debug_assert!(
            field.is_some(),
            "{} reads the undeclared field {name}",
            self.spec.name
        );
        field
    }
}

#[cfg(test)]
mod tests;
