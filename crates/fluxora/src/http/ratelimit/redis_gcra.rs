//! GCRA shared by every replica through Redis (`REDIS_URL`; `docs/operations.md`, "Rate limits"
//! and "Several replicas").
//!
//! One Lua script ([`GCRA_SCRIPT`]) reads the bucket's theoretical arrival time, decides and
//! writes the new one atomically, on Redis's own clock (`TIME`), so replicas with skewed clocks
//! agree. Keys are `<RATE_LIMIT_REDIS_PREFIX><ip:ADDRESS | key:ID>` and expire once the bucket
//! is full again. Every call is bounded by `RATE_LIMIT_REDIS_TIMEOUT_MS`; after a failure Redis
//! is skipped for [`RETRY_AFTER_FAILURE`] so a dead Redis costs requests nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;

use super::{Bucket, Decision, Limit};
use crate::clock::now_millis;
use crate::http::ratelimit_status::RateLimitStatus;

/// How long Redis is bypassed (local limits apply) after it failed or timed out.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// The GCRA decision, atomically. `KEYS[1]`: the bucket. `ARGV[1]`: the emission interval T
/// (µs, one request's cost); `ARGV[2]`: the burst tolerance τ = T × (burst − 1) (µs).
/// Returns `{1, remaining, reset_µs}` when allowed (and records the request), or
/// `{0, wait_µs, reset_µs}` when refused (and records nothing).
pub const GCRA_SCRIPT: &str = r"
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then
  tat = now
end
local earliest = tat - tau
if now < earliest then
  return {0, earliest - now, tat - now}
end
local new_tat = tat + t
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {1, math.floor((now + tau + t - new_tat) / t), new_tat - now}
";

/// The Redis client could not be created.
#[derive(Debug, thiserror::Error)]
#[error("REDIS_URL is not a usable Redis URL")]
pub struct RedisSetupError;

/// The Redis server's TLS certificate was refused: a configuration error (a missing or wrong
/// `REDIS_CA_FILE`, a certificate for another host name) that retrying does not heal.
#[derive(Debug, thiserror::Error)]
#[error("TLS to Redis at {server} failed: the server's certificate was refused ({cause}); REDIS_CA_FILE names the CA certificates it must lead to (default: the platform's roots) and the certificate must name the host of REDIS_URL")]
pub struct RedisCertificateError {
    /// `host:port` of `REDIS_URL` (never its password).
    pub server: String,
    /// rustls's reason (`invalid peer certificate: UnknownIssuer`, ...).
    pub cause: String,
}

impl RedisCheckError {
    /// rustls's reason when the failure is the server's certificate being refused, `None` for
    /// any other failure (Redis down, a timeout, ...).
    pub fn certificate_problem(&self) -> Option<String> {
        let RedisCheckError::Redis(error) = self else {
            return None;
        };
        // The redis crate keeps the I/O error behind a shared pointer, out of reach of a
        // downcast: its message carries rustls's (`invalid peer certificate: ...`).
        let message = error.to_string();
        let start = message.find("invalid peer certificate")?;
        Some(message[start..].to_string())
    }
}

/// Why a shared decision could not be made (the local limiter decides instead).
#[derive(Debug, thiserror::Error)]
pub enum RedisCheckError {
    /// Redis did not answer in time.
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Redis answered with an error, or the connection failed.
    #[error("Redis error: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis failed recently; skipped until [`RETRY_AFTER_FAILURE`] has passed.
    #[error("Redis failed recently; retrying shortly")]
    Backoff,
}

/// The shared limiter: a lazily connected, self-reconnecting Redis connection and the script.
pub struct RedisGcra {
    /// `host:port` of the URL, for messages (the URL may carry a password).
    server: String,
    connection: ConnectionManager,
    script: Script,
    prefix: String,
    timeout: Duration,
    skip_until_ms: AtomicU64,
}

