//! Per-field validation errors, the `details` entries of a 400 `VALIDATION_ERROR` envelope
//! (`[{"field":"depositAmount","code":"DECIMAL_INVALID_TYPE","message":"…"}]`; see `docs/api.md`).
//!
//! Every input parser reports with [`FieldError`]: request bodies (through
//! [`crate::fields::FieldReader`]), query strings, headers, and the chain events the indexer
//! validates.

use serde::Serialize;

/// One failing input field. `code` is a stable SCREAMING_SNAKE identifier (the `DECIMAL_*` codes of
/// [`crate::amount`], the `STRKEY_*` codes of [`crate::address`], the event codes of
/// [`crate::indexer::event::codes`], or one listed in `docs/api.md`); `message` is for humans and
/// never echoes secret input (nor, for chain events, the submitted value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's name as the client sent it (camelCase body field or query parameter).
    pub field: String,
    /// Stable machine-readable code.
    #[schema(value_type = String, pattern = "^[A-Z][A-Z0-9_]*$", example = "DECIMAL_INVALID_TYPE")]
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }

    /// The same error located inside `parent` (an element of a list, `events[2]`): the field
    /// becomes `{parent}.{field}`, or `parent` when the error is about the element itself (an
    /// empty field).
    #[must_use]
    pub fn within(self, parent: &str) -> Self {
        let field = if self.field.is_empty() {
            parent.to_owned()
        } else {
            format!("{parent}.{}", self.field)
        };
        Self { field, ..self }
    }
}

impl std::fmt::Display for FieldError {
    /// `{field} {code}: {message}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.field, self.code, self.message)
    }
}

/// A non-empty list of field errors: the input was rejected as a whole, every failing field listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} invalid field(s)", .0.len())]
pub struct ValidationErrors(pub Vec<FieldError>);

/// Collects field errors while parsing, so one response reports every failing field.
#[derive(Debug, Default)]
pub struct Collector {
    errors: Vec<FieldError>,
}

impl Collector {
    /// Records an error.
    pub fn push(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// Unwraps a field result, recording its error and returning `None` on failure.
    pub fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.errors.push(error);
                None
            }
        }
    }

    /// Whether nothing failed so far.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok(())` when nothing failed, else every recorded error.
    ///
    /// Errors: [`ValidationErrors`] with every recorded error, in the order recorded.
    pub fn finish(self) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(self.errors))
        }
    }

    /// Every recorded error, in the order recorded (empty when nothing failed).
    pub fn into_errors(self) -> Vec<FieldError> {
        self.errors
    }
}
