//! Request rate limiting (`docs/operations.md`, "Rate limits"): GCRA per client IP and per API
//! key.
//!
//! Each limit is a per-minute figure `N` (`RATE_LIMIT_IP_PER_MINUTE`, `RATE_LIMIT_KEY_PER_MINUTE`):
//! one request is earned every `60 s / N`, and up to `burst = max(N / 10, 1)` may be spent at
//! once. The generic cell rate algorithm keeps one timestamp per client (its theoretical
//! arrival time), so a limit costs a few bytes per active client.
//!
//! - Without `REDIS_URL` every process limits on its own, with [`governor`]'s keyed limiters.
//!   Idle clients are pruned every [`PRUNE_INTERVAL`] by [`RateLimiter::run_maintenance`].
//! - With `REDIS_URL`, every replica runs the same GCRA in one atomic Lua script
//!   ([`redis_gcra::RedisGcra`]), so the budget is shared. When Redis errors or does not answer within
//!   `RATE_LIMIT_REDIS_TIMEOUT_MS`, the local limiter decides instead (a WARN at most every
//!   [`FALLBACK_WARN_INTERVAL`]); a request never fails because of Redis.
//!
//! The admission layer ([`crate::http::admission`]) applies the limits: per IP ([`ip_bucket`])
//! before authentication (floods are refused before any key is hashed) and per key
//! ([`key_bucket`]) after it (it reads the [`Principal`] authentication left; requests without
//! an API key pass). `/health`, `/health/*` and `/metrics` are exempt. A refused
//! request gets 429 `RATE_LIMITED` with `Retry-After`; every limited response carries
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (those of the tighter limit
//! when both apply).

pub mod redis_gcra;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::Quota;
use tokio_util::sync::CancellationToken;

use crate::config::RateLimitConfig;
use crate::http::auth::Principal;
use crate::http::client_ip::client_ip;
use crate::http::error::ApiError;
use crate::http::ratelimit_status::RateLimitStatus;
use crate::proxies::{canonical, TrustedProxies};

/// How often idle clients are dropped from the local limiters.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// At most one WARN per this interval while Redis is failing and local limits apply.
pub const FALLBACK_WARN_INTERVAL: Duration = Duration::from_secs(30);

/// A limiter's verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Within the limit; the status goes in the response headers.
    Allowed(RateLimitStatus),
    /// Over the limit: 429 with these headers.
    Limited(RateLimitStatus),
}

/// One GCRA limit, from its per-minute figure `N`: one request earned every `60 s / N`, a burst
/// of `max(N / 10, 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    per_minute: NonZeroU32,
}

impl Limit {
    /// `per_minute` requests a minute (0 is taken as 1; configuration refuses 0).
    pub fn per_minute(per_minute: u32) -> Self {
        Self {
            per_minute: NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN),
        }
    }

    /// The per-minute figure (`RateLimit-Limit`).
    pub fn limit(&self) -> u32 {
        self.per_minute.get()
    }

    /// Requests that may be made at once: a tenth of the per-minute figure, at least 1.
    pub fn burst(&self) -> u32 {
        (self.per_minute.get() / 10).max(1)
    }

    /// Time to earn one request: 60 s / the per-minute figure (at least 1 ns).
    pub fn emission_interval(&self) -> Duration {
        (Duration::from_secs(60) / self.per_minute.get()).max(Duration::from_nanos(1))
    }

    fn quota(&self) -> Quota {
        let burst = NonZeroU32::new(self.burst()).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(self.emission_interval())
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst)
    }

    /// The status of an allowed request that left `remaining` requests in the burst.
    pub fn allowed(&self, remaining: u32) -> RateLimitStatus {
        let used = self.burst().saturating_sub(remaining);
        RateLimitStatus {
            limit: self.limit(),
            remaining,
            reset_secs: ceil_secs(self.emission_interval() * used),
            retry_after_secs: 0,
        }
    }

    /// The status of a refused request that may be retried after `wait`.
    pub fn limited(&self, wait: Duration) -> RateLimitStatus {
        let refill = self.emission_interval() * self.burst().saturating_sub(1);
        RateLimitStatus {
            limit: self.limit(),
            remaining: 0,
            reset_secs: ceil_secs(wait + refill),
            retry_after_secs: ceil_secs(wait).max(1),
        }
    }
}

/// Whole seconds, rounded up.
fn ceil_secs(duration: Duration) -> u64 {
    let secs = duration.as_secs();
    if duration.subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    }
}

