//! Which browser origins may call the API (`CORS_ALLOWED_ORIGINS`; `docs/operations.md`, "HTTP
//! hardening"): the value type and its parsing.
//!
//! A leaf, read by [`crate::config`]; [`crate::http::hardening::cors_layer`] turns it into the
//! CORS layer.

use axum::http::HeaderValue;

/// An invalid `CORS_ALLOWED_ORIGINS` entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not an origin: expected scheme://host[:port] (http or https, no path), or a lone '*'"
)]
pub struct CorsOriginError(pub String);

/// Which browser origins may call the API (`CORS_ALLOWED_ORIGINS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Unset: no CORS headers at all; browsers keep the same-origin policy.
    #[default]
    Disabled,
    /// `*`: any origin. Safe for this API because credentials are bearer tokens a page must
    /// hold itself (never cookies), and `Access-Control-Allow-Credentials` is never sent.
    Any,
    /// Exact origins (`https://app.example`, `http://localhost:5173`), compared byte for byte
    /// with the request's `Origin` after normalisation (lower-case scheme and host, default port
    /// dropped).
    List(Vec<HeaderValue>),
}

impl CorsOrigins {
    /// Parses a comma-separated list of origins, or `*` alone.
    ///
    /// Errors: [`CorsOriginError`] for an entry that is not `scheme://host[:port]` (http/https,
    /// no path, query or credentials), or `*` mixed with origins.
    pub fn parse(raw: &str) -> Result<Self, CorsOriginError> {
        let entries: Vec<&str> = raw
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if entries == ["*"] {
            return Ok(CorsOrigins::Any);
        }
        let mut origins = Vec::new();
        for entry in entries {
            let bad = || CorsOriginError(entry.chars().take(64).collect());
            let url = url::Url::parse(entry).map_err(|_| bad())?;
            let plain = matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some()
                && url.username().is_empty()
                && url.password().is_none()
                && url.path() == "/"
                && url.query().is_none()
                && url.fragment().is_none()
                && !entry.trim_end_matches('/').ends_with(['?', '#']);
            if !plain {
                return Err(bad());
            }
            let origin = url.origin().ascii_serialization();
            origins.push(HeaderValue::from_str(&origin).map_err(|_| bad())?);
        }
        if origins.is_empty() {
            return Ok(CorsOrigins::Disabled);
        }
        Ok(CorsOrigins::List(origins))
    }

    /// Whether CORS is off (no layer, no headers).
    pub fn is_disabled(&self) -> bool {
        matches!(self, CorsOrigins::Disabled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_origins() {
        assert_eq!(CorsOrigins::parse("*").unwrap(), CorsOrigins::Any);
        assert_eq!(CorsOrigins::parse(" , ").unwrap(), CorsOrigins::Disabled);
        assert_eq!(
            CorsOrigins::parse("https://App.Example, http://localhost:5173/,https://x.example:443")
                .unwrap(),
            CorsOrigins::List(vec![
                HeaderValue::from_static("https://app.example"),
                HeaderValue::from_static("http://localhost:5173"),
                HeaderValue::from_static("https://x.example"),
            ])
        );
        for bad in [
            "app.example",
            "ftp://app.example",
            "https://app.example/path",
            "https://user@app.example",
            "https://app.example?x=1",
            "*, https://app.example",
            "null",
        ] {
            assert!(CorsOrigins::parse(bad).is_err(), "{bad}");
        }
    }
}
