//! Configuration from environment variables and an optional `.env` file.
//!
//! [`Config::from_vars`] reads every variable, validates all of them and reports every problem
//! at once; `fluxora serve` prints them and exits non-zero before binding the port.
//! `.env.example` at the repository root documents each variable.
//!
//! Each section of the configuration is read by one function (`read_listener`,
//! `read_database`, …, called in the order the problems are listed) and has one `Default`
//! holding its defaults, which both the reader and [`Config::default`] use, so every default is
//! written once. This module imports only leaf modules ([`crate::secret`], [`crate::proxies`],
//! [`crate::cors`], [`crate::webhook_retry`], [`crate::ssrf`]) and [`crate::address`]: every
//! other module may depend on it.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroUsize;
use std::time::Duration;

use crate::address::{AddressKind, StellarAddress};
use crate::cors::CorsOrigins;
use crate::proxies::TrustedProxies;
pub use crate::secret::Secret;
use crate::ssrf::SsrfPolicy;
use crate::webhook_retry::{RetrySchedule, DISABLE_AFTER_CONSECUTIVE_FAILURES};

/// Log output format (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (default; for machines).
    #[default]
    Json,
    /// Human-readable, coloured when attached to a terminal.
    Pretty,
}

/// A Stellar network (`STELLAR_NETWORK`), with its passphrase default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StellarNetwork {
    /// SDF testnet (default).
    #[default]
    Testnet,
    /// The public network.
    Mainnet,
    /// SDF futurenet.
    Futurenet,
    /// A local quickstart network; `NETWORK_PASSPHRASE` must be given.
    Local,
}

impl StellarNetwork {
    /// Wire name (`testnet`, `mainnet`, `futurenet`, `local`).
    pub fn as_str(self) -> &'static str {
        match self {
            StellarNetwork::Testnet => "testnet",
            StellarNetwork::Mainnet => "mainnet",
            StellarNetwork::Futurenet => "futurenet",
            StellarNetwork::Local => "local",
        }
    }

    /// The network's well-known passphrase; `None` for `local`.
    pub fn default_passphrase(self) -> Option<&'static str> {
        match self {
            StellarNetwork::Testnet => Some("Test SDF Network ; September 2015"),
            StellarNetwork::Mainnet => Some("Public Global Stellar Network ; September 2015"),
            StellarNetwork::Futurenet => Some("Test SDF Future Network ; October 2022"),
            StellarNetwork::Local => None,
        }
    }
}

/// Where state lives (`DATABASE_URL`).
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// The URL as given (may carry a password: never logged, see the `Debug` impl).
    pub url: String,
    /// Maximum pooled connections (`DATABASE_MAX_CONNECTIONS`, default 8).
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before answering 503
    /// (`DATABASE_ACQUIRE_TIMEOUT_MS`, default 3000 ms).
    pub acquire_timeout: Duration,
}

impl DatabaseConfig {
    /// Where the database is, for logs and error messages, never with credentials: the file
    /// path of a SQLite URL (`sqlite:///data/fluxora.db` → `/data/fluxora.db`), or
    /// `host:port/database` of a PostgreSQL URL (`postgres://u:pw@db:5432/x` → `db:5432/x`).
    pub fn location(&self) -> String {
        database_location(&self.url)
    }
}

/// [`DatabaseConfig::location`] of a `DATABASE_URL`.
pub fn database_location(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        return path.split('?').next().unwrap_or(path).to_string();
    }
    match url::Url::parse(url) {
        Ok(parsed) => {
            let host = parsed.host_str().unwrap_or("localhost");
            let port = parsed.port().unwrap_or(5432);
            format!("{host}:{port}{}", parsed.path())
        }
        Err(_) => "(unparseable DATABASE_URL)".to_string(),
    }
}

impl Default for DatabaseConfig {
    /// `sqlite://fluxora.db`, 8 connections, 3000 ms acquire timeout.
    fn default() -> Self {
        Self {
            url: "sqlite://fluxora.db".into(),
            max_connections: 8,
            acquire_timeout: Duration::from_millis(3000),
        }
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish()
    }
}

/// Whether a `DATABASE_URL` names PostgreSQL: it starts with `postgres://` or
/// `postgresql://` (anything else is taken for SQLite, which the configuration accepts only as
/// `sqlite:…`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Indexer settings (`docs/indexer.md`). Read even when the indexer is off, so `/health`
/// reports the configured stall threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexerConfig {
    /// Stellar RPC endpoint (`STELLAR_RPC_URL`).
    pub rpc_url: Option<String>,
    /// Contract to follow (`FLUXORA_CONTRACT_ID`, a C… StrKey).
    pub contract_id: Option<StellarAddress>,
    /// First ledger to index (`INDEXER_START_LEDGER`; default: the tip at first start).
    pub start_ledger: Option<u32>,
    /// Poll interval (`INDEXER_POLL_INTERVAL_MS`, default 2000 ms).
    pub poll_interval: Duration,
    /// Sync age after which the indexer is `stalled` (`INDEXER_STALL_THRESHOLD_MS`, default 300000 ms).
    pub stall_threshold_ms: u64,
    /// Ledgers below the ingested tip considered safe (`INDEXER_SAFETY_MARGIN_LEDGERS`, default 1).
    pub safety_margin_ledgers: u32,
    /// How often the poller reconciles every open chain stream with the contract's storage
    /// (`INDEXER_VERIFY_INTERVAL_MS`, default 3600000 ms; `0` turns it off).
    pub verify_interval: Option<Duration>,
    /// Token trusted workers present to `POST /internal/indexer/events`
    /// (`INDEXER_WORKER_TOKEN`); unset disables push ingest. Never logged.
    pub worker_token: Option<Secret>,
}

