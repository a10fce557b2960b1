//! Stream routes (design §5). Thin: parse the HTTP input, call
//! [`crate::streams::service::StreamService`], shape the response.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::http::body::JsonValue;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::idempotency::IdempotencyKey;
use crate::streams::query::{parse_get_params, parse_list_params};
use crate::streams::service::{stream_location, CreateOutcome, StreamListPage};
use crate::streams::{StreamAction, StreamView};
use crate::validation::FieldError;

/// The `Idempotency-Key` request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The `Idempotency-Replayed` response header (`true` on replays).
pub const IDEMPOTENCY_REPLAYED: &str = "idempotency-replayed";

/// Routes of this module, behind the scope check ([`crate::http::auth::require_stream_scope`]).
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/streams", post(create).get(list))
        .route("/api/streams/{id}", get(show).delete(cancel))
        .route("/api/streams/{id}/pause", post(pause))
        .route("/api/streams/{id}/resume", post(resume))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            crate::http::auth::require_stream_scope,
        ))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    IdempotencyKey::parse(value.as_bytes())
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
async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonValue(body): JsonValue,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
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
async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<StreamListPage>, ApiError> {
    let params = parse_list_params(query.as_deref())?;
    Ok(Json(state.streams.list(params).await?))
}

/// `GET /api/streams/{id}`: the stream, amounts at `?at=` (default now).
async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<StreamView>, ApiError> {
    let at = parse_get_params(query.as_deref())?;
    Ok(Json(state.streams.get(&id, at).await?))
}

async fn transition(
    state: AppState,
    id: String,
    action: StreamAction,
) -> Result<Response, ApiError> {
    let view = state.streams.apply(&id, action).await?;
    Ok(Json(view).into_response())
}

/// `DELETE /api/streams/{id}`: cancel; 409 when already cancelled or completed.
async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    transition(state, id, StreamAction::Cancel).await
}

/// `POST /api/streams/{id}/pause`: active → paused.
async fn pause(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    transition(state, id, StreamAction::Pause).await
}

/// `POST /api/streams/{id}/resume`: paused → active.
async fn resume(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    transition(state, id, StreamAction::Resume).await
}
