//! [`RedisDedup`] (feature `redis`): a [`DeliveryDedup`] shared by every replica of a consumer
//! through Redis, atomic through Lua scripts, with every key expiring on its own.

use std::fmt;

use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::Script;

use super::{
    Claim, DedupError, DeliveryDedup, Lease, DEFAULT_LEASE_TTL_SECS, DEFAULT_PROCESSED_TTL_SECS,
};
use crate::outcome::DuplicateReason;

/// Default key prefix: keys are `fluxora:webhooks:d:<delivery id>` and
/// `fluxora:webhooks:s:<signature hex>`.
pub const DEFAULT_PREFIX: &str = "fluxora:webhooks:";

/// The value of a processed delivery's key; a leased one holds `L:<token>`.
const PROCESSED: &str = "P";

/// KEYS: delivery key, signature key. ARGV: delivery id, lease value, lease ms, signature ms.
/// Returns 0 claimed, 1 processed, 2 in progress, 3 replayed signature.
const CLAIM_LUA: &str = r"
local state = redis.call('GET', KEYS[1])
if state then
  if state == 'P' then return 1 end
  return 2
end
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[1] then return 3 end
if owner then
  if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[4]) then
    redis.call('PEXPIRE', KEYS[2], ARGV[4])
  end
else
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[4])
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 0
";

/// KEYS: delivery key. ARGV: lease value. Deletes the key only if this lease still holds it.
const RELEASE_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// A [`DeliveryDedup`] in Redis, for consumers running several replicas.
///
/// Atomicity: `claim` is one Lua script (check processed / leased, check and record the
/// signature, take the lease with `PX`), `complete` one `SET … PX`, `release` one
/// compare-and-delete script; every key carries a TTL (lease 300 s, processed 86 400 s,
/// signature its replay window), so nothing needs cleaning up.
///
/// Keys: `<prefix>d:<delivery id>` (`L:<token>` while leased, `P` once processed) and
/// `<prefix>s:<signature hex>` (the delivery id it was accepted under). With Redis Cluster, put
/// a hash tag in the prefix (e.g. `{fluxora}:webhooks:`) so a script's two keys share a slot.
///
/// `C` is any async connection that can be cloned cheaply: [`ConnectionManager`] (the
/// default, reconnects by itself) or a `MultiplexedConnection`.
///
/// ```no_run
/// use fluxora_webhooks::RedisDedup;
///
/// # async fn run() -> Result<(), fluxora_webhooks::DedupError> {
/// let dedup = RedisDedup::connect("redis://127.0.0.1:6379")
///     .await?
///     .with_prefix("myapp:webhooks:")
///     .with_lease_ttl_secs(300)
///     .with_processed_ttl_secs(86_400);
/// # let _ = dedup;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisDedup<C = ConnectionManager> {
    connection: C,
    prefix: String,
    lease_ttl_secs: u64,
    processed_ttl_secs: u64,
    claim_script: Script,
    release_script: Script,
}

impl RedisDedup<ConnectionManager> {
    /// Connects to `url` (`redis://host:port/db`, `rediss://…`) with a [`ConnectionManager`].
    ///
    /// Errors: [`DedupError`] when the URL is invalid or Redis cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, DedupError> {
        let client = redis::Client::open(url).map_err(redis_error)?;
        let connection = ConnectionManager::new(client).await.map_err(redis_error)?;
        Ok(RedisDedup::new(connection))
    }
}

impl<C> RedisDedup<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A store over an existing connection, with the defaults: prefix `fluxora:webhooks:`,
    /// lease 300 s, processed TTL 86 400 s.
    pub fn new(connection: C) -> Self {
        RedisDedup {
            connection,
            prefix: DEFAULT_PREFIX.to_string(),
            lease_ttl_secs: DEFAULT_LEASE_TTL_SECS,
            processed_ttl_secs: DEFAULT_PROCESSED_TTL_SECS,
            claim_script: Script::new(CLAIM_LUA),
            release_script: Script::new(RELEASE_LUA),
        }
    }

    /// Sets the prefix of every key (keep the trailing separator, e.g. `myapp:webhooks:`).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a claim blocks other claims of the same id, in seconds (at least 1).
    pub fn with_lease_ttl_secs(mut self, secs: u64) -> Self {
        self.lease_ttl_secs = secs.max(1);
        self
    }

    /// How long a completed delivery id is remembered, in seconds (at least 1).
    pub fn with_processed_ttl_secs(mut self, secs: u64) -> Self {
        self.processed_ttl_secs = secs.max(1);
        self
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis key of a delivery id's state.
    pub fn delivery_key(&self, delivery_id: &str) -> String {
        format!("{}d:{delivery_id}", self.prefix)
    }

    /// The Redis key of an accepted signature.
    pub fn signature_key(&self, signature: &str) -> String {
        format!("{}s:{signature}", self.prefix)
    }
}

fn millis(secs: u64) -> u64 {
    secs.max(1).saturating_mul(1000)
}

fn redis_error(error: redis::RedisError) -> DedupError {
    DedupError::new(format!("redis: {error}"), Some(Box::new(error)))
}

#[async_trait]
impl<C> DeliveryDedup for RedisDedup<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn claim(
        &self,
        delivery_id: &str,
        signature: &str,
        signature_ttl_secs: u64,
    ) -> Result<Claim, DedupError> {
        let token = Lease::new_token();
        let mut connection = self.connection.clone();
        let answer: i64 = self
            .claim_script
            .key(self.delivery_key(delivery_id))
            .key(self.signature_key(signature))
            .arg(delivery_id)
            .arg(format!("L:{token}"))
            .arg(millis(self.lease_ttl_secs))
            .arg(millis(signature_ttl_secs))
            .invoke_async(&mut connection)
            .await
            .map_err(redis_error)?;
        match answer {
            0 => Ok(Claim::Claimed(Lease::new(
                delivery_id.to_string(),
                signature.to_string(),
                token,
            ))),
            1 => Ok(Claim::Duplicate(DuplicateReason::Processed)),
            2 => Ok(Claim::Duplicate(DuplicateReason::InProgress)),
            3 => Ok(Claim::Duplicate(DuplicateReason::ReplayedSignature)),
            other => Err(DedupError::new(
                format!("redis: unexpected answer {other} from the claim script"),
                None,
            )),
        }
    }

    async fn complete(&self, lease: &Lease) -> Result<(), DedupError> {
        let mut connection = self.connection.clone();
        redis::cmd("SET")
            .arg(self.delivery_key(lease.delivery_id()))
            .arg(PROCESSED)
            .arg("PX")
            .arg(millis(self.processed_ttl_secs))
            .query_async::<()>(&mut connection)
            .await
            .map_err(redis_error)
    }

    async fn release(&self, lease: &Lease) -> Result<(), DedupError> {
        let mut connection = self.connection.clone();
        self.release_script
            .key(self.delivery_key(lease.delivery_id()))
            .arg(format!("L:{}", lease.token()))
            .invoke_async::<i64>(&mut connection)
            .await
            .map(|_| ())
            .map_err(redis_error)
    }
}

impl<C> fmt::Debug for RedisDedup<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisDedup")
            .field("prefix", &self.prefix)
            .field("lease_ttl_secs", &self.lease_ttl_secs)
            .field("processed_ttl_secs", &self.processed_ttl_secs)
            .finish_non_exhaustive()
    }
}
