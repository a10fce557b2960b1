//! The one error envelope of the API (`docs/api.md`, "The error envelope"), and the single place
//! errors become HTTP responses.
//!
//! Handlers and middleware return [`ApiError`]; its `IntoResponse` attaches an [`ErrorBody`] to an
//! empty response. [`render_envelope`] (called by the outermost layer) then writes every error
//! body, adding the request id. Error responses produced outside our code (axum's 405, a path
//! rejection) carry no [`ErrorBody`] and are rewritten there too, so no route can answer with
//! anything but the envelope:
//! `{"error":{"code":"NOT_FOUND","message":"…","requestId":"…","details":…}}`.

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::ratelimit_status::RateLimitStatus;
use crate::store::StoreError;
use crate::streams::service::StreamError;
use crate::validation::{FieldError, ValidationErrors};

/// Every error the API emits. `code()` is its stable envelope code ([`ErrorCode`]).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `VALIDATION_ERROR`, optionally listing failing fields.
    #[error("{message}")]
    Validation {
        /// Summary.
        message: String,
        /// Failing fields (`details`), empty when not field-specific.
        details: Vec<FieldError>,
    },
    /// 404 `NOT_FOUND`.
    #[error("{0}")]
    NotFound(String),
    /// 409 `CONFLICT`.
    #[error("{0}")]
    Conflict(String),
    /// 409 `IDEMPOTENCY_KEY_IN_FLIGHT` with `Retry-After`: the same request is still being
    /// processed; retrying it later replays its response.
    #[error("{message}")]
    IdempotencyInFlight {
        /// Explanation.
        message: String,
        /// `Retry-After`, in seconds.
        retry_after_secs: u64,
    },
    /// 401 `UNAUTHORIZED`.
    #[error("{0}")]
    Unauthorized(String),
    /// 403 `FORBIDDEN`: authenticated, but the credential lacks the scope the route needs.
    #[error("{0}")]
    Forbidden(String),
    /// 429 `RATE_LIMITED`; the response carries `Retry-After` and the `RateLimit-*` headers of
    /// [`RateLimitStatus`].
    #[error("rate limit exceeded; retry after {} s", .0.retry_after_secs)]
    RateLimited(RateLimitStatus),
    /// 413 `PAYLOAD_TOO_LARGE`.
    #[error("request body exceeds {max} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        max: usize,
    },
    /// 415 `UNSUPPORTED_MEDIA_TYPE`.
    #[error("request bodies must be JSON: send Content-Type: application/json")]
    UnsupportedMediaType,
    /// 414 `URI_TOO_LONG` ([`crate::http::limits`]).
    #[error("the request target (path and query) exceeds {max} bytes")]
    UriTooLong {
        /// The limit in bytes.
        max: usize,
    },
    /// 431 `HEADERS_TOO_LARGE` ([`crate::http::limits`]).
    #[error("the request headers exceed {max_bytes} bytes or {max_count} fields")]
    HeadersTooLarge {
        /// The limit on the header section, in bytes.
        max_bytes: usize,
        /// The limit on the number of fields.
        max_count: usize,
    },
    /// 503 `SERVICE_UNAVAILABLE`.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// 500 `INTERNAL_ERROR`; the cause is logged, never sent.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) | ApiError::IdempotencyInFlight { .. } => StatusCode::CONFLICT,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable envelope code ([`ErrorCode`]).
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Validation { .. } => ErrorCode::ValidationError,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::IdempotencyInFlight { .. } => ErrorCode::IdempotencyKeyInFlight,
            ApiError::Unauthorized(_) => ErrorCode::Unauthorized,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::RateLimited(_) => ErrorCode::RateLimited,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            ApiError::UriTooLong { .. } => ErrorCode::UriTooLong,
            ApiError::HeadersTooLarge { .. } => ErrorCode::HeadersTooLarge,
            ApiError::ServiceUnavailable(_) => ErrorCode::ServiceUnavailable,
            ApiError::Internal => ErrorCode::InternalError,
        }
    }

    /// A 400 for a body that is not valid JSON (position only, never the content), or whose
    /// object repeats a key (the key, truncated and redacted, is named).
    pub fn malformed_json(error: &serde_json::Error) -> Self {
        let message = match error.classify() {
            serde_json::error::Category::Data => {
                format!("request body is not acceptable JSON: {error}")
            }
            _ => format!(
                "request body is not valid JSON (line {}, column {})",
                error.line(),
                error.column()
            ),
        };
        ApiError::Validation {
            message,
            details: Vec::new(),
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        ApiError::Validation {
            message: "request validation failed".into(),
            details: errors.0,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            unavailable if unavailable.is_unavailable() => {
                tracing::warn!(error = %unavailable, "database unavailable");
                crate::health::database_failure_observed();
                ApiError::ServiceUnavailable(
                    "the database is temporarily unavailable; retry later".into(),
                )
            }
            other => {
                tracing::error!(error = %other, "storage error");
                ApiError::Internal
            }
        }
    }
}

