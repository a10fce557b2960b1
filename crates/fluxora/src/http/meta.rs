//! Service routes: `GET /` (API info) and the health probes (design §5, §6).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::health::{OverallStatus, SERVICE_NAME};
use crate::http::error::{ApiError, NotAnError};
use crate::http::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(info))
        .route("/health", get(health))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
}

/// `GET /`: name, version, network and where the API description lives.
async fn info(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({
        "name": SERVICE_NAME,
        "version": env!("CARGO_PKG_VERSION"),
        "network": state.network,
        "docs": "/docs",
        "openapi": "/openapi.json",
    }))
}

/// `GET /health`: the §6 report; 200 when `ok`/`degraded`, 503 when `unavailable`.
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
async fn live() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /health/ready`: database reachable and migrations applied, else 503.
async fn ready(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    if state.health.ready().await {
        Ok(Json(json!({"status": "ready"})))
    } else {
        Err(ApiError::ServiceUnavailable(
            "not ready: the database is unreachable, migrations are pending, or the service is shutting down".into(),
        ))
    }
}
