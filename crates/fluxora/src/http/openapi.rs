//! The OpenAPI 3.1 description of the API (`docs/api.md`, "OpenAPI document and docs page"),
//! generated from the code.
//!
//! Every route is registered through [`utoipa_axum::router::OpenApiRouter`] with
//! [`utoipa_axum::routes!`], so a handler is routed and documented by the same line: its
//! `#[utoipa::path]` attribute gives the path, the method, the parameters, the request body and
//! every response. This module holds what all operations share: the document's header
//! ([`ApiDoc`]), the security schemes ([`SecuritySchemes`]) and the error response sets
//! ([`AuthErrors`], [`RateLimited`], [`BodyErrors`], [`ServerErrors`], [`InternalError`]), all
//! of which reference the one [`ErrorEnvelope`] schema. The 414 and 431 of the request-head
//! limits, which every route answers, are added to every operation once the document is
//! assembled ([`add_head_limit_responses`]).
//!
//! Adding a route: annotate the handler, e.g.
//! `#[utoipa::path(post, path = "/api/admin/keys", tag = "admin", security(("adminToken" = [])),
//! responses((status = 201, body = CreatedKey), (status = 400, body = ErrorEnvelope), AuthErrors,
//! RateLimited, BodyErrors, ServerErrors))]`, and register it with
//! `.routes(routes!(create_key))` (one `routes!` per path).

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use crate::http::error::ErrorEnvelope;

/// Security scheme name: `Authorization: Bearer <ADMIN_TOKEN>`, the operator token of the admin
/// routes.
pub const ADMIN_TOKEN_SCHEME: &str = "adminToken";
/// Security scheme name: `Authorization: Bearer <API key>` (`flx_…`, with scopes).
pub const API_KEY_SCHEME: &str = "apiKey";
/// Security scheme name: the push-ingest `x-indexer-worker-token` header (`INDEXER_WORKER_TOKEN`).
pub const WORKER_TOKEN_SCHEME: &str = "indexerWorkerToken";
/// Security scheme name: `Authorization: Bearer <METRICS_TOKEN>` for `GET /metrics`.
pub const METRICS_TOKEN_SCHEME: &str = "metricsToken";

/// The document's header: title, version (the crate's), conventions, tags and the shared
/// components. The paths come from the routers ([`crate::http::api_router`]).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Fluxora backend API",
        description = "Treasury streaming on Stellar/Soroban: the streams API, chain indexer \
ingest, health and the webhook admin API.\n\n\
Conventions: JSON in and out with camelCase fields; amounts are decimal strings with \
exactly 7 fractional digits; times are unix seconds (integers) unless named `…At` (RFC 3339 UTC). \
Every error, including 404 for unknown routes, 405 (with an `Allow` header), 413, 415, 429, \
401/403 and 500, is the `ErrorEnvelope` `{\"error\":{\"code\",\"message\",\"requestId\",\"details\"}}`. \
Every response carries `x-request-id` (an inbound one of 1–128 visible ASCII characters is \
honoured, else a UUID v7 is generated). Bodies are limited to 262 144 bytes.\n\n\
Authentication: while no API key exists the streams API is open; once one exists, write routes \
need `Authorization: Bearer <key>` with scope `streams:write`. Admin routes (`/api/webhooks/*`, \
`/api/admin/*`) need `Authorization: Bearer <ADMIN_TOKEN>` or a key with `webhooks:admin`, and \
answer 404 while neither is configured.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    tags(
        (name = "meta", description = "Service information, this document and its page"),
        (name = "health", description = "Health probes; never rate limited"),
        (name = "streams", description = "Payment streams"),
        (name = "indexer", description = "Push ingest of contract events"),
        (name = "webhooks", description = "Webhook endpoints and deliveries"),
    ),
    components(schemas(ErrorEnvelope)),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

/// Adds the security schemes (admin token, API key, indexer worker token, metrics token) to the
/// document's components.
pub struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            ADMIN_TOKEN_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`Authorization: Bearer <ADMIN_TOKEN>`: the operator token of the admin \
                         routes.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            API_KEY_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("flx_…")
                    .description(Some(
                        "`Authorization: Bearer <API key>`: a `flx_…` key with scopes \
                         `streams:read`, `streams:write`, `webhooks:admin`. The \
                         scopes listed in an operation's requirement are the ones it needs.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            WORKER_TOKEN_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                crate::http::auth::WORKER_TOKEN_HEADER,
                "`INDEXER_WORKER_TOKEN`, required by push ingest.",
            ))),
        );
        components.add_security_scheme(
            METRICS_TOKEN_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`Authorization: Bearer <METRICS_TOKEN>` for `GET /metrics`, when \
                         `METRICS_TOKEN` is set.",
                    ))
                    .build(),
            ),
        );
    }
}