impl Default for IndexerConfig {
    /// Nothing to follow; 2000 ms polls, 300000 ms stall threshold, a safety margin of 1 ledger.
    fn default() -> Self {
        Self {
            rpc_url: None,
            contract_id: None,
            start_ledger: None,
            poll_interval: Duration::from_millis(2000),
            stall_threshold_ms: 300_000,
            safety_margin_ledgers: 1,
            verify_interval: Some(Duration::from_millis(3_600_000)),
            worker_token: None,
        }
    }
}

impl IndexerConfig {
    /// Whether anything feeds the indexer: RPC and contract (the poller), or the push-ingest
    /// token (`POST /internal/indexer/events`). Otherwise `/health` reports it `not_configured`.
    pub fn is_configured(&self) -> bool {
        (self.rpc_url.is_some() && self.contract_id.is_some()) || self.worker_token.is_some()
    }

    /// Whether the RPC poller should run.
    pub fn polls_rpc(&self) -> bool {
        self.rpc_url.is_some() && self.contract_id.is_some()
    }
}

/// The validated service configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listener address (`HOST`, default `0.0.0.0`).
    pub host: IpAddr,
    /// Listener port (`PORT`, default 3000; 0 picks a free port).
    pub port: u16,
    /// `tracing` filter directive (`LOG_LEVEL`, default `info`).
    pub log_level: String,
    /// Log format (`LOG_FORMAT`, default `json`).
    pub log_format: LogFormat,
    /// Async runtime worker threads, which serve HTTP and run the background workers
    /// (`WORKER_THREADS`, 1–1024; unset: one per CPU the process may use, Tokio's default).
    /// Fewer workers than CPUs suit a machine shared with other busy processes: idle workers
    /// are woken for each burst of requests and cost CPU for it (`docs/operations.md`,
    /// "Worker threads"; measured in `docs/benchmarks.md`).
    pub worker_threads: Option<NonZeroUsize>,
    /// Database.
    pub database: DatabaseConfig,
    /// Network (`STELLAR_NETWORK`, default `testnet`).
    pub network: StellarNetwork,
    /// Network passphrase (`NETWORK_PASSPHRASE`, default per network; must match it).
    pub network_passphrase: String,
    /// Settings that are set but no longer read (`HORIZON_URL`: the service reaches the network
    /// only through Stellar RPC); `serve` warns about each at start-up.
    pub ignored_settings: Vec<&'static str>,
    /// Indexer.
    pub indexer: IndexerConfig,
    /// How long graceful shutdown waits for in-flight requests (`SHUTDOWN_GRACE_MS`, default 10000 ms).
    pub shutdown_grace: Duration,
    /// How long, after SIGTERM, the service keeps accepting requests while `/health` and
    /// `/health/ready` already answer 503, so load balancers stop routing to it before the
    /// listener closes (`SHUTDOWN_DRAIN_MS`, default 0 ms; e.g. 5000 behind Kubernetes).
    pub shutdown_drain: Duration,
    /// Bearer token of the admin routes (`ADMIN_TOKEN`; unset: they answer 404). Never logged.
    pub admin_token: Option<Secret>,
    /// Bearer token protecting `GET /metrics` (`METRICS_TOKEN`; unset: public). Never logged.
    pub metrics_token: Option<Secret>,
    /// Webhook delivery.
    pub webhooks: WebhookConfig,
    /// API key authentication.
    pub auth: AuthConfig,
    /// Request rate limits.
    pub rate_limit: RateLimitConfig,
    /// HTTP hardening: client IP, timeout, CORS.
    pub http: HttpConfig,
    /// How often the database behind `/health` and `/health/ready` is checked in the background
    /// (`HEALTH_CHECK_INTERVAL_MS`, default 1000 ms, 100–60000 ms): the probes answer from the
    /// last check, never with a query of their own.
    pub health_check_interval: Duration,
}

impl Default for Config {
    /// The configuration of an empty environment: every section's default.
    fn default() -> Self {
        Sections::default().into()
    }
}

