//! The webhook administration use cases: endpoints (create, read, update, delete, rotate the
//! secret, send a test event, replay dead letters) and deliveries (list, read, replay).
//!
//! It validates input (every failing field reported at once), checks endpoint URLs against the
//! SSRF policy, makes secrets and persists through [`WebhookRepository`]; it knows nothing of
//! HTTP. After anything that queues deliveries it wakes the dispatcher.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::clock::now_millis;
use crate::fields::{
    Array, BodySpec, Component, FieldReader, FieldSpec, Format, Mismatch, Shape, Text,
    UnknownFields,
};
use crate::pagination::{filter_fingerprint, CursorCodec};
use crate::secret::Secret;
use crate::ssrf::{SsrfPolicy, MAX_URL_LEN};
use crate::store::Page;
use crate::store::StoreError;
use crate::validation::{Collector, FieldError, ValidationErrors};
use crate::webhooks::repo::{DeliveryQuery, WebhookRepository};
use crate::webhooks::{
    event_data, generate_secret, Attempt, Delivery, DeliveryStatus, Endpoint, EventType,
    OutboxEvent, EVENT_TYPES, ROTATION_GRACE_MS,
};

const URL: Shape = Shape::String(
    Text::ANY
        .format(Format::Uri)
        .length(None, Some(MAX_URL_LEN)),
);
const EVENT_TYPE_LIST: Shape =
    Shape::Array(Array::of(&Shape::Component(Component::of::<EventType>())));
const DESCRIPTION: Shape = Shape::String(Text::ANY.length(None, Some(MAX_DESCRIPTION_CHARS)));
/// Longest endpoint description, in characters.
const MAX_DESCRIPTION_CHARS: usize = 500;
const URL_EXAMPLE: &str = "\"https://example.com/hooks/fluxora\"";

/// The `POST /api/webhooks/endpoints` body (`docs/webhooks.md`): what
/// [`WebhookService::create_endpoint`] reads and the OpenAPI document shows.
pub const CREATE_ENDPOINT: BodySpec = BodySpec {
    name: "CreateEndpointRequest",
    description: "The `POST /api/webhooks/endpoints` body. Every failing field is reported; \
                  unknown fields are refused.",
    fields: &[
        FieldSpec::required(
            "url",
            URL,
            "Absolute `https` URL, at most 2048 bytes (no credentials; private and loopback \
             addresses are refused unless allowed by configuration).",
        )
        .example(URL_EXAMPLE),
        FieldSpec::optional(
            "eventTypes",
            EVENT_TYPE_LIST,
            "Event types to deliver; absent, null or empty: all.",
        )
        .nullable()
        .example("[\"stream.created\", \"stream.cancelled\"]"),
        FieldSpec::optional(
            "description",
            DESCRIPTION,
            "Free text, at most 500 characters.",
        )
        .nullable()
        .example("\"Treasury dashboard\""),
        FieldSpec::optional(
            "enabled",
            Shape::Boolean,
            "Whether deliveries are made (default true).",
        )
        .example("true"),
        FieldSpec::optional(
            "secret",
            Shape::String(
                Text::ANY
                    .pattern("^[!-~]+$")
                    .length(Some(MIN_SECRET_LEN), Some(MAX_SECRET_LEN)),
            ),
            "The signing secret, 24–256 visible ASCII characters; absent or null: generated.",
        )
        .nullable()
        .example("\"my-endpoint-signing-secret-0123456789\""),
    ],
    unknown: UnknownFields::Refuse {
        message: "unknown field; allowed: ",
        list_names: true,
        mark_cut: false,
    },
    not_object: "the request body must be a JSON object",
};

/// The `PATCH /api/webhooks/endpoints/{id}` body, any subset of the fields: what
/// [`WebhookService::update_endpoint`] reads and the OpenAPI document shows.
pub const UPDATE_ENDPOINT: BodySpec = BodySpec {
    name: "UpdateEndpointRequest",
    description: "The `PATCH /api/webhooks/endpoints/{id}` body: any subset of the fields.",
    fields: &[
        FieldSpec::optional("url", URL, "Absolute `https` URL, at most 2048 bytes.")
            .example(URL_EXAMPLE),
        FieldSpec::optional(
            "eventTypes",
            EVENT_TYPE_LIST,
            "Event types to deliver; null or empty: all.",
        )
        .nullable()
        .example("[\"stream.created\"]"),
        FieldSpec::optional(
            "description",
            DESCRIPTION,
            "Free text, at most 500 characters; null clears it.",
        )
        .nullable()
        .example("\"Treasury dashboard\""),
        FieldSpec::optional(
            "enabled",
            Shape::Boolean,
            "Enabling resets the failure streak and the automatic-disable reason.",
        )
        .example("true"),
    ],
    unknown: UnknownFields::Refuse {
        message: "unknown field; allowed: ",
        list_names: true,
        mark_cut: false,
    },
    not_object: "the request body must be a JSON object",
};

