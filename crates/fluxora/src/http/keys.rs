//! The API key admin routes (`docs/api.md`, "Authentication and API keys"), behind
//! `ADMIN_TOKEN` only ([`crate::http::auth::require_admin_token`]):
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
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::apikeys::{self, ApiKeyRecord, ApiKeyView, IssuedKey, KeyError, NewKey, Scope};
use crate::clock::now_millis;
use crate::http::auth::require_admin_token;
use crate::http::body::JsonValue;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::openapi::{AuthErrors, BodyErrors, RateLimited, ServerErrors};
use crate::http::AppState;
use crate::validation::{Collector, FieldError};

/// Routes of this module, behind the admin-token check.
pub fn router(state: AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
        .route_layer(crate::http::hardening::no_store_layer())
        .route_layer(middleware::from_fn_with_state(state, require_admin_token))
}

/// The `POST /api/admin/keys` body, for the OpenAPI document (the handler validates the raw
/// JSON so that every failing field is reported).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// A label for humans, 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// At least one scope.
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
}

/// `GET /api/admin/keys`.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// Every key, oldest first, revoked ones included (never a key or its hash).
    pub keys: Vec<ApiKeyView>,
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
#[utoipa::path(
    post,
    path = "/api/admin/keys",
    tag = "admin",
    operation_id = "createApiKey",
    security(("adminToken" = [])),
    request_body = CreateKeyRequest,
    responses(
        (status = 201, description = "Created; `key` is shown only here", body = IssuedKey),
        (status = 400, description = "`VALIDATION_ERROR`: malformed JSON or failing fields listed in `details`", body = ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: key management is off (`ADMIN_TOKEN` unset)", body = ErrorEnvelope),
        AuthErrors,
        BodyErrors,
        RateLimited,
        ServerErrors,
    )
)]
async fn create_key(
    State(state): State<AppState>,
    JsonValue(body): JsonValue,
) -> Result<Response, ApiError> {
    let new = parse_body(&body)?;
    let (issued, _) = state.keys.issue(new).await?;
    // `Cache-Control: no-store` comes from the router (every admin response carries it).
    Ok((StatusCode::CREATED, Json(issued)).into_response())
}

/// `GET /api/admin/keys` → every key, oldest first, revoked ones included.
#[utoipa::path(
    get,
    path = "/api/admin/keys",
    tag = "admin",
    operation_id = "listApiKeys",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "Every key (never a key or its hash)", body = KeyList),
        (status = 404, description = "`NOT_FOUND`: key management is off (`ADMIN_TOKEN` unset)", body = ErrorEnvelope),
        AuthErrors,
        RateLimited,
        ServerErrors,
    )
)]
async fn list_keys(State(state): State<AppState>) -> Result<Json<KeyList>, ApiError> {
    let keys = state.keys.list().await?;
    Ok(Json(KeyList {
        keys: keys.iter().map(ApiKeyRecord::view).collect(),
    }))
}

/// `DELETE /api/admin/keys/{id}` → 204 (also when already revoked); 404 for an unknown id.
#[utoipa::path(
    delete,
    path = "/api/admin/keys/{id}",
    tag = "admin",
    operation_id = "revokeApiKey",
    security(("adminToken" = [])),
    params(("id" = String, Path, description = "The key's id (`key_…`)")),
    responses(
        (status = 204, description = "Revoked (also when it already was; the first `revokedAt` is kept)"),
        (status = 404, description = "`NOT_FOUND`: no such key, or key management is off", body = ErrorEnvelope),
        AuthErrors,
        RateLimited,
        ServerErrors,
    )
)]
async fn revoke_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    match state.keys.revoke(&id, now_millis()).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        // The id is not echoed: a key pasted by mistake in its place must not be reflected.
        None => Err(ApiError::NotFound("API key not found".into())),
    }
}