/// Request rate limits (`docs/operations.md`, "Rate limits").
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// Whether requests are limited at all (`RATE_LIMIT_ENABLED`, default `true`).
    pub enabled: bool,
    /// Requests per minute per client IP (`RATE_LIMIT_IP_PER_MINUTE`, default 600; burst = a
    /// tenth, at least 1).
    pub ip_per_minute: u32,
    /// Requests per minute per API key (`RATE_LIMIT_KEY_PER_MINUTE`, default 3000; burst = a
    /// tenth, at least 1).
    pub key_per_minute: u32,
    /// Redis shared by every replica (`REDIS_URL`, `redis://[user:password@]host[:port][/db]`,
    /// or `rediss://…` for TLS); unset: limits are per process. May carry a password: never
    /// logged.
    pub redis_url: Option<Secret>,
    /// The CA certificates (PEM, the contents of `REDIS_CA_FILE`) a `rediss://` server's
    /// certificate must lead to, instead of the platform's roots; `None`: the platform's roots.
    pub redis_ca: Option<Vec<u8>>,
    /// Prefix of the limiter's Redis keys (`RATE_LIMIT_REDIS_PREFIX`, default `fluxora:rl:`).
    pub redis_prefix: String,
    /// Longest wait for a Redis decision before the local limiter decides instead
    /// (`RATE_LIMIT_REDIS_TIMEOUT_MS`, default 50 ms).
    pub redis_timeout: Duration,
}

impl Default for RateLimitConfig {
    /// Enabled, 600 requests a minute per IP and 3000 per key, per process (no Redis), Redis
    /// keys under `fluxora:rl:` and a 50 ms Redis timeout once `REDIS_URL` is set.
    fn default() -> Self {
        Self {
            enabled: true,
            ip_per_minute: 600,
            key_per_minute: 3000,
            redis_url: None,
            redis_ca: None,
            redis_prefix: "fluxora:rl:".into(),
            redis_timeout: Duration::from_millis(50),
        }
    }
}

/// HTTP hardening settings (`docs/operations.md`, "Client IP and `TRUST_PROXY`" and "HTTP
/// hardening").
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Proxies whose `X-Forwarded-For` is believed (`TRUST_PROXY`, comma-separated IPs or
    /// CIDRs; unset: the socket's peer address is the client).
    pub trusted_proxies: TrustedProxies,
    /// Longest a request may take, body upload included, before a 503 envelope
    /// (`REQUEST_TIMEOUT_MS`, default 30000 ms).
    pub request_timeout: Duration,
    /// Browser origins allowed by CORS (`CORS_ALLOWED_ORIGINS`; unset: no CORS headers at all).
    pub cors: CorsOrigins,
    /// Longest wait for a complete request head: from accept for a connection's first request,
    /// from the head's first byte on a kept-alive connection; then the connection is closed
    /// (`HTTP_HEADER_READ_TIMEOUT_MS`, default 10000 ms, at least 1 ms).
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may sit idle (no request in flight, no byte of a next
    /// one) before it is closed (`HTTP_KEEPALIVE_IDLE_TIMEOUT_MS`, default 75000 ms, at least
    /// 1 ms).
    pub keepalive_idle_timeout: Duration,
    /// Most open client connections; a new one over it is closed at once
    /// (`HTTP_MAX_CONNECTIONS`, default 4096, at least 1). Keep it below the process's
    /// file-descriptor limit (`ulimit -n`) minus the database pool and other files.
    pub max_connections: usize,
    /// Most open connections from one peer address (IPv6: one /64); peers in `TRUST_PROXY`
    /// are exempt (`HTTP_MAX_CONNECTIONS_PER_IP`, default 256, at least 1).
    pub max_connections_per_ip: usize,
}

impl Default for HttpConfig {
    /// No trusted proxy, a 30000 ms request timeout, no CORS, a 10000 ms header-read and
    /// 75000 ms keep-alive idle timeout, at most 4096 connections and 256 per peer.
    fn default() -> Self {
        Self {
            trusted_proxies: TrustedProxies::default(),
            request_timeout: Duration::from_millis(30_000),
            cors: CorsOrigins::default(),
            header_read_timeout: Duration::from_millis(10_000),
            keepalive_idle_timeout: Duration::from_millis(75_000),
            max_connections: 4096,
            max_connections_per_ip: 256,
        }
    }
}

/// API key authentication settings (`docs/api.md`, "Authentication and API keys"; enforced by
/// [`crate::http::auth`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Once an API key exists, stream reads (`GET /api/streams*`) need a key with
    /// `streams:read` too (`AUTH_REQUIRE_READ_KEY`, default `false`: reads stay public).
    pub require_read_key: bool,
    /// How often the active keys are re-read from the database (`API_KEY_REFRESH_MS`, default
    /// 5000 ms, at least 100 ms): a key created or revoked on another replica, or with
    /// `fluxora keys`, takes effect here within this interval.
    pub key_refresh_interval: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            require_read_key: false,
            key_refresh_interval: Duration::from_millis(DEFAULT_KEY_REFRESH_MS),
        }
    }
}

/// The most `WORKER_THREADS` accepted (a typo such as `10000` fails at boot rather than
/// starting ten thousand threads).
pub const MAX_WORKER_THREADS: usize = 1024;

/// Default of `API_KEY_REFRESH_MS`.
pub const DEFAULT_KEY_REFRESH_MS: u64 = 5000;

/// Shortest accepted `ADMIN_TOKEN`, `METRICS_TOKEN` and `INDEXER_WORKER_TOKEN`, in characters.
const MIN_TOKEN_LEN: usize = 16;

