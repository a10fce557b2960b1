//! The composition root: [`Application::build`] wires configuration, the database and its
//! repositories, domain services, HTTP router and background workers. `fluxora serve` and the tests build the service
//! the same way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::apikeys::repo::ApiKeyRepository;
use crate::apikeys::{KeyRegistry, Protection};
use crate::clock::now_millis;
use crate::config::Config;
use crate::health::HealthService;
use crate::http::internal::PushIngest;
use crate::http::ratelimit::RateLimiter;
use crate::http::{self, AppContext, AppState, EdgeConfig};
use crate::indexer::ingest::IngestCore;
use crate::indexer::poller::{Poller, PollerConfig};
use crate::indexer::repo::ChainRepository;
use crate::indexer::rpc::RpcClient;
use crate::indexer::state::IndexerState;
use crate::pagination::CursorCodec;
use crate::store::meta::ServiceMeta;
use crate::store::{self, Database, StoreError};
use crate::streams::repo::StreamRepository;
use crate::streams::service::StreamService;
use crate::webhooks::dispatcher::{Dispatcher, DispatcherConfig};
use crate::webhooks::repo::WebhookRepository;
use crate::webhooks::service::WebhookService;
use crate::worker::{supervise, RESTART_BACKOFF};
use tokio::sync::Notify;

/// How often expired idempotency keys are purged.
const IDEMPOTENCY_PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// Errors that stop the service from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The store could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listener could not be bound or failed.
    #[error("could not listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("server error: {0}")]
    Serve(#[source] std::io::Error),
}

/// What the RPC indexer needs to start.
struct PollerSpec {
    url: String,
    config: PollerConfig,
}

/// Per-request timeout of Stellar RPC calls (getEvents itself is aborted server-side at 10 s).
pub const RPC_TIMEOUT: Duration = Duration::from_secs(15);

/// A built, bound service, ready to run.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    database: Database,
    streams: StreamRepository,
    health: HealthService,
    ingest: Arc<IngestCore>,
    poller: Option<PollerSpec>,
    dispatcher: Dispatcher,
    metrics: crate::telemetry::metrics::Metrics,
    rate_limiter: Option<Arc<RateLimiter>>,
    shutdown_grace: Duration,
    shutdown_drain: Duration,
    server: http::server::ServerSettings,
    local_addr: SocketAddr,
    keys: Arc<KeyRegistry>,
    key_refresh: Duration,
    startup: StartupFacts,
}

/// What the "fluxora listening" line tells an operator about this process (never a password).
#[derive(Debug, Clone)]
struct StartupFacts {
    /// [`crate::config::DatabaseConfig::location`].
    database_location: String,
    /// `off`, `rpc` (the poller), `push` (push ingest), or `rpc+push`.
    indexer: &'static str,
    /// Enabled webhook endpoints at start-up (deliveries run whenever there is one).
    webhook_endpoints: usize,
}

