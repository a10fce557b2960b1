//! Service routes: `GET /` (API info) and the health probes (`docs/operations.md`, "Health states
//! and what to do").

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::health::{HealthReport, OverallStatus, SERVICE_NAME};
use crate::http::error::{ApiError, ErrorEnvelope, NotAnError};
use crate::http::openapi::{InternalError, RateLimited};
use crate::http::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(info))
        .routes(routes!(health))
        .routes(routes!(live))
        .routes(routes!(ready))
}

/// The `GET /` body: what this service is and where its API description lives.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiInfo {
    /// Always `fluxora-backend`.
    #[schema(example = "fluxora-backend")]
    pub name: &'static str,
    /// The service's version.
    pub version: &'static str,
    /// Configured Stellar network (`STELLAR_NETWORK`: `testnet`, `mainnet`, …).
    pub network: &'static str,
    /// Path of the docs page: `/docs`.
    #[schema(example = "/docs")]
    pub docs: &'static str,
    /// Path of the OpenAPI document: `/openapi.json`.
    #[schema(example = "/openapi.json")]
    pub openapi: &'static str,
}

/// The `GET /health/live` body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Liveness {
    /// Always `ok`.
    #[schema(pattern = "^ok$")]
    pub status: &'static str,
}

/// The `GET /health/ready` body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Readiness {
    /// Always `ready` (not ready is a 503 envelope).
    #[schema(pattern = "^ready$")]
    pub status: &'static str,
}

/// `GET /`: name, version, network and where the API description lives.
#[utoipa::path(
    get,
    path = "/",
    tag = "meta",
    operation_id = "getApiInfo",
    responses(
        (status = 200, description = "Service information", body = ApiInfo),
        RateLimited,
        InternalError,
    )
)]
async fn info(State(state): State<AppState>) -> Json<ApiInfo> {
    Json(ApiInfo {
        name: SERVICE_NAME,
        version: env!("CARGO_PKG_VERSION"),
        network: state.network,
        docs: crate::http::docs::DOCS_PATH,
        openapi: crate::http::docs::OPENAPI_PATH,
    })
}

/// `GET /health`: the health report; 200 when `ok`/`degraded`, 503 when `unavailable`.
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    operation_id = "getHealth",
    responses(
        (status = 200, description = "`ok` or `degraded` (indexer starting or stalled, or a reorg rollback in progress)", body = HealthReport),
        (status = 503, description = "`unavailable`: the database is unreachable or the service is shutting down (the report, not an error envelope)", body = HealthReport),
        InternalError,
    )
)]
async fn health(State(state): State<AppState>) -> Response {
    let report = state.health.report().await;
    let status = if report.status == OverallStatus::Unavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let mut response = (status, Json(report)).into_response();
    response.extensions_mut().insert(NotAnError);
    response
}

/// `GET /health/live`: the process answers.
#[utoipa::path(
    get,
    path = "/health/live",
    tag = "health",
    operation_id = "getLiveness",
    responses(
        (status = 200, description = "The process answers", body = Liveness),
        InternalError,
    )
)]
async fn live() -> Json<Liveness> {
    Json(Liveness { status: "ok" })
}

/// `GET /health/ready`: database reachable and migrations applied, else 503.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "health",
    operation_id = "getReadiness",
    responses(
        (status = 200, description = "Database reachable and migrations applied", body = Readiness),
        (status = 503, description = "`SERVICE_UNAVAILABLE`: not ready (database unreachable, migrations pending, or shutting down)", body = ErrorEnvelope),
        InternalError,
    )
)]
async fn ready(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    if state.health.ready().await {
        Ok(Json(Readiness { status: "ready" }))
    } else {
        Err(ApiError::ServiceUnavailable(
            "not ready: the database is unreachable, migrations are pending, or the service is shutting down".into(),
        ))
    }
}
