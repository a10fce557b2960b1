//! Prometheus metrics: every metric name and label lives here, so the exported surface is one list
//! (also in `docs/operations.md`).
//!
//! Recording goes through the `metrics` facade; the recorder is
//! `metrics-exporter-prometheus`, installed once per process ([`Metrics::install`]) and rendered
//! by `GET /metrics` in the Prometheus text format (0.0.4). Gauges that describe state (pool,
//! indexer, outbox) are set from their sources when scraped ([`ScrapeSnapshot`]), so they are
//! never stale; counters and histograms are recorded where the event happens.
//!
//! Label values are bounded: routes are axum route templates (`/api/streams/{id}`, or
//! `unmatched`), methods are the standard ones (others become `OTHER`), statuses are numbers.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Requests served: counter, labels `method`, `route`, `status`.
pub const HTTP_REQUESTS: &str = "fluxora_http_requests_total";
/// Request latency: histogram (seconds), labels `method`, `route`.
pub const HTTP_DURATION: &str = "fluxora_http_request_duration_seconds";
/// Database pool connections: gauge, label `state` (`idle`, `in_use`).
pub const DB_POOL_CONNECTIONS: &str = "fluxora_db_pool_connections";
/// Database pool size limit: gauge.
pub const DB_POOL_MAX: &str = "fluxora_db_pool_max_connections";
/// Highest ingested ledger: gauge (ledger sequence; absent until the first ingest).
pub const INDEXER_LAST_INGESTED: &str = "fluxora_indexer_last_ingested_ledger";
/// Highest safe ledger (the highest ingested minus `INDEXER_SAFETY_MARGIN_LEDGERS`; webhooks of
/// chain events wait for it): gauge (ledger sequence).
pub const INDEXER_LAST_SAFE: &str = "fluxora_indexer_last_safe_ledger";
/// Time since the last successful sync: gauge (seconds; the health report's `lagMs` / 1000).
pub const INDEXER_LAG: &str = "fluxora_indexer_lag_seconds";
/// Indexer status: gauge 1 for the current status, 0 for the others, label `status`
/// (`not_configured`, `starting`, `healthy`, `stalled`).
pub const INDEXER_STATUS: &str = "fluxora_indexer_status";
/// 1 while a reorg rollback is in progress (the health report's `reorgDetected`).
pub const INDEXER_REORG_IN_PROGRESS: &str = "fluxora_indexer_reorg_in_progress";
/// Reorgs detected and rolled back: counter.
pub const INDEXER_REORGS: &str = "fluxora_indexer_reorgs_total";
/// Open chain streams that differed from the contract's storage at the last reconciliation
/// (then repaired): gauge.
pub const INDEXER_DRIFTED_STREAMS: &str = "fluxora_indexer_drifted_streams";
/// Streams found drifted by reconciliations: counter.
pub const INDEXER_DRIFT: &str = "fluxora_indexer_drift_total";
/// Contract events seen by the ingest core: counter, label `result` (`ingested`, `duplicate`,
/// `skipped` for unknown or undecodable events stored and skipped).
pub const INDEXER_EVENTS: &str = "fluxora_indexer_events_total";
/// Delivery attempts by outcome: counter, label `outcome` (`delivered`, `retry`, `failed`,
/// `dead`).
pub const WEBHOOK_ATTEMPTS: &str = "fluxora_webhook_attempts_total";
/// Delivery attempt latency (request sent → response or error): histogram (seconds).
pub const WEBHOOK_ATTEMPT_DURATION: &str = "fluxora_webhook_attempt_duration_seconds";
/// Deliveries waiting or dead-lettered: gauge, label `status` (`pending`, `dead`).
pub const WEBHOOK_DELIVERIES: &str = "fluxora_webhook_deliveries";
/// Outbox depth: deliveries waiting to be sent (status `pending`): gauge.
pub const WEBHOOK_OUTBOX_DEPTH: &str = "fluxora_webhook_outbox_depth";
/// SQLite group commits (transactions shared by concurrent stream writes): counter.
pub const DB_GROUP_COMMITS: &str = "fluxora_db_group_commits_total";
/// Stream writes (creates, lifecycle changes, idempotency claims) committed through SQLite
/// group commits: counter. Divided by [`DB_GROUP_COMMITS`], the mean batch size.
pub const DB_GROUP_COMMIT_WRITES: &str = "fluxora_db_group_commit_writes_total";
/// Requests refused with 429: counter, label `limiter` (`ip`, `key`).
pub const RATE_LIMITED: &str = "fluxora_rate_limited_total";
/// Connections the server closed without serving them a request: counter, label `reason`
/// (`connection_cap_total`, `connection_cap_per_ip`: refused at accept; `header_read_timeout`,
/// `idle_timeout`: closed by the connection timeouts; [`crate::http::server`]).
pub const HTTP_CONNECTIONS_CLOSED: &str = "fluxora_http_connections_closed_total";
/// Open client connections: gauge.
pub const HTTP_CONNECTIONS_OPEN: &str = "fluxora_http_connections_open";
/// Build information: gauge fixed at 1, label `version`.
pub const BUILD_INFO: &str = "fluxora_build_info";