/// Webhook delivery settings (`docs/operations.md`, "Webhook delivery").
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Delays between attempts after the immediate one (`WEBHOOK_RETRY_SCHEDULE`, default
    /// `5s,5m,30m,2h,5h,10h,10h`, ±20 % jitter).
    pub retry_schedule: RetrySchedule,
    /// Hosts/IPs exempt from the https and private-address rules (`WEBHOOK_SSRF_ALLOWLIST`,
    /// comma-separated; development and tests only).
    pub ssrf: SsrfPolicy,
    /// How often the dispatcher looks for due deliveries when not woken
    /// (`WEBHOOK_POLL_INTERVAL_MS`, default 200 ms).
    pub poll_interval: Duration,
    /// Deliveries in flight per dispatcher (`WEBHOOK_CONCURRENCY`, default 32).
    pub concurrency: u32,
    /// Deliveries in a row ending failed or dead after which an endpoint is disabled
    /// (`WEBHOOK_DISABLE_AFTER_FAILURES`, default 50).
    pub disable_after_failures: u32,
    /// How long a claimed delivery stays reserved for its dispatcher (`WEBHOOK_LEASE_MS`,
    /// default 60000 ms); after a crash, deliveries are retried once it expires.
    pub lease: Duration,
}

impl Default for WebhookConfig {
    /// The default retry schedule, no SSRF exemption, 200 ms polls, 32 deliveries in flight,
    /// disabled after [`DISABLE_AFTER_CONSECUTIVE_FAILURES`] (50), 60000 ms leases.
    fn default() -> Self {
        Self {
            retry_schedule: RetrySchedule::default(),
            ssrf: SsrfPolicy::default(),
            poll_interval: Duration::from_millis(200),
            concurrency: 32,
            disable_after_failures: DISABLE_AFTER_CONSECUTIVE_FAILURES,
            lease: Duration::from_millis(60_000),
        }
    }
}

/// One invalid variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Variable name.
    pub variable: &'static str,
    /// What is wrong and what is expected (never the value of a secret).
    pub message: String,
}

/// Every problem found in the environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for problem in &self.0 {
            writeln!(f, "  - {}: {}", problem.variable, problem.message)?;
        }
        write!(f, "see .env.example for every variable and its format")
    }
}

/// Reads variables and collects the problems of all of them: every reader method returns a
/// usable value (the default, for an invalid one) so reading goes on.
struct Reader<'a> {
    vars: &'a HashMap<String, String>,
    problems: Vec<ConfigProblem>,
}

impl<'a> Reader<'a> {
    /// The variable's value; unset and empty both mean "use the default".
    fn get(&self, name: &str) -> Option<&'a str> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn problem(&mut self, variable: &'static str, message: impl Into<String>) {
        self.problems.push(ConfigProblem {
            variable,
            message: message.into(),
        });
    }

    fn has_problem(&self, variable: &str) -> bool {
        self.problems.iter().any(|p| p.variable == variable)
    }

    fn parse<T: std::str::FromStr>(&mut self, name: &'static str, default: T, expected: &str) -> T {
        match self.get(name) {
            None => default,
            Some(raw) => match raw.parse::<T>() {
                Ok(value) => value,
                Err(_) => {
                    let shown = shorten(raw);
                    self.problem(name, format!("'{shown}' is not {expected}"));
                    default
                }
            },
        }
    }

    /// A whole number of milliseconds; unset: `default`.
    fn millis(&mut self, name: &'static str, default: Duration) -> Duration {
        let default_ms = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(self.parse(name, default_ms, "a whole number of milliseconds"))
    }

    /// A value with its own parser, whose error message is the problem; unset: `default`.
    fn value<T, E: fmt::Display>(
        &mut self,
        name: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> T {
        match self.get(name) {
            None => default,
            Some(raw) => match parse(raw) {
                Ok(value) => value,
                Err(error) => {
                    self.problem(name, error.to_string());
                    default
                }
            },
        }
    }

    /// A boolean: `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off` (any case); unset: `default`.
    fn flag(&mut self, name: &'static str, default: bool) -> bool {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None => default,
            Some("true" | "1" | "yes" | "on") => true,
            Some("false" | "0" | "no" | "off") => false,
            Some(raw) => {
                let shown = shorten(raw);
                self.problem(name, format!("'{shown}' is not true or false"));
                default
            }
        }
    }

    fn url(&mut self, name: &'static str, schemes: &[&str]) -> Option<String> {
        let raw = self.get(name)?.to_string();
        match url::Url::parse(&raw) {
            Ok(parsed) if schemes.contains(&parsed.scheme()) => Some(raw),
            _ => {
                self.problem(
                    name,
                    format!("expected an absolute {} URL", schemes.join(" or ")),
                );
                None
            }
        }
    }

    /// A secret token of at least [`MIN_TOKEN_LEN`] characters; unset: `None`.
    fn token(&mut self, name: &'static str) -> Option<Secret> {
        let token = self.get(name).map(Secret::new);
        if token
            .as_ref()
            .is_some_and(|t| t.expose().len() < MIN_TOKEN_LEN)
        {
            self.problem(
                name,
                format!("must be at least {MIN_TOKEN_LEN} characters (use a long random value)"),
            );
        }
        token
    }
}

