//! The webhook administration use cases: endpoints (create, read, update, delete, rotate the
//! secret, send a test event, replay dead letters) and deliveries (list, read, replay).
//!
//! It validates input (every failing field reported at once), checks endpoint URLs against the
//! SSRF policy, makes secrets and persists through [`WebhookRepository`]; it knows nothing of
//! HTTP. After anything that queues deliveries it wakes the dispatcher.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use tokio::sync::Notify;

use crate::clock::now_millis;
use crate::pagination::{filter_fingerprint, CursorCodec};
use crate::secret::Secret;
use crate::ssrf::SsrfPolicy;
use crate::store::Page;
use crate::store::StoreError;
use crate::validation::{Collector, FieldError, ValidationErrors};
use crate::webhooks::repo::{DeliveryQuery, WebhookRepository};
use crate::webhooks::{
    event_data, generate_secret, Attempt, Delivery, DeliveryStatus, Endpoint, OutboxEvent,
    EVENT_TYPES, ROTATION_GRACE_MS,
};

/// Errors of the webhook use cases, mapped once to the HTTP envelope.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Invalid input (400 `VALIDATION_ERROR` with details).
    #[error("validation failed")]
    Validation(#[from] ValidationErrors),
    /// No such endpoint (404 `NOT_FOUND`); the id is redacted.
    #[error("Webhook endpoint '{0}' not found")]
    EndpointNotFound(String),
    /// No such delivery (404 `NOT_FOUND`); the id is redacted.
    #[error("Delivery '{0}' not found")]
    DeliveryNotFound(String),
    /// The operating system's RNG failed, so no secret could be made (500).
    #[error("no randomness for a webhook secret")]
    Randomness,
    /// Storage failure (503 or 500).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A secret rotation: the endpoint as stored afterwards and when it happened (unix ms).
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The endpoint, with its new secret and the previous one's validity.
    pub endpoint: Endpoint,
    /// The rotation time, unix ms.
    pub rotated_at: i64,
}

/// A queued `webhook.test` event and its one delivery.
#[derive(Debug, Clone)]
pub struct TestEvent {
    /// The event (`evt_…`).
    pub event_id: String,
    /// Its deliveries (`dlv_…`).
    pub delivery_ids: Vec<String>,
}

/// One page of deliveries and the cursor of the next.
#[derive(Debug, Clone)]
pub struct DeliveryListPage {
    /// The deliveries, newest first.
    pub deliveries: Vec<Delivery>,
    /// Cursor of the next page (bound to the filters), when there is one.
    pub next_cursor: Option<String>,
    /// Whether another page exists.
    pub has_more: bool,
}

/// Webhook use cases over a [`WebhookRepository`] (cheap to clone: shared handles).
#[derive(Debug, Clone)]
pub struct WebhookService {
    repo: WebhookRepository,
    ssrf: Arc<SsrfPolicy>,
    cursors: CursorCodec,
    dispatch_now: Arc<Notify>,
}

impl WebhookService {
    /// A service over `repo`, checking endpoint URLs with `ssrf`, signing delivery-list cursors
    /// with `cursors` and notifying `dispatch_now` when deliveries are queued.
    pub fn new(
        repo: WebhookRepository,
        ssrf: Arc<SsrfPolicy>,
        cursors: CursorCodec,
        dispatch_now: Arc<Notify>,
    ) -> Self {
        Self {
            repo,
            ssrf,
            cursors,
            dispatch_now,
        }
    }

    /// The repository (for the outbox metrics).
    pub fn repository(&self) -> &WebhookRepository {
        &self.repo
    }