impl From<StreamError> for ApiError {
    fn from(error: StreamError) -> Self {
        match error {
            StreamError::Validation(errors) => errors.into(),
            StreamError::NotFound(_) => ApiError::NotFound(error.to_string()),
            StreamError::Transition(_)
            | StreamError::IdempotencyConflict
            | StreamError::Contended(_) => ApiError::Conflict(error.to_string()),
            StreamError::IdempotencyInFlight { retry_after_secs } => {
                ApiError::IdempotencyInFlight {
                    message: error.to_string(),
                    retry_after_secs,
                }
            }
            StreamError::Store(store) => store.into(),
        }
    }
}

impl From<crate::webhooks::service::WebhookError> for ApiError {
    fn from(error: crate::webhooks::service::WebhookError) -> Self {
        use crate::webhooks::service::WebhookError;
        match error {
            WebhookError::Validation(errors) => errors.into(),
            WebhookError::EndpointNotFound(_) | WebhookError::DeliveryNotFound(_) => {
                ApiError::NotFound(error.to_string())
            }
            WebhookError::Randomness => {
                tracing::error!(error = %error, "webhook secret generation failed");
                ApiError::Internal
            }
            WebhookError::Store(store) => store.into(),
        }
    }
}

impl From<crate::indexer::event::PushBodyError> for ApiError {
    fn from(error: crate::indexer::event::PushBodyError) -> Self {
        ApiError::Validation {
            message: error.to_string(),
            details: error.into_details(),
        }
    }
}

impl From<crate::indexer::ingest::IngestError> for ApiError {
    /// The push-ingest answers: a batch naming another contract or giving two hashes for one
    /// ledger is a 400 (nothing applied), a contended ingest a 409.
    fn from(error: crate::indexer::ingest::IngestError) -> Self {
        use crate::indexer::ingest::IngestError;
        let message = error.to_string();
        match error {
            IngestError::Store(store) => store.into(),
            IngestError::WrongContract { index, .. } => ApiError::Validation {
                message,
                details: vec![FieldError::new(
                    format!("events[{index}].contractId"),
                    "CONTRACT_ID_MISMATCH",
                    "not the contract this service indexes (FLUXORA_CONTRACT_ID)",
                )],
            },
            IngestError::ConflictingHashes { ledger } => ApiError::Validation {
                message,
                details: vec![FieldError::new(
                    "events",
                    "LEDGER_HASH_CONFLICT",
                    format!("two different ledgerHash values for ledger {ledger}"),
                )],
            },
            IngestError::InvalidEntry { index, error } => ApiError::Validation {
                message,
                details: vec![FieldError::new(
                    format!("ledgerEntries[{index}].xdr"),
                    "LEDGER_ENTRY_INVALID",
                    error.message,
                )],
            },
            IngestError::EntryOfWrongContract { index, .. } => ApiError::Validation {
                message,
                details: vec![FieldError::new(
                    format!("ledgerEntries[{index}].xdr"),
                    "CONTRACT_ID_MISMATCH",
                    "not an entry of the contract this service indexes (FLUXORA_CONTRACT_ID)",
                )],
            },
            IngestError::LookbackOfWrongContract { index, .. } => ApiError::Validation {
                message,
                details: vec![FieldError::new(
                    format!("lookbackWindows[{index}].contractId"),
                    "CONTRACT_ID_MISMATCH",
                    "not the contract this service indexes (FLUXORA_CONTRACT_ID)",
                )],
            },
            IngestError::Contended => ApiError::Conflict(message),
        }
    }
}

/// The envelope contents an error response carries until [`render_envelope`] writes it.
#[derive(Debug, Clone)]
pub struct ErrorBody {
    code: ErrorCode,
    message: String,
    details: Option<Vec<FieldError>>,
}

