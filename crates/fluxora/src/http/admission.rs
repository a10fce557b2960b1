//! Admission: what every request passes between the outer layers (request id, logging,
//! metrics, the error envelope; CORS) and its route.
//!
//! In order, as [`admit`] runs them:
//! 1. the request timeout (`REQUEST_TIMEOUT_MS`): a request not answered within it — body
//!    upload included — is abandoned and answered 503 `SERVICE_UNAVAILABLE` (as far as the
//!    client can tell the service is at fault; clients may retry with backoff). The work in
//!    progress is cancelled: an open database transaction rolls back;
//! 2. panic capture: a panic anywhere below becomes a 500 `INTERNAL_ERROR` (the panic itself
//!    is logged by the panic hook, [`crate::telemetry`]); the process and its other requests
//!    carry on;
//! 3. the per-IP rate limit ([`ratelimit::ip_bucket`]), before authentication so that floods
//!    are refused before any key is hashed;
//! 4. routing answers that need no credential ([`MethodTable::refuse`]): 405 with
//!    `Allow` for a method the path does not allow, 404 for a path with a NUL character, the
//!    same for every caller whatever credential it sends;
//! 5. authentication ([`auth::authenticate`]): 401, and the [`auth::Principal`] extension;
//! 6. the per-key rate limit ([`ratelimit::key_bucket`]), which reads that `Principal`;
//! 7. the body rules ([`body::check_headers`]): 413 and 415 before any body is read;
//! 8. the route, with its scope requirements.
//!
//! Every response to a request a limit let through carries the `RateLimit-*` headers of the
//! tighter limit that applied ([`ratelimit::add_headers`]); a refused one, those of the limit
//! that refused it.
//!
//! One middleware runs the seven steps (rather than one layer each) because each layer of an
//! axum router is a boxed service cloned and a boxed future allocated for every request; the
//! steps and their order are the ones above either way.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;

use crate::http::error::ApiError;
use crate::http::ratelimit::{self, RateLimiter};
use crate::http::ratelimit_status::RateLimitStatus;
use crate::http::routing::MethodTable;
use crate::http::{auth, body, AppState};

/// What [`admit`] needs: the state (API keys, `ADMIN_TOKEN`), the methods of each path, the
/// rate limiter and the request timeout.
pub struct Admission {
    /// The handlers' state (authentication reads the keys and `ADMIN_TOKEN`).
    pub state: AppState,
    /// The methods each documented path allows (step 4).
    pub methods: MethodTable,
    /// The rate limiter; `None` when `RATE_LIMIT_ENABLED=false`.
    pub rate_limiter: Option<Arc<RateLimiter>>,
    /// `REQUEST_TIMEOUT_MS`.
    pub request_timeout: Duration,
}

/// Middleware: admits a request to its route through the steps of this module, in order.
pub async fn admit(
    State(admission): State<Arc<Admission>>,
    request: Request,
    next: Next,
) -> Response {
    within_limits(
        admission.request_timeout,
        limited(&admission, request, next),
    )
    .await
}

/// Steps 1–2: runs `handling` (the rest of the request) for at most `timeout`, turning a panic
/// into a 500 and an overrun into a 503.
async fn within_limits(timeout: Duration, handling: impl Future<Output = Response>) -> Response {
    match tokio::time::timeout(timeout, AssertUnwindSafe(handling).catch_unwind()).await {
        Ok(Ok(response)) => response,
        // The panic hook has logged the payload and location; the 500 is logged as the
        // request's outcome.
        Ok(Err(_panic)) => ApiError::Internal.into_response(),
        Err(_elapsed) => {
            let millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            tracing::warn!(timeout_ms = millis, "request timed out");
            ApiError::ServiceUnavailable(format!(
                "the request did not complete within {millis} ms; retry later"
            ))
            .into_response()
        }
    }
}

/// Steps 3–8: the per-IP limit around the rest.
async fn limited(admission: &Admission, request: Request, next: Next) -> Response {
    let limiter = admission.rate_limiter.as_deref();
    let bucket = limiter.and_then(|limiter| ratelimit::ip_bucket(limiter, &request));
    let ip_status = match count(limiter, bucket).await {
        Ok(status) => status,
        Err(refused) => return refused,
    };
    let mut response = match admission
        .methods
        .refuse(request.method(), request.uri().path())
    {
        Some(refused) => refused,
        None => authenticated(admission, request, next).await,
    };
    if let Some(status) = ip_status {
        ratelimit::add_headers(&mut response, status);
    }
    response
}

/// Steps 5–8: authentication, the per-key limit, the body rules, the route.
async fn authenticated(admission: &Admission, mut request: Request, next: Next) -> Response {
    if let Err(refused) = auth::authenticate(&admission.state, &mut request) {
        return refused.into_response();
    }
    let key_status = match count(
        admission.rate_limiter.as_deref(),
        ratelimit::key_bucket(&request),
    )
    .await
    {
        Ok(status) => status,
        Err(refused) => return refused,
    };
    let mut response = match body::check_headers(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    };
    if let Some(status) = key_status {
        ratelimit::add_headers(&mut response, status);
    }
    response
}

/// Counts the request against `bucket` when rate limiting is on and the request has one:
/// the limit's status for [`ratelimit::add_headers`] (`None`: not limited), or the 429.
async fn count(
    limiter: Option<&RateLimiter>,
    bucket: Option<ratelimit::Bucket>,
) -> Result<Option<RateLimitStatus>, Response> {
    match (limiter, bucket) {
        (Some(limiter), Some(bucket)) => ratelimit::check(limiter, &bucket).await.map(Some),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error::ErrorBody;

    fn error_of(response: &Response) -> &ErrorBody {
        response
            .extensions()
            .get::<ErrorBody>()
            .expect("an error response carries its envelope contents")
    }

    #[tokio::test]
    async fn a_panic_becomes_a_500() {
        let response = within_limits(Duration::from_secs(5), async {
            panic!("handler bug");
        })
        .await;
        assert_eq!(response.status(), 500);
        assert_eq!(
            error_of(&response).code(),
            crate::http::error::ErrorCode::InternalError
        );
        // The next request is served as usual.
        let response = within_limits(Duration::from_secs(5), async { "ok".into_response() }).await;
        assert_eq!(response.status(), 200);
    }

    #[tokio::test]
    async fn an_overrun_becomes_a_503() {
        // A request that never completes: the timeout is the only way out.
        let response = within_limits(
            Duration::from_millis(250),
            std::future::pending::<Response>(),
        )
        .await;
        assert_eq!(response.status(), 503);
        let error = error_of(&response);
        assert_eq!(
            error.code(),
            crate::http::error::ErrorCode::ServiceUnavailable
        );
        assert!(error.message().contains("250 ms"), "{}", error.message());
    }
}
