//! Query-string parameters of the stream read routes.
//!
//! `GET /api/streams` takes `limit` (1–100, default 20), `cursor`, `status`, `sender`,
//! `recipient`, `source` and `at`; `GET /api/streams/{id}` takes `at`. Unknown or repeated
//! parameters are refused, so a misspelt filter never silently returns everything.

use crate::address::StellarAddress;
use crate::streams::repo::StreamFilters;
use crate::streams::{StreamSource, StreamStatus, MAX_UNIX_TIME};
use crate::validation::{Collector, FieldError, ValidationErrors};

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size.
pub const MAX_LIMIT: u32 = 100;

/// Field code: a query parameter the route does not know.
pub const UNKNOWN_PARAMETER: &str = "UNKNOWN_PARAMETER";
/// Field code: a parameter given more than once.
pub const DUPLICATE_PARAMETER: &str = "DUPLICATE_PARAMETER";
/// Field code: a malformed or out-of-range value.
pub const INVALID_PARAMETER: &str = "INVALID_PARAMETER";
/// Field code: a cursor that is forged, tampered or issued for other filters.
pub const INVALID_CURSOR: &str = "INVALID_CURSOR";

/// Parsed `GET /api/streams` parameters.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    /// Filters.
    pub filters: StreamFilters,
    /// Page size.
    pub limit: u32,
    /// Raw cursor (verified by the service against the filters).
    pub cursor: Option<String>,
    /// Evaluation instant for amounts (unix seconds).
    pub at: Option<u64>,
}

type Pairs = Vec<(String, String)>;

fn parse_pairs(query: Option<&str>, allowed: &[&str], errors: &mut Collector) -> Pairs {
    let mut pairs: Pairs = Vec::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if !allowed.contains(&name.as_ref()) {
            let shown: String = crate::address::redact_secret_seeds(&name)
                .chars()
                .take(64)
                .collect();
            errors.push(FieldError::new(
                shown,
                UNKNOWN_PARAMETER,
                format!("unknown query parameter; allowed: {}", allowed.join(", ")),
            ));
            continue;
        }
        if pairs.iter().any(|(n, _)| n == name.as_ref()) {
            errors.push(FieldError::new(
                name.into_owned(),
                DUPLICATE_PARAMETER,
                "parameter given more than once",
            ));
            continue;
        }
        pairs.push((name.into_owned(), value.into_owned()));
    }
    pairs
}

fn value<'a>(pairs: &'a Pairs, name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Parses `at`: a non-negative integer of unix seconds (ASCII digits only), at most
/// [`MAX_UNIX_TIME`].
fn parse_at(raw: &str) -> Result<u64, FieldError> {
    let parsed = if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        raw.parse::<u64>().ok().filter(|t| *t <= MAX_UNIX_TIME)
    } else {
        None
    };
    parsed.ok_or_else(|| {
        FieldError::new(
            "at",
            INVALID_PARAMETER,
            format!("at must be a non-negative integer of unix seconds, at most {MAX_UNIX_TIME}"),
        )
    })
}

fn parse_address(pairs: &Pairs, field: &'static str) -> Result<Option<StellarAddress>, FieldError> {
    match value(pairs, field) {
        None => Ok(None),
        Some(raw) => StellarAddress::parse(raw)
            .map(Some)
            .map_err(|error| FieldError::new(field, error.code(), error.message(field))),
    }
}

/// Parses the query string of `GET /api/streams/{id}`.
///
/// Errors: every unknown, repeated or invalid parameter.
pub fn parse_get_params(query: Option<&str>) -> Result<Option<u64>, ValidationErrors> {
    let mut errors = Collector::default();
    let pairs = parse_pairs(query, &["at"], &mut errors);
    let at = value(&pairs, "at").and_then(|raw| errors.take(parse_at(raw)));
    errors.finish()?;
    Ok(at)
}

