//! Live webhook delivery (`docs/webhooks.md`, which also holds the signature contract): endpoints,
//! the outbox of domain events, deliveries with retries and dead letters, and the dispatcher.
//!
//! Every stream change writes its domain event into the outbox in the same transaction as the
//! change, with one delivery per matching enabled endpoint. The [`dispatcher`] claims due
//! deliveries, signs them with `fluxora-webhooks`, POSTs them through the SSRF guard and records
//! every attempt; [`policy`] decides what happens next.

pub mod dispatcher;
pub mod policy;
pub mod repo;
pub mod service;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;

use crate::clock::format_millis;
use crate::secret::Secret;

/// Event types the service emits (`x-fluxora-event`, the body's `type`).
pub const EVENT_TYPES: [&str; 5] = [
    "stream.created",
    "stream.updated",
    "stream.cancelled",
    "stream.completed",
    "webhook.test",
];

/// The names of [`EVENT_TYPES`] as an OpenAPI enum (schema only; the service handles event types
/// as strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub enum EventType {
    /// A stream was created.
    #[serde(rename = "stream.created")]
    StreamCreated,
    /// A stream was paused, resumed or otherwise changed.
    #[serde(rename = "stream.updated")]
    StreamUpdated,
    /// A stream was cancelled.
    #[serde(rename = "stream.cancelled")]
    StreamCancelled,
    /// A stream completed.
    #[serde(rename = "stream.completed")]
    StreamCompleted,
    /// `POST /api/webhooks/endpoints/{id}/test`.
    #[serde(rename = "webhook.test")]
    WebhookTest,
}

/// How long deliveries keep being signed with the previous secret after a rotation (ms): 24 h,
/// the consumers' grace window (`docs/webhooks.md`, "Secret rotation").
pub const ROTATION_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

/// A webhook endpoint as stored. The secrets are [`Secret`]s: never logged, never serialized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `wep_` + 32 hex.
    pub id: String,
    /// Where deliveries go (checked by the SSRF guard at creation and at every delivery).
    pub url: String,
    /// Free text.
    pub description: Option<String>,
    /// Types to deliver; empty = every type.
    pub event_types: Vec<String>,
    /// Whether deliveries are created for it.
    pub enabled: bool,
    /// The current signing secret.
    pub secret: Secret,
    /// The secret before the last rotation.
    pub previous_secret: Option<Secret>,
    /// Until when (unix ms) deliveries are still signed with the previous secret.
    pub previous_secret_until: Option<i64>,
    /// Deliveries in a row that ended failed or dead (reset by a success).
    pub consecutive_failures: u32,
    /// Why it was disabled automatically, if it was.
    pub disabled_reason: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

impl Endpoint {
    /// A new endpoint with a fresh id (`wep_` + the 32 hex digits of a UUID v7), created at unix
    /// ms `now`: no previous secret, no failures. The caller has validated `url` (SSRF guard)
    /// and `event_types`.
    pub fn new(
        url: String,
        description: Option<String>,
        event_types: Vec<String>,
        enabled: bool,
        secret: Secret,
        now: i64,
    ) -> Self {
        Self {
            id: format!("wep_{}", uuid::Uuid::now_v7().simple()),
            url,
            description,
            event_types,
            enabled,
            secret,
            previous_secret: None,
            previous_secret_until: None,
            consecutive_failures: 0,
            disabled_reason: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// The secret deliveries are signed with at unix ms `now`: the previous one during the
    /// rotation grace window (so consumers that have not switched yet keep verifying), then the
    /// current one.
    pub fn signing_secret(&self, now: i64) -> &Secret {
        match (&self.previous_secret, self.previous_secret_until) {
            (Some(previous), Some(until)) if now < until => previous,
            _ => &self.secret,
        }
    }

    /// The API representation (never the secret).
    pub fn view(&self) -> EndpointView {
        EndpointView {
            id: self.id.clone(),
            url: self.url.clone(),
            description: self.description.clone(),
            event_types: self.event_types.clone(),
            enabled: self.enabled,
            disabled_reason: self.disabled_reason.clone(),
            consecutive_failures: self.consecutive_failures,
            previous_secret_valid_until: self.previous_secret_until.map(format_millis),
            created_at: format_millis(self.created_at),
            updated_at: format_millis(self.updated_at),
        }
    }
}

/// An endpoint as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointView {
    /// Id.
    pub id: String,
    /// URL.
    pub url: String,
    /// Description.
    pub description: Option<String>,
    /// Types delivered (empty = all).
    #[schema(value_type = Vec<crate::webhooks::EventType>)]
    pub event_types: Vec<String>,
    /// Enabled.
    pub enabled: bool,
    /// Why it was disabled automatically.
    pub disabled_reason: Option<String>,
    /// Failed attempts in a row.
    pub consecutive_failures: u32,
    /// End of the rotation grace window (RFC 3339), if a rotation is in progress.
    #[schema(format = DateTime)]
    pub previous_secret_valid_until: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// The `data` of an outbox event: `value` serialized as JSON once (then stored and sent byte for
/// byte). A value that cannot be serialized — never the case for the stream views and test
/// events we build — becomes `null`.
pub fn event_data<T: Serialize + ?Sized>(value: &T) -> Box<serde_json::value::RawValue> {
    serde_json::value::to_raw_value(value)
        .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned())
}

/// A domain event in the outbox.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    /// `evt_` + 32 hex.
    pub id: String,
    /// One of [`EVENT_TYPES`].
    pub event_type: String,
    /// The stream concerned.
    pub stream_id: Option<String>,
    /// The event's `data` (the stream resource at the change), serialized once: it is stored
    /// and sent byte for byte as built.
    pub data: Box<serde_json::value::RawValue>,
    /// Unix ms.
    pub created_at: i64,
}