fn shorten(raw: &str) -> String {
    if raw.chars().count() > 64 {
        let mut short: String = raw.chars().take(64).collect();
        short.push('…');
        short
    } else {
        raw.to_string()
    }
}

/// Replaces the password of a URL (if any) with `***`, for logs.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => raw.to_string(),
    }
}

/// The listener: `HOST`, `PORT`.
struct Listener {
    host: IpAddr,
    port: u16,
}

impl Default for Listener {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 3000,
        }
    }
}

/// Logs: `LOG_LEVEL`, `LOG_FORMAT`.
struct Logging {
    level: String,
    format: LogFormat,
}

impl Default for Logging {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::default(),
        }
    }
}

/// The async runtime: `WORKER_THREADS` (default: unset, one per CPU).
#[derive(Default)]
struct Runtime {
    worker_threads: Option<NonZeroUsize>,
}

/// The Stellar network: `STELLAR_NETWORK`, `NETWORK_PASSPHRASE` (and the retired `HORIZON_URL`).
struct Network {
    network: StellarNetwork,
    passphrase: String,
    ignored: Vec<&'static str>,
}

impl Default for Network {
    /// The default network with its passphrase.
    fn default() -> Self {
        let network = StellarNetwork::default();
        Self {
            network,
            passphrase: network.default_passphrase().unwrap_or_default().into(),
            ignored: Vec::new(),
        }
    }
}

/// The operator tokens: `ADMIN_TOKEN`, `METRICS_TOKEN` (default: unset).
#[derive(Default)]
struct Tokens {
    admin: Option<Secret>,
    metrics: Option<Secret>,
}

/// Shutdown: `SHUTDOWN_GRACE_MS`, `SHUTDOWN_DRAIN_MS`.
struct Shutdown {
    grace: Duration,
    drain: Duration,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self {
            grace: Duration::from_millis(10_000),
            drain: Duration::ZERO,
        }
    }
}

/// Every section, in the order they are read (and their problems listed).
#[derive(Default)]
struct Sections {
    listener: Listener,
    logging: Logging,
    runtime: Runtime,
    database: DatabaseConfig,
    network: Network,
    indexer: IndexerConfig,
    tokens: Tokens,
    webhooks: WebhookConfig,
    auth: AuthConfig,
    shutdown: Shutdown,
    rate_limit: RateLimitConfig,
    http: HttpConfig,
    health: Health,
}

/// Health checks: `HEALTH_CHECK_INTERVAL_MS`.
struct Health {
    interval: Duration,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(1000),
        }
    }
}

fn read_health(r: &mut Reader<'_>) -> Health {
    let d = Health::default();
    let interval = r.millis("HEALTH_CHECK_INTERVAL_MS", d.interval);
    if interval < Duration::from_millis(100) || interval > Duration::from_millis(60_000) {
        r.problem("HEALTH_CHECK_INTERVAL_MS", "must be 100–60000 ms");
    }
    Health { interval }
}

impl From<Sections> for Config {
    fn from(s: Sections) -> Self {
        Config {
            host: s.listener.host,
            port: s.listener.port,
            log_level: s.logging.level,
            log_format: s.logging.format,
            worker_threads: s.runtime.worker_threads,
            database: s.database,
            network: s.network.network,
            network_passphrase: s.network.passphrase,
            ignored_settings: s.network.ignored,
            indexer: s.indexer,
            shutdown_grace: s.shutdown.grace,
            shutdown_drain: s.shutdown.drain,
            admin_token: s.tokens.admin,
            metrics_token: s.tokens.metrics,
            webhooks: s.webhooks,
            auth: s.auth,
            rate_limit: s.rate_limit,
            http: s.http,
            health_check_interval: s.health.interval,
        }
    }
}

fn read_listener(r: &mut Reader<'_>) -> Listener {
    let d = Listener::default();
    let port = r.parse::<u16>("PORT", d.port, "a port number (0–65535)");
    let host = r.parse::<IpAddr>("HOST", d.host, "an IP address such as 0.0.0.0 or 127.0.0.1");
    Listener { host, port }
}

fn read_logging(r: &mut Reader<'_>) -> Logging {
    let d = Logging::default();
    let level = r.get("LOG_LEVEL").map_or(d.level, str::to_string);
    if tracing_subscriber::EnvFilter::try_new(&level).is_err() {
        let shown = shorten(&level);
        r.problem(
            "LOG_LEVEL",
            format!(
                "'{shown}' is not a level (error, warn, info, debug, trace) or a tracing filter"
            ),
        );
    }
    let format = match r.get("LOG_FORMAT").map(str::to_ascii_lowercase).as_deref() {
        None => d.format,
        Some("json") => LogFormat::Json,
        Some("pretty") => LogFormat::Pretty,
        Some(_) => {
            r.problem("LOG_FORMAT", "expected 'json' or 'pretty'");
            d.format
        }
    };
    Logging { level, format }
}

