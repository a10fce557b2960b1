//! Stream routes (`/api/streams…`, described in `docs/api.md`). Thin: parse the HTTP input, call
//! [`crate::streams::service::StreamService`], shape the response.

use std::borrow::Cow;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Extension;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::fields;
use crate::http::auth::Principal;
use crate::http::body::JsonValue;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::openapi::{AuthErrors, BodyErrors, RateLimited, ServerErrors};
use crate::http::AppState;
use crate::idempotency::{IdempotencyKey, IdempotencyScope};
use crate::streams::create::NEW_STREAM;
use crate::streams::query::{parse_get_params, parse_list_params};
use crate::streams::service::{stream_location, CreateOutcome, StreamListPage};
use crate::streams::{StreamAction, StreamView};
use crate::validation::FieldError;

/// The `Idempotency-Key` request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The `Idempotency-Replayed` response header (`true` on replays).
pub const IDEMPOTENCY_REPLAYED: &str = "idempotency-replayed";

/// Routes of this module, behind the scope check ([`crate::http::auth::require_stream_scope`]).
pub fn router(state: AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(show, cancel))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            crate::http::auth::require_stream_scope,
        ))
}

/// The `POST /api/streams` body in the OpenAPI document: [`NEW_STREAM`], the description
/// [`crate::streams::create::parse_new_stream`] reads.
pub struct CreateStreamRequest;

impl utoipa::PartialSchema for CreateStreamRequest {
    fn schema() -> RefOr<Schema> {
        fields::schema::object(&NEW_STREAM)
    }
}

impl ToSchema for CreateStreamRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed(NEW_STREAM.name)
    }

    fn schemas(schemas: &mut fields::SchemaList) {
        fields::schema::components(&NEW_STREAM, schemas);
    }
}

/// Query parameters of `GET /api/streams`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListStreamsQuery {
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The previous page's `nextCursor` (opaque; only valid with the same filters). Omit it for
    /// the first page: an empty `cursor=` is a 400 `INVALID_CURSOR`, like any cursor not issued.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
    /// Only streams with this status (as of now).
    pub status: Option<crate::streams::StreamStatus>,
    /// Only streams from this sender.
    pub sender: Option<crate::address::StellarAddress>,
    /// Only streams to this recipient.
    pub recipient: Option<crate::address::StellarAddress>,
    /// Only streams from this source.
    pub source: Option<crate::streams::StreamSource>,
    /// Unix seconds at which to compute each stream's `streamedAmount`/`remainingAmount`
    /// (default: now), as on `GET /api/streams/{id}`.
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    pub at: Option<u64>,
}

/// Query parameters of `GET /api/streams/{id}`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShowStreamQuery {
    /// Unix seconds at which to compute `streamedAmount`/`remainingAmount` (default: now); a
    /// cancelled stream is evaluated at min(at, cancelledAt).
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    pub at: Option<u64>,
}

/// The request's `Idempotency-Key`, in the key space of the credential that sent it (each API
/// key has its own; anonymous requests share one).
fn idempotency_key(
    headers: &HeaderMap,
    principal: Option<&Principal>,
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let scope = match principal {
        Some(Principal::ApiKey { id, .. }) => IdempotencyScope::ApiKey(id.clone()),
        // The admin token is not a stream credential (refused before this handler).
        Some(Principal::Anonymous | Principal::Admin) | None => IdempotencyScope::Anonymous,
    };
    IdempotencyKey::parse(value.as_bytes(), scope)
        .map(Some)
        .map_err(|error| ApiError::Validation {
            message: "invalid Idempotency-Key header".into(),
            details: vec![FieldError::new(
                "Idempotency-Key",
                "IDEMPOTENCY_KEY_INVALID",
                error.to_string(),
            )],
        })
}

/// Room for one stream resource's JSON (about 650 bytes) in a single allocation.
const STREAM_JSON_CAPACITY: usize = 1024;

/// 200 with `value` as its JSON body. Serialized into a buffer sized for a stream resource
/// ([`STREAM_JSON_CAPACITY`]; axum's `Json` starts at 128 bytes and grows it several times for
/// one stream).
///
/// Errors: [`ApiError::Internal`] if `value` cannot be serialized (none of this module's types
/// can fail).
fn json_ok<T: serde::Serialize>(value: &T) -> Result<Response, ApiError> {
    let mut body = Vec::with_capacity(STREAM_JSON_CAPACITY);
    serde_json::to_writer(&mut body, value).map_err(|error| {
        tracing::error!(error = %error, "response serialization failed");
        ApiError::Internal
    })?;
    Ok(json_response(StatusCode::OK, body, None))
}

fn json_response(status: StatusCode, body: Vec<u8>, location: Option<&str>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        headers.insert(header::LOCATION, location);
    }
    response
}

