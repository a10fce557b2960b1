//! The webhook admin API (design §9.1, issue 6): endpoints, deliveries, replay, test events.
//!
//! Every route needs `Authorization: Bearer <ADMIN_TOKEN>` or an API key with `webhooks:admin`;
//! with neither configured the routes answer 404 (they do not exist). See [`crate::http::auth`]. A secret is shown once, when created or rotated.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::clock::{format_millis, now_millis};
use crate::config::Secret;
use crate::http::body::JsonValue;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::openapi::{AuthErrors, BodyErrors, RateLimited, ServerErrors};
use crate::http::AppState;
use crate::pagination::filter_fingerprint;
use crate::store::DeliveryQuery;
use crate::validation::{Collector, FieldError};
use crate::webhooks::{
    generate_secret, Attempt, Delivery, DeliveryStatus, Endpoint, EndpointView, EventType,
    OutboxEvent, EVENT_TYPES, ROTATION_GRACE_MS,
};

/// Routes of this module, behind the admin check.
pub fn router(state: AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(show_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(rotate_secret))
        .routes(routes!(send_test))
        .routes(routes!(replay_dead_letters))
        .routes(routes!(list_deliveries))
        .routes(routes!(show_delivery))
        .routes(routes!(replay_delivery))
        .route_layer(crate::http::hardening::no_store_layer())
        .route_layer(middleware::from_fn_with_state(
            state,
            crate::http::auth::require_webhooks_admin,
        ))
}

/// The `POST /api/webhooks/endpoints` body (design §9.1), for the OpenAPI document; the handler
/// validates the raw JSON so that every failing field is reported.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateEndpointRequest {
    /// Absolute `https` URL (no credentials; private and loopback addresses are refused unless
    /// allowed by configuration).
    #[schema(format = "uri")]
    pub url: String,
    /// Event types to deliver; absent, null or empty: all.
    pub event_types: Option<Vec<EventType>>,
    /// Free text, at most 500 characters.
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// Whether deliveries are made (default true).
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
    /// The signing secret, 24–256 visible ASCII characters; absent or null: generated.
    #[schema(min_length = 24, max_length = 256, pattern = "^[!-~]+$")]
    pub secret: Option<String>,
}

/// The `PATCH /api/webhooks/endpoints/{id}` body: any subset of the fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateEndpointRequest {
    /// Absolute `https` URL.
    #[schema(format = "uri", nullable = false)]
    pub url: Option<String>,
    /// Event types to deliver; null or empty: all.
    pub event_types: Option<Vec<EventType>>,
    /// Free text, at most 500 characters; null clears it.
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// Enabling resets the failure streak and the automatic-disable reason.
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
}

/// A created endpoint: the endpoint and its signing secret, shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedEndpoint {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: EndpointView,
    /// The signing secret (`fxwh_…` when generated): store it now, it is never shown again.
    pub secret: String,
}

/// `GET /api/webhooks/endpoints`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointList {
    /// Every endpoint (never a secret).
    pub endpoints: Vec<EndpointView>,
}

/// A rotated secret, shown once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotatedSecret {
    /// The endpoint id.
    pub id: String,
    /// The new signing secret.
    pub secret: String,
    /// When the rotation happened (RFC 3339).
    #[schema(format = DateTime)]
    pub rotated_at: String,
    /// The same instant in unix seconds, as `fluxora webhook verify --rotated-at` takes it.
    pub rotated_at_unix: i64,
    /// Until when deliveries stay signed with the previous secret (RFC 3339).
    #[schema(format = DateTime)]
    pub previous_secret_valid_until: Option<String>,
}

/// A queued `webhook.test` event.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestQueued {
    /// The event (`evt_…`).
    pub event_id: String,
    /// Its deliveries (`dlv_…`).
    pub delivery_ids: Vec<String>,
}

/// How many dead deliveries were queued again.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLettersReplayed {
    /// Number of deliveries made pending.
    pub replayed: u64,
}

/// Query parameters of `GET /api/webhooks/deliveries`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListDeliveriesQuery {
    /// Only deliveries in this state.
    pub status: Option<DeliveryStatus>,
    /// Only deliveries to this endpoint.
    #[param(rename = "endpointId")]
    pub endpoint_id: Option<String>,
    /// Only deliveries of this event type.
    #[param(rename = "eventType")]
    pub event_type: Option<EventType>,
    /// The previous page's `nextCursor` (only valid with the same filters).
    pub cursor: Option<String>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// One page of deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPage {
    /// The deliveries.
    pub deliveries: Vec<Delivery>,
    /// Cursor of the next page, or null on the last page.
    pub next_cursor: Option<String>,
    /// Whether another page exists.
    pub has_more: bool,
}