fn read_runtime(r: &mut Reader<'_>) -> Runtime {
    let d = Runtime::default();
    let worker_threads = match r.get("WORKER_THREADS") {
        None => d.worker_threads,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n @ 1..=MAX_WORKER_THREADS) => NonZeroUsize::new(n),
            _ => {
                let shown = shorten(raw);
                r.problem(
                    "WORKER_THREADS",
                    format!("'{shown}' is not a whole number from 1 to {MAX_WORKER_THREADS}"),
                );
                d.worker_threads
            }
        },
    };
    Runtime { worker_threads }
}

fn read_database(r: &mut Reader<'_>) -> DatabaseConfig {
    let d = DatabaseConfig::default();
    let url = r.get("DATABASE_URL").map_or(d.url, str::to_string);
    if !is_postgres_url(&url) && !url.starts_with("sqlite:") {
        r.problem(
            "DATABASE_URL",
            "expected sqlite://PATH (e.g. sqlite://fluxora.db), sqlite::memory: or postgres://USER:PASSWORD@HOST:PORT/DB",
        );
    } else if is_postgres_url(&url) {
        match url::Url::parse(&url) {
            Err(_) => r.problem("DATABASE_URL", "is not a valid URL"),
            Ok(parsed) => {
                let tls = postgres_tls::PostgresTls::from_url(&parsed, |name| {
                    r.get(name).map(str::to_string)
                })
                .and_then(|tls| tls.check_files());
                if let Err(error) = tls {
                    r.problem("DATABASE_URL", error.to_string());
                }
            }
        }
    } else if url::Url::parse(&url).is_err() && url != "sqlite::memory:" {
        r.problem("DATABASE_URL", "is not a valid URL");
    }
    let max_connections = r.parse::<u32>(
        "DATABASE_MAX_CONNECTIONS",
        d.max_connections,
        "a positive whole number of connections",
    );
    if max_connections == 0 {
        r.problem("DATABASE_MAX_CONNECTIONS", "must be at least 1");
    }
    let acquire_timeout = r.millis("DATABASE_ACQUIRE_TIMEOUT_MS", d.acquire_timeout);
    if acquire_timeout.is_zero() {
        r.problem("DATABASE_ACQUIRE_TIMEOUT_MS", "must be at least 1 ms");
    }
    DatabaseConfig {
        url,
        max_connections,
        acquire_timeout,
    }
}

fn read_network(r: &mut Reader<'_>) -> Network {
    let d = Network::default();
    let network = match r
        .get("STELLAR_NETWORK")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => d.network,
        Some("testnet") => StellarNetwork::Testnet,
        Some("mainnet") | Some("pubnet") | Some("public") => StellarNetwork::Mainnet,
        Some("futurenet") => StellarNetwork::Futurenet,
        Some("local") | Some("standalone") => StellarNetwork::Local,
        Some(_) => {
            r.problem(
                "STELLAR_NETWORK",
                "expected testnet, mainnet, futurenet or local",
            );
            d.network
        }
    };
    let passphrase = match (r.get("NETWORK_PASSPHRASE"), network.default_passphrase()) {
        (Some(given), Some(expected)) if given != expected => {
            r.problem(
                "NETWORK_PASSPHRASE",
                format!(
                    "does not match STELLAR_NETWORK={}: expected '{expected}'",
                    network.as_str()
                ),
            );
            given.to_string()
        }
        (Some(given), _) => given.to_string(),
        (None, Some(expected)) => expected.to_string(),
        (None, None) => {
            r.problem(
                "NETWORK_PASSPHRASE",
                "required when STELLAR_NETWORK=local (your network's passphrase)",
            );
            String::new()
        }
    };
    // Horizon is not used: everything the service reads from the network comes through Stellar
    // RPC. A value left over from an older configuration is reported, not refused.
    let ignored = if r.get("HORIZON_URL").is_some() {
        vec!["HORIZON_URL"]
    } else {
        Vec::new()
    };
    Network {
        network,
        passphrase,
        ignored,
    }
}

fn read_indexer(r: &mut Reader<'_>) -> IndexerConfig {
    let d = IndexerConfig::default();
    let rpc_url = r.url("STELLAR_RPC_URL", &["http", "https"]);
    let contract_id = match r.get("FLUXORA_CONTRACT_ID") {
        None => d.contract_id,
        Some(raw) => match StellarAddress::parse(raw) {
            Ok(address) if address.kind() == AddressKind::Contract => Some(address),
            _ => {
                r.problem("FLUXORA_CONTRACT_ID", "expected a C… contract StrKey");
                None
            }
        },
    };
    let start_ledger = r
        .get("INDEXER_START_LEDGER")
        .is_some()
        .then(|| r.parse::<u32>("INDEXER_START_LEDGER", 0, "a ledger sequence number"));
    let poll_interval = r.millis("INDEXER_POLL_INTERVAL_MS", d.poll_interval);
    let stall_threshold_ms = r.parse::<u64>(
        "INDEXER_STALL_THRESHOLD_MS",
        d.stall_threshold_ms,
        "a whole number of milliseconds",
    );
    let safety_margin_ledgers = r.parse::<u32>(
        "INDEXER_SAFETY_MARGIN_LEDGERS",
        d.safety_margin_ledgers,
        "a whole number of ledgers",
    );
    let verify_ms = r.parse::<u64>(
        "INDEXER_VERIFY_INTERVAL_MS",
        d.verify_interval
            .map_or(0, |i| u64::try_from(i.as_millis()).unwrap_or(u64::MAX)),
        "a whole number of milliseconds (0: off)",
    );
    let verify_interval = (verify_ms > 0).then(|| Duration::from_millis(verify_ms));
    let worker_token = r.token("INDEXER_WORKER_TOKEN");
    if rpc_url.is_some() && contract_id.is_none() && !r.has_problem("FLUXORA_CONTRACT_ID") {
        r.problem(
            "FLUXORA_CONTRACT_ID",
            "required with STELLAR_RPC_URL: the C… contract whose events to index",
        );
    }
    IndexerConfig {
        rpc_url,
        contract_id,
        start_ledger,
        poll_interval,
        stall_threshold_ms,
        safety_margin_ledgers,
        verify_interval,
        worker_token,
    }
}

