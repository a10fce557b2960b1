//! Request body rules: at most [`MAX_BODY_BYTES`] (262 144 bytes allowed, 413 beyond, checked
//! before parsing), JSON only (415 otherwise), malformed JSON → 400, and at most
//! [`MAX_JSON_DEPTH`] levels of nesting → 400 beyond, refused while parsing, before deeper values
//! are built.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};

use crate::http::error::ApiError;

/// Largest accepted request body: 256 KiB (262 144 bytes; 413 `PAYLOAD_TOO_LARGE` beyond).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Deepest nesting of arrays and objects accepted in a request body (a top-level object is
/// depth 1). No request of the API needs more than a few levels; the limit keeps a 256 KiB body
/// of brackets from costing deep recursion. Deeper → 400 `VALIDATION_ERROR`.
pub const MAX_JSON_DEPTH: usize = 32;

/// Whether a `Content-Type` is JSON: `application/json` or `application/*+json`, any parameters
/// (charset) allowed, case-insensitive.
pub fn is_json_content_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.split_once('/') {
        Some(("application", subtype)) => subtype == "json" || subtype.ends_with("+json"),
        _ => false,
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// Refuses oversized bodies (by `Content-Length`, before reading anything) with 413
/// ([`ApiError::PayloadTooLarge`]) and bodies that are not JSON with 415
/// ([`ApiError::UnsupportedMediaType`]). Requests without a body (no or zero `Content-Length`,
/// no `Transfer-Encoding`) need no `Content-Type`. Run by the admission layer
/// ([`crate::http::admission`]) on every request, before its route.
pub fn check_headers(headers: &HeaderMap) -> Result<(), ApiError> {
    let length = declared_length(headers);
    if length.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(ApiError::PayloadTooLarge {
            max: MAX_BODY_BYTES,
        });
    }
    let has_body = length.is_some_and(|n| n > 0) || headers.contains_key(header::TRANSFER_ENCODING);
    if has_body {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json_content_type);
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
    }
    Ok(())
}

/// Extractor: the request body parsed as a JSON value, read with the size limit enforced on the
/// actual bytes (chunked bodies included).
///
/// Rejections: 413 past [`MAX_BODY_BYTES`], 400 `VALIDATION_ERROR` for malformed JSON (an empty
/// body included), a repeated key, or nesting deeper than [`MAX_JSON_DEPTH`].
#[derive(Debug, Clone)]
pub struct JsonValue(pub serde_json::Value);

impl<S: Send + Sync> FromRequest<S> for JsonValue {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let body: Body = request.into_body();
        let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|error| {
                if is_length_limit(&error) {
                    ApiError::PayloadTooLarge {
                        max: MAX_BODY_BYTES,
                    }
                } else {
                    ApiError::Validation {
                        message: "could not read the request body".into(),
                        details: Vec::new(),
                    }
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::Validation {
                message: "request body is empty; send a JSON object".into(),
                details: Vec::new(),
            });
        }
        parse_strict(&bytes)
            .map(JsonValue)
            .map_err(|error| ApiError::malformed_json(&error))
    }
}

/// Parses a whole body with the [`StrictSeed`] rules (no repeated keys, at most
/// [`MAX_JSON_DEPTH`] levels), refusing trailing content.
fn parse_strict(bytes: &[u8]) -> Result<serde_json::Value, serde_json::Error> {
    use serde::de::DeserializeSeed;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = StrictSeed { depth: 0 }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// Parses a JSON value like `serde_json::Value`, except that an object with a repeated key is an
/// error (parsers disagree on which duplicate wins, so a body that means different things to
/// different readers is refused, as unknown fields are), and so is nesting deeper than
/// [`MAX_JSON_DEPTH`]. `depth` counts the arrays and objects around the value being parsed.
struct StrictSeed {
    depth: usize,
}

impl<'de> serde::de::DeserializeSeed<'de> for StrictSeed {
    type Value = serde_json::Value;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(StrictVisitor { depth: self.depth })
    }
}

struct StrictVisitor {
    depth: usize,
}

impl StrictVisitor {
    /// The seed for a value inside this array or object; an error past [`MAX_JSON_DEPTH`].
    fn enter<E: serde::de::Error>(&self) -> Result<StrictSeed, E> {
        let depth = self.depth + 1;
        if depth > MAX_JSON_DEPTH {
            return Err(E::custom(format!(
                "nesting exceeds the maximum depth of {MAX_JSON_DEPTH} arrays and objects"
            )));
        }
        Ok(StrictSeed { depth })
    }
}

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v)
            .map_or(serde_json::Value::Null, serde_json::Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(serde_json::Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(serde_json::Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        self.enter::<A::Error>()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.enter::<A::Error>()?)? {
            items.push(item);
        }
        Ok(serde_json::Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        self.enter::<A::Error>()?;
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self.enter::<A::Error>()?)?;
            if object.contains_key(&key) {
                let shown: String = crate::address::redact_secret_seeds(&key)
                    .chars()
                    .take(64)
                    .collect();
                return Err(serde::de::Error::custom(format!("duplicate key '{shown}'")));
            }
            object.insert(key, value);
        }
        Ok(serde_json::Value::Object(object))
    }
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = current.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::{is_json_content_type, parse_strict, MAX_JSON_DEPTH};

    fn nested(depth: usize) -> String {
        let mut body = String::new();
        for i in 0..depth {
            body.push_str(if i % 2 == 0 { "{\"a\":" } else { "[" });
        }
        body.push('1');
        for i in (0..depth).rev() {
            body.push(if i % 2 == 0 { '}' } else { ']' });
        }
        body
    }

    #[test]
    fn nesting_depth_is_limited() {
        assert!(parse_strict(nested(MAX_JSON_DEPTH).as_bytes()).is_ok());
        let error = parse_strict(nested(MAX_JSON_DEPTH + 1).as_bytes()).unwrap_err();
        assert!(error.to_string().contains("maximum depth of 32"), "{error}");
        // Far deeper than serde_json's own recursion limit: still our error.
        let error = parse_strict(nested(10_000).as_bytes()).unwrap_err();
        assert!(error.to_string().contains("maximum depth"), "{error}");
        assert!(parse_strict(b"{\"a\":1,\"a\":2}").is_err());
        assert!(parse_strict(b"{} x").is_err());
        assert_eq!(
            parse_strict(b" [1, {\"b\": null}] ").unwrap(),
            serde_json::json!([1, {"b": null}])
        );
    }

    #[test]
    fn json_content_types() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON;charset=UTF-8",
            "application/merge-patch+json",
            "application/vnd.api+json ; charset=utf-8",
        ] {
            assert!(is_json_content_type(ok), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/xml",
            "json",
            "",
            "application/jsonx",
            "text/json",
        ] {
            assert!(!is_json_content_type(bad), "{bad}");
        }
    }
}
