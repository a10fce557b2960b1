//! Authentication (`docs/api.md`, "Authentication and API keys"): API keys with scopes and the
//! admin token.
//!
//! One check, [`authenticate`], runs on every request (in [`crate::http::admission`]): it checks
//! any credential presented (`Authorization: Bearer <API key or ADMIN_TOKEN>`) and leaves a
//! [`Principal`] in the request's extensions for the steps after it (the per-key rate limit, the
//! route requirements). A credential that is presented is always checked, even on a public
//! route: a bad or revoked key gets 401, so a misconfigured client notices. The header is
//! refused unread past [`MAX_AUTHORIZATION_LEN`] bytes. Routes with their own rules skip it
//! entirely (see [`is_exempt`]): `GET /`, `/health*`, `/metrics` (its own `METRICS_TOKEN`),
//! `/openapi.json`, `/docs` and `/internal/*` (the indexer's worker token).
//!
//! Route groups then state what they need:
//! - [`require_stream_scope`] (`/api/streams*`): while no active API key exists the stream API
//!   is open; once one exists, writes need `streams:write`, and reads need `streams:read` when
//!   `AUTH_REQUIRE_READ_KEY=true`.
//! - [`require_webhooks_admin`] (`/api/webhooks/*`): `ADMIN_TOKEN` or a `webhooks:admin` key;
//!   404 when neither `ADMIN_TOKEN` is set nor any active `webhooks:admin` key exists.
//! - [`require_admin_token`] (`/api/admin/*`): `ADMIN_TOKEN` only (a `webhooks:admin` key could
//!   otherwise mint `streams:write` keys); 404 without `ADMIN_TOKEN`.
//!
//! Failures: 401 `UNAUTHORIZED` (with `WWW-Authenticate: Bearer`) when no valid credential was
//! presented, 403 `FORBIDDEN` when a valid one lacks the scope.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::error::ApiError;
use crate::http::AppState;
use crate::secret::Secret;

pub use crate::apikeys::Scope;

/// The header carrying the indexer worker token (`INDEXER_WORKER_TOKEN`) on
/// `POST /internal/indexer/events`, instead of `Authorization`.
pub const WORKER_TOKEN_HEADER: &str = "x-indexer-worker-token";

/// Longest `Authorization` header value examined, in bytes; longer values get 401 unread (and
/// are never hashed).
pub const MAX_AUTHORIZATION_LEN: usize = 512;

/// Who is making a request, as the auth layer established it (a request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No credential presented.
    Anonymous,
    /// `Authorization: Bearer <ADMIN_TOKEN>`.
    Admin,
    /// A valid, unrevoked API key.
    ApiKey {
        /// The key's public id (never the key itself).
        id: String,
        /// Its scopes.
        scopes: Vec<Scope>,
    },
}

impl Principal {
    /// Whether this is an API key carrying `scope`.
    pub fn has_scope(&self, scope: Scope) -> bool {
        matches!(self, Principal::ApiKey { scopes, .. } if scopes.contains(&scope))
    }
}

/// Whether `path` is outside API-key authentication: `GET /`, `/health*`, `/metrics`,
/// `/openapi.json`, `/docs*` (public or guarded by their own token) and `/internal/*` (the
/// indexer worker token, [`WORKER_TOKEN_HEADER`]).
pub fn is_exempt(path: &str) -> bool {
    path == "/"
        || path == "/health"
        || path.starts_with("/health/")
        || path == "/metrics"
        || path == "/openapi.json"
        || path == "/docs"
        || path.starts_with("/docs/")
        || path.starts_with("/internal/")
}

/// A 401 `UNAUTHORIZED` envelope with `WWW-Authenticate: Bearer` (RFC 6750 §3).
pub fn unauthorized(message: impl Into<String>) -> Response {
    let mut response = ApiError::Unauthorized(message.into()).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive, RFC 7235),
/// if the value has that form and the token is visible ASCII.
fn bearer_token(value: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer")
        && !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_graphic()))
    .then_some(token)
}

/// Whether an `Authorization` value is the Bearer scheme with no token (`Bearer`, `Bearer   `):
/// what `-H "Authorization: Bearer $TOKEN"` sends when the variable is unset.
fn is_empty_bearer(value: &[u8]) -> bool {
    std::str::from_utf8(value)
        .map(|v| v.trim_matches(' ').eq_ignore_ascii_case("bearer"))
        .unwrap_or(false)
}