/// One delivery with every attempt.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryDetail {
    /// The delivery.
    #[serde(flatten)]
    pub delivery: Delivery,
    /// Its attempts, in order.
    pub attempt_log: Vec<Attempt>,
}

/// A delivery queued again.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayQueued {
    /// The delivery id.
    pub id: String,
    /// Always `pending`.
    pub status: DeliveryStatus,
}

fn validation(details: Vec<FieldError>) -> ApiError {
    ApiError::Validation {
        message: "request validation failed".into(),
        details,
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!(
        "Webhook endpoint '{}' not found",
        crate::address::redact_secret_seeds(id)
    ))
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

fn parse_url(state: &AppState, value: Option<&Value>, errors: &mut Collector) -> Option<String> {
    match value {
        Some(Value::String(raw)) => match state.ssrf.check_url(raw) {
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

/// `POST /api/webhooks/endpoints` → 201 with the endpoint and its secret (shown only here).
#[utoipa::path(
    post,
    path = "/api/webhooks/endpoints",
    tag = "webhooks",
    operation_id = "createWebhookEndpoint",
    security(("adminToken" = []), ("apiKey" = ["webhooks:admin"])),
    request_body = CreateEndpointRequest,
    responses(
        (status = 201, description = "Created; the secret is shown only here", body = CreatedEndpoint, headers(("Location" = String, description = "`/api/webhooks/endpoints/{id}`"))),
        (status = 400, description = "`VALIDATION_ERROR`: malformed JSON or failing fields listed in `details`", body = ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: the admin API is off (`ADMIN_TOKEN` unset)", body = ErrorEnvelope),
        AuthErrors,
        BodyErrors,
        RateLimited,
        ServerErrors,
    )
)]
async fn create_endpoint(
    State(state): State<AppState>,
    JsonValue(body): JsonValue,
) -> Result<Response, ApiError> {
    let Some(object) = body.as_object() else {
        return Err(validation(vec![FieldError::new(
            "body",
            "INVALID_BODY",
            "the request body must be a JSON object",
        )]));
    };
    let mut errors = Collector::default();
    check_fields(object, true, &mut errors);
    let url = parse_url(&state, object.get("url"), &mut errors);
    let event_types = parse_event_types(object.get("eventTypes"), &mut errors);
    let description = parse_description(object.get("description"), &mut errors);
    let enabled = parse_enabled(object.get("enabled"), &mut errors);
    let secret = match object.get("secret") {
        None | Some(Value::Null) => generate_secret().ok(),
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
    errors.finish().map_err(ApiError::from)?;
    let (Some(url), Some(event_types), Some(description), Some(enabled), Some(secret)) =
        (url, event_types, description, enabled, secret)
    else {
        return Err(ApiError::Internal);
    };
    let now = now_millis();
    let endpoint = Endpoint::new(url, description, event_types, enabled, secret, now);
    state.store.create_endpoint(&endpoint).await?;
    tracing::info!(endpoint_id = %endpoint.id, "webhook endpoint created");
    let created = CreatedEndpoint {
        endpoint: endpoint.view(),
        secret: endpoint.secret.expose().to_string(),
    };
    let location = format!("/api/webhooks/endpoints/{}", endpoint.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(created),
    )
        .into_response())
}

/// `GET /api/webhooks/endpoints` → every endpoint (never a secret).
#[utoipa::path(
    get,
    path = "/api/webhooks/endpoints",
    tag = "webhooks",
    operation_id = "listWebhookEndpoints",
    security(("adminToken" = []), ("apiKey" = ["webhooks:admin"])),
    responses(
        (status = 200, description = "Every endpoint", body = EndpointList),
        (status = 404, description = "`NOT_FOUND`: the admin API is off (`ADMIN_TOKEN` unset)", body = ErrorEnvelope),
        AuthErrors,
        RateLimited,
        ServerErrors,
    )
)]
async fn list_endpoints(State(state): State<AppState>) -> Result<Json<EndpointList>, ApiError> {
    let endpoints = state.store.list_endpoints().await?;
    Ok(Json(EndpointList {
        endpoints: endpoints.iter().map(Endpoint::view).collect(),
    }))
}

async fn load(state: &AppState, id: &str) -> Result<Endpoint, ApiError> {
    state
        .store
        .get_endpoint(id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// `GET /api/webhooks/endpoints/{id}`.
#[utoipa::path(
    get,
    path = "/api/webhooks/endpoints/{id}",
    tag = "webhooks",
    operation_id = "getWebhookEndpoint",
    security(("adminToken" = []), ("apiKey" = ["webhooks:admin"])),
    params(("id" = String, Path, description = "Endpoint id (`wep_…`)")),
    responses(
        (status = 200, description = "The endpoint (never its secret)", body = EndpointView),
        (status = 404, description = "`NOT_FOUND`: no such endpoint, or the admin API is off (`ADMIN_TOKEN` unset)", body = ErrorEnvelope),
        AuthErrors,
        RateLimited,
        ServerErrors,
    )
)]
async fn show_endpoint(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, ApiError> {
    let endpoint = load(&state, &id).await?;
    Ok(Json(endpoint.view()))
}

/// `PATCH /api/webhooks/endpoints/{id}` with any of `url`, `eventTypes`, `description`,
/// `enabled`; enabling resets the failure streak and the automatic-disable reason.
#[utoipa::path(
    patch,
    path = "/api/webhooks/endpoints/{id}",
    tag = "webhooks",
    operation_id = "updateWebhookEndpoint",
    security(("adminToken" = []), ("apiKey" = ["webhooks:admin"])),
    params(("id" = String, Path, description = "Endpoint id (`wep_…`)")),
    request_body = UpdateEndpointRequest,
    responses(
        (status = 200, description = "The updated endpoint", body = EndpointView),
        (status = 400, description = "`VALIDATION_ERROR`: malformed JSON or failing fields listed in `details`", body = ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: no such endpoint, or the admin API is off (`ADMIN_TOKEN` unset)", body = ErrorEnvelope),
        AuthErrors,
        BodyErrors,
        RateLimited,
        ServerErrors,
    )
)]
async fn update_endpoint(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue,
) -> Result<Json<EndpointView>, ApiError> {
    let mut endpoint = load(&state, &id).await?;
    let Some(object) = body.as_object() else {
        return Err(validation(vec![FieldError::new(
            "body",
            "INVALID_BODY",
            "the request body must be a JSON object",
        )]));
    };
    let mut errors = Collector::default();
    check_fields(object, false, &mut errors);
    if object.contains_key("url") {
        if let Some(url) = parse_url(&state, object.get("url"), &mut errors) {
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
    errors.finish().map_err(ApiError::from)?;
    endpoint.updated_at = now_millis();
    if !state.store.update_endpoint(&endpoint).await? {
        return Err(not_found(&id));
    }
    Ok(Json(endpoint.view()))
}

/// `DELETE /api/webhooks/endpoints/{id}` → 204; its pending deliveries are dropped.
#[utoipa::path(
    delete,
    path = "/api/webhooks/endpoints/{id}",
    tag = "webhooks",
    operation_id = "deleteWebhookEndpoint",
    security(("adminToken" = []), ("apiKey" = ["webhooks:admin"])),
    params(("id" = String, Path, description = "Endpoint id (`wep_…`)")),
    responses(
        (status = 204, description = "Deleted; its pending deliveries are dropped"),
        (status = 404, description = "`NOT_FOUND`: no such endpoint, or the admin API is off (`ADMIN_TOKEN` unset)", body = ErrorEnvelope),
        AuthErrors,
        RateLimited,
        ServerErrors,
    )
)]
async fn delete_endpoint(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_endpoint(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}

/// `POST /api/webhooks/endpoints/{id}/rotate-secret` → the new secret, shown once. Deliveries
/// stay signed with the previous secret for 24 h, so consumers can switch at any time in that
/// window (configure the new secret as current and the old one as previous).
#[utoipa::path(
    post,
    path = "/api/webhooks/endpoints/{id}/rotate-secret",
    tag = "webhooks",
    operation_id = "rotateWebhookSecret",
    security(("adminToken" = []), ("apiKey" = ["webhooks:admin"])),
    params(("id" = String, Path, description = "Endpoint id (`wep_…`)")),
    responses(
        (status = 200, description = "The new secret, shown once; the previous one stays valid for 24 h", body = RotatedSecret),
        (status = 404, description = "`NOT_FOUND`: no such endpoint, or the admin API is off (`ADMIN_TOKEN` unset)", body = ErrorEnvelope),
        AuthErrors,
        RateLimited,
        ServerErrors,
    )
)]
async fn rotate_secret(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RotatedSecret>, ApiError> {
    let mut endpoint = load(&state, &id).await?;
    let now = now_millis();
    let new_secret = generate_secret().map_err(|_| ApiError::Internal)?;
    // Rotating twice within the window keeps the secret consumers still verify with.
    let previous = endpoint.signing_secret(now).clone();
    endpoint.previous_secret = Some(previous);
    endpoint.previous_secret_until = Some(now.saturating_add(ROTATION_GRACE_MS));
    endpoint.secret = new_secret;
    endpoint.updated_at = now;
    if !state.store.update_endpoint(&endpoint).await? {
        return Err(not_found(&id));
    }
    tracing::info!(endpoint_id = %endpoint.id, "webhook secret rotated");
    Ok(Json(RotatedSecret {
        secret: endpoint.secret.expose().to_string(),
        id: endpoint.id,
        rotated_at: format_millis(now),
        // Unix seconds, as `fluxora webhook verify --rotated-at` and
        // `Verifier::with_previous_secret` take it.
        rotated_at_unix: now / 1000,
        previous_secret_valid_until: endpoint.previous_secret_until.map(format_millis),
    }))
}

/// `POST /api/webhooks/endpoints/{id}/test` → 202 with the queued `webhook.test` delivery.
#[utoipa::path(
    post,
    path = "/api/webhooks/endpoints/{id}/test",
    tag = "webhooks",
    operation_id = "sendWebhookTest",
    security(("adminToken" = []), ("apiKey" = ["webhooks:admin"])),
    params(("id" = String, Path, description = "Endpoint id (`wep_…`)")),
    responses(
        (status = 202, description = "A `webhook.test` event was queued for this endpoint", body = TestQueued),
        (status = 404, description = "`NOT_FOUND`: no such endpoint, or the admin API is off (`ADMIN_TOKEN` unset)", body = ErrorEnvelope),
        AuthErrors,
        RateLimited,
        ServerErrors,
    )
)]
async fn send_test(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let endpoint = load(&state, &id).await?;
    let now = now_millis();
    let event = OutboxEvent::new(
        "webhook.test",
        None,
        crate::webhooks::event_data(
            &json!({"endpointId": endpoint.id, "message": "Test event from Fluxora"}),
        ),
        now,
    );
    let deliveries = state
        .store
        .enqueue_event(&event, Some(&endpoint.id))
        .await?;
    state.dispatch_now.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(TestQueued {
            event_id: event.id,
            delivery_ids: deliveries,
        }),
    )
        .into_response())
}

