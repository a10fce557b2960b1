//! The `fluxora` binary: a thin CLI over the library (design §2).
//!
//! - `fluxora serve`: run the HTTP service (configuration from the environment and `.env`).
//! - `fluxora migrate`: create/upgrade the database schema and exit.
//! - `fluxora index --rpc-url … --contract …`: catch up on the contract's events once and exit
//!   ([`cli::index`]).
//! - `fluxora webhook sign|verify`: the webhook signature tools (design §7, [`cli::webhook`]);
//!   they need no service configuration.
//!
//! Exit codes: 0 success, 1 runtime failure (database, listener), 2 invalid configuration or
//! usage.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use fluxora::app::Application;
use fluxora::config::Config;

mod cli;

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
    /// Sign or verify a webhook delivery (design §7), without the service configuration.
    #[command(subcommand)]
    Webhook(cli::webhook::WebhookCommand),
}

/// The commands that run with the service configuration.
#[derive(Debug, Subcommand)]
enum ServiceCommand {
    /// Run the HTTP API until SIGTERM or Ctrl-C.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Catch up on the contract's events once (same ingest as the service's indexer), print a
    /// summary and exit.
    Index(cli::index::IndexArgs),
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
        Command::Service(command) => command,
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("fluxora: {error}");
            return ExitCode::from(2);
        }
    };
    if matches!(command, ServiceCommand::Index(_)) {
        // stdout carries the summary.
        fluxora::telemetry::init_stderr(&config.log_level, config.log_format);
    } else {
        fluxora::telemetry::init(&config.log_level, config.log_format);
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
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
            ServiceCommand::Index(args) => {
                return match cli::index::run(config, args).await {
                    Ok(()) => Ok(()),
                    Err(error) => {
                        eprintln!("fluxora index: {error}");
                        Err(None)
                    }
                };
            }
        }
        .map_err(Some)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Some(error)) => {
            tracing::error!(error = %error, "fluxora stopped with an error");
            ExitCode::from(1)
        }
        // Already reported.
        Err(None) => ExitCode::from(1),
    }
}

async fn serve(config: Config) -> Result<(), fluxora::app::AppError> {
    let app = Application::build(config).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    app.run_until_stopped(shutdown).await
}

async fn migrate(config: Config) -> Result<(), fluxora::app::AppError> {
    let store = fluxora::store::open(&config.database).await?;
    store.close().await;
    tracing::info!(database = store.backend(), "migrations applied");
    Ok(())
}

/// Cancels `token` on SIGTERM or SIGINT (Ctrl-C).
async fn cancel_on_signal(token: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot listen for SIGTERM; only Ctrl-C stops the service");
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