/// What a request is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// A client IP address (IPv6 clients by their /64 network, which one subscriber usually
    /// holds whole).
    Ip(IpAddr),
    /// An API key, by its public id.
    Key(String),
}

impl Bucket {
    /// The bucket of client `ip`: IPv4 as is, IPv6 masked to its /64.
    pub fn ip(ip: IpAddr) -> Self {
        match canonical(ip) {
            IpAddr::V6(v6) => {
                let masked = u128::from(v6) & !((1u128 << 64) - 1);
                Bucket::Ip(IpAddr::V6(Ipv6Addr::from(masked)))
            }
            v4 => Bucket::Ip(v4),
        }
    }

    /// The bucket's name in logs and under the Redis prefix: `ip:<address>` or `key:<id>`.
    pub fn redis_suffix(&self) -> String {
        match self {
            Bucket::Ip(ip) => format!("ip:{ip}"),
            Bucket::Key(id) => format!("key:{id}"),
        }
    }
}

type KeyedLimiter<K> =
    governor::RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// The process's rate limiter: per-IP and per-key limits, local and (optionally) Redis-shared.
pub struct RateLimiter {
    ip_limit: Limit,
    key_limit: Limit,
    by_ip: KeyedLimiter<IpAddr>,
    by_key: KeyedLimiter<String>,
    redis: Option<redis_gcra::RedisGcra>,
    trusted: TrustedProxies,
    fallback_warnings: Throttle,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("ip_limit", &self.ip_limit)
            .field("key_limit", &self.key_limit)
            .field("shared", &self.redis.is_some())
            .finish()
    }
}

impl RateLimiter {
    /// A limiter for `config`; client IPs are resolved through `trusted` proxies. With a Redis
    /// URL the connection is made lazily (see [`RateLimiter::warm_up`]).
    ///
    /// Errors: [`redis_gcra::RedisSetupError`] if the Redis client cannot be created from the URL.
    pub fn new(
        config: &RateLimitConfig,
        trusted: TrustedProxies,
    ) -> Result<Self, redis_gcra::RedisSetupError> {
        let ip_limit = Limit::per_minute(config.ip_per_minute);
        let key_limit = Limit::per_minute(config.key_per_minute);
        let redis = match &config.redis_url {
            Some(url) => Some(redis_gcra::RedisGcra::new(
                url.expose(),
                config.redis_ca.as_deref(),
                &config.redis_prefix,
                config.redis_timeout,
            )?),
            None => None,
        };
        Ok(Self {
            ip_limit,
            key_limit,
            by_ip: governor::RateLimiter::dashmap(ip_limit.quota())
                .with_middleware::<StateInformationMiddleware>(),
            by_key: governor::RateLimiter::dashmap(key_limit.quota())
                .with_middleware::<StateInformationMiddleware>(),
            redis,
            trusted,
            fallback_warnings: Throttle::new(FALLBACK_WARN_INTERVAL),
        })
    }

    /// Whether limits are shared through Redis.
    pub fn is_shared(&self) -> bool {
        self.redis.is_some()
    }

    /// Connects to Redis, if configured, so the first requests are already shared; logs a WARN
    /// (and keeps going with local limits) when it does not answer.
    ///
    /// Errors: [`redis_gcra::RedisCertificateError`] when Redis answered over TLS with a
    /// certificate that is refused (a configuration error, not an outage: the service does not
    /// start).
    pub async fn warm_up(&self) -> Result<(), redis_gcra::RedisCertificateError> {
        if let Some(redis) = &self.redis {
            match redis.ping().await {
                Ok(()) => tracing::info!("rate limits are shared through Redis"),
                Err(error) => {
                    if let Some(cause) = error.certificate_problem() {
                        return Err(redis_gcra::RedisCertificateError {
                            server: redis.server().to_string(),
                            cause,
                        });
                    }
                    self.fallback_warnings.ready();
                    tracing::warn!(error = %error, "Redis is unreachable; rate limits are per process until it answers");
                }
            }
        }
        Ok(())
    }

    fn limit_of(&self, bucket: &Bucket) -> Limit {
        match bucket {
            Bucket::Ip(_) => self.ip_limit,
            Bucket::Key(_) => self.key_limit,
        }
    }

    /// Counts one request against `bucket`: through Redis when configured and answering, else
    /// locally. Never fails.
    pub async fn check(&self, bucket: &Bucket) -> Decision {
        let limit = self.limit_of(bucket);
        if let Some(redis) = &self.redis {
            match redis.check(bucket, limit).await {
                Ok(decision) => return decision,
                Err(error) => self.warn_fallback(&error),
            }
        }
        self.check_local(bucket)
    }

