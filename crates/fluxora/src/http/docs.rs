//! `GET /openapi.json` and the `/docs` page, both public (no credential needed).
//!
//! The page is Swagger UI, embedded in the binary by `utoipa-swagger-ui` with its `vendored`
//! feature (the archive comes from the `utoipa-swagger-ui-vendored` crate: nothing is downloaded
//! at build time and nothing is loaded from a CDN at run time). Every asset is served from
//! `/docs/…`, the page loads the document from `/openapi.json`, and the online validator badge is
//! off, so the page works offline.

use std::sync::{Arc, LazyLock};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{Redirect, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::Config;

use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::openapi::{InternalError, RateLimited};
use crate::http::AppState;

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/openapi.json";
/// Where the docs page is served.
pub const DOCS_PATH: &str = "/docs";

/// The serialized OpenAPI document, computed once when the router is built and kept in the
/// state ([`crate::http::AppContext::openapi_document`]) for the `/openapi.json` handler.
#[derive(Clone)]
pub struct OpenApiJson(pub Bytes);

static SWAGGER_CONFIG: LazyLock<Arc<Config<'static>>> = LazyLock::new(|| {
    Arc::new(
        Config::new([OPENAPI_PATH])
            // The default badge asks validator.swagger.io about the document: not offline.
            .validator_url("none"),
    )
});

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(openapi_json))
        .routes(routes!(docs_redirect))
        .routes(routes!(docs_index))
        .routes(routes!(docs_asset))
}

/// `GET /openapi.json`: this API's OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    operation_id = "getOpenApiDocument",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this API", body = serde_json::Value),
        RateLimited,
        InternalError,
    )
)]
async fn openapi_json(State(state): State<AppState>) -> Response {
    let document = state
        .openapi_document
        .get()
        .map(|document| document.0.clone())
        .unwrap_or_default();
    let mut response = Response::new(Body::from(document));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `GET /docs`: redirects to `/docs/`, so the page's relative asset links resolve under it.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "meta",
    operation_id = "redirectToDocs",
    responses(
        (status = 303, description = "See `/docs/`", headers(("Location" = String, description = "`/docs/`"))),
        RateLimited,
        InternalError,
    )
)]
async fn docs_redirect() -> Redirect {
    Redirect::to("/docs/")
}

/// `GET /docs/`: the Swagger UI page for `/openapi.json`.
#[utoipa::path(
    get,
    path = "/docs/",
    tag = "meta",
    operation_id = "getDocsPage",
    responses(
        (status = 200, description = "The HTML page (its assets are under `/docs/`)", body = String, content_type = "text/html"),
        RateLimited,
        InternalError,
    )
)]
async fn docs_index() -> Result<Response, ApiError> {
    serve_asset("index.html")
}

/// `GET /docs/{file}`: one of the page's assets (scripts, style sheets, icons).
#[utoipa::path(
    get,
    path = "/docs/{file}",
    tag = "meta",
    operation_id = "getDocsAsset",
    params(("file" = String, Path, description = "Asset name, e.g. `swagger-ui.css`")),
    responses(
        (status = 200, description = "The asset, with its media type", body = String, content_type = "*/*"),
        (status = 404, description = "`NOT_FOUND`: no such asset", body = ErrorEnvelope),
        RateLimited,
        InternalError,
    )
)]
async fn docs_asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    serve_asset(&file)
}

fn serve_asset(file: &str) -> Result<Response, ApiError> {
    match utoipa_swagger_ui::serve(file, SWAGGER_CONFIG.clone()) {
        Ok(Some(asset)) => {
            let content_type = HeaderValue::from_str(&asset.content_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream"));
            let mut response = Response::new(Body::from(asset.bytes.into_owned()));
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, content_type);
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            Ok(response)
        }
        Ok(None) => Err(ApiError::NotFound(format!(
            "Docs asset '{}' not found",
            crate::http::redacted_path(file)
        ))),
        Err(error) => {
            tracing::error!(error = %error, "serving a docs asset failed");
            Err(ApiError::Internal)
        }
    }
}
