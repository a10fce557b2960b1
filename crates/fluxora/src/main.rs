//! The `fluxora` binary: a thin CLI over the library (`docs/architecture.md` maps it).
//!
//! - `fluxora serve`: run the HTTP service (configuration from the environment and `.env`).
//! - `fluxora migrate`: create/upgrade the database schema and exit.
//! - `fluxora keys create|list|revoke`: manage API keys on `DATABASE_URL` ([`cli::keys`]).
//! - `fluxora index --rpc-url … --contract …`: catch up on the contract's events once and exit
//!   ([`cli::index`]).
//! - `fluxora webhook sign|verify`: the webhook signature tools ([`cli::webhook`]);
//!   they need no service configuration.
//! - `fluxora healthcheck`: probe the local service's `/health/ready` (exit 0 healthy, 1 not);
//!   the container's `HEALTHCHECK` ([`cli::healthcheck`]).
//!
//! Exit codes: 0 success, 1 runtime failure (database, listener), 2 invalid configuration or
//! usage.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use fluxora::app::Application;
use fluxora::config::Config;

mod cli;

/// The memory allocator: mimalloc rather than the C library's. With glibc's allocator the
/// runtime's worker threads and the log writer contended for its arena locks and it spent a
/// tenth of a GET's CPU time in `malloc`/`free` (`docs/benchmarks.md`, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Fluxora treasury streaming backend.
#[derive(Debug, Parser)]
#[command(name = "fluxora", version, about)]
struct Cli {
    /// Load variables from this file instead of `./.env` (variables already set win).
    #[arg(long, global = true, value_name = "PATH")]
    env_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Service(ServiceCommand),
    /// Sign or verify a webhook delivery, without the service configuration.
    #[command(subcommand)]
    Webhook(cli::webhook::WebhookCommand),
    /// Probe a running service (`/health/ready` on 127.0.0.1:$PORT): exit 0 healthy, 1 not.
    Healthcheck(cli::healthcheck::HealthcheckArgs),
}

/// The commands that run with the service configuration.
#[derive(Debug, Subcommand)]
enum ServiceCommand {
    /// Run the HTTP API until SIGTERM or Ctrl-C.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Create, list or revoke API keys directly on DATABASE_URL.
    #[command(subcommand)]
    Keys(cli::keys::KeysCommand),
    /// Catch up on the contract's events once (same ingest as the service's indexer), print a
    /// summary and exit.
    Index(cli::index::IndexArgs),
    /// Reconcile the indexed chain streams with the contract's storage, rebuild them from the
    /// stored events, or drop the chain data (`docs/indexer.md`).
    #[command(subcommand)]
    Chain(cli::chain::ChainCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let loaded = match &cli.env_file {
        Some(path) => dotenvy::from_path(path).map(|()| true),
        None => match dotenvy::dotenv() {
            Ok(_) => Ok(true),
            Err(error) if error.not_found() => Ok(false),
            Err(error) => Err(error),
        },
    };
    if let Err(error) = loaded {
        eprintln!("fluxora: could not read the env file: {error}");
        return ExitCode::from(2);
    }
    let command = match cli.command {
        Command::Webhook(command) => return cli::webhook::run(command),
        Command::Healthcheck(args) => return cli::healthcheck::run(args),
        Command::Service(command) => command,
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("fluxora: {error}");
            return ExitCode::from(2);
        }
    };
    // Held to the end of `main`: dropping it writes out the queued log lines.
    let _log_guard = if matches!(
        command,
        ServiceCommand::Keys(_) | ServiceCommand::Index(_) | ServiceCommand::Chain(_)
    ) {
        // stdout is the command's output (the key, the summary): logs go to stderr.
        fluxora::telemetry::init_stderr(&config.log_level, config.log_format)
    } else {
        fluxora::telemetry::init(&config.log_level, config.log_format)
    };

    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    // Set explicitly, so that Tokio's own TOKIO_WORKER_THREADS (which panics on a bad value)
    // is never consulted: WORKER_THREADS, validated with the rest, is the one knob.
    let workers = config
        .worker_threads
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, std::num::NonZeroUsize::get);
    runtime.worker_threads(workers);
    let runtime = match runtime.build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("fluxora: could not start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match command {
            ServiceCommand::Serve => serve(config).await,
            ServiceCommand::Migrate => migrate(config).await,
            ServiceCommand::Keys(command) => Ok(cli::keys::run(command, &config).await),
            ServiceCommand::Chain(command) => Ok(cli::chain::run(config, command).await),
            ServiceCommand::Index(args) => match cli::index::run(config, args).await {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(error) => {
                    eprintln!("fluxora index: {error}");
                    Ok(ExitCode::from(1))
                }
            },
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(error = %error, "fluxora stopped with an error");
            ExitCode::from(1)
        }
    }
}

async fn serve(config: Config) -> Result<ExitCode, fluxora::app::AppError> {
    // Take over SIGTERM before the port is bound: a SIGTERM arriving as soon as the service
    // listens must start a graceful shutdown, not kill the process (the default action).
    let signals = ShutdownSignals::install();
    let app = Application::build(config).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(signals.cancel_on_signal(shutdown.clone()));
    app.run_until_stopped(shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

async fn migrate(config: Config) -> Result<ExitCode, fluxora::app::AppError> {
    let store = fluxora::store::open(&config.database).await?;
    store.close().await;
    tracing::info!(database = store.backend(), "migrations applied");
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM and SIGINT (Ctrl-C), registered when installed.
struct ShutdownSignals {
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignals {
    /// Registers the handlers now (SIGINT is registered by `ctrl_c` itself, but only when
    /// first polled; SIGTERM's default action would kill the process before that).
    fn install() -> Self {
        #[cfg(unix)]
        {
            let terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .map_err(|error| {
                        tracing::warn!(error = %error, "cannot listen for SIGTERM; only Ctrl-C stops the service");
                    })
                    .ok();
            Self { terminate }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// Cancels `token` on SIGTERM or SIGINT (Ctrl-C).
    async fn cancel_on_signal(self, token: CancellationToken) {
        let interrupt = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            match self.terminate {
                Some(mut terminate) => {
                    tokio::select! {
                        _ = interrupt => {}
                        _ = terminate.recv() => {}
                    }
                }
                None => {
                    let _ = interrupt.await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = interrupt.await;
        }
        tracing::info!("signal received");
        token.cancel();
    }
}