/// `POST /api/webhooks/endpoints/{id}/replay-dead-letters` → how many were re-queued.
#[utoipa::path(
    post,
    path = "/api/webhooks/endpoints/{id}/replay-dead-letters",
    tag = "webhooks",
    operation_id = "replayWebhookDeadLetters",
    security(("adminToken" = []), ("apiKey" = ["webhooks:admin"])),
    params(("id" = String, Path, description = "Endpoint id (`wep_…`)")),
    responses(
        (status = 200, description = "The endpoint's dead deliveries are pending again", body = DeadLettersReplayed),
        (status = 404, description = "`NOT_FOUND`: no such endpoint, or the admin API is off (`ADMIN_TOKEN` unset)", body = ErrorEnvelope),
        AuthErrors,
        RateLimited,
        ServerErrors,
    )
)]
async fn replay_dead_letters(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DeadLettersReplayed>, ApiError> {
    load(&state, &id).await?;
    let replayed = state.store.replay_dead_letters(&id, now_millis()).await?;
    state.dispatch_now.notify_one();
    Ok(Json(DeadLettersReplayed { replayed }))
}

/// `GET /api/webhooks/deliveries?status=&endpointId=&eventType=&cursor=&limit=`.
#[utoipa::path(
    get,
    path = "/api/webhooks/deliveries",
    tag = "webhooks",
    operation_id = "listWebhookDeliveries",
    security(("adminToken" = []), ("apiKey" = ["webhooks:admin"])),
    params(ListDeliveriesQuery),
    responses(
        (status = 200, description = "One page, newest first", body = DeliveryPage),
        (status = 400, description = "`VALIDATION_ERROR`: a bad filter, `limit` or `cursor`, or an unknown parameter", body = ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: the admin API is off (`ADMIN_TOKEN` unset)", body = ErrorEnvelope),
        AuthErrors,
        RateLimited,
        ServerErrors,
    )
)]
async fn list_deliveries(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<DeliveryPage>, ApiError> {
    let mut errors = Collector::default();
    let mut filters = DeliveryQuery {
        limit: 20,
        ..DeliveryQuery::default()
    };
    let mut cursor = None;
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
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
            "eventType" => filters.event_type = Some(value.chars().take(64).collect()),
            "limit" => match value.parse::<u32>() {
                Ok(limit) if (1..=100).contains(&limit) => filters.limit = limit,
                _ => errors.push(FieldError::new(
                    "limit",
                    "INVALID_PARAMETER",
                    "limit must be an integer from 1 to 100",
                )),
            },
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
    errors.finish().map_err(ApiError::from)?;
    let fingerprint = filter_fingerprint(&[
        ("status", filters.status.map(DeliveryStatus::as_str)),
        ("endpointId", filters.endpoint_id.as_deref()),
        ("eventType", filters.event_type.as_deref()),
    ]);
    if let Some(cursor) = cursor {
        filters.before_position = Some(state.cursors.decode(&cursor, fingerprint).map_err(
            |error| {
                validation(vec![FieldError::new(
                    "cursor",
                    "INVALID_CURSOR",
                    error.to_string(),
                )])
            },
        )?);
    }
    let page = state.store.list_deliveries(&filters).await?;
    let next_cursor = match (page.has_more, page.last_position) {
        (true, Some(position)) => Some(state.cursors.encode(position, fingerprint)),
        _ => None,
    };
    Ok(Json(DeliveryPage {
        deliveries: page.deliveries,
        next_cursor,
        has_more: page.has_more,
    }))
}

/// `GET /api/webhooks/deliveries/{id}` → the delivery with every attempt.
#[utoipa::path(
    get,
    path = "/api/webhooks/deliveries/{id}",
    tag = "webhooks",
    operation_id = "getWebhookDelivery",
    security(("adminToken" = []), ("apiKey" = ["webhooks:admin"])),
    params(("id" = String, Path, description = "Delivery id (`dlv_…`)")),
    responses(
        (status = 200, description = "The delivery with its attempts", body = DeliveryDetail),
        (status = 404, description = "`NOT_FOUND`: no such delivery, or the admin API is off (`ADMIN_TOKEN` unset)", body = ErrorEnvelope),
        AuthErrors,
        RateLimited,
        ServerErrors,
    )
)]
async fn show_delivery(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DeliveryDetail>, ApiError> {
    let (delivery, attempts) = state.store.get_delivery(&id).await?.ok_or_else(|| {
        ApiError::NotFound(format!(
            "Delivery '{}' not found",
            crate::address::redact_secret_seeds(&id)
        ))
    })?;
    Ok(Json(DeliveryDetail {
        delivery,
        attempt_log: attempts,
    }))
}

/// `POST /api/webhooks/deliveries/{id}/replay` → 202; the delivery is pending again, now.
#[utoipa::path(
    post,
    path = "/api/webhooks/deliveries/{id}/replay",
    tag = "webhooks",
    operation_id = "replayWebhookDelivery",
    security(("adminToken" = []), ("apiKey" = ["webhooks:admin"])),
    params(("id" = String, Path, description = "Delivery id (`dlv_…`)")),
    responses(
        (status = 202, description = "The delivery is pending again, due now", body = ReplayQueued),
        (status = 404, description = "`NOT_FOUND`: no such delivery, or the admin API is off (`ADMIN_TOKEN` unset)", body = ErrorEnvelope),
        AuthErrors,
        RateLimited,
        ServerErrors,
    )
)]
async fn replay_delivery(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !state.store.replay_delivery(&id, now_millis()).await? {
        return Err(ApiError::NotFound(format!(
            "Delivery '{}' not found",
            crate::address::redact_secret_seeds(&id)
        )));
    }
    state.dispatch_now.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplayQueued {
            id,
            status: DeliveryStatus::Pending,
        }),
    )
        .into_response())
}