    /// Counts one request against `bucket` in this process's limiter only.
    pub fn check_local(&self, bucket: &Bucket) -> Decision {
        let limit = self.limit_of(bucket);
        let outcome = match bucket {
            Bucket::Ip(ip) => self
                .by_ip
                .check_key(ip)
                .map_err(|not_until| not_until.wait_time_from(self.by_ip.clock().now())),
            Bucket::Key(id) => self
                .by_key
                .check_key(id)
                .map_err(|not_until| not_until.wait_time_from(self.by_key.clock().now())),
        };
        match outcome {
            Ok(snapshot) => Decision::Allowed(limit.allowed(snapshot.remaining_burst_capacity())),
            Err(wait) => Decision::Limited(limit.limited(wait)),
        }
    }

    fn warn_fallback(&self, error: &redis_gcra::RedisCheckError) {
        if self.fallback_warnings.ready() {
            tracing::warn!(error = %error, "Redis rate limiting failed; using per-process limits (logged at most every 30 s)");
        }
    }

    /// Drops clients whose limit is fully replenished and returns the memory.
    pub fn prune(&self) {
        self.by_ip.retain_recent();
        self.by_ip.shrink_to_fit();
        self.by_key.retain_recent();
        self.by_key.shrink_to_fit();
    }

    /// Clients currently tracked locally (IP buckets, key buckets).
    pub fn tracked(&self) -> (usize, usize) {
        (self.by_ip.len(), self.by_key.len())
    }

    /// Prunes the local limiters every [`PRUNE_INTERVAL`] until `shutdown`.
    pub async fn run_maintenance(self: Arc<Self>, shutdown: CancellationToken) {
        let mut interval = tokio::time::interval(PRUNE_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = interval.tick() => self.prune(),
            }
        }
    }
}

/// Lets something happen at most once per interval (a log line that must not repeat per request).
#[derive(Debug)]
pub struct Throttle {
    start: Instant,
    interval: Duration,
    /// Milliseconds since `start` of the last time it was let through, plus 1; 0: never.
    last: AtomicU64,
}

