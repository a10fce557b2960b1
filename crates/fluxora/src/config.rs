//! Configuration from environment variables and an optional `.env` file (`design.md` §3).
//!
//! [`Config::from_vars`] reads every variable, validates all of them and reports every problem
//! at once; `fluxora serve` prints them and exits non-zero before binding the port.
//! `.env.example` at the repository root documents each variable.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::address::{AddressKind, StellarAddress};

/// Log output format (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (default; for machines).
    Json,
    /// Human-readable, coloured when attached to a terminal.
    Pretty,
}

/// A Stellar network (`STELLAR_NETWORK`), with its passphrase default (`chain.md` §B7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StellarNetwork {
    /// SDF testnet (default).
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

    /// Default Horizon endpoint; `None` for `local`.
    pub fn default_horizon_url(self) -> Option<&'static str> {
        match self {
            StellarNetwork::Testnet => Some("https://horizon-testnet.stellar.org"),
            StellarNetwork::Mainnet => Some("https://horizon.stellar.org"),
            StellarNetwork::Futurenet => Some("https://horizon-futurenet.stellar.org"),
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

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish()
    }
}

/// Indexer settings (design §6). Read now so `/health` reports the configured threshold.
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
    /// Token trusted workers present to `POST /internal/indexer/events`
    /// (`INDEXER_WORKER_TOKEN`); unset disables push ingest. Never logged.
    pub worker_token: Option<Secret>,
}

impl IndexerConfig {
    /// Whether anything feeds the indexer: RPC and contract, or the push-ingest token (design §6).
    pub fn is_configured(&self) -> bool {
        (self.rpc_url.is_some() && self.contract_id.is_some()) || self.worker_token.is_some()
    }

    /// Whether the RPC poller should run.
    pub fn polls_rpc(&self) -> bool {
        self.rpc_url.is_some() && self.contract_id.is_some()
    }
}

/// A secret value from the environment: compared in constant time, never printed (`Debug` shows
/// `<redacted>`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for comparison or signing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
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
    pub worker_threads: Option<std::num::NonZeroUsize>,
    /// Database.
    pub database: DatabaseConfig,
    /// Network (`STELLAR_NETWORK`, default `testnet`).
    pub network: StellarNetwork,
    /// Network passphrase (`NETWORK_PASSPHRASE`, default per network; must match it).
    pub network_passphrase: String,
    /// Horizon endpoint (`HORIZON_URL`, default per network).
    pub horizon_url: Option<String>,
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
    /// Request rate limits (design §3, §9).
    pub rate_limit: RateLimitConfig,
    /// HTTP hardening: client IP, timeout, CORS (issue 7).
    pub http: HttpConfig,
}

/// Request rate limits (design §3, §9; `docs/operations.md`, "Rate limits").
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
    /// Redis shared by every replica (`REDIS_URL`, `redis://[user:password@]host[:port][/db]`);
    /// unset: limits are per process. May carry a password: never logged.
    pub redis_url: Option<Secret>,
    /// Prefix of the limiter's Redis keys (`RATE_LIMIT_REDIS_PREFIX`, default `fluxora:rl:`).
    pub redis_prefix: String,
    /// Longest wait for a Redis decision before the local limiter decides instead
    /// (`RATE_LIMIT_REDIS_TIMEOUT_MS`, default 50 ms).
    pub redis_timeout: Duration,
}

/// HTTP hardening settings (issue 7, scope 6; `docs/operations.md`).
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Proxies whose `X-Forwarded-For` is believed (`TRUST_PROXY`, comma-separated IPs or
    /// CIDRs; unset: the socket's peer address is the client).
    pub trusted_proxies: crate::http::client_ip::TrustedProxies,
    /// Longest a request may take, body upload included, before a 503 envelope
    /// (`REQUEST_TIMEOUT_MS`, default 30000 ms).
    pub request_timeout: Duration,
    /// Browser origins allowed by CORS (`CORS_ALLOWED_ORIGINS`; unset: no CORS headers at all).
    pub cors: crate::http::hardening::CorsOrigins,
}