impl Application {
    /// Opens and migrates the store, builds the services and router, and binds the listener
    /// (`PORT=0` picks a free port; see [`Application::port`]).
    ///
    /// Errors: [`AppError::Store`] when the database cannot be opened or migrated,
    /// [`AppError::Listen`] when the address cannot be bound.
    pub async fn build(config: Config) -> Result<Self, AppError> {
        for setting in &config.ignored_settings {
            tracing::warn!(
                setting,
                "{setting} is set but no longer read: the service reaches the network only through Stellar RPC (STELLAR_RPC_URL); remove it"
            );
        }
        let database = store::open(&config.database).await?;
        let streams = StreamRepository::open(database.clone()).await;
        let webhooks = WebhookRepository::new(database.clone());
        let cursor_secret = ServiceMeta::new(database.clone()).cursor_secret().await?;
        let indexer_state = IndexerState::new(config.indexer.is_configured());
        let health = HealthService::new(
            database.clone(),
            indexer_state.clone(),
            config.indexer.stall_threshold_ms,
            config.health_check_interval,
        );
        // The probes answer from the last check: the first one runs before the service listens.
        health.check_now().await;
        let ingest = Arc::new(IngestCore::new(
            ChainRepository::new(database.clone()),
            streams.clone(),
            webhooks.clone(),
            indexer_state.clone(),
            config
                .indexer
                .contract_id
                .as_ref()
                .map(|c| c.as_str().to_string()),
            config.indexer.safety_margin_ledgers,
        ));
        let poller = match (&config.indexer.rpc_url, &config.indexer.contract_id) {
            (Some(url), Some(contract_id)) => Some(PollerSpec {
                url: url.clone(),
                config: PollerConfig {
                    contract_id: contract_id.as_str().to_string(),
                    passphrase: config.network_passphrase.clone(),
                    start_ledger: config.indexer.start_ledger,
                    poll_interval: config.indexer.poll_interval,
                    verify_interval: config.indexer.verify_interval,
                },
            }),
            _ => None,
        };
        let startup = StartupFacts {
            database_location: config.database.location(),
            indexer: match (
                config.indexer.polls_rpc(),
                config.indexer.worker_token.is_some(),
            ) {
                (false, false) => "off",
                (true, false) => "rpc",
                (false, true) => "push",
                (true, true) => "rpc+push",
            },
            webhook_endpoints: webhooks
                .list_endpoints()
                .await?
                .iter()
                .filter(|endpoint| endpoint.enabled)
                .count(),
        };
        let cursors = CursorCodec::new(cursor_secret);
        let dispatch_now = Arc::new(Notify::new());
        let ssrf = Arc::new(config.webhooks.ssrf.clone());
        let dispatcher = Dispatcher::new(
            webhooks.clone(),
            ssrf.clone(),
            DispatcherConfig {
                schedule: config.webhooks.retry_schedule.clone(),
                poll_interval: config.webhooks.poll_interval,
                concurrency: config.webhooks.concurrency,
                disable_after_failures: config.webhooks.disable_after_failures,
                lease: config.webhooks.lease,
            },
            dispatch_now.clone(),
        )
        .map_err(|e| AppError::Serve(std::io::Error::other(format!("webhook HTTP client: {e}"))))?;
        let metrics = crate::telemetry::metrics::Metrics::install();
        let keys = Arc::new(KeyRegistry::load(ApiKeyRepository::new(database.clone())).await?);
        let protection = keys.protection();
        if protection.active_keys == 0 {
            warn_open();
        } else {
            tracing::info!(
                active_keys = protection.active_keys,
                "API keys active: stream writes require a key with streams:write"
            );
        }
        let state = AppState::new(AppContext {
            keys: keys.clone(),
            require_read_key: config.auth.require_read_key,
            streams: StreamService::new(streams.clone(), cursors.clone(), dispatch_now.clone()),
            webhooks: WebhookService::new(webhooks, ssrf, cursors, dispatch_now),
            admin_token: config.admin_token.clone(),
            metrics: metrics.clone(),
            metrics_token: config.metrics_token.clone(),
            health: health.clone(),
            network: config.network.as_str(),
            push_ingest: config.indexer.worker_token.clone().map(|token| PushIngest {
                core: ingest.clone(),
                token,
            }),
            openapi_document: std::sync::OnceLock::new(),
        });
        let rate_limiter = if config.rate_limit.enabled {
            let limiter = RateLimiter::new(&config.rate_limit, config.http.trusted_proxies.clone())
                .map_err(|e| AppError::Serve(std::io::Error::other(e.to_string())))?;
            limiter
                .warm_up()
                .await
                .map_err(|e| AppError::Serve(std::io::Error::other(e.to_string())))?;
            Some(Arc::new(limiter))
        } else {
            tracing::info!("rate limiting is disabled (RATE_LIMIT_ENABLED=false)");
            None
        };
        let router = http::router(
            state,
            EdgeConfig {
                rate_limiter: rate_limiter.clone(),
                request_timeout: config.http.request_timeout,
                cors: config.http.cors.clone(),
            },
        );

        let addr = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| AppError::Listen { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| AppError::Listen { addr, source })?;
        Ok(Self {
            listener,
            router,
            database,
            streams,
            health,
            ingest,
            poller,
            dispatcher,
            metrics,
            rate_limiter,
            shutdown_grace: config.shutdown_grace,
            shutdown_drain: config.shutdown_drain,
            server: http::server::ServerSettings {
                header_read_timeout: config.http.header_read_timeout,
                keepalive_idle_timeout: config.http.keepalive_idle_timeout,
                max_connections: config.http.max_connections,
                max_connections_per_ip: config.http.max_connections_per_ip,
                per_ip_exempt: config.http.trusted_proxies.clone(),
            },
            local_addr,
            keys,
            key_refresh: config.auth.key_refresh_interval,
            startup,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` is cancelled, then shuts down gracefully: `/health` turns 503
    /// (and requests are still accepted for `SHUTDOWN_DRAIN_MS`), the listener stops accepting,
    /// in-flight requests get up to `SHUTDOWN_GRACE_MS` to finish, background workers stop
    /// (deliveries in flight finish or are released) and the database pool closes.
    ///
    /// Errors: [`AppError::Serve`] if the server fails.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), AppError> {
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            address = %self.local_addr,
            database = self.database.backend(),
            database_location = %self.startup.database_location,
            indexer = self.startup.indexer,
            webhook_endpoints = self.startup.webhook_endpoints,
            worker_threads = tokio::runtime::Handle::current().metrics().num_workers(),
            "fluxora listening"
        );
        let mut workers = vec![tokio::spawn(purge_idempotency_keys(
            self.streams.clone(),
            shutdown.clone(),
        ))];
        workers.push(tokio::spawn(metrics_upkeep(
            self.metrics.clone(),
            shutdown.clone(),
        )));
        workers.push(tokio::spawn(
            self.health.clone().run_checks(shutdown.clone()),
        ));
        workers.push(tokio::spawn(crate::telemetry::refusals::run(
            shutdown.clone(),
        )));
        workers.push(tokio::spawn(refresh_keys(
            self.keys.clone(),
            self.key_refresh,
            shutdown.clone(),
        )));
        if let Some(limiter) = self.rate_limiter {
            workers.push(tokio::spawn(limiter.run_maintenance(shutdown.clone())));
        }
        let dispatcher = self.dispatcher;
        let dispatcher_shutdown = shutdown.clone();
        workers.push(tokio::spawn(supervise(
            "webhook-dispatcher",
            shutdown.clone(),
            RESTART_BACKOFF,
            move || dispatcher.clone().run(dispatcher_shutdown.clone()),
        )));
        if let Some(spec) = self.poller {
            let rpc = RpcClient::new(spec.url, RPC_TIMEOUT)
                .map_err(|e| AppError::Serve(std::io::Error::other(format!("RPC client: {e}"))))?;
            let rpc = Arc::new(rpc);
            let core = self.ingest.clone();
            let token = shutdown.clone();
            workers.push(tokio::spawn(supervise(
                "indexer",
                shutdown.clone(),
                RESTART_BACKOFF,
                move || {
                    let poller = Poller::new(rpc.clone(), core.clone(), spec.config.clone());
                    poller.run(token.clone())
                },
            )));
        }

        let health = self.health.clone();
        let signal = shutdown.clone();
        let drain = self.shutdown_drain;
        let server = http::server::serve(self.listener, self.router, self.server, async move {
            signal.cancelled().await;
            health.begin_shutdown();
            if !drain.is_zero() {
                tracing::info!(
                    drain_ms = drain.as_millis() as u64,
                    "shutdown requested; health answers 503 while load balancers drain"
                );
                tokio::time::sleep(drain).await;
            }
            tracing::info!("shutdown requested; finishing in-flight requests");
        });

        let grace = self.shutdown_grace;
        let deadline = async {
            shutdown.cancelled().await;
            tokio::time::sleep(drain.saturating_add(grace)).await;
        };
        let result = tokio::select! {
            () = server => Ok(()),
            () = deadline => {
                tracing::warn!(grace_ms = grace.as_millis() as u64, "in-flight requests did not finish within the grace period; closing them");
                Ok(())
            }
        };
        shutdown.cancel();
        for worker in workers {
            if let Err(error) = worker.await {
                tracing::error!(error = %error, "background worker ended abnormally");
            }
        }
        self.database.close().await;
        // Refusals counted since the summary writer stopped (during the drain and grace).
        crate::telemetry::refusals::log_summary(crate::telemetry::refusals::SUMMARY_INTERVAL);
        tracing::info!("shutdown complete");
        result
    }
}

/// Deletes expired idempotency keys at start and every [`IDEMPOTENCY_PURGE_INTERVAL`] until
/// `shutdown`. Errors are logged and retried at the next tick; they never stop the service.
async fn purge_idempotency_keys(store: StreamRepository, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(IDEMPOTENCY_PURGE_INTERVAL);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = interval.tick() => {
                match store.purge_expired_idempotency(now_millis()).await {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(purged, "expired idempotency keys purged"),
                    Err(error) => tracing::warn!(error = %error, "purging idempotency keys failed"),
                }
            }
        }
    }
}

/// Compacts the metrics histograms every [`crate::telemetry::metrics::UPKEEP_INTERVAL`] until
/// `shutdown`, so memory stays bounded when nobody scrapes `/metrics`.
async fn metrics_upkeep(metrics: crate::telemetry::metrics::Metrics, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(crate::telemetry::metrics::UPKEEP_INTERVAL);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = interval.tick() => metrics.run_upkeep(),
        }
    }
}

/// The startup (and transition) WARN while no active API key exists.
fn warn_open() {
    tracing::warn!(
        "no active API key: the stream API is open to anyone; create one with \
         `fluxora keys create` or POST /api/admin/keys to require keys for writes"
    );
}

/// Re-reads the active API keys every `interval` until `shutdown` (see
/// [`crate::apikeys::KeyRegistry`]). A failed refresh keeps the last view and logs a WARN, so
/// an unreadable database never reopens the API; a change between open and protected is logged.
async fn refresh_keys(keys: Arc<KeyRegistry>, interval: Duration, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut before: Protection = keys.protection();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {
                match keys.refresh().await {
                    Ok(now) => {
                        if before.active_keys > 0 && now.active_keys == 0 {
                            warn_open();
                        } else if before.active_keys == 0 && now.active_keys > 0 {
                            tracing::info!(
                                active_keys = now.active_keys,
                                "API keys active: stream writes require a key with streams:write"
                            );
                        }
                        before = now;
                    }
                    Err(error) => tracing::warn!(
                        error = %error,
                        "refreshing API keys failed; keeping the last known keys"
                    ),
                }
            }
        }
    }
}
