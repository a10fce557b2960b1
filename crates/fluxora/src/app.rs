//! The composition root (design §2): [`Application::build`] wires configuration, store, domain
//! services, HTTP router and background workers. `fluxora serve` and the tests build the service
//! the same way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::clock::now_millis;
use crate::config::Config;
use crate::health::HealthService;
use crate::http::internal::PushIngest;
use crate::http::{self, AppState};
use crate::indexer::ingest::IngestCore;
use crate::indexer::poller::{Poller, PollerConfig};
use crate::indexer::rpc::RpcClient;
use crate::indexer::state::IndexerState;
use crate::pagination::CursorCodec;
use crate::store::{self, Store, StoreError};
use crate::streams::service::StreamService;
use crate::webhooks::dispatcher::{Dispatcher, DispatcherConfig};
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
    store: Arc<dyn Store>,
    health: HealthService,
    ingest: Arc<IngestCore>,
    poller: Option<PollerSpec>,
    dispatcher: Dispatcher,
    shutdown_grace: Duration,
    local_addr: SocketAddr,
}

impl Application {
    /// Opens and migrates the store, builds the services and router, and binds the listener
    /// (`PORT=0` picks a free port; see [`Application::port`]).
    ///
    /// Errors: [`AppError::Store`] when the database cannot be opened or migrated,
    /// [`AppError::Listen`] when the address cannot be bound.
    pub async fn build(config: Config) -> Result<Self, AppError> {
        let store = store::open(&config.database).await?;
        let cursor_secret = store.cursor_secret().await?;
        let indexer_state = IndexerState::new(config.indexer.is_configured());
        let health = HealthService::new(
            store.clone(),
            indexer_state.clone(),
            config.indexer.stall_threshold_ms,
        );
        let ingest = Arc::new(IngestCore::new(
            store.clone(),
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
                },
            }),
            _ => None,
        };
        let cursors = CursorCodec::new(cursor_secret);
        let dispatch_now = Arc::new(Notify::new());
        let ssrf = Arc::new(config.webhooks.ssrf.clone());
        let dispatcher = Dispatcher::new(
            store.clone(),
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
        let state = AppState {
            streams: StreamService::new(store.clone(), cursors.clone(), dispatch_now.clone()),
            store: store.clone(),
            admin_token: config.admin_token.clone(),
            ssrf,
            cursors,
            dispatch_now,
            health: health.clone(),
            network: config.network.as_str(),
            push_ingest: config.indexer.worker_token.clone().map(|token| PushIngest {
                core: ingest.clone(),
                token,
            }),
        };
        let router = http::router(state);

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
            store,
            health,
            ingest,
            poller,
            dispatcher,
            shutdown_grace: config.shutdown_grace,
            local_addr,
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

    /// Serves until `shutdown` is cancelled, then shuts down gracefully: `/health` turns 503,
    /// the listener stops accepting, in-flight requests get up to `SHUTDOWN_GRACE_MS` to finish,
    /// background workers stop and the database pool closes.
    ///
    /// Errors: [`AppError::Serve`] if the server fails.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), AppError> {
        tracing::info!(
            address = %self.local_addr,
            database = self.store.backend(),
            "fluxora listening"
        );
        let mut workers = vec![tokio::spawn(purge_idempotency_keys(
            self.store.clone(),
            shutdown.clone(),
        ))];
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
        let server = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            signal.cancelled().await;
            health.begin_shutdown();
            tracing::info!("shutdown requested; finishing in-flight requests");
        });

        let grace = self.shutdown_grace;
        let deadline = async {
            shutdown.cancelled().await;
            tokio::time::sleep(grace).await;
        };
        let result = tokio::select! {
            result = server => result.map_err(AppError::Serve),
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
        self.store.close().await;
        tracing::info!("shutdown complete");
        result
    }
}

/// Deletes expired idempotency keys at start and every [`IDEMPOTENCY_PURGE_INTERVAL`] until
/// `shutdown`. Errors are logged and retried at the next tick; they never stop the service.
async fn purge_idempotency_keys(store: Arc<dyn Store>, shutdown: CancellationToken) {
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
