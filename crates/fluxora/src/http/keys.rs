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

use std::borrow::Cow;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};

use axum::Json;
use serde::Serialize;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::apikeys::{self, ApiKeyRecord, ApiKeyView, IssuedKey, KeyError, NewKey};
use crate::clock::now_millis;
use crate::fields;
use crate::http::auth::require_admin_token;
use crate::http::body::JsonValue;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::openapi::{AuthErrors, BodyErrors, RateLimited, ServerErrors};
use crate::http::AppState;

/// Routes of this module, behind the admin-token check.
pub fn router(state: AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
        .route_layer(crate::http::hardening::no_store_layer())
        .route_layer(middleware::from_fn_with_state(state, require_admin_token))
}

/// The `POST /api/admin/keys` body in the OpenAPI document: [`apikeys::NEW_KEY`], the
/// description [`NewKey::from_json`] reads.
pub struct CreateKeyRequest;

impl utoipa::PartialSchema for CreateKeyRequest {
    fn schema() -> RefOr<Schema> {
        fields::schema::object(&apikeys::NEW_KEY)
    }
}

impl ToSchema for CreateKeyRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed(apikeys::NEW_KEY.name)
    }

    fn schemas(schemas: &mut fields::SchemaList) {
        fields::schema::components(&apikeys::NEW_KEY, schemas);
    }
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
    let new = NewKey::from_json(&body)?;
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