/// Histogram buckets for latencies, in seconds: 0.5 ms to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histograms are compacted when nobody scrapes (bounded memory).
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's metrics recorder. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    handle: Option<PrometheusHandle>,
}

impl Metrics {
    /// Installs the Prometheus recorder as the process-wide `metrics` recorder, once; later
    /// calls (several services in one test process) share it. If another recorder was
    /// installed first, metrics are disabled with a WARN and `/metrics` renders nothing.
    pub fn install() -> Self {
        let handle = HANDLE.get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
                .and_then(|builder| builder.install_recorder());
            match built {
                Ok(handle) => {
                    ::metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(error = %error, "metrics recorder not installed; /metrics will be empty");
                    None
                }
            }
        });
        Self {
            handle: handle.clone(),
        }
    }

    /// Sets the scrape-time gauges from `snapshot`, then renders every metric in the
    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self, snapshot: &ScrapeSnapshot) -> String {
        snapshot.record();
        match &self.handle {
            Some(handle) => {
                handle.run_upkeep();
                handle.render()
            }
            None => String::new(),
        }
    }

    /// Compacts histogram buffers; run every [`UPKEEP_INTERVAL`] by the service.
    pub fn run_upkeep(&self) {
        if let Some(handle) = &self.handle {
            handle.run_upkeep();
        }
    }
}

/// State read at scrape time from the store, the pool and the indexer.
#[derive(Debug, Clone, Default)]
pub struct ScrapeSnapshot {
    /// Open connections in the pool.
    pub pool_size: u32,
    /// Idle connections in the pool.
    pub pool_idle: u32,
    /// The pool's maximum.
    pub pool_max: u32,
    /// Deliveries per status; `None` when the database could not be read (gauges keep their
    /// last values).
    pub deliveries: Option<Vec<(String, u64)>>,
    /// Indexer status name (`not_configured`, `starting`, `healthy`, `stalled`).
    pub indexer_status: &'static str,
    /// Milliseconds since the last successful sync.
    pub indexer_lag_ms: Option<u64>,
    /// Highest ingested ledger.
    pub last_ingested_ledger: Option<u32>,
    /// Highest safe ledger.
    pub last_safe_ledger: Option<u32>,
    /// A reorg rollback is in progress.
    pub reorg_in_progress: bool,
}

/// The indexer statuses of the health report, for [`INDEXER_STATUS`].
const INDEXER_STATUSES: [&str; 4] = ["not_configured", "starting", "healthy", "stalled"];

/// The delivery statuses, for [`WEBHOOK_DELIVERIES`].
const DELIVERY_STATUSES: [&str; 2] = ["pending", "dead"];

impl ScrapeSnapshot {
    fn record(&self) {
        let in_use = self.pool_size.saturating_sub(self.pool_idle);
        ::metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(self.pool_idle));
        ::metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(f64::from(in_use));
        ::metrics::gauge!(DB_POOL_MAX).set(f64::from(self.pool_max));
        for status in INDEXER_STATUSES {
            let value = if status == self.indexer_status {
                1.0
            } else {
                0.0
            };
            ::metrics::gauge!(INDEXER_STATUS, "status" => status).set(value);
        }
        if let Some(lag) = self.indexer_lag_ms {
            ::metrics::gauge!(INDEXER_LAG).set(lag as f64 / 1000.0);
        }
        if let Some(ledger) = self.last_ingested_ledger {
            ::metrics::gauge!(INDEXER_LAST_INGESTED).set(f64::from(ledger));
        }
        if let Some(ledger) = self.last_safe_ledger {
            ::metrics::gauge!(INDEXER_LAST_SAFE).set(f64::from(ledger));
        }
        ::metrics::gauge!(INDEXER_REORG_IN_PROGRESS).set(if self.reorg_in_progress {
            1.0
        } else {
            0.0
        });
        if let Some(deliveries) = &self.deliveries {
            for status in DELIVERY_STATUSES {
                let count = deliveries
                    .iter()
                    .find(|(s, _)| s == status)
                    .map_or(0, |(_, n)| *n);
                ::metrics::gauge!(WEBHOOK_DELIVERIES, "status" => status).set(count as f64);
                if status == "pending" {
                    ::metrics::gauge!(WEBHOOK_OUTBOX_DEPTH).set(count as f64);
                }
            }
        }
    }
}

/// The `method` label of a request: the standard methods, anything else `OTHER` (bounded).
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

