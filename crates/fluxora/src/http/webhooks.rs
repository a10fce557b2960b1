//! The webhook admin API: endpoints, deliveries, replay, test events. The handlers only
//! translate HTTP to [`crate::webhooks::service::WebhookService`] calls and back.
//!
//! Every route needs `Authorization: Bearer <ADMIN_TOKEN>` or an API key with `webhooks:admin`;
//! with neither configured the routes answer 404 (they do not exist). See [`crate::http::auth`].
//! A secret is shown once, when created or rotated.

use std::borrow::Cow;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::clock::format_millis;
use crate::fields;
use crate::http::body::JsonValue;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::openapi::{AuthErrors, BodyErrors, RateLimited, ServerErrors};
use crate::http::AppState;
use crate::webhooks::service::{Rotation, CREATE_ENDPOINT, UPDATE_ENDPOINT};
use crate::webhooks::{Attempt, Delivery, DeliveryStatus, Endpoint, EndpointView, EventType};

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

/// The `POST /api/webhooks/endpoints` body in the OpenAPI document: [`CREATE_ENDPOINT`], the
/// description [`crate::webhooks::service::WebhookService::create_endpoint`] reads.
pub struct CreateEndpointRequest;

impl utoipa::PartialSchema for CreateEndpointRequest {
    fn schema() -> RefOr<Schema> {
        fields::schema::object(&CREATE_ENDPOINT)
    }
}

impl ToSchema for CreateEndpointRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed(CREATE_ENDPOINT.name)
    }

    fn schemas(schemas: &mut fields::SchemaList) {
        fields::schema::components(&CREATE_ENDPOINT, schemas);
    }
}

/// The `PATCH /api/webhooks/endpoints/{id}` body in the OpenAPI document: [`UPDATE_ENDPOINT`],
/// the description [`crate::webhooks::service::WebhookService::update_endpoint`] reads.
pub struct UpdateEndpointRequest;

impl utoipa::PartialSchema for UpdateEndpointRequest {
    fn schema() -> RefOr<Schema> {
        fields::schema::object(&UPDATE_ENDPOINT)
    }
}

impl ToSchema for UpdateEndpointRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed(UPDATE_ENDPOINT.name)
    }

    fn schemas(schemas: &mut fields::SchemaList) {
        fields::schema::components(&UPDATE_ENDPOINT, schemas);
    }
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
    /// Only deliveries of this event type (another value is a 400 `INVALID_PARAMETER`).
    #[param(rename = "eventType")]
    pub event_type: Option<EventType>,
    /// The previous page's `nextCursor` (only valid with the same filters). Omit it for the
    /// first page: an empty `cursor=` is a 400 `INVALID_CURSOR`, like any cursor not issued.
    #[param(min_length = 1)]
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
    let endpoint = state.webhooks.create_endpoint(&body).await?;
    let location = format!("/api/webhooks/endpoints/{}", endpoint.id);
    let created = CreatedEndpoint {
        endpoint: endpoint.view(),
        secret: endpoint.secret.expose().to_string(),
    };
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
    let endpoints = state.webhooks.list_endpoints().await?;
    Ok(Json(EndpointList {
        endpoints: endpoints.iter().map(Endpoint::view).collect(),
    }))
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
    Ok(Json(state.webhooks.get_endpoint(&id).await?.view()))
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
    Ok(Json(
        state.webhooks.update_endpoint(&id, &body).await?.view(),
    ))
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
    state.webhooks.delete_endpoint(&id).await?;
    Ok(StatusCode::NO_CONTENT)
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
    let Rotation {
        endpoint,
        rotated_at,
    } = state.webhooks.rotate_secret(&id).await?;
    Ok(Json(RotatedSecret {
        secret: endpoint.secret.expose().to_string(),
        id: endpoint.id,
        rotated_at: format_millis(rotated_at),
        // Unix seconds, as `fluxora webhook verify --rotated-at` and
        // `Verifier::with_previous_secret` take it.
        rotated_at_unix: rotated_at / 1000,
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
    let queued = state.webhooks.send_test(&id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(TestQueued {
            event_id: queued.event_id,
            delivery_ids: queued.delivery_ids,
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
    let replayed = state.webhooks.replay_dead_letters(&id).await?;
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
    let page = state
        .webhooks
        .list_deliveries(query.as_deref().unwrap_or_default())
        .await?;
    Ok(Json(DeliveryPage {
        deliveries: page.deliveries,
        next_cursor: page.next_cursor,
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
    let (delivery, attempts) = state.webhooks.get_delivery(&id).await?;
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
    state.webhooks.replay_delivery(&id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplayQueued {
            id,
            status: DeliveryStatus::Pending,
        }),
    )
        .into_response())
}