    /// Creates an endpoint from a JSON body (`url`, `eventTypes`, `description`, `enabled`,
    /// `secret`; see `docs/webhooks.md`). The returned endpoint carries its secret, to be shown
    /// this once.
    ///
    /// Errors: [`WebhookError::Validation`] listing every failing field,
    /// [`WebhookError::Store`].
    pub async fn create_endpoint(&self, body: &Value) -> Result<Endpoint, WebhookError> {
        let object = body_object(body)?;
        let mut errors = Collector::default();
        check_fields(object, true, &mut errors);
        let url = self.parse_url(object.get("url"), &mut errors);
        let event_types = parse_event_types(object.get("eventTypes"), &mut errors);
        let description = parse_description(object.get("description"), &mut errors);
        let enabled = parse_enabled(object.get("enabled"), &mut errors);
        let secret = match object.get("secret") {
            None | Some(Value::Null) => {
                Some(generate_secret().map_err(|_| WebhookError::Randomness)?)
            }
            Some(Value::String(s))
                if (24..=256).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Some(Secret::new(s.clone()))
            }
            Some(_) => {
                errors.push(FieldError::new(
                    "secret",
                    "SECRET_INVALID",
                    "secret must be 24–256 visible ASCII characters (or omit it to get a generated one)",
                ));
                None
            }
        };
        errors.finish()?;
        let (Some(url), Some(event_types), Some(description), Some(enabled), Some(secret)) =
            (url, event_types, description, enabled, secret)
        else {
            // Every `None` above pushed an error, so `finish` returned first.
            return Err(WebhookError::Store(StoreError::Corrupt(
                "an endpoint field failed without an error".into(),
            )));
        };
        let endpoint = Endpoint::new(url, description, event_types, enabled, secret, now_millis());
        self.repo.create_endpoint(&endpoint).await?;
        tracing::info!(endpoint_id = %endpoint.id, "webhook endpoint created");
        Ok(endpoint)
    }

    /// Every endpoint, oldest first.
    ///
    /// Errors: [`WebhookError::Store`].
    pub async fn list_endpoints(&self) -> Result<Vec<Endpoint>, WebhookError> {
        Ok(self.repo.list_endpoints().await?)
    }

    /// One endpoint.
    ///
    /// Errors: [`WebhookError::EndpointNotFound`], [`WebhookError::Store`].
    pub async fn get_endpoint(&self, id: &str) -> Result<Endpoint, WebhookError> {
        self.repo
            .get_endpoint(id)
            .await?
            .ok_or_else(|| endpoint_not_found(id))
    }

    /// Applies a JSON body with any of `url`, `eventTypes`, `description`, `enabled` to an
    /// endpoint; enabling a disabled endpoint resets its failure streak and the
    /// automatic-disable reason.
    ///
    /// Errors: [`WebhookError::EndpointNotFound`], [`WebhookError::Validation`] listing every
    /// failing field, [`WebhookError::Store`].
    pub async fn update_endpoint(&self, id: &str, body: &Value) -> Result<Endpoint, WebhookError> {
        let mut endpoint = self.get_endpoint(id).await?;
        let object = body_object(body)?;
        let mut errors = Collector::default();
        check_fields(object, false, &mut errors);
        if object.contains_key("url") {
            if let Some(url) = self.parse_url(object.get("url"), &mut errors) {
                endpoint.url = url;
            }
        }
        if object.contains_key("eventTypes") {
            if let Some(types) = parse_event_types(object.get("eventTypes"), &mut errors) {
                endpoint.event_types = types;
            }
        }
        if object.contains_key("description") {
            if let Some(description) = parse_description(object.get("description"), &mut errors) {
                endpoint.description = description;
            }
        }
        if object.contains_key("enabled") {
            if let Some(enabled) = parse_enabled(object.get("enabled"), &mut errors) {
                if enabled && !endpoint.enabled {
                    endpoint.consecutive_failures = 0;
                    endpoint.disabled_reason = None;
                }
                endpoint.enabled = enabled;
            }
        }
        errors.finish()?;
        endpoint.updated_at = now_millis();
        if !self.repo.update_endpoint(&endpoint).await? {
            return Err(endpoint_not_found(id));
        }
        Ok(endpoint)
    }

    /// Deletes an endpoint and its pending deliveries.
    ///
    /// Errors: [`WebhookError::EndpointNotFound`], [`WebhookError::Store`].
    pub async fn delete_endpoint(&self, id: &str) -> Result<(), WebhookError> {
        if self.repo.delete_endpoint(id).await? {
            Ok(())
        } else {
            Err(endpoint_not_found(id))
        }
    }

    /// Gives an endpoint a new generated secret. Deliveries stay signed with the previous one
    /// for [`ROTATION_GRACE_MS`] (24 h); rotating twice within that window keeps the secret
    /// consumers still verify with as the previous one.
    ///
    /// Errors: [`WebhookError::EndpointNotFound`], [`WebhookError::Randomness`],
    /// [`WebhookError::Store`].
    pub async fn rotate_secret(&self, id: &str) -> Result<Rotation, WebhookError> {
        let mut endpoint = self.get_endpoint(id).await?;
        let now = now_millis();
        let new_secret = generate_secret().map_err(|_| WebhookError::Randomness)?;
        let previous = endpoint.signing_secret(now).clone();
        endpoint.previous_secret = Some(previous);
        endpoint.previous_secret_until = Some(now.saturating_add(ROTATION_GRACE_MS));
        endpoint.secret = new_secret;
        endpoint.updated_at = now;
        if !self.repo.update_endpoint(&endpoint).await? {
            return Err(endpoint_not_found(id));
        }
        tracing::info!(endpoint_id = %endpoint.id, "webhook secret rotated");
        Ok(Rotation {
            endpoint,
            rotated_at: now,
        })
    }

    /// Queues a `webhook.test` event for this endpoint alone, whatever its filter.
    ///
    /// Errors: [`WebhookError::EndpointNotFound`], [`WebhookError::Store`].
    pub async fn send_test(&self, id: &str) -> Result<TestEvent, WebhookError> {
        let endpoint = self.get_endpoint(id).await?;
        let event = OutboxEvent::new(
            "webhook.test",
            None,
            event_data(&json!({"endpointId": endpoint.id, "message": "Test event from Fluxora"})),
            now_millis(),
        );
        let delivery_ids = self.repo.enqueue_event(&event, Some(&endpoint.id)).await?;
        self.dispatch_now.notify_one();
        Ok(TestEvent {
            event_id: event.id,
            delivery_ids,
        })
    }

    /// Makes every dead delivery of an endpoint pending again, due now; returns how many.
    ///
    /// Errors: [`WebhookError::EndpointNotFound`], [`WebhookError::Store`].
    pub async fn replay_dead_letters(&self, id: &str) -> Result<u64, WebhookError> {
        self.get_endpoint(id).await?;
        let replayed = self.repo.replay_dead_letters(id, now_millis()).await?;
        self.dispatch_now.notify_one();
        Ok(replayed)
    }

    /// One page of deliveries for the raw query string of `GET /api/webhooks/deliveries`
    /// (`status`, `endpointId`, `eventType`, `cursor`, `limit`; unknown parameters refused).
    ///
    /// Errors: [`WebhookError::Validation`] for a bad parameter or cursor,
    /// [`WebhookError::Store`].
    pub async fn list_deliveries(&self, query: &str) -> Result<DeliveryListPage, WebhookError> {
        let (mut filters, cursor) = parse_delivery_query(query)?;
        let fingerprint = filter_fingerprint(&[
            ("status", filters.status.map(DeliveryStatus::as_str)),
            ("endpointId", filters.endpoint_id.as_deref()),
            ("eventType", filters.event_type.as_deref()),
        ]);
        if let Some(cursor) = cursor {
            filters.before_position =
                Some(self.cursors.decode(&cursor, fingerprint).map_err(|error| {
                    ValidationErrors(vec![FieldError::new(
                        "cursor",
                        "INVALID_CURSOR",
                        error.to_string(),
                    )])
                })?);
        }
        // No endpoint id holds a NUL character (and PostgreSQL text cannot): nothing matches.
        if filters
            .endpoint_id
            .as_deref()
            .is_some_and(|id| id.contains('\0'))
        {
            return Ok(DeliveryListPage {
                deliveries: Vec::new(),
                next_cursor: None,
                has_more: false,
            });
        }
        let Page {
            items: deliveries,
            last_position,
            has_more,
        } = self.repo.list_deliveries(&filters).await?;
        let next_cursor = match (has_more, last_position) {
            (true, Some(position)) => Some(self.cursors.encode(position, fingerprint)),
            _ => None,
        };
        Ok(DeliveryListPage {
            deliveries,
            next_cursor,
            has_more,
        })
    }

    /// One delivery with every attempt, in order.
    ///
    /// Errors: [`WebhookError::DeliveryNotFound`], [`WebhookError::Store`].
    pub async fn get_delivery(&self, id: &str) -> Result<(Delivery, Vec<Attempt>), WebhookError> {
        self.repo
            .get_delivery(id)
            .await?
            .ok_or_else(|| delivery_not_found(id))
    }

    /// Makes a delivery pending again, due now.
    ///
    /// Errors: [`WebhookError::DeliveryNotFound`], [`WebhookError::Store`].
    pub async fn replay_delivery(&self, id: &str) -> Result<(), WebhookError> {
        if !self.repo.replay_delivery(id, now_millis()).await? {
            return Err(delivery_not_found(id));
        }
        self.dispatch_now.notify_one();
        Ok(())
    }

    /// The endpoint URL, checked against the SSRF policy (absolute `https`, no credentials, no
    /// private or loopback address unless allowed).
    fn parse_url(&self, value: Option<&Value>, errors: &mut Collector) -> Option<String> {
        match value {
            Some(Value::String(raw)) => match self.ssrf.check_url(raw) {
                Ok(url) => Some(url.to_string()),
                Err(error) => {
                    errors.push(FieldError::new("url", error.code(), error.to_string()));
                    None
                }
            },
            _ => {
                errors.push(FieldError::new(
                    "url",
                    "URL_INVALID",
                    "url is required: an absolute https URL",
                ));
                None
            }
        }
    }
}