impl ErrorBody {
    /// The envelope's `code`.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The envelope's `message`.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        let status = self.status();
        let message = self.to_string();
        let rate_limit = match &self {
            ApiError::RateLimited(status) => Some(*status),
            _ => None,
        };
        let retry_after = match &self {
            ApiError::IdempotencyInFlight {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let details = match self {
            ApiError::Validation { details, .. } if !details.is_empty() => Some(details),
            _ => None,
        };
        let mut response = status.into_response();
        response.extensions_mut().insert(ErrorBody {
            code,
            message,
            details,
        });
        if let Some(rate_limit) = rate_limit {
            rate_limit.write_headers(response.headers_mut(), true);
        }
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Marks a non-2xx response whose body is not an error (the `/health` report at 503).
#[derive(Debug, Clone, Copy)]
pub struct NotAnError;

/// The stable error codes, the `code` of every error envelope: clients branch on these, never
/// on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// 400: malformed JSON, a failing field (see `details`), a bad query parameter or header.
    ValidationError,
    /// 404: unknown route or resource (also admin routes while `ADMIN_TOKEN` is unset).
    NotFound,
    /// 409: illegal transition, chain-owned stream, an `Idempotency-Key` reused with another
    /// body, or contention.
    Conflict,
    /// 409: the first request with this `Idempotency-Key` is still in flight; retry the same
    /// request after `Retry-After` seconds.
    IdempotencyKeyInFlight,
    /// 401: a credential is missing or wrong.
    Unauthorized,
    /// 403: the credential lacks the scope the route needs.
    Forbidden,
    /// 413: body over 262 144 bytes.
    PayloadTooLarge,
    /// 415: a body without a JSON `Content-Type`.
    UnsupportedMediaType,
    /// 405: the path exists, the method does not (see the `Allow` header).
    MethodNotAllowed,
    /// 414: the request target (path and query) is over 8 192 bytes.
    UriTooLong,
    /// 431: the request headers are over 16 384 bytes or 100 fields.
    HeadersTooLarge,
    /// 429: over the rate limit (see `Retry-After` and the `RateLimit-*` headers).
    RateLimited,
    /// 503: the database is unreachable or the service is shutting down.
    ServiceUnavailable,
    /// 500: an unexpected failure; the cause is logged, never sent.
    InternalError,
}

impl ErrorCode {
    /// Every code, in the order of the enum.
    pub const ALL: [ErrorCode; 14] = [
        ErrorCode::ValidationError,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::IdempotencyKeyInFlight,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::MethodNotAllowed,
        ErrorCode::UriTooLong,
        ErrorCode::HeadersTooLarge,
        ErrorCode::RateLimited,
        ErrorCode::ServiceUnavailable,
        ErrorCode::InternalError,
    ];

    /// The code as it appears in the envelope (`"NOT_FOUND"`), also the `error_code` field of
    /// the request's log line.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ValidationError => "VALIDATION_ERROR",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::IdempotencyKeyInFlight => "IDEMPOTENCY_KEY_IN_FLIGHT",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::UriTooLong => "URI_TOO_LONG",
            ErrorCode::HeadersTooLarge => "HEADERS_TOO_LARGE",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::InternalError => "INTERNAL_ERROR",
        }
    }
}

/// The one error body of the API: `{"error":{"code","message","requestId","details"}}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorObject,
}

/// The `error` member of an [`ErrorEnvelope`].
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorObject {
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation; never internals, never secret input.
    pub message: String,
    /// The request id, as echoed in the `x-request-id` response header.
    pub request_id: String,
    /// Failing fields of a 400 `VALIDATION_ERROR`; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub details: Option<Vec<FieldError>>,
}

/// Default envelope contents for an error response produced outside our handlers.
fn default_body(status: StatusCode, method: &str, path: &str) -> ErrorBody {
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (
            ErrorCode::NotFound,
            format!("Route '{method} {path}' not found"),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::MethodNotAllowed,
            format!("Method {method} is not allowed on '{path}'; see the Allow header"),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            ErrorCode::PayloadTooLarge,
            "request body is too large".into(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            ErrorCode::UnsupportedMediaType,
            "request bodies must be JSON: send Content-Type: application/json".into(),
        ),
        StatusCode::URI_TOO_LONG => (ErrorCode::UriTooLong, "request target too long".into()),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            ErrorCode::HeadersTooLarge,
            "request headers too large".into(),
        ),
        StatusCode::UNAUTHORIZED => (ErrorCode::Unauthorized, "authentication required".into()),
        StatusCode::FORBIDDEN => (ErrorCode::Forbidden, "not allowed".into()),
        StatusCode::TOO_MANY_REQUESTS => (ErrorCode::RateLimited, "too many requests".into()),
        StatusCode::SERVICE_UNAVAILABLE => (
            ErrorCode::ServiceUnavailable,
            "service temporarily unavailable".into(),
        ),
        status if status.is_client_error() => {
            (ErrorCode::ValidationError, "invalid request".into())
        }
        _ => (ErrorCode::InternalError, "internal error".into()),
    };
    ErrorBody {
        code,
        message,
        details: None,
    }
}

/// Writes the envelope of an error response, with `request_id` (the request's `x-request-id`);
/// any other response is returned as it is. Called by the outermost layer
/// ([`crate::http::request_id::observe`]) for every response, so no route, middleware or
/// framework rejection can answer an error with anything but the envelope. Also adds
/// `Cache-Control: no-store` to errors so intermediaries never cache them. `method` and `path`
/// (redacted here) name the request in the default messages of errors produced outside our code.
pub fn render_envelope(
    mut response: Response,
    request_id: &str,
    method: &Method,
    path: &str,
) -> Response {
    let status = response.status();
    let body = match response.extensions_mut().remove::<ErrorBody>() {
        Some(body) => body,
        None if (status.is_client_error() || status.is_server_error())
            && response.extensions().get::<NotAnError>().is_none() =>
        {
            if status.is_server_error() {
                tracing::error!(status = status.as_u16(), "unhandled error response");
            }
            default_body(status, method.as_str(), &crate::http::redacted_path(path))
        }
        None => return response,
    };
    let envelope = ErrorEnvelope {
        error: ErrorObject {
            code: body.code,
            message: body.message,
            request_id: request_id.to_owned(),
            details: body.details,
        },
    };
    let bytes = serde_json::to_vec(&envelope).unwrap_or_default();
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The code stays on the response for the request's log line.
    parts.extensions.insert(envelope.error.code);
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_are_the_serialized_names() {
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::from(code.as_str())
            );
        }
    }
}
