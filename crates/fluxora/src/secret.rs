//! A secret value read from the environment ([`Secret`]): tokens, signing secrets, URLs with a
//! password.
//!
//! A leaf, so that [`crate::config`] (which reads secrets) and the modules that use them
//! ([`crate::webhooks`], [`crate::http`]) need not import each other.

use std::fmt;

/// A secret value from the environment: compared in constant time, never printed (`Debug` shows
/// `<redacted>`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for comparison or signing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("hunter2-hunter2-hunter2");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(secret.expose(), "hunter2-hunter2-hunter2");
    }
}