impl OutboxEvent {
    /// A new event with a fresh id.
    pub fn new(
        event_type: &str,
        stream_id: Option<String>,
        data: Box<serde_json::value::RawValue>,
        now: i64,
    ) -> Self {
        Self {
            id: format!("evt_{}", uuid::Uuid::now_v7().simple()),
            event_type: event_type.to_string(),
            stream_id,
            data,
            created_at: now,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    id: &'a str,
    delivery_id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    created_at: String,
    data: &'a serde_json::value::RawValue,
}

/// The exact body of a delivery: `{"id","deliveryId","type","createdAt","data"}`. Deterministic,
/// so every retry sends the same bytes; the ids sit inside the signed body so consumers can bind
/// the (unsigned) `x-fluxora-delivery-id` header to the signature.
pub fn delivery_body(
    event_id: &str,
    delivery_id: &str,
    event_type: &str,
    created_at: i64,
    data: &serde_json::value::RawValue,
) -> Vec<u8> {
    serde_json::to_vec(&Body {
        id: event_id,
        delivery_id,
        event_type,
        created_at: format_millis(created_at),
        data,
    })
    .unwrap_or_default()
}

/// A new signing secret: `fxwh_` + 256 random bits, base64url. For `x-fluxora-signature` the whole
/// string's UTF-8 bytes are the HMAC key (`docs/webhooks.md`, "The delivery").
///
/// Errors: the OS has no randomness.
pub fn generate_secret() -> Result<Secret, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(Secret::new(format!(
        "fxwh_{}",
        URL_SAFE_NO_PAD.encode(bytes)
    )))
}

/// Delivery states (`docs/webhooks.md`, "Attempts, retries and dead letters").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// A 2xx (or a `duplicate_delivery` 409) was received.
    Delivered,
    /// Refused by the consumer (a 4xx other than 408/409-duplicate/425/429): not retried.
    Failed,
    /// Every scheduled attempt failed: a dead letter, replayable.
    Dead,
}

impl DeliveryStatus {
    /// Storage and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Dead => "dead",
        }
    }

    /// Parses the name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
            DeliveryStatus::Dead,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }
}

/// A delivery as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// `dlv_…`, stable across retries (the `x-fluxora-delivery-id`).
    pub id: String,
    /// The event.
    pub event_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// The event's type.
    #[schema(value_type = crate::webhooks::EventType)]
    pub event_type: String,
    /// State.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// Next attempt (unix ms) while pending.
    #[serde(skip)]
    pub next_attempt_at: i64,
    /// RFC 3339 of the next attempt, while pending.
    #[serde(rename = "nextAttemptAt")]
    #[schema(format = DateTime)]
    pub next_attempt_at_iso: Option<String>,
    /// Last HTTP status received.
    pub last_status: Option<u16>,
    /// Last error (transport or HTTP).
    pub last_error: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339, when delivered.
    #[schema(format = DateTime)]
    pub delivered_at: Option<String>,
}

/// One recorded attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// 1-based.
    pub attempt: u32,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub attempted_at: String,
    /// HTTP status, if a response came.
    pub status_code: Option<u16>,
    /// Milliseconds from send to response or error.
    pub latency_ms: u64,
    /// Transport error or reason.
    pub error: Option<String>,
    /// The first 1 KiB of the response body.
    pub response_body: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenAPI enum and the list the service checks event types against are one list.
    #[test]
    fn event_type_enum_matches_event_types() {
        let all = [
            EventType::StreamCreated,
            EventType::StreamUpdated,
            EventType::StreamCancelled,
            EventType::StreamCompleted,
            EventType::WebhookTest,
        ];
        let names: Vec<String> = all
            .iter()
            .map(|t| {
                serde_json::to_value(t)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(names, EVENT_TYPES);
        for name in EVENT_TYPES {
            let parsed: EventType = serde_json::from_value(serde_json::json!(name)).unwrap();
            assert!(all.contains(&parsed));
        }
    }
}