impl Throttle {
    /// A throttle letting one event through per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            start: Instant::now(),
            interval,
            last: AtomicU64::new(0),
        }
    }

    /// Whether the event may happen now (recording that it did).
    pub fn ready(&self) -> bool {
        self.ready_at(self.start.elapsed())
    }

    /// [`Throttle::ready`] at `elapsed` since the throttle was made (monotonic; for tests).
    pub fn ready_at(&self, elapsed: Duration) -> bool {
        let now = u64::try_from(elapsed.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let last = self.last.load(Ordering::Relaxed);
        let interval = u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX);
        (last == 0 || now.saturating_sub(last) >= interval)
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// Paths never limited: health probes and the metrics scrape.
pub fn is_exempt(path: &str) -> bool {
    path == "/health" || path.starts_with("/health/") || path == "/metrics"
}

/// The bucket of the per-IP limit (applied before authentication, so floods are refused before
/// any key is hashed): the client IP ([`client_ip`] through `TRUST_PROXY`). `None` (not
/// limited) for exempt paths and requests served without connection info (in-process tests).
pub fn ip_bucket(limiter: &RateLimiter, request: &Request) -> Option<Bucket> {
    if is_exempt(request.uri().path()) {
        return None;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())?;
    Some(Bucket::ip(client_ip(
        peer,
        request.headers(),
        &limiter.trusted,
    )))
}

/// The bucket of the per-key limit (applied after authentication): the API key of the
/// request's [`Principal`] extension. `None` (not limited) for exempt paths and requests without
/// `Principal::ApiKey` (anonymous, admin token).
pub fn key_bucket(request: &Request) -> Option<Bucket> {
    if is_exempt(request.uri().path()) {
        return None;
    }
    match request.extensions().get::<Principal>() {
        Some(Principal::ApiKey { id, .. }) => Some(Bucket::Key(id.clone())),
        _ => None,
    }
}

/// Counts one request against `bucket`.
///
/// Returns the limit's status for [`add_headers`], or the 429 response (`RATE_LIMITED`, with
/// `Retry-After`) of a refused request.
pub async fn check(limiter: &RateLimiter, bucket: &Bucket) -> Result<RateLimitStatus, Response> {
    match limiter.check(bucket).await {
        Decision::Limited(status) => {
            tracing::debug!(bucket = ?bucket, retry_after_secs = status.retry_after_secs, "rate limited");
            crate::telemetry::metrics::record_rate_limited(match bucket {
                Bucket::Key(_) => "key",
                _ => "ip",
            });
            let mut response = ApiError::RateLimited(status).into_response();
            // For the refusal summary of the access log ([`crate::telemetry::refusals`]).
            response.extensions_mut().insert(bucket.clone());
            Err(response)
        }
        Decision::Allowed(status) => Ok(status),
    }
}

/// Writes the `RateLimit-*` headers of a limit that let the request through, unless the
/// response already carries those of a tighter one: the per-key limit is applied inside the
/// per-IP one, and the headers describe whichever of the two has fewer requests left (the
/// status written travels in the response extensions).
pub fn add_headers(response: &mut Response, status: RateLimitStatus) {
    let tighter_inside = response
        .extensions()
        .get::<RateLimitStatus>()
        .is_some_and(|inner| inner.remaining <= status.remaining);
    if !tighter_inside {
        status.write_headers(response.headers_mut(), false);
        response.extensions_mut().insert(status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    fn config(ip: u32, key: u32) -> RateLimitConfig {
        RateLimitConfig {
            enabled: true,
            ip_per_minute: ip,
            key_per_minute: key,
            redis_url: None,
            redis_ca: None,
            redis_prefix: "fluxora:rl:".into(),
            redis_timeout: Duration::from_millis(50),
        }
    }

    #[test]
    fn per_minute_figure_sets_interval_and_burst() {
        let limit = Limit::per_minute(600);
        assert_eq!(limit.burst(), 60);
        assert_eq!(limit.emission_interval(), Duration::from_millis(100));
        assert_eq!(Limit::per_minute(5).burst(), 1);
        assert_eq!(Limit::per_minute(0).limit(), 1);
        let status = Limit::per_minute(60).limited(Duration::from_millis(1500));
        assert_eq!(status.retry_after_secs, 2);
        assert_eq!(status.reset_secs, 7, "1.5 s + 5 more requests at 1 s each");
        assert_eq!(Limit::per_minute(60).allowed(5).reset_secs, 1);
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Bucket::ip(a), Bucket::ip(b));
        assert_ne!(Bucket::ip(a), Bucket::ip(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(Bucket::ip(mapped), Bucket::Ip("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn local_burst_then_refusal_and_pruning() {
        let limiter = RateLimiter::new(&config(60, 60), TrustedProxies::default()).unwrap();
        let bucket = Bucket::ip("192.0.2.1".parse().unwrap());
        for expected_remaining in (0..6).rev() {
            match limiter.check_local(&bucket) {
                Decision::Allowed(status) => assert_eq!(status.remaining, expected_remaining),
                other => panic!("expected allowed, got {other:?}"),
            }
        }
        match limiter.check_local(&bucket) {
            Decision::Limited(status) => {
                assert_eq!(status.limit, 60);
                assert_eq!(status.remaining, 0);
                assert!(status.retry_after_secs >= 1);
                assert!(status.reset_secs >= status.retry_after_secs);
            }
            other => panic!("expected limited, got {other:?}"),
        }
        let other = Bucket::ip("192.0.2.2".parse().unwrap());
        assert!(matches!(limiter.check_local(&other), Decision::Allowed(_)));
        assert_eq!(limiter.tracked(), (2, 0));
        limiter.prune();
        assert_eq!(limiter.tracked(), (2, 0), "recent clients are kept");
    }

    // A bare router for the middleware alone: it is never served, so not documented.
    #[allow(clippy::disallowed_methods)]
    fn keyed_app(limiter: Arc<RateLimiter>) -> Router {
        Router::new()
            .route("/api/streams", get(|| async { "ok" }))
            .route("/health", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(limiter, per_key))
    }

    /// [`key_bucket`], [`check`] and [`add_headers`] as a middleware of their own, as the
    /// admission layer applies them.
    async fn per_key(
        axum::extract::State(limiter): axum::extract::State<Arc<RateLimiter>>,
        request: Request,
        next: axum::middleware::Next,
    ) -> Response {
        let Some(bucket) = key_bucket(&request) else {
            return next.run(request).await;
        };
        match check(&limiter, &bucket).await {
            Err(refused) => refused,
            Ok(status) => {
                let mut response = next.run(request).await;
                add_headers(&mut response, status);
                response
            }
        }
    }

    fn request(path: &str, principal: Option<Principal>) -> Request {
        let mut request = Request::builder().uri(path).body(Body::empty()).unwrap();
        if let Some(principal) = principal {
            request.extensions_mut().insert(principal);
        }
        request
    }

    fn api_key(id: &str) -> Principal {
        Principal::ApiKey {
            id: id.into(),
            scopes: Vec::new(),
        }
    }

    /// The per-key step through the functions the admission layer runs ([`key_bucket`],
    /// [`check`], [`add_headers`]), with the `Principal` set by hand; the same path behind real
    /// authentication is `e2e_ratelimit::each_api_key_has_its_own_budget`.
    #[tokio::test]
    async fn per_key_limits_each_api_key() {
        let limiter =
            Arc::new(RateLimiter::new(&config(600, 20), TrustedProxies::default()).unwrap());
        let app = keyed_app(limiter);
        // Burst of 2 for key A.
        for remaining in ["1", "0"] {
            let response = app
                .clone()
                .oneshot(request("/api/streams", Some(api_key("key_a"))))
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["ratelimit-limit"], "20");
            assert_eq!(response.headers()["ratelimit-remaining"], remaining);
        }
        let refused = app
            .clone()
            .oneshot(request("/api/streams", Some(api_key("key_a"))))
            .await
            .unwrap();
        assert_eq!(refused.status(), 429);
        let retry_after: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry_after >= 1);
        assert_eq!(refused.headers()["ratelimit-remaining"], "0");
        // Another key has its own budget; health is exempt; no key → not limited by key.
        let other = app
            .clone()
            .oneshot(request("/api/streams", Some(api_key("key_b"))))
            .await
            .unwrap();
        assert_eq!(other.status(), 200);
        let health = app
            .clone()
            .oneshot(request("/health", Some(api_key("key_a"))))
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        assert!(health.headers().get("ratelimit-limit").is_none());
        for principal in [None, Some(Principal::Anonymous), Some(Principal::Admin)] {
            let response = app
                .clone()
                .oneshot(request("/api/streams", principal))
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            assert!(response.headers().get("ratelimit-limit").is_none());
        }
    }

    #[test]
    fn the_fallback_warning_is_throttled() {
        let throttle = Throttle::new(Duration::from_secs(30));
        assert!(throttle.ready_at(Duration::from_secs(5)));
        assert!(!throttle.ready_at(Duration::from_secs(6)));
        assert!(!throttle.ready_at(Duration::from_millis(34_999)));
        assert!(throttle.ready_at(Duration::from_secs(35)));
        assert!(!throttle.ready_at(Duration::from_secs(36)));
        assert!(Throttle::new(Duration::from_secs(30)).ready_at(Duration::ZERO));
    }

    /// A Redis that accepts connections and never answers costs each request at most the
    /// timeout, then nothing while Redis is skipped; decisions stay local.
    #[tokio::test]
    async fn a_silent_redis_costs_at_most_the_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        let mut config = config(60, 60);
        config.redis_url = Some(Secret::new(format!("redis://{addr}")));
        config.redis_timeout = Duration::from_millis(50);
        let limiter = RateLimiter::new(&config, TrustedProxies::default()).unwrap();
        let bucket = Bucket::Key("k".into());
        let redis = limiter.redis.as_ref().unwrap();
        assert!(matches!(
            redis.check(&bucket, limiter.key_limit).await,
            Err(redis_gcra::RedisCheckError::Timeout(_))
        ));
        assert!(matches!(
            redis.check(&bucket, limiter.key_limit).await,
            Err(redis_gcra::RedisCheckError::Backoff)
        ));
        for _ in 0..6 {
            assert!(matches!(limiter.check(&bucket).await, Decision::Allowed(_)));
        }
        assert!(matches!(limiter.check(&bucket).await, Decision::Limited(_)));
        held.abort();
    }

    #[tokio::test]
    async fn unreachable_redis_falls_back_to_local_limits() {
        let mut config = config(60, 60);
        config.redis_url = Some(Secret::new("redis://127.0.0.1:1"));
        let limiter = RateLimiter::new(&config, TrustedProxies::default()).unwrap();
        limiter.warm_up().await.unwrap();
        let bucket = Bucket::Key("k".into());
        for _ in 0..6 {
            assert!(matches!(limiter.check(&bucket).await, Decision::Allowed(_)));
        }
        assert!(matches!(limiter.check(&bucket).await, Decision::Limited(_)));
    }
}
