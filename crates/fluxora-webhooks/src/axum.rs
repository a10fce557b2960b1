//! The `axum` feature: [`VerifiedWebhook`], an extractor that verifies a delivery on its raw
//! bytes before the handler (or any JSON parsing) runs.
//!
//! ```
//! use axum::{routing::post, Router};
//! use fluxora_webhooks::{axum::VerifiedWebhook, Verifier};
//!
//! async fn on_webhook(webhook: VerifiedWebhook) -> &'static str {
//!     // Only verified bytes get here; parse them now.
//!     let _event: serde_json::Value = serde_json::from_slice(&webhook.body).unwrap_or_default();
//!     let _id = &webhook.delivery.delivery_id;
//!     "ok"
//! }
//!
//! // The verifier is the router's state (or any state it can be taken from with `FromRef`).
//! let verifier = Verifier::from_env("FLUXORA_WEBHOOK_SECRET");
//! let app: Router = Router::new().route("/webhooks/fluxora", post(on_webhook)).with_state(verifier);
//! # let _ = app;
//! ```
//!
//! Deduplication (the `duplicate_delivery` row) needs the business action's result, so it
//! happens in the handler: claim with [`crate::VerifiedDelivery::claim`], run the action, then
//! complete or release (see [`crate::dedup`]; `docs/webhooks.md` has a full handler).

use std::future::poll_fn;
use std::pin::Pin;

use ::axum::body::{Body, Bytes, HttpBody};
use ::axum::extract::{FromRef, FromRequest, Request};
use ::axum::http::StatusCode;
use ::axum::response::{IntoResponse, Response};
use ::axum::Json;

use crate::outcome::Rejection;
use crate::verifier::{VerifiedDelivery, Verifier};

/// A delivery verified by the [`Verifier`] taken from the router's state (`Verifier:
/// FromRef<S>`), with its raw body.
///
/// The extractor checks the headers first (`missing_secret`, `missing_*`), then reads at most
/// [`Verifier::max_body_bytes`] + 1 bytes (`payload_too_large` as soon as the limit is passed,
/// without buffering the rest), then verifies. It must be the handler's last argument (it
/// consumes the body). Failures answer [`WebhookRejection`]'s JSON.
#[derive(Debug, Clone)]
pub struct VerifiedWebhook {
    /// The exact body bytes that were verified (parse them as JSON yourself).
    pub body: Bytes,
    /// Delivery id, timestamp, event, matched signature and secret, replay window.
    pub delivery: VerifiedDelivery,
}

/// Why [`VerifiedWebhook`] refused a request. Answers `{"error":"<code>","message":"…"}` with
/// the status the verification table suggests (`Content-Type: application/json`).
#[derive(Debug, thiserror::Error)]
pub enum WebhookRejection {
    /// A failing row of the verification table ([`Rejection`]).
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The body could not be read (malformed chunked encoding, connection reset): 400
    /// `body_unreadable`.
    #[error("the request body could not be read: {0}")]
    BodyUnreadable(String),
}

impl WebhookRejection {
    /// The HTTP status of the answer.
    pub fn http_status(&self) -> u16 {
        match self {
            WebhookRejection::Rejected(rejection) => rejection.http_status(),
            WebhookRejection::BodyUnreadable(_) => 400,
        }
    }

    /// The `error` code of the answer: a verification code ([`Rejection::code`]), or
    /// `body_unreadable`.
    pub fn code(&self) -> &'static str {
        match self {
            WebhookRejection::Rejected(rejection) => rejection.code(),
            WebhookRejection::BodyUnreadable(_) => "body_unreadable",
        }
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::json!({ "error": self.code(), "message": self.to_string() });
        (status, Json(body)).into_response()
    }
}

impl<S> FromRequest<S> for VerifiedWebhook
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = WebhookRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Verifier::from_ref(state);
        let (parts, body) = request.into_parts();
        verifier.precheck(&parts.headers)?;
        let max = verifier.max_body_bytes();
        let body = match read_limited(body, max).await {
            Ok(Some(body)) => body,
            Ok(None) => {
                return Err(Rejection::PayloadTooLarge {
                    length: max.saturating_add(1),
                    max,
                }
                .into())
            }
            Err(error) => return Err(WebhookRejection::BodyUnreadable(error.to_string())),
        };
        let delivery = verifier.verify(&parts.headers, &body)?;
        Ok(VerifiedWebhook { body, delivery })
    }
}

/// The whole body if it has at most `max` bytes; `None` as soon as it is known to be longer.
async fn read_limited(mut body: Body, max: usize) -> Result<Option<Bytes>, axum::Error> {
    let max_u64 = u64::try_from(max).unwrap_or(u64::MAX);
    if body.size_hint().lower() > max_u64 {
        return Ok(None);
    }
    let mut buffer: Vec<u8> = Vec::new();
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if let Ok(data) = frame?.into_data() {
            if data.len() > max.saturating_sub(buffer.len()) {
                return Ok(None);
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(Some(Bytes::from(buffer)))
}