/// Parses the query string of `GET /api/streams`.
///
/// Errors: every unknown, repeated or invalid parameter; an unknown status or source, or a
/// sender/recipient that is not a valid StrKey, is invalid.
pub fn parse_list_params(query: Option<&str>) -> Result<ListParams, ValidationErrors> {
    let mut errors = Collector::default();
    let pairs = parse_pairs(
        query,
        &[
            "limit",
            "cursor",
            "status",
            "sender",
            "recipient",
            "source",
            "at",
        ],
        &mut errors,
    );

    let limit = match value(&pairs, "limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => {
            let parsed =
                if !raw.is_empty() && raw.len() <= 3 && raw.bytes().all(|b| b.is_ascii_digit()) {
                    raw.parse::<u32>()
                        .ok()
                        .filter(|l| (1..=MAX_LIMIT).contains(l))
                } else {
                    None
                };
            parsed.unwrap_or_else(|| {
                errors.push(FieldError::new(
                    "limit",
                    INVALID_PARAMETER,
                    format!("limit must be an integer from 1 to {MAX_LIMIT}"),
                ));
                DEFAULT_LIMIT
            })
        }
    };
    let status = value(&pairs, "status").and_then(|raw| {
        let parsed = StreamStatus::parse(raw);
        if parsed.is_none() {
            errors.push(FieldError::new(
                "status",
                INVALID_PARAMETER,
                "status must be one of active, paused, completed, cancelled",
            ));
        }
        parsed
    });
    let source = value(&pairs, "source").and_then(|raw| {
        let parsed = StreamSource::parse(raw);
        if parsed.is_none() {
            errors.push(FieldError::new(
                "source",
                INVALID_PARAMETER,
                "source must be api or chain",
            ));
        }
        parsed
    });
    let sender = errors.take(parse_address(&pairs, "sender")).flatten();
    let recipient = errors.take(parse_address(&pairs, "recipient")).flatten();
    let at = value(&pairs, "at").and_then(|raw| errors.take(parse_at(raw)));
    let cursor = value(&pairs, "cursor").map(str::to_string);
    if cursor.as_deref() == Some("") {
        errors.push(FieldError::new(
            "cursor",
            INVALID_CURSOR,
            "cursor must not be empty; omit it for the first page",
        ));
    }
    errors.finish()?;
    Ok(ListParams {
        filters: StreamFilters {
            status,
            sender,
            recipient,
            source,
        },
        limit,
        cursor,
        at,
    })
}

impl StreamFilters {
    /// The canonical `(name, value)` list the cursor fingerprint covers (a cursor issued for
    /// other filters is refused).
    pub fn fingerprint_parts(&self) -> [(&'static str, Option<&str>); 4] {
        [
            ("status", self.status.map(StreamStatus::as_str)),
            ("sender", self.sender.as_ref().map(StellarAddress::as_str)),
            (
                "recipient",
                self.recipient.as_ref().map(StellarAddress::as_str),
            ),
            ("source", self.source.map(StreamSource::as_str)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(query: &str) -> Vec<(String, &'static str)> {
        match parse_list_params(Some(query)) {
            Ok(_) => Vec::new(),
            Err(ValidationErrors(errors)) => {
                errors.into_iter().map(|e| (e.field, e.code)).collect()
            }
        }
    }

    #[test]
    fn list_params() {
        let params = parse_list_params(None).unwrap();
        assert_eq!(params.limit, DEFAULT_LIMIT);
        assert!(codes("limit=100&status=paused&source=api").is_empty());
        for bad in [
            "limit=0",
            "limit=101",
            "limit=-1",
            "limit=1.5",
            "limit=abc",
            "limit=",
            "limit=%2B5",
        ] {
            assert_eq!(
                codes(bad),
                vec![("limit".to_string(), INVALID_PARAMETER)],
                "{bad}"
            );
        }
        assert_eq!(
            codes("status=done"),
            vec![("status".to_string(), INVALID_PARAMETER)]
        );
        assert_eq!(
            codes("source=web"),
            vec![("source".to_string(), INVALID_PARAMETER)]
        );
        assert_eq!(
            codes("sender=GABC"),
            vec![("sender".to_string(), "STRKEY_INVALID")]
        );
        assert_eq!(
            codes("sendr=x"),
            vec![("sendr".to_string(), UNKNOWN_PARAMETER)]
        );
        assert_eq!(
            codes("limit=1&limit=2"),
            vec![("limit".to_string(), DUPLICATE_PARAMETER)]
        );
        assert_eq!(codes("at=-5"), vec![("at".to_string(), INVALID_PARAMETER)]);
    }

    #[test]
    fn get_params() {
        assert_eq!(parse_get_params(Some("at=0")).unwrap(), Some(0));
        assert!(parse_get_params(Some("at=1.5")).is_err());
        assert!(parse_get_params(Some("at=%2B1")).is_err());
        assert!(parse_get_params(Some("at=99999999999999999999")).is_err());
        assert!(parse_get_params(Some("x=1")).is_err());
    }
}
