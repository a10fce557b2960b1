//! The API key admin routes (design §9.1, issue 7), behind `ADMIN_TOKEN` only
//! ([`crate::http::auth::require_admin_token`]):
//!
//! - `POST /api/admin/keys` `{name, scopes}` → 201 with the key, shown this once
//!   (`Cache-Control: no-store`);
//! - `GET /api/admin/keys` → `{"keys": [...]}`, revoked keys included (never a key or its hash);
//! - `DELETE /api/admin/keys/{id}` → 204; revoking a revoked key is also 204 and keeps the first
//!   `revokedAt`; an unknown id → 404.
//!
//! A change takes effect in this process at once and on other replicas within
//! `API_KEY_REFRESH_MS` ([`crate::apikeys::KeyRegistry`]).

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::apikeys::{self, ApiKeyRecord, KeyError, NewKey};
use crate::clock::now_millis;
use crate::http::auth::require_admin_token;
use crate::http::body::JsonValue;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::validation::{Collector, FieldError};

/// Routes of this module, behind the admin-token check.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/admin/keys", post(create_key).get(list_keys))
        .route("/api/admin/keys/{id}", delete(revoke_key))
        .route_layer(middleware::from_fn_with_state(state, require_admin_token))
}

impl From<KeyError> for ApiError {
    fn from(error: KeyError) -> Self {
        match error {
            KeyError::Store(store) => store.into(),
            KeyError::Randomness(_) => {
                tracing::error!(error = %error, "API key not created");
                ApiError::Internal
            }
        }
    }
}

/// Parses `{name, scopes}`, refusing unknown fields; reports every failing field.
fn parse_body(body: &Value) -> Result<NewKey, ApiError> {
    let Some(object) = body.as_object() else {
        return Err(ApiError::from(crate::validation::ValidationErrors(vec![
            FieldError::new(
                "body",
                "INVALID_BODY",
                "the request body must be a JSON object",
            ),
        ])));
    };
    let mut errors = Collector::default();
    for key in object.keys() {
        if key != "name" && key != "scopes" {
            errors.push(FieldError::new(
                crate::address::redact_secret_seeds(key)
                    .chars()
                    .take(64)
                    .collect::<String>(),
                "UNKNOWN_FIELD",
                "unknown field; allowed: name, scopes",
            ));
        }
    }
    let name = match object.get("name") {
        Some(Value::String(name)) => errors.take(apikeys::parse_name(name)),
        _ => {
            errors.push(apikeys::name_error());
            None
        }
    };
    let names: Option<Vec<&str>> = match object.get("scopes") {
        Some(Value::Array(items)) => items.iter().map(Value::as_str).collect(),
        _ => None,
    };
    let scopes = match names {
        Some(names) => errors.take(apikeys::parse_scopes(&names)),
        None => {
            errors.push(FieldError::new(
                "scopes",
                "SCOPES_INVALID",
                format!(
                    "scopes is required: an array of scope names ({})",
                    apikeys::scope_names()
                ),
            ));
            None
        }
    };
    errors.finish()?;
    match (name, scopes) {
        (Some(name), Some(scopes)) => Ok(NewKey { name, scopes }),
        _ => Err(ApiError::Internal),
    }
}

/// `POST /api/admin/keys` → 201 with the key's view and `key`, shown only here.
async fn create_key(
    State(state): State<AppState>,
    JsonValue(body): JsonValue,
) -> Result<Response, ApiError> {
    let new = parse_body(&body)?;
    let (issued, record) = apikeys::issue(state.store.as_ref(), new).await?;
    state.keys.insert(&record);
    log_created(&record);
    let mut response = (StatusCode::CREATED, Json(issued)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Logs a created key by id and scopes (never the key).
pub fn log_created(record: &ApiKeyRecord) {
    let scopes: Vec<&str> = record.scopes.iter().map(|s| s.as_str()).collect();
    tracing::info!(key_id = %record.id, scopes = %scopes.join(","), "API key created");
}

/// `GET /api/admin/keys` → every key, oldest first, revoked ones included.
async fn list_keys(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let keys = state.store.list_api_keys().await?;
    Ok(Json(json!({
        "keys": keys.iter().map(ApiKeyRecord::view).collect::<Vec<_>>()
    })))
}

/// `DELETE /api/admin/keys/{id}` → 204 (also when already revoked); 404 for an unknown id.
async fn revoke_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    match state.store.revoke_api_key(&id, now_millis()).await? {
        Some(record) => {
            state.keys.remove(&record.id);
            tracing::info!(key_id = %record.id, "API key revoked");
            Ok(StatusCode::NO_CONTENT)
        }
        // The id is not echoed: a key pasted by mistake in its place must not be reflected.
        None => Err(ApiError::NotFound("API key not found".into())),
    }
}