/// Shortest signing secret a client may choose, in (visible ASCII) characters.
const MIN_SECRET_LEN: usize = 24;
/// Longest signing secret a client may choose, in (visible ASCII) characters.
const MAX_SECRET_LEN: usize = 256;

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
        let mut fields = FieldReader::body(&CREATE_ENDPOINT, body)?;
        let url = self.read_url(&mut fields).await;
        let event_types = read_event_types(&mut fields);
        let description = read_description(&mut fields);
        let enabled = read_enabled(&mut fields).map(|enabled| enabled.unwrap_or(true));
        let secret = match fields.string("secret", |_| secret_error()) {
            Some(None) => Some(generate_secret().map_err(|_| WebhookError::Randomness)?),
            Some(Some(chosen))
                if (MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&chosen.len())
                    && chosen.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Some(Secret::new(chosen.to_owned()))
            }
            Some(Some(_)) => {
                fields.push(secret_error());
                None
            }
            None => None,
        };
        fields.finish()?;
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
        let mut fields = FieldReader::body(&UPDATE_ENDPOINT, body)?;
        if let Some(url) = self.read_url(&mut fields).await {
            endpoint.url = url;
        }
        // A `null` event filter or description is a change (to all types, to none), unlike an
        // absent one.
        if fields.present("eventTypes") {
            if let Some(types) = read_event_types(&mut fields) {
                endpoint.event_types = types;
            }
        }
        if fields.present("description") {
            if let Some(description) = read_description(&mut fields) {
                endpoint.description = description;
            }
        }
        if let Some(Some(enabled)) = read_enabled(&mut fields) {
            if enabled && !endpoint.enabled {
                endpoint.consecutive_failures = 0;
                endpoint.disabled_reason = None;
            }
            endpoint.enabled = enabled;
        }
        fields.finish()?;
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
    /// private or loopback address unless allowed, and a host name that does not resolve only
    /// to such addresses: [`SsrfPolicy::check_resolved`]): `None` when it failed (recorded) or,
    /// where the body may omit it, is absent.
    async fn read_url(&self, fields: &mut FieldReader<'_>) -> Option<String> {
        let raw = fields
            .string("url", |_| {
                FieldError::new(
                    "url",
                    "URL_INVALID",
                    "url is required: an absolute https URL",
                )
            })
            .flatten()?;
        let checked = match self.ssrf.check_url(raw) {
            Ok(url) => self.ssrf.check_resolved(&url).await.map(|()| url),
            Err(error) => Err(error),
        };
        match checked {
            Ok(url) => Some(url.to_string()),
            Err(error) => {
                fields.push(FieldError::new("url", error.code(), error.to_string()));
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

/// The event filter: each name one of [`EVENT_TYPES`], deduplicated in order; absent or `null`
/// is every type (an empty list). `None` when it failed (recorded).
fn read_event_types(fields: &mut FieldReader<'_>) -> Option<Vec<String>> {
    let unknown_type = || {
        FieldError::new(
            "eventTypes",
            "EVENT_TYPE_UNKNOWN",
            format!("each event type must be one of {}", EVENT_TYPES.join(", ")),
        )
    };
    let names = fields.strings("eventTypes", |mismatch| match mismatch {
        Mismatch::InvalidItem { .. } => unknown_type(),
        Mismatch::Absent | Mismatch::Null | Mismatch::Invalid(_) => FieldError::new(
            "eventTypes",
            "EVENT_TYPE_UNKNOWN",
            "eventTypes must be an array of event type names",
        ),
    })?;
    let mut types: Vec<String> = Vec::new();
    for name in names.unwrap_or_default() {
        if !EVENT_TYPES.contains(&name) {
            fields.push(unknown_type());
            return None;
        }
        if !types.iter().any(|known| known == name) {
            types.push(name.to_owned());
        }
    }
    Some(types)
}

/// The description (at most [`MAX_DESCRIPTION_CHARS`] characters; absent or `null`: none).
/// `None` when it failed (recorded).
fn read_description(fields: &mut FieldReader<'_>) -> Option<Option<String>> {
    let error = || {
        FieldError::new(
            "description",
            "DESCRIPTION_INVALID",
            "description must be a string of at most 500 characters",
        )
    };
    match fields.string("description", |_| error())? {
        Some(text) if text.chars().count() > MAX_DESCRIPTION_CHARS => {
            fields.push(error());
            None
        }
        text => Some(text.map(str::to_owned)),
    }
}

/// `enabled` (a boolean; absent: `Some(None)`). `None` when it failed (recorded).
fn read_enabled(fields: &mut FieldReader<'_>) -> Option<Option<bool>> {
    fields.boolean("enabled", |_| {
        FieldError::new("enabled", "ENABLED_INVALID", "enabled must be a boolean")
    })
}

fn secret_error() -> FieldError {
    FieldError::new(
        "secret",
        "SECRET_INVALID",
        "secret must be 24–256 visible ASCII characters (or omit it to get a generated one)",
    )
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