/// Whether `presented` equals the configured `secret` (`ADMIN_TOKEN`, `METRICS_TOKEN`, the
/// indexer worker token), compared in constant time over SHA-256 digests so that neither the
/// content nor the length of the secret shows in the timing. Callers cap what they pass
/// ([`MAX_AUTHORIZATION_LEN`]).
pub fn secret_matches(presented: &[u8], secret: &Secret) -> bool {
    let presented = Sha256::digest(presented);
    let expected = Sha256::digest(secret.expose().as_bytes());
    bool::from(presented.ct_eq(&expected))
}

/// Whether `headers` carry `Authorization: Bearer <secret>` (at most
/// [`MAX_AUTHORIZATION_LEN`] bytes; compared with [`secret_matches`]). For routes guarded by a
/// single configured token (`/metrics`).
pub fn bearer_matches(headers: &axum::http::HeaderMap, secret: &Secret) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .map(|value| value.as_bytes())
        .filter(|value| value.len() <= MAX_AUTHORIZATION_LEN)
        .and_then(bearer_token)
        .is_some_and(|token| secret_matches(token.as_bytes(), secret))
}

/// Compares a presented token with `ADMIN_TOKEN` ([`secret_matches`]).
fn is_admin_token(state: &AppState, token: &str) -> bool {
    state
        .admin_token
        .as_ref()
        .is_some_and(|admin| secret_matches(token.as_bytes(), admin))
}

/// The principal an `Authorization` value proves, or why it proves nothing.
fn principal_of(state: &AppState, value: &[u8]) -> Result<Principal, &'static str> {
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err("the Authorization header is too long");
    }
    if is_empty_bearer(value) {
        return Err("the bearer token is empty: Authorization: Bearer needs a token after it (an unset shell variable such as $ADMIN_TOKEN expands to nothing)");
    }
    let token = bearer_token(value).ok_or("expected Authorization: Bearer <API key>")?;
    if is_admin_token(state, token) {
        return Ok(Principal::Admin);
    }
    match state.keys.authenticate(token) {
        Some(key) => {
            tracing::debug!(key_id = %key.id, "request authenticated by API key");
            Ok(Principal::ApiKey {
                id: key.id,
                scopes: key.scopes,
            })
        }
        // The same words whether or not ADMIN_TOKEN is set (nothing about the configuration
        // shows); they name both, as a mistyped ADMIN_TOKEN lands here too.
        None => Err("the bearer token is neither an active API key nor ADMIN_TOKEN"),
    }
}

/// A presented credential that proves nothing: why, as the 401's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialRefused(pub &'static str);

impl IntoResponse for CredentialRefused {
    /// 401 `UNAUTHORIZED` with `WWW-Authenticate: Bearer` ([`unauthorized`]).
    fn into_response(self) -> Response {
        unauthorized(self.0)
    }
}

/// Checks the credential a request presents and inserts its [`Principal`]
/// ([`Principal::Anonymous`] when none), for the checks after it (the per-key rate limit, the
/// route requirements). Run by the admission layer ([`crate::http::admission`]) on every
/// request.
///
/// Errors: [`CredentialRefused`] (a 401) for a credential that is presented but invalid
/// (malformed, oversized, unknown or revoked), on every route but the exempt ones.
pub fn authenticate(state: &AppState, request: &mut Request) -> Result<(), CredentialRefused> {
    let principal = if is_exempt(request.uri().path()) {
        Principal::Anonymous
    } else {
        match request.headers().get(header::AUTHORIZATION) {
            None => Principal::Anonymous,
            Some(value) => match principal_of(state, value.as_bytes()) {
                Ok(principal) => principal,
                Err(reason) => {
                    tracing::info!(reason, "credential refused");
                    return Err(CredentialRefused(reason));
                }
            },
        }
    };
    request.extensions_mut().insert(principal);
    Ok(())
}

/// The request's [`Principal`], borrowed (no copy of a key's id and scopes per request);
/// [`Principal::Anonymous`] when the auth layer left none.
fn principal(request: &Request) -> &Principal {
    static ANONYMOUS: Principal = Principal::Anonymous;
    request
        .extensions()
        .get::<Principal>()
        .unwrap_or(&ANONYMOUS)
}