/// `POST /api/streams`: 201 + `Location`, or the replay of an earlier response to the same
/// `Idempotency-Key` (with `Idempotency-Replayed: true`).
#[utoipa::path(
    post,
    path = "/api/streams",
    tag = "streams",
    operation_id = "createStream",
    security((), ("apiKey" = ["streams:write"])),
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[A-Za-z0-9:_-]{1,128}$",
            description = "Replays the first response for 24 h when repeated with the same body; 409 with a different body or while the first is in flight"),
    ),
    request_body = CreateStreamRequest,
    responses(
        (status = 201, description = "Created (or a replay, with `Idempotency-Replayed: true`)", body = StreamView,
            headers(
                ("Location" = String, description = "`/api/streams/{id}`"),
                ("Idempotency-Replayed" = String, description = "`true`, present only when this is the replay of an earlier response")
            )),
        (status = 400, description = "`VALIDATION_ERROR`: malformed JSON, an invalid `Idempotency-Key`, or failing fields listed in `details`", body = ErrorEnvelope),
        (status = 409, description = "`CONFLICT`: the `Idempotency-Key` was used with another body. `IDEMPOTENCY_KEY_IN_FLIGHT`: its first request is still in flight; retry after `Retry-After` seconds", body = ErrorEnvelope,
            headers(("Retry-After" = String, description = "Seconds to wait; only with `IDEMPOTENCY_KEY_IN_FLIGHT`"))),
        AuthErrors,
        BodyErrors,
        RateLimited,
        ServerErrors,
    )
)]
async fn create(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    JsonValue(body): JsonValue,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers, principal.as_ref().map(|p| &p.0))?;
    match state.streams.create(&body, key.as_ref()).await? {
        CreateOutcome::Created { id, body } => Ok(json_response(
            StatusCode::CREATED,
            body,
            Some(&stream_location(&id)),
        )),
        CreateOutcome::Replayed {
            status,
            body,
            location,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED);
            let mut response = json_response(status, body, location.as_deref());
            response
                .headers_mut()
                .insert(IDEMPOTENCY_REPLAYED, HeaderValue::from_static("true"));
            Ok(response)
        }
    }
}

/// `GET /api/streams`: one page, newest first.
#[utoipa::path(
    get,
    path = "/api/streams",
    tag = "streams",
    operation_id = "listStreams",
    params(ListStreamsQuery),
    responses(
        (status = 200, description = "One page, newest first", body = StreamListPage),
        (status = 400, description = "`VALIDATION_ERROR`: a bad `limit`, `cursor` or filter", body = ErrorEnvelope),
        RateLimited,
        ServerErrors,
    )
)]
async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = parse_list_params(query.as_deref())?;
    Ok(json_response(
        StatusCode::OK,
        state.streams.list_json(params).await?,
        None,
    ))
}

/// `GET /api/streams/{id}`: the stream, amounts at `?at=` (default now).
#[utoipa::path(
    get,
    path = "/api/streams/{id}",
    tag = "streams",
    operation_id = "getStream",
    params(("id" = String, Path, description = "Stream id"), ShowStreamQuery),
    responses(
        (status = 200, description = "The stream", body = StreamView),
        (status = 400, description = "`VALIDATION_ERROR`: `at` is not a non-negative integer", body = ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: no such stream", body = ErrorEnvelope),
        RateLimited,
        ServerErrors,
    )
)]
async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let at = parse_get_params(query.as_deref())?;
    Ok(json_response(
        StatusCode::OK,
        state.streams.get_json(&id, at).await?,
        None,
    ))
}

async fn transition(
    state: AppState,
    id: String,
    action: StreamAction,
) -> Result<Response, ApiError> {
    json_ok(&state.streams.apply(&id, action).await?)
}

/// `DELETE /api/streams/{id}`: cancel; 409 when already cancelled or completed.
#[utoipa::path(
    delete,
    path = "/api/streams/{id}",
    tag = "streams",
    operation_id = "cancelStream",
    security((), ("apiKey" = ["streams:write"])),
    params(("id" = String, Path, description = "Stream id")),
    responses(
        (status = 200, description = "The cancelled stream", body = StreamView),
        (status = 404, description = "`NOT_FOUND`: no such stream", body = ErrorEnvelope),
        (status = 409, description = "`CONFLICT`: already cancelled or completed, or a chain stream (changed only by contract events)", body = ErrorEnvelope),
        AuthErrors,
        RateLimited,
        ServerErrors,
    )
)]
async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    transition(state, id, StreamAction::Cancel).await
}

/// `POST /api/streams/{id}/pause`: active → paused.
#[utoipa::path(
    post,
    path = "/api/streams/{id}/pause",
    tag = "streams",
    operation_id = "pauseStream",
    security((), ("apiKey" = ["streams:write"])),
    params(("id" = String, Path, description = "Stream id")),
    responses(
        (status = 200, description = "The paused stream", body = StreamView),
        (status = 404, description = "`NOT_FOUND`: no such stream", body = ErrorEnvelope),
        (status = 409, description = "`CONFLICT`: not active, or a chain stream (changed only by contract events)", body = ErrorEnvelope),
        AuthErrors,
        RateLimited,
        ServerErrors,
    )
)]
async fn pause(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    transition(state, id, StreamAction::Pause).await
}

/// `POST /api/streams/{id}/resume`: paused → active.
#[utoipa::path(
    post,
    path = "/api/streams/{id}/resume",
    tag = "streams",
    operation_id = "resumeStream",
    security((), ("apiKey" = ["streams:write"])),
    params(("id" = String, Path, description = "Stream id")),
    responses(
        (status = 200, description = "The resumed stream", body = StreamView),
        (status = 404, description = "`NOT_FOUND`: no such stream", body = ErrorEnvelope),
        (status = 409, description = "`CONFLICT`: not paused, or a chain stream (changed only by contract events)", body = ErrorEnvelope),
        AuthErrors,
        RateLimited,
        ServerErrors,
    )
)]
async fn resume(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    transition(state, id, StreamAction::Resume).await
}