/// Records one served request ([`HTTP_REQUESTS`], [`HTTP_DURATION`]); `method` from
/// [`method_label`], `route` a route template or `unmatched`.
///
/// Once the recorder is installed ([`Metrics::install`]), the counter and histogram handles of
/// each (route, method, status) are registered on first use and kept in a table:
/// later requests record through them without building label strings or hashing a metric key.
/// The label values are bounded (route templates, [`method_label`], statuses), so the table is.
pub fn record_request(method: &'static str, route: &str, status: u16, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64();
    if !matches!(HANDLE.get(), Some(Some(_))) {
        // No recorder of ours (yet): whatever recorder is installed gets the request as is.
        register_request(method, route, status).record(seconds);
        return;
    }
    {
        let routes = REQUEST_HANDLES
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(handles) = routes
            .get(route)
            .and_then(|route| route.find(method, status))
        {
            handles.record(seconds);
            return;
        }
    }
    let mut routes = REQUEST_HANDLES
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let entry = routes.entry(route.to_owned()).or_default();
    match entry.find(method, status) {
        Some(handles) => handles.record(seconds),
        None => {
            let handles = register_request(method, route, status);
            handles.record(seconds);
            entry.handles.push((method, status, handles));
        }
    }
}

/// The registered request metrics of each route template (see [`record_request`]).
static REQUEST_HANDLES: std::sync::LazyLock<
    std::sync::RwLock<std::collections::HashMap<String, RouteHandles>>,
> = std::sync::LazyLock::new(Default::default);

/// The handles of one route, per (method, status): a handful, searched linearly.
#[derive(Default)]
struct RouteHandles {
    handles: Vec<(&'static str, u16, RequestHandles)>,
}

impl RouteHandles {
    fn find(&self, method: &'static str, status: u16) -> Option<&RequestHandles> {
        self.handles
            .iter()
            .find(|(m, s, _)| *s == status && *m == method)
            .map(|(_, _, handles)| handles)
    }
}

/// The [`HTTP_REQUESTS`] counter and [`HTTP_DURATION`] histogram of one label set.
struct RequestHandles {
    requests: ::metrics::Counter,
    duration: ::metrics::Histogram,
}

impl RequestHandles {
    fn record(&self, seconds: f64) {
        self.requests.increment(1);
        self.duration.record(seconds);
    }
}

/// Registers (or looks up) the request metrics of one label set with the installed recorder.
fn register_request(method: &'static str, route: &str, status: u16) -> RequestHandles {
    RequestHandles {
        requests: ::metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route.to_owned(), "status" => status.to_string()),
        duration: ::metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route.to_owned()),
    }
}

/// Records one delivery attempt's outcome (`delivered`, `retry`, `failed`, `dead`) and latency.
pub fn record_delivery_attempt(outcome: &'static str, elapsed: Duration) {
    ::metrics::counter!(WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(1);
    ::metrics::histogram!(WEBHOOK_ATTEMPT_DURATION).record(elapsed.as_secs_f64());
}

/// Records events seen by one ingest batch.
pub fn record_ingested(ingested: u64, duplicates: u64, skipped: u64) {
    ::metrics::counter!(INDEXER_EVENTS, "result" => "ingested").increment(ingested);
    ::metrics::counter!(INDEXER_EVENTS, "result" => "duplicate").increment(duplicates);
    ::metrics::counter!(INDEXER_EVENTS, "result" => "skipped").increment(skipped);
}

/// Records one reorg rollback.
pub fn record_reorg() {
    ::metrics::counter!(INDEXER_REORGS).increment(1);
}

/// Records a reconciliation that found `drifted` streams differing from the contract's storage.
pub fn record_verification(drifted: usize) {
    let drifted = u64::try_from(drifted).unwrap_or(u64::MAX);
    ::metrics::gauge!(INDEXER_DRIFTED_STREAMS).set(drifted as f64);
    ::metrics::counter!(INDEXER_DRIFT).increment(drifted);
}

/// Counts one connection closed without being served, for `reason` (see
/// [`HTTP_CONNECTIONS_CLOSED`]).
pub fn record_connection_closed(reason: &'static str) {
    ::metrics::counter!(HTTP_CONNECTIONS_CLOSED, "reason" => reason).increment(1);
}

/// Sets [`HTTP_CONNECTIONS_OPEN`] to `open`.
pub fn record_open_connections(open: usize) {
    ::metrics::gauge!(HTTP_CONNECTIONS_OPEN).set(open as f64);
}

/// Records one request refused by a rate limiter (`ip` or `key`).
pub fn record_rate_limited(limiter: &'static str) {
    ::metrics::counter!(RATE_LIMITED, "limiter" => limiter).increment(1);
}

/// Records one SQLite group commit of `writes` stream writes.
pub fn record_group_commit(writes: usize) {
    ::metrics::counter!(DB_GROUP_COMMITS).increment(1);
    ::metrics::counter!(DB_GROUP_COMMIT_WRITES)
        .increment(u64::try_from(writes).unwrap_or(u64::MAX));
}