fn endpoint_not_found(id: &str) -> WebhookError {
    WebhookError::EndpointNotFound(crate::address::redact_secret_seeds(id).into_owned())
}

fn delivery_not_found(id: &str) -> WebhookError {
    WebhookError::DeliveryNotFound(crate::address::redact_secret_seeds(id).into_owned())
}

fn body_object(body: &Value) -> Result<&Map<String, Value>, ValidationErrors> {
    body.as_object().ok_or_else(|| {
        ValidationErrors(vec![FieldError::new(
            "body",
            "INVALID_BODY",
            "the request body must be a JSON object",
        )])
    })
}

/// The fields an endpoint body may carry; `creating` also allows `secret`.
fn check_fields(object: &Map<String, Value>, creating: bool, errors: &mut Collector) {
    let allowed: &[&str] = if creating {
        &["url", "eventTypes", "description", "enabled", "secret"]
    } else {
        &["url", "eventTypes", "description", "enabled"]
    };
    for key in object.keys() {
        if !allowed.contains(&key.as_str()) {
            errors.push(FieldError::new(
                crate::address::redact_secret_seeds(key)
                    .chars()
                    .take(64)
                    .collect::<String>(),
                "UNKNOWN_FIELD",
                format!("unknown field; allowed: {}", allowed.join(", ")),
            ));
        }
    }
}