impl RedisGcra {
    /// A limiter on `url` (connected on first use), with keys under `prefix`, each call bounded
    /// by `timeout`. A `rediss://` URL connects over TLS, the server's certificate checked
    /// against `ca` (PEM CA certificates, `REDIS_CA_FILE`) or, without it, the platform's roots.
    ///
    /// Errors: [`RedisSetupError`] when the URL is not a Redis URL or `ca` holds no certificate.
    pub fn new(
        url: &str,
        ca: Option<&[u8]>,
        prefix: &str,
        timeout: Duration,
    ) -> Result<Self, RedisSetupError> {
        // The Redis client builds its rustls configuration with the process's default crypto
        // provider: ring, the one every TLS client of the service uses. Installing it fails
        // harmlessly when it is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = match ca {
            Some(ca) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(ca.to_vec()),
                },
            ),
            None => redis::Client::open(url),
        }
        .map_err(|_| RedisSetupError)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(2);
        let connection =
            ConnectionManager::new_lazy_with_config(client, config).map_err(|_| RedisSetupError)?;
        let server = url::Url::parse(url)
            .ok()
            .map(|url| {
                format!(
                    "{}:{}",
                    url.host_str().unwrap_or_default(),
                    url.port().unwrap_or(6379)
                )
            })
            .unwrap_or_default();
        Ok(Self {
            server,
            connection,
            script: Script::new(GCRA_SCRIPT),
            prefix: prefix.to_string(),
            timeout,
            skip_until_ms: AtomicU64::new(0),
        })
    }

    /// `host:port` of `REDIS_URL` (never its password).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Connects and loads the script, waiting up to a second (or the call timeout if longer).
    ///
    /// Errors: [`RedisCheckError`] when Redis does not answer.
    pub async fn ping(&self) -> Result<(), RedisCheckError> {
        let wait = self.timeout.max(Duration::from_secs(1));
        let mut connection = self.connection.clone();
        let load = async {
            let _: String = redis::cmd("PING").query_async(&mut connection).await?;
            let _: String = self
                .script
                .prepare_invoke()
                .load_async(&mut connection)
                .await?;
            Ok::<(), redis::RedisError>(())
        };
        match tokio::time::timeout(wait, load).await {
            Ok(result) => result.map_err(RedisCheckError::from),
            Err(_) => Err(RedisCheckError::Timeout(wait)),
        }
    }

    /// The Redis key of `bucket`.
    pub fn key(&self, bucket: &Bucket) -> String {
        format!("{}{}", self.prefix, bucket.redis_suffix())
    }

    /// Counts one request against `bucket` under `limit`, shared by every replica.
    ///
    /// Errors: [`RedisCheckError`] on a timeout, a Redis error, or while backing off after one.
    pub async fn check(&self, bucket: &Bucket, limit: Limit) -> Result<Decision, RedisCheckError> {
        let now = now_millis().max(0) as u64;
        if now < self.skip_until_ms.load(Ordering::Relaxed) {
            return Err(RedisCheckError::Backoff);
        }
        let t = u64::try_from(limit.emission_interval().as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let tau = t.saturating_mul(u64::from(limit.burst().saturating_sub(1)));
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(self.key(bucket));
        invocation.arg(t).arg(tau);
        let call = invocation.invoke_async::<(i64, i64, i64)>(&mut connection);
        let result = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(error)) => Err(RedisCheckError::Redis(error)),
            Err(_) => Err(RedisCheckError::Timeout(self.timeout)),
        };
        let (allowed, value, reset_us) = match result {
            Ok(reply) => reply,
            Err(error) => {
                let until = now.saturating_add(RETRY_AFTER_FAILURE.as_millis() as u64);
                self.skip_until_ms.store(until, Ordering::Relaxed);
                return Err(error);
            }
        };
        let micros = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
        let reset_secs = super::ceil_secs(micros(reset_us));
        Ok(if allowed == 1 {
            let remaining = u32::try_from(value.max(0))
                .unwrap_or(u32::MAX)
                .min(limit.burst());
            Decision::Allowed(RateLimitStatus {
                reset_secs,
                ..limit.allowed(remaining)
            })
        } else {
            Decision::Limited(RateLimitStatus {
                reset_secs,
                ..limit.limited(micros(value))
            })
        })
    }
}