fn read_tokens(r: &mut Reader<'_>) -> Tokens {
    Tokens {
        admin: r.token("ADMIN_TOKEN"),
        metrics: r.token("METRICS_TOKEN"),
    }
}

fn read_webhooks(r: &mut Reader<'_>) -> WebhookConfig {
    let d = WebhookConfig::default();
    let retry_schedule = r.value(
        "WEBHOOK_RETRY_SCHEDULE",
        d.retry_schedule,
        RetrySchedule::parse,
    );
    let ssrf = r.value(
        "WEBHOOK_SSRF_ALLOWLIST",
        d.ssrf,
        SsrfPolicy::parse_allowlist,
    );
    let poll_interval = r.millis("WEBHOOK_POLL_INTERVAL_MS", d.poll_interval);
    let concurrency = r.parse::<u32>(
        "WEBHOOK_CONCURRENCY",
        d.concurrency,
        "a positive whole number",
    );
    let disable_after_failures = r.parse::<u32>(
        "WEBHOOK_DISABLE_AFTER_FAILURES",
        d.disable_after_failures,
        "a positive whole number",
    );
    let lease = r.millis("WEBHOOK_LEASE_MS", d.lease);
    if lease < Duration::from_millis(1000) {
        r.problem("WEBHOOK_LEASE_MS", "must be at least 1000 ms");
    }
    WebhookConfig {
        retry_schedule,
        ssrf,
        poll_interval: poll_interval.max(Duration::from_millis(10)),
        concurrency: concurrency.max(1),
        disable_after_failures: disable_after_failures.max(1),
        lease,
    }
}

fn read_auth(r: &mut Reader<'_>) -> AuthConfig {
    let d = AuthConfig::default();
    let require_read_key = r.flag("AUTH_REQUIRE_READ_KEY", d.require_read_key);
    let key_refresh_interval = r.millis("API_KEY_REFRESH_MS", d.key_refresh_interval);
    if key_refresh_interval < Duration::from_millis(100) {
        r.problem("API_KEY_REFRESH_MS", "must be at least 100 ms");
    }
    AuthConfig {
        require_read_key,
        key_refresh_interval,
    }
}

fn read_shutdown(r: &mut Reader<'_>) -> Shutdown {
    let d = Shutdown::default();
    Shutdown {
        grace: r.millis("SHUTDOWN_GRACE_MS", d.grace),
        drain: r.millis("SHUTDOWN_DRAIN_MS", d.drain),
    }
}

fn read_rate_limit(r: &mut Reader<'_>) -> RateLimitConfig {
    let d = RateLimitConfig::default();
    let enabled = r.flag("RATE_LIMIT_ENABLED", d.enabled);
    let ip_per_minute = read_per_minute(r, "RATE_LIMIT_IP_PER_MINUTE", d.ip_per_minute);
    let key_per_minute = read_per_minute(r, "RATE_LIMIT_KEY_PER_MINUTE", d.key_per_minute);
    let redis_url = match r.get("REDIS_URL") {
        None => d.redis_url,
        Some(raw) => match url::Url::parse(raw) {
            Ok(parsed)
                if matches!(parsed.scheme(), "redis" | "rediss")
                    && parsed.has_host()
                    && parsed.fragment().is_none() =>
            {
                Some(Secret::new(raw))
            }
            _ => {
                r.problem(
                    "REDIS_URL",
                    "expected redis://[USER:PASSWORD@]HOST[:PORT][/DB], or rediss://… for TLS",
                );
                None
            }
        },
    };
    let redis_ca = match r.get("REDIS_CA_FILE") {
        None => d.redis_ca,
        Some(path) => {
            let tls = redis_url
                .as_ref()
                .is_some_and(|url| url.expose().starts_with("rediss://"));
            if !tls {
                r.problem("REDIS_CA_FILE", "is only used with a rediss:// REDIS_URL");
                None
            } else {
                match postgres_tls::read_certificates(std::path::Path::new(path)) {
                    // The file as read, for the Redis client (which parses PEM itself).
                    Ok(_) => std::fs::read(path).ok(),
                    Err(problem) => {
                        r.problem("REDIS_CA_FILE", format!("{path} {problem}"));
                        None
                    }
                }
            }
        }
    };
    let redis_prefix = r
        .get("RATE_LIMIT_REDIS_PREFIX")
        .map_or(d.redis_prefix, str::to_string);
    let redis_timeout = r.millis("RATE_LIMIT_REDIS_TIMEOUT_MS", d.redis_timeout);
    if redis_timeout.is_zero() {
        r.problem("RATE_LIMIT_REDIS_TIMEOUT_MS", "must be at least 1 ms");
    }
    RateLimitConfig {
        enabled,
        ip_per_minute,
        key_per_minute,
        redis_url,
        redis_ca,
        redis_prefix,
        redis_timeout,
    }
}