/// Route middleware of `/api/streams*`: open while no active API key exists; then `GET`/`HEAD`
/// need `streams:read` if `AUTH_REQUIRE_READ_KEY` is on (public otherwise) and every other
/// method needs `streams:write`. `ADMIN_TOKEN` is not a stream credential (403).
pub async fn require_stream_scope(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let scope = if matches!(*request.method(), Method::GET | Method::HEAD) {
        if !state.require_read_key {
            return next.run(request).await;
        }
        Scope::StreamsRead
    } else {
        Scope::StreamsWrite
    };
    if state.keys.protection().active_keys == 0 {
        return next.run(request).await;
    }
    match principal(&request) {
        p if p.has_scope(scope) => next.run(request).await,
        Principal::Anonymous => unauthorized(format!(
            "this route needs Authorization: Bearer <API key> with scope {}",
            scope.as_str()
        )),
        Principal::Admin => ApiError::Forbidden(format!(
            "ADMIN_TOKEN does not grant the stream API; use an API key with scope {}",
            scope.as_str()
        ))
        .into_response(),
        Principal::ApiKey { .. } => ApiError::Forbidden(format!(
            "this API key lacks the scope {} this route needs",
            scope.as_str()
        ))
        .into_response(),
    }
}

/// Route middleware of `/api/webhooks/*`: `ADMIN_TOKEN` or an API key with
/// `webhooks:admin`. 404 when `ADMIN_TOKEN` is unset and no active `webhooks:admin` key exists
/// (the routes do not exist), 401 without a credential, 403 for a key lacking the scope.
pub async fn require_webhooks_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.admin_token.is_none() && state.keys.protection().admin_keys == 0 {
        return crate::http::route_not_found(&request).into_response();
    }
    match principal(&request) {
        Principal::Admin => next.run(request).await,
        p if p.has_scope(Scope::WebhooksAdmin) => next.run(request).await,
        Principal::ApiKey { .. } => ApiError::Forbidden(
            "this API key lacks the scope webhooks:admin these routes need".into(),
        )
        .into_response(),
        Principal::Anonymous => unauthorized(
            "admin routes need Authorization: Bearer <ADMIN_TOKEN> or an API key with scope webhooks:admin",
        ),
    }
}

/// Route middleware of `/api/admin/*` (key management): `ADMIN_TOKEN` only — a `webhooks:admin`
/// key gets 403, since it could otherwise mint itself `streams:write` keys. 404 without
/// `ADMIN_TOKEN`.
pub async fn require_admin_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.admin_token.is_none() {
        return crate::http::route_not_found(&request).into_response();
    }
    match principal(&request) {
        Principal::Admin => next.run(request).await,
        Principal::ApiKey { .. } => ApiError::Forbidden(
            "managing API keys needs ADMIN_TOKEN; API keys cannot manage keys".into(),
        )
        .into_response(),
        Principal::Anonymous => {
            unauthorized("key management needs Authorization: Bearer <ADMIN_TOKEN>")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer_token(b"Bearer flx_abc"), Some("flx_abc"));
        assert_eq!(bearer_token(b"bearer  flx_abc "), Some("flx_abc"));
        assert_eq!(bearer_token(b"Basic Zm9vOmJhcg=="), None);
        assert_eq!(bearer_token(b"Bearer"), None);
        assert_eq!(bearer_token(b"Bearer "), None);
        assert_eq!(bearer_token(b"Bearer a b"), None);
        assert_eq!(bearer_token(b"Bearer \xff"), None);
        assert!(is_empty_bearer(b"Bearer"));
        assert!(is_empty_bearer(b"bearer   "));
        assert!(!is_empty_bearer(b"Bearer x"));
        assert!(!is_empty_bearer(b"Basic"));
    }

    #[test]
    fn exempt_paths() {
        for path in [
            "/",
            "/health",
            "/health/ready",
            "/metrics",
            "/openapi.json",
            "/docs",
        ] {
            assert!(is_exempt(path), "{path}");
        }
        for path in [
            "/api/streams",
            "/api/webhooks/endpoints",
            "/healthz",
            "/metricsx",
        ] {
            assert!(!is_exempt(path), "{path}");
        }
        assert!(is_exempt("/internal/indexer/events"));
    }
}
