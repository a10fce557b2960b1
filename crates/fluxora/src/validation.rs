//! Per-field validation errors, the `details` entries of a 400 `VALIDATION_ERROR` envelope
//! (`[{"field":"depositAmount","code":"DECIMAL_INVALID_TYPE","message":"…"}]`; see `docs/api.md`).

use serde::Serialize;

/// One failing input field. `code` is a stable SCREAMING_SNAKE identifier (the `DECIMAL_*` codes of
/// [`crate::amount`], the `STRKEY_*` codes of [`crate::address`], or one listed in `docs/api.md`);
/// `message` is for humans and never echoes secret input.
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
    pub fn finish(self) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(self.errors))
        }
    }
}