/// A rate limit in requests per minute, at least 1.
fn read_per_minute(r: &mut Reader<'_>, name: &'static str, default: u32) -> u32 {
    let value = r.parse::<u32>(
        name,
        default,
        "a positive whole number of requests per minute",
    );
    if value == 0 {
        r.problem(
            name,
            "must be at least 1 (use RATE_LIMIT_ENABLED=false to turn limits off)",
        );
    }
    value
}

fn read_http(r: &mut Reader<'_>) -> HttpConfig {
    let d = HttpConfig::default();
    let trusted_proxies = r.value("TRUST_PROXY", d.trusted_proxies, TrustedProxies::parse);
    let request_timeout = r.millis("REQUEST_TIMEOUT_MS", d.request_timeout);
    if request_timeout.is_zero() {
        r.problem("REQUEST_TIMEOUT_MS", "must be at least 1 ms");
    }
    let cors = r.value("CORS_ALLOWED_ORIGINS", d.cors, CorsOrigins::parse);
    let header_read_timeout = r.millis("HTTP_HEADER_READ_TIMEOUT_MS", d.header_read_timeout);
    if header_read_timeout.is_zero() {
        r.problem("HTTP_HEADER_READ_TIMEOUT_MS", "must be at least 1 ms");
    }
    let keepalive_idle_timeout =
        r.millis("HTTP_KEEPALIVE_IDLE_TIMEOUT_MS", d.keepalive_idle_timeout);
    if keepalive_idle_timeout.is_zero() {
        r.problem("HTTP_KEEPALIVE_IDLE_TIMEOUT_MS", "must be at least 1 ms");
    }
    let max_connections = r.parse::<usize>(
        "HTTP_MAX_CONNECTIONS",
        d.max_connections,
        "a positive whole number of connections",
    );
    if max_connections == 0 {
        r.problem("HTTP_MAX_CONNECTIONS", "must be at least 1");
    }
    let max_connections_per_ip = r.parse::<usize>(
        "HTTP_MAX_CONNECTIONS_PER_IP",
        d.max_connections_per_ip,
        "a positive whole number of connections",
    );
    if max_connections_per_ip == 0 {
        r.problem("HTTP_MAX_CONNECTIONS_PER_IP", "must be at least 1");
    }
    HttpConfig {
        trusted_proxies,
        request_timeout,
        cors,
        header_read_timeout,
        keepalive_idle_timeout,
        max_connections,
        max_connections_per_ip,
    }
}

impl Config {
    /// Reads the process environment (after loading `.env`, see `main.rs`).
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// Validates a set of variables; reports every problem at once.
    ///
    /// Errors: [`ConfigError`] listing each invalid variable with the expected format.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let mut r = Reader {
            vars,
            problems: Vec::new(),
        };
        // Fields are evaluated in the order written: the order problems are listed in.
        let sections = Sections {
            listener: read_listener(&mut r),
            logging: read_logging(&mut r),
            runtime: read_runtime(&mut r),
            database: read_database(&mut r),
            network: read_network(&mut r),
            indexer: read_indexer(&mut r),
            tokens: read_tokens(&mut r),
            webhooks: read_webhooks(&mut r),
            auth: read_auth(&mut r),
            shutdown: read_shutdown(&mut r),
            rate_limit: read_rate_limit(&mut r),
            http: read_http(&mut r),
            health: read_health(&mut r),
        };
        if !r.problems.is_empty() {
            return Err(ConfigError(r.problems));
        }
        Ok(sections.into())
    }

    /// A configuration for tests and embedding: defaults, listening on 127.0.0.1 with an
    /// OS-assigned port, on the given database URL.
    pub fn for_database(database_url: impl Into<String>) -> Config {
        let host = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let port: u16 = 0;
        let url = database_url.into();
        let vars = HashMap::from([
            ("HOST".to_string(), host.to_string()),
            ("PORT".to_string(), port.to_string()),
            ("DATABASE_URL".to_string(), url.clone()),
        ]);
        // Defaults are valid by construction; fall back to them for an odd database URL so the
        // error surfaces when the store opens.
        Config::from_vars(&vars).unwrap_or_else(|_| Config {
            host,
            port,
            database: DatabaseConfig {
                url,
                ..DatabaseConfig::default()
            },
            ..Config::default()
        })
    }
}

pub mod postgres_tls;

#[cfg(test)]
mod tests;