fn parse_event_types(value: Option<&Value>, errors: &mut Collector) -> Option<Vec<String>> {
    match value {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(items)) => {
            let mut types = Vec::new();
            for item in items {
                match item.as_str() {
                    Some(t) if EVENT_TYPES.contains(&t) => {
                        if !types.iter().any(|known: &String| known == t) {
                            types.push(t.to_string());
                        }
                    }
                    _ => {
                        errors.push(FieldError::new(
                            "eventTypes",
                            "EVENT_TYPE_UNKNOWN",
                            format!("each event type must be one of {}", EVENT_TYPES.join(", ")),
                        ));
                        return None;
                    }
                }
            }
            Some(types)
        }
        Some(_) => {
            errors.push(FieldError::new(
                "eventTypes",
                "EVENT_TYPE_UNKNOWN",
                "eventTypes must be an array of event type names",
            ));
            None
        }
    }
}

fn parse_description(value: Option<&Value>, errors: &mut Collector) -> Option<Option<String>> {
    match value {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(text)) if text.chars().count() <= 500 => Some(Some(text.clone())),
        Some(_) => {
            errors.push(FieldError::new(
                "description",
                "DESCRIPTION_INVALID",
                "description must be a string of at most 500 characters",
            ));
            None
        }
    }
}

fn parse_enabled(value: Option<&Value>, errors: &mut Collector) -> Option<bool> {
    match value {
        None => Some(true),
        Some(Value::Bool(enabled)) => Some(*enabled),
        Some(_) => {
            errors.push(FieldError::new(
                "enabled",
                "ENABLED_INVALID",
                "enabled must be a boolean",
            ));
            None
        }
    }
}

/// The filters and cursor of a delivery-list query string; every bad parameter reported.
fn parse_delivery_query(query: &str) -> Result<(DeliveryQuery, Option<String>), ValidationErrors> {
    let mut errors = Collector::default();
    let mut filters = DeliveryQuery {
        limit: 20,
        ..DeliveryQuery::default()
    };
    let mut cursor = None;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "status" => match DeliveryStatus::parse(&value) {
                Some(status) => filters.status = Some(status),
                None => errors.push(FieldError::new(
                    "status",
                    "INVALID_PARAMETER",
                    "status must be pending, delivered, failed or dead",
                )),
            },
            "endpointId" => filters.endpoint_id = Some(value.chars().take(64).collect()),
            // The list the OpenAPI enum is checked against (`webhooks::EventType`'s tests).
            "eventType" => match EVENT_TYPES.iter().find(|known| **known == value) {
                Some(known) => filters.event_type = Some((*known).to_string()),
                None => errors.push(FieldError::new(
                    "eventType",
                    "INVALID_PARAMETER",
                    format!("eventType must be one of {}", EVENT_TYPES.join(", ")),
                )),
            },
            "limit" => match value.parse::<u32>() {
                Ok(limit) if (1..=100).contains(&limit) => filters.limit = limit,
                _ => errors.push(FieldError::new(
                    "limit",
                    "INVALID_PARAMETER",
                    "limit must be an integer from 1 to 100",
                )),
            },
            // Refused as on `GET /api/streams` (`docs/api.md`, "Lists and cursors").
            "cursor" if value.is_empty() => errors.push(FieldError::new(
                "cursor",
                "INVALID_CURSOR",
                "cursor must not be empty; omit it for the first page",
            )),
            "cursor" => cursor = Some(value.into_owned()),
            other => errors.push(FieldError::new(
                crate::address::redact_secret_seeds(other)
                    .chars()
                    .take(64)
                    .collect::<String>(),
                "UNKNOWN_PARAMETER",
                "allowed: status, endpointId, eventType, cursor, limit",
            )),
        }
    }
    errors.finish()?;
    Ok((filters, cursor))
}