/// 401 and 403 of a route that needs a credential (write routes once API keys exist, admin
/// routes). For `responses(...)` of `#[utoipa::path]`.
#[derive(IntoResponses)]
pub enum AuthErrors {
    /// 401 `UNAUTHORIZED`.
    #[response(
        status = 401,
        description = "`UNAUTHORIZED`: the credential is missing, malformed or unknown"
    )]
    Unauthorized(ErrorEnvelope),
    /// 403 `FORBIDDEN`.
    #[response(
        status = 403,
        description = "`FORBIDDEN`: the API key lacks the scope this route needs"
    )]
    Forbidden(ErrorEnvelope),
}

/// 429 of every route but the health probes and `/metrics`.
#[derive(IntoResponses)]
pub enum RateLimited {
    /// 429 `RATE_LIMITED`.
    #[response(
        status = 429,
        description = "`RATE_LIMITED`: over the per-IP or per-key limit",
        headers(
            ("Retry-After" = u64, description = "Seconds until a request would be allowed (≥ 1)"),
            ("RateLimit-Limit" = u32, description = "Requests allowed per minute"),
            ("RateLimit-Remaining" = u32, description = "Requests still allowed now (0)"),
            ("RateLimit-Reset" = u64, description = "Seconds until the limit is fully replenished")
        )
    )]
    TooManyRequests(ErrorEnvelope),
}

/// 413 and 415 of a route that takes a JSON body.
#[derive(IntoResponses)]
pub enum BodyErrors {
    /// 413 `PAYLOAD_TOO_LARGE`.
    #[response(
        status = 413,
        description = "`PAYLOAD_TOO_LARGE`: the body exceeds 262 144 bytes"
    )]
    PayloadTooLarge(ErrorEnvelope),
    /// 415 `UNSUPPORTED_MEDIA_TYPE`.
    #[response(
        status = 415,
        description = "`UNSUPPORTED_MEDIA_TYPE`: a body without a JSON `Content-Type`"
    )]
    UnsupportedMediaType(ErrorEnvelope),
}

/// 500 and 503 of a route that uses the database.
#[derive(IntoResponses)]
pub enum ServerErrors {
    /// 500 `INTERNAL_ERROR`.
    #[response(
        status = 500,
        description = "`INTERNAL_ERROR`: an unexpected failure (details are logged, never sent)"
    )]
    Internal(ErrorEnvelope),
    /// 503 `SERVICE_UNAVAILABLE`.
    #[response(
        status = 503,
        description = "`SERVICE_UNAVAILABLE`: the database is unreachable; retry later"
    )]
    Unavailable(ErrorEnvelope),
}

/// 500 of a route that uses nothing that can be unavailable.
#[derive(IntoResponses)]
pub enum InternalError {
    /// 500 `INTERNAL_ERROR`.
    #[response(
        status = 500,
        description = "`INTERNAL_ERROR`: an unexpected failure (details are logged, never sent)"
    )]
    Internal(ErrorEnvelope),
}

/// Adds to every operation of `document` the two refusals every route can answer before it is
/// reached ([`crate::http::limits`]): 414 `URI_TOO_LONG` and 431 `HEADERS_TOO_LARGE`, both an
/// [`ErrorEnvelope`]. Called once on the assembled document.
pub fn add_head_limit_responses(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let envelope = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                    .build(),
            )
            .build()
    };
    let too_long = envelope(&format!(
        "`URI_TOO_LONG`: the request target exceeds {} bytes",
        crate::http::limits::MAX_URI_BYTES
    ));
    let too_large = envelope(&format!(
        "`HEADERS_TOO_LARGE`: the headers exceed {} bytes or {} fields",
        crate::http::limits::MAX_HEADER_BYTES,
        crate::http::limits::MAX_HEADER_COUNT
    ));
    for item in document.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
        {
            let responses = &mut operation.responses.responses;
            responses.insert("414".to_string(), too_long.clone().into());
            responses.insert("431".to_string(), too_large.clone().into());
        }
    }
}
