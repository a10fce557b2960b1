//! The webhook admin API (design §9.1, issue 6): endpoints, deliveries, replay, test events.
//!
//! Every route needs `Authorization: Bearer <ADMIN_TOKEN>` or an API key with `webhooks:admin`;
//! with neither configured the routes answer 404 (they do not exist). See [`crate::http::auth`]. A secret is shown once, when created or rotated.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::clock::{format_millis, now_millis};
use crate::config::Secret;
use crate::http::body::JsonValue;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::pagination::filter_fingerprint;
use crate::store::DeliveryQuery;
use crate::validation::{Collector, FieldError};
use crate::webhooks::{
    generate_secret, DeliveryStatus, Endpoint, OutboxEvent, EVENT_TYPES, ROTATION_GRACE_MS,
};

/// Routes of this module, behind the admin check.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/api/webhooks/endpoints",
            post(create_endpoint).get(list_endpoints),
        )
        .route(
            "/api/webhooks/endpoints/{id}",
            get(show_endpoint)
                .patch(update_endpoint)
                .delete(delete_endpoint),
        )
        .route(
            "/api/webhooks/endpoints/{id}/rotate-secret",
            post(rotate_secret),
        )
        .route("/api/webhooks/endpoints/{id}/test", post(send_test))
        .route(
            "/api/webhooks/endpoints/{id}/replay-dead-letters",
            post(replay_dead_letters),
        )
        .route("/api/webhooks/deliveries", get(list_deliveries))
        .route("/api/webhooks/deliveries/{id}", get(show_delivery))
        .route(
            "/api/webhooks/deliveries/{id}/replay",
            post(replay_delivery),
        )
        .route_layer(middleware::from_fn_with_state(
            state,
            crate::http::auth::require_webhooks_admin,
        ))
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
    let endpoint = Endpoint {
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
    };
    state.store.create_endpoint(&endpoint).await?;
    tracing::info!(endpoint_id = %endpoint.id, "webhook endpoint created");
    let mut view = serde_json::to_value(endpoint.view()).unwrap_or(Value::Null);
    view["secret"] = Value::String(endpoint.secret.expose().to_string());
    let location = format!("/api/webhooks/endpoints/{}", endpoint.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response())
}

/// `GET /api/webhooks/endpoints` → every endpoint (never a secret).
async fn list_endpoints(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let endpoints = state.store.list_endpoints().await?;
    Ok(Json(json!({
        "endpoints": endpoints.iter().map(Endpoint::view).collect::<Vec<_>>()
    })))
}

async fn load(state: &AppState, id: &str) -> Result<Endpoint, ApiError> {
    state
        .store
        .get_endpoint(id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// `GET /api/webhooks/endpoints/{id}`.
async fn show_endpoint(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let endpoint = load(&state, &id).await?;
    Ok(Json(
        serde_json::to_value(endpoint.view()).unwrap_or(Value::Null),
    ))
}

/// `PATCH /api/webhooks/endpoints/{id}` with any of `url`, `eventTypes`, `description`,
/// `enabled`; enabling resets the failure streak and the automatic-disable reason.
async fn update_endpoint(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(
        serde_json::to_value(endpoint.view()).unwrap_or(Value::Null),
    ))
}

/// `DELETE /api/webhooks/endpoints/{id}` → 204; its pending deliveries are dropped.
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
async fn rotate_secret(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!({
        "id": endpoint.id,
        "secret": endpoint.secret.expose(),
        "rotatedAt": format_millis(now),
        // Unix seconds, as `fluxora webhook verify --rotated-at` and
        // `Verifier::with_previous_secret` take it.
        "rotatedAtUnix": now / 1000,
        "previousSecretValidUntil": endpoint.previous_secret_until.map(format_millis),
    })))
}

/// `POST /api/webhooks/endpoints/{id}/test` → 202 with the queued `webhook.test` delivery.
async fn send_test(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let endpoint = load(&state, &id).await?;
    let now = now_millis();
    let event = OutboxEvent::new(
        "webhook.test",
        None,
        json!({"endpointId": endpoint.id, "message": "Test event from Fluxora"}),
        now,
    );
    let deliveries = state
        .store
        .enqueue_event(&event, Some(&endpoint.id))
        .await?;
    state.dispatch_now.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"eventId": event.id, "deliveryIds": deliveries})),
    )
        .into_response())
}

/// `POST /api/webhooks/endpoints/{id}/replay-dead-letters` → how many were re-queued.
async fn replay_dead_letters(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    load(&state, &id).await?;
    let replayed = state.store.replay_dead_letters(&id, now_millis()).await?;
    state.dispatch_now.notify_one();
    Ok(Json(json!({"replayed": replayed})))
}

/// `GET /api/webhooks/deliveries?status=&endpointId=&eventType=&cursor=&limit=`.
async fn list_deliveries(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!({
        "deliveries": page.deliveries,
        "nextCursor": next_cursor,
        "hasMore": page.has_more,
    })))
}

/// `GET /api/webhooks/deliveries/{id}` → the delivery with every attempt.
async fn show_delivery(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (delivery, attempts) = state.store.get_delivery(&id).await?.ok_or_else(|| {
        ApiError::NotFound(format!(
            "Delivery '{}' not found",
            crate::address::redact_secret_seeds(&id)
        ))
    })?;
    let mut value = serde_json::to_value(delivery).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.insert(
            "attemptLog".into(),
            serde_json::to_value(attempts).unwrap_or(Value::Null),
        );
    }
    Ok(Json(value))
}

/// `POST /api/webhooks/deliveries/{id}/replay` → 202; the delivery is pending again, now.
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
        Json(json!({"id": id, "status": "pending"})),
    )
        .into_response())
}