/// API key authentication settings (design §9, issue 7; see [`crate::http::auth`]).
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

/// Webhook delivery settings (issue 6).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Delays between attempts after the immediate one (`WEBHOOK_RETRY_SCHEDULE`, default
    /// `5s,5m,30m,2h,5h,10h,10h`, ±20 % jitter).
    pub retry_schedule: crate::webhooks::policy::RetrySchedule,
    /// Hosts/IPs exempt from the https and private-address rules (`WEBHOOK_SSRF_ALLOWLIST`,
    /// comma-separated; development and tests only).
    pub ssrf: crate::webhooks::ssrf::SsrfPolicy,
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

struct Reader<'a> {
    vars: &'a HashMap<String, String>,
    problems: Vec<ConfigProblem>,
}

impl Reader<'_> {
    /// The variable's value; unset and empty both mean "use the default".
    fn get(&self, name: &str) -> Option<&str> {
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

        let port = r.parse::<u16>("PORT", 3000, "a port number (0–65535)");
        let host = r.parse::<IpAddr>(
            "HOST",
            IpAddr::from([0, 0, 0, 0]),
            "an IP address such as 0.0.0.0 or 127.0.0.1",
        );
        let log_level = r.get("LOG_LEVEL").unwrap_or("info").to_string();
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            let shown = shorten(&log_level);
            r.problem(
                "LOG_LEVEL",
                format!("'{shown}' is not a level (error, warn, info, debug, trace) or a tracing filter"),
            );
        }
        let log_format = match r.get("LOG_FORMAT").map(str::to_ascii_lowercase).as_deref() {
            None | Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(_) => {
                r.problem("LOG_FORMAT", "expected 'json' or 'pretty'");
                LogFormat::Json
            }
        };

        let worker_threads = match r.get("WORKER_THREADS") {
            None => None,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n @ 1..=MAX_WORKER_THREADS) => std::num::NonZeroUsize::new(n),
                _ => {
                    let shown = shorten(raw);
                    r.problem(
                        "WORKER_THREADS",
                        format!("'{shown}' is not a whole number from 1 to {MAX_WORKER_THREADS}"),
                    );
                    None
                }
            },
        };

        let database_url = r
            .get("DATABASE_URL")
            .unwrap_or("sqlite://fluxora.db")
            .to_string();
        if !crate::store::is_postgres_url(&database_url) && !database_url.starts_with("sqlite:") {
            r.problem(
                "DATABASE_URL",
                "expected sqlite://PATH (e.g. sqlite://fluxora.db), sqlite::memory: or postgres://USER:PASSWORD@HOST:PORT/DB",
            );
        } else if url::Url::parse(&database_url).is_err() && database_url != "sqlite::memory:" {
            r.problem("DATABASE_URL", "is not a valid URL");
        }
        let max_connections = r.parse::<u32>(
            "DATABASE_MAX_CONNECTIONS",
            8,
            "a positive whole number of connections",
        );
        if max_connections == 0 {
            r.problem("DATABASE_MAX_CONNECTIONS", "must be at least 1");
        }
        let acquire_timeout_ms = r.parse::<u64>(
            "DATABASE_ACQUIRE_TIMEOUT_MS",
            3000,
            "a whole number of milliseconds",
        );
        if acquire_timeout_ms == 0 {
            r.problem("DATABASE_ACQUIRE_TIMEOUT_MS", "must be at least 1 ms");
        }

        let network = match r
            .get("STELLAR_NETWORK")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("testnet") => StellarNetwork::Testnet,
            Some("mainnet") | Some("pubnet") | Some("public") => StellarNetwork::Mainnet,
            Some("futurenet") => StellarNetwork::Futurenet,
            Some("local") | Some("standalone") => StellarNetwork::Local,
            Some(_) => {
                r.problem(
                    "STELLAR_NETWORK",
                    "expected testnet, mainnet, futurenet or local",
                );
                StellarNetwork::Testnet
            }
        };
        let given_passphrase = r.get("NETWORK_PASSPHRASE").map(str::to_string);
        let network_passphrase = match (given_passphrase.as_deref(), network.default_passphrase()) {
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
        let horizon_url = r
            .url("HORIZON_URL", &["http", "https"])
            .or_else(|| network.default_horizon_url().map(str::to_string));
        let rpc_url = r.url("STELLAR_RPC_URL", &["http", "https"]);
        let contract_id = match r.get("FLUXORA_CONTRACT_ID") {
            None => None,
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
        let poll_interval_ms = r.parse::<u64>(
            "INDEXER_POLL_INTERVAL_MS",
            2000,
            "a whole number of milliseconds",
        );
        let stall_threshold_ms = r.parse::<u64>(
            "INDEXER_STALL_THRESHOLD_MS",
            300_000,
            "a whole number of milliseconds",
        );
        let safety_margin_ledgers = r.parse::<u32>(
            "INDEXER_SAFETY_MARGIN_LEDGERS",
            1,
            "a whole number of ledgers",
        );
        let worker_token = r.get("INDEXER_WORKER_TOKEN").map(Secret::new);
        if worker_token.as_ref().is_some_and(|t| t.expose().len() < 16) {
            r.problem(
                "INDEXER_WORKER_TOKEN",
                "must be at least 16 characters (use a long random value)",
            );
        }
        if rpc_url.is_some()
            && contract_id.is_none()
            && !r
                .problems
                .iter()
                .any(|p| p.variable == "FLUXORA_CONTRACT_ID")
        {
            r.problem(
                "FLUXORA_CONTRACT_ID",
                "required with STELLAR_RPC_URL: the C… contract whose events to index",
            );
        }
        let admin_token = r.get("ADMIN_TOKEN").map(Secret::new);
        if admin_token.as_ref().is_some_and(|t| t.expose().len() < 16) {
            r.problem(
                "ADMIN_TOKEN",
                "must be at least 16 characters (use a long random value)",
            );
        }
        let metrics_token = r.get("METRICS_TOKEN").map(Secret::new);
        if metrics_token
            .as_ref()
            .is_some_and(|t| t.expose().len() < 16)
        {
            r.problem(
                "METRICS_TOKEN",
                "must be at least 16 characters (use a long random value)",
            );
        }
        let retry_schedule = match r.get("WEBHOOK_RETRY_SCHEDULE") {
            None => crate::webhooks::policy::RetrySchedule::default(),
            Some(raw) => match crate::webhooks::policy::RetrySchedule::parse(raw) {
                Ok(schedule) => schedule,
                Err(error) => {
                    let message = error.to_string();
                    r.problem("WEBHOOK_RETRY_SCHEDULE", message);
                    crate::webhooks::policy::RetrySchedule::default()
                }
            },
        };
        let ssrf = match r.get("WEBHOOK_SSRF_ALLOWLIST") {
            None => crate::webhooks::ssrf::SsrfPolicy::default(),
            Some(raw) => match crate::webhooks::ssrf::SsrfPolicy::parse_allowlist(raw) {
                Ok(policy) => policy,
                Err(error) => {
                    let message = error.to_string();
                    r.problem("WEBHOOK_SSRF_ALLOWLIST", message);
                    crate::webhooks::ssrf::SsrfPolicy::default()
                }
            },
        };
        let webhook_poll_ms = r.parse::<u64>(
            "WEBHOOK_POLL_INTERVAL_MS",
            200,
            "a whole number of milliseconds",
        );
        let webhook_concurrency =
            r.parse::<u32>("WEBHOOK_CONCURRENCY", 32, "a positive whole number");
        let disable_after_failures = r.parse::<u32>(
            "WEBHOOK_DISABLE_AFTER_FAILURES",
            crate::webhooks::policy::DISABLE_AFTER_CONSECUTIVE_FAILURES,
            "a positive whole number",
        );
        let lease_ms = r.parse::<u64>("WEBHOOK_LEASE_MS", 60_000, "a whole number of milliseconds");
        if lease_ms < 1000 {
            r.problem("WEBHOOK_LEASE_MS", "must be at least 1000 ms");
        }
        let require_read_key = r.flag("AUTH_REQUIRE_READ_KEY", false);
        let key_refresh_ms = r.parse::<u64>(
            "API_KEY_REFRESH_MS",
            DEFAULT_KEY_REFRESH_MS,
            "a whole number of milliseconds",
        );
        if key_refresh_ms < 100 {
            r.problem("API_KEY_REFRESH_MS", "must be at least 100 ms");
        }
        let shutdown_grace_ms = r.parse::<u64>(
            "SHUTDOWN_GRACE_MS",
            10_000,
            "a whole number of milliseconds",
        );

        let shutdown_drain_ms =
            r.parse::<u64>("SHUTDOWN_DRAIN_MS", 0, "a whole number of milliseconds");
        let rate_limit_enabled = r.flag("RATE_LIMIT_ENABLED", true);
        let ip_per_minute = r.parse::<u32>(
            "RATE_LIMIT_IP_PER_MINUTE",
            600,
            "a positive whole number of requests per minute",
        );
        if ip_per_minute == 0 {
            r.problem(
                "RATE_LIMIT_IP_PER_MINUTE",
                "must be at least 1 (use RATE_LIMIT_ENABLED=false to turn limits off)",
            );
        }
        let key_per_minute = r.parse::<u32>(
            "RATE_LIMIT_KEY_PER_MINUTE",
            3000,
            "a positive whole number of requests per minute",
        );
        if key_per_minute == 0 {
            r.problem(
                "RATE_LIMIT_KEY_PER_MINUTE",
                "must be at least 1 (use RATE_LIMIT_ENABLED=false to turn limits off)",
            );
        }
        let redis_url = match r.get("REDIS_URL") {
            None => None,
            Some(raw) => match url::Url::parse(raw) {
                Ok(parsed) if parsed.scheme() == "redis" && parsed.has_host() => {
                    Some(Secret::new(raw))
                }
                _ => {
                    r.problem(
                        "REDIS_URL",
                        "expected redis://[USER:PASSWORD@]HOST[:PORT][/DB] (TLS rediss:// is not supported)",
                    );
                    None
                }
            },
        };
        let redis_prefix = r
            .get("RATE_LIMIT_REDIS_PREFIX")
            .unwrap_or("fluxora:rl:")
            .to_string();
        let redis_timeout_ms = r.parse::<u64>(
            "RATE_LIMIT_REDIS_TIMEOUT_MS",
            50,
            "a whole number of milliseconds",
        );
        if redis_timeout_ms == 0 {
            r.problem("RATE_LIMIT_REDIS_TIMEOUT_MS", "must be at least 1 ms");
        }
        let trusted_proxies = match r.get("TRUST_PROXY") {
            None => crate::http::client_ip::TrustedProxies::default(),
            Some(raw) => match crate::http::client_ip::TrustedProxies::parse(raw) {
                Ok(trusted) => trusted,
                Err(error) => {
                    let message = error.to_string();
                    r.problem("TRUST_PROXY", message);
                    crate::http::client_ip::TrustedProxies::default()
                }
            },
        };
        let request_timeout_ms = r.parse::<u64>(
            "REQUEST_TIMEOUT_MS",
            30_000,
            "a whole number of milliseconds",
        );
        if request_timeout_ms == 0 {
            r.problem("REQUEST_TIMEOUT_MS", "must be at least 1 ms");
        }
        let cors = match r.get("CORS_ALLOWED_ORIGINS") {
            None => crate::http::hardening::CorsOrigins::default(),
            Some(raw) => match crate::http::hardening::CorsOrigins::parse(raw) {
                Ok(origins) => origins,
                Err(error) => {
                    let message = error.to_string();
                    r.problem("CORS_ALLOWED_ORIGINS", message);
                    crate::http::hardening::CorsOrigins::default()
                }
            },
        };

        if !r.problems.is_empty() {
            return Err(ConfigError(r.problems));
        }
        Ok(Config {
            host,
            port,
            log_level,
            log_format,
            worker_threads,
            database: DatabaseConfig {
                url: database_url,
                max_connections,
                acquire_timeout: Duration::from_millis(acquire_timeout_ms),
            },
            network,
            network_passphrase,
            horizon_url,
            indexer: IndexerConfig {
                rpc_url,
                contract_id,
                start_ledger,
                poll_interval: Duration::from_millis(poll_interval_ms),
                stall_threshold_ms,
                safety_margin_ledgers,
                worker_token,
            },
            shutdown_grace: Duration::from_millis(shutdown_grace_ms),
            shutdown_drain: Duration::from_millis(shutdown_drain_ms),
            admin_token,
            metrics_token,
            webhooks: WebhookConfig {
                retry_schedule,
                ssrf,
                poll_interval: Duration::from_millis(webhook_poll_ms.max(10)),
                concurrency: webhook_concurrency.max(1),
                disable_after_failures: disable_after_failures.max(1),
                lease: Duration::from_millis(lease_ms),
            },
            auth: AuthConfig {
                require_read_key,
                key_refresh_interval: Duration::from_millis(key_refresh_ms),
            },
            rate_limit: RateLimitConfig {
                enabled: rate_limit_enabled,
                ip_per_minute,
                key_per_minute,
                redis_url,
                redis_prefix,
                redis_timeout: Duration::from_millis(redis_timeout_ms),
            },
            http: HttpConfig {
                trusted_proxies,
                request_timeout: Duration::from_millis(request_timeout_ms),
                cors,
            },
        })
    }

    /// A configuration for tests and embedding: defaults, listening on 127.0.0.1 with an
    /// OS-assigned port, on the given database URL.
    pub fn for_database(database_url: impl Into<String>) -> Config {
        let mut vars = HashMap::new();
        vars.insert("HOST".to_string(), "127.0.0.1".to_string());
        vars.insert("PORT".to_string(), "0".to_string());
        vars.insert("DATABASE_URL".to_string(), database_url.into());
        match Config::from_vars(&vars) {
            Ok(config) => config,
            // Defaults are valid by construction; fall back to them for an odd database URL
            // so the error surfaces when the store opens.
            Err(_) => Config {
                host: IpAddr::from([127, 0, 0, 1]),
                port: 0,
                log_level: "info".into(),
                log_format: LogFormat::Json,
                worker_threads: None,
                database: DatabaseConfig {
                    url: vars.get("DATABASE_URL").cloned().unwrap_or_default(),
                    max_connections: 8,
                    acquire_timeout: Duration::from_secs(3),
                },
                network: StellarNetwork::Testnet,
                network_passphrase: "Test SDF Network ; September 2015".into(),
                horizon_url: None,
                indexer: IndexerConfig {
                    rpc_url: None,
                    contract_id: None,
                    start_ledger: None,
                    poll_interval: Duration::from_secs(2),
                    stall_threshold_ms: 300_000,
                    safety_margin_ledgers: 1,
                    worker_token: None,
                },
                shutdown_grace: Duration::from_secs(10),
                shutdown_drain: Duration::ZERO,
                admin_token: None,
                metrics_token: None,
                webhooks: WebhookConfig {
                    retry_schedule: crate::webhooks::policy::RetrySchedule::default(),
                    ssrf: crate::webhooks::ssrf::SsrfPolicy::default(),
                    poll_interval: Duration::from_millis(200),
                    concurrency: 32,
                    disable_after_failures:
                        crate::webhooks::policy::DISABLE_AFTER_CONSECUTIVE_FAILURES,
                    lease: Duration::from_secs(60),
                },
                auth: AuthConfig::default(),
                rate_limit: RateLimitConfig {
                    enabled: true,
                    ip_per_minute: 600,
                    key_per_minute: 3000,
                    redis_url: None,
                    redis_prefix: "fluxora:rl:".into(),
                    redis_timeout: Duration::from_millis(50),
                },
                http: HttpConfig {
                    trusted_proxies: crate::http::client_ip::TrustedProxies::default(),
                    request_timeout: Duration::from_secs(30),
                    cors: crate::http::hardening::CorsOrigins::default(),
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults() {
        let config = Config::from_vars(&HashMap::new()).unwrap();
        assert_eq!(config.port, 3000);
        assert_eq!(config.database.url, "sqlite://fluxora.db");
        assert_eq!(config.network, StellarNetwork::Testnet);
        assert_eq!(
            config.network_passphrase,
            "Test SDF Network ; September 2015"
        );
        assert_eq!(config.indexer.stall_threshold_ms, 300_000);
        assert_eq!(config.log_format, LogFormat::Json);
    }

    #[test]
    fn every_problem_is_reported() {
        let err = Config::from_vars(&vars(&[
            ("PORT", "70000"),
            ("LOG_FORMAT", "xml"),
            ("STELLAR_NETWORK", "mainnet"),
            ("NETWORK_PASSPHRASE", "Test SDF Network ; September 2015"),
            (
                "FLUXORA_CONTRACT_ID",
                "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5",
            ),
            ("DATABASE_URL", "mysql://x"),
        ]))
        .unwrap_err();
        let names: Vec<_> = err.0.iter().map(|p| p.variable).collect();
        assert_eq!(
            names,
            vec![
                "PORT",
                "LOG_FORMAT",
                "DATABASE_URL",
                "NETWORK_PASSPHRASE",
                "FLUXORA_CONTRACT_ID"
            ]
        );
        assert!(err
            .to_string()
            .contains("PORT: '70000' is not a port number"));
    }

    #[test]
    fn indexer_settings() {
        let rpc_without_contract =
            Config::from_vars(&vars(&[("STELLAR_RPC_URL", "https://rpc.example")])).unwrap_err();
        assert_eq!(rpc_without_contract.0[0].variable, "FLUXORA_CONTRACT_ID");
        let short_token =
            Config::from_vars(&vars(&[("INDEXER_WORKER_TOKEN", "short")])).unwrap_err();
        assert_eq!(short_token.0[0].variable, "INDEXER_WORKER_TOKEN");
        let push_only = Config::from_vars(&vars(&[(
            "INDEXER_WORKER_TOKEN",
            "a-long-enough-worker-token",
        )]))
        .unwrap();
        assert!(push_only.indexer.is_configured());
        assert!(!push_only.indexer.polls_rpc());
        assert!(
            !format!("{push_only:?}").contains("a-long-enough"),
            "the token is never printed"
        );
        assert!(!Config::from_vars(&HashMap::new())
            .unwrap()
            .indexer
            .is_configured());
    }

    #[test]
    fn auth_settings() {
        let defaults = Config::from_vars(&HashMap::new()).unwrap();
        assert_eq!(defaults.auth, AuthConfig::default());
        assert!(!defaults.auth.require_read_key);
        let set = Config::from_vars(&vars(&[
            ("AUTH_REQUIRE_READ_KEY", "TRUE"),
            ("API_KEY_REFRESH_MS", "250"),
        ]))
        .unwrap();
        assert!(set.auth.require_read_key);
        assert_eq!(set.auth.key_refresh_interval, Duration::from_millis(250));
        let bad = Config::from_vars(&vars(&[
            ("AUTH_REQUIRE_READ_KEY", "maybe"),
            ("API_KEY_REFRESH_MS", "10"),
        ]))
        .unwrap_err();
        let names: Vec<_> = bad.0.iter().map(|p| p.variable).collect();
        assert_eq!(names, vec!["AUTH_REQUIRE_READ_KEY", "API_KEY_REFRESH_MS"]);
    }

    #[test]
    fn rate_limit_and_hardening_settings() {
        let defaults = Config::from_vars(&HashMap::new()).unwrap();
        assert!(defaults.rate_limit.enabled);
        assert_eq!(defaults.rate_limit.ip_per_minute, 600);
        assert_eq!(defaults.rate_limit.key_per_minute, 3000);
        assert_eq!(defaults.rate_limit.redis_prefix, "fluxora:rl:");
        assert!(defaults.rate_limit.redis_url.is_none());
        assert_eq!(defaults.http.request_timeout, Duration::from_secs(30));
        assert!(defaults.http.cors.is_disabled());
        assert!(defaults.http.trusted_proxies.is_empty());

        let err = Config::from_vars(&vars(&[
            ("RATE_LIMIT_ENABLED", "maybe"),
            ("RATE_LIMIT_IP_PER_MINUTE", "0"),
            ("RATE_LIMIT_KEY_PER_MINUTE", "lots"),
            ("REDIS_URL", "http://cache:6379"),
            ("TRUST_PROXY", "10.0.0.1,not-an-ip"),
            ("REQUEST_TIMEOUT_MS", "0"),
            ("CORS_ALLOWED_ORIGINS", "https://app.example/path"),
        ]))
        .unwrap_err();
        let names: Vec<_> = err.0.iter().map(|p| p.variable).collect();
        assert_eq!(
            names,
            vec![
                "RATE_LIMIT_ENABLED",
                "RATE_LIMIT_IP_PER_MINUTE",
                "RATE_LIMIT_KEY_PER_MINUTE",
                "REDIS_URL",
                "TRUST_PROXY",
                "REQUEST_TIMEOUT_MS",
                "CORS_ALLOWED_ORIGINS"
            ]
        );
        assert!(err.to_string().contains("'not-an-ip'"), "{err}");

        let with_redis = Config::from_vars(&vars(&[
            ("REDIS_URL", "redis://:hunter2@cache:6379/0"),
            ("RATE_LIMIT_ENABLED", "false"),
        ]))
        .unwrap();
        assert!(!with_redis.rate_limit.enabled);
        assert!(
            !format!("{with_redis:?}").contains("hunter2"),
            "the Redis password is never printed"
        );
    }

    #[test]
    fn worker_threads() {
        let defaults = Config::from_vars(&HashMap::new()).unwrap();
        assert_eq!(
            defaults.worker_threads, None,
            "unset: one per CPU (Tokio's default)"
        );
        for (raw, expected) in [("1", 1), ("4", 4), ("1024", 1024)] {
            let config = Config::from_vars(&vars(&[("WORKER_THREADS", raw)])).unwrap();
            assert_eq!(config.worker_threads.map(|n| n.get()), Some(expected));
        }
        for raw in ["0", "1025", "-1", "two", "1.5"] {
            let err = Config::from_vars(&vars(&[("WORKER_THREADS", raw)])).unwrap_err();
            assert_eq!(err.0.len(), 1, "{raw}");
            assert_eq!(err.0[0].variable, "WORKER_THREADS");
            assert!(
                err.0[0].message.contains("from 1 to 1024"),
                "{raw}: {}",
                err.0[0].message
            );
        }
    }

    #[test]
    fn database_password_is_redacted() {
        assert_eq!(
            redact_url("postgres://user:hunter2@db:5432/x"),
            "postgres://user:***@db:5432/x"
        );
    }
}
