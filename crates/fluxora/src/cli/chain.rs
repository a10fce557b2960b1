//! `fluxora chain verify|rederive|reset`: operator tools for the indexed chain data
//! (`docs/indexer.md`, "Reconciliation" and "Operator commands").
//!
//! - `verify` compares every open chain stream with the contract's storage entry, field by field,
//!   prints each drift (text, or one JSON object with `--json`) and exits 3 when there is any;
//!   `--repair` also applies the entries that differ. Read-only otherwise; it needs no lock.
//! - `rederive` rebuilds the chain streams from the stored events and storage entries, without
//!   the RPC (after an upgrade of the derivation rules).
//! - `reset` drops the chain-derived data and the indexer's progress, keeping API streams, API
//!   keys and webhook endpoints (after a testnet reset); it needs `--yes`.
//!
//! `rederive` and `reset` refuse while another process leads the indexer on this database (a
//! `fluxora serve` replica, on PostgreSQL), unless `--force`.
//!
//! Exit codes: 0 done (no drift); 1 runtime failure or another process leads the indexer; 2
//! invalid configuration or usage; 3 drift found.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};

use fluxora::app::RPC_TIMEOUT;
use fluxora::config::Config;
use fluxora::indexer::ingest::IngestCore;
use fluxora::indexer::repo::ChainRepository;
use fluxora::indexer::rpc::RpcClient;
use fluxora::indexer::state::IndexerState;
use fluxora::indexer::verify::{verify, VerifyReport};

use crate::cli::index::{parse_contract, parse_rpc_url};

/// `fluxora chain …`
#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// Compare every open chain stream with the contract's storage; exit 3 on drift.
    Verify(VerifyArgs),
    /// Rebuild the chain streams from the stored events and storage entries (no RPC).
    Rederive(LockArgs),
    /// Drop chain-derived data and indexer progress; keep API streams, keys and endpoints.
    Reset(ResetArgs),
}

/// `fluxora chain verify`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Stellar RPC endpoint (JSON-RPC over HTTP(S)).
    #[arg(long, value_name = "URL", value_parser = parse_rpc_url)]
    rpc_url: String,
    /// The Fluxora stream contract (a C… StrKey).
    #[arg(long, value_name = "C…", value_parser = parse_contract)]
    contract: String,
    /// Also apply the entries that differ (the streams then equal the contract's state).
    #[arg(long)]
    repair: bool,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Options of the commands that write.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// Run even while another process leads the indexer on this database.
    #[arg(long)]
    force: bool,
}

/// `fluxora chain reset`
#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Confirm: every chain stream, event and the indexer's progress are dropped.
    #[arg(long)]
    yes: bool,
    #[command(flatten)]
    lock: LockArgs,
}

/// Runs a `fluxora chain` command with the service configuration (`DATABASE_URL`,
/// `INDEXER_SAFETY_MARGIN_LEDGERS`).
pub async fn run(config: Config, command: ChainCommand) -> ExitCode {
    if let ChainCommand::Reset(args) = &command {
        if !args.yes {
            eprintln!(
                "fluxora chain reset: this drops every chain stream, stored event and the \
                 indexer's progress (API streams, keys and endpoints are kept); run it again with \
                 --yes"
            );
            return ExitCode::from(2);
        }
    }
    let database = match fluxora::store::open(&config.database).await {
        Ok(database) => database,
        Err(error) => {
            eprintln!("fluxora chain: {error}");
            return ExitCode::from(1);
        }
    };
    let code = match command {
        ChainCommand::Verify(args) => run_verify(&config, &database, args).await,
        ChainCommand::Rederive(args) => run_rederive(&config, &database, args).await,
        ChainCommand::Reset(args) => run_reset(&database, args).await,
    };
    database.close().await;
    code
}

async fn core(
    config: &Config,
    database: &fluxora::store::Database,
    contract: Option<String>,
) -> Arc<IngestCore> {
    let database = database.clone();
    Arc::new(IngestCore::new(
        ChainRepository::new(database.clone()),
        fluxora::streams::repo::StreamRepository::open(database.clone()).await,
        fluxora::webhooks::repo::WebhookRepository::new(database),
        IndexerState::new(true),
        contract,
        config.indexer.safety_margin_ledgers,
    ))
}

async fn run_verify(
    config: &Config,
    database: &fluxora::store::Database,
    args: VerifyArgs,
) -> ExitCode {
    let rpc = match RpcClient::new(args.rpc_url.clone(), RPC_TIMEOUT) {
        Ok(rpc) => rpc,
        Err(error) => {
            eprintln!("fluxora chain verify: RPC client: {error}");
            return ExitCode::from(1);
        }
    };
    match rpc.get_network().await {
        Ok(network) if network.passphrase == config.network_passphrase => {}
        Ok(network) => {
            eprintln!(
                "fluxora chain verify: network mismatch: the RPC serves '{}' but \
                 NETWORK_PASSPHRASE (or STELLAR_NETWORK) is '{}'",
                network.passphrase, config.network_passphrase
            );
            return ExitCode::from(1);
        }
        Err(error) => {
            eprintln!("fluxora chain verify: {error}");
            return ExitCode::from(1);
        }
    }
    let core = core(config, database, Some(args.contract.clone())).await;
    let report = match verify(&core, &rpc, &args.contract, args.repair).await {
        Ok(report) => report,
        Err(error) => {
            eprintln!("fluxora chain verify: {error}");
            return ExitCode::from(1);
        }
    };
    print_verify(&report, args.json);
    if report.drifted.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}

fn print_verify(report: &VerifyReport, json: bool) {
    if json {
        match serde_json::to_string(report) {
            Ok(line) => println!("{line}"),
            Err(error) => eprintln!("fluxora chain verify: could not render the report: {error}"),
        }
        return;
    }
    for stream in &report.drifted {
        if stream.missing {
            println!(
                "{}: the contract has no storage entry (archived, or closed unseen)",
                stream.id
            );
        }
        for field in &stream.fields {
            println!(
                "{}: {} indexed {} contract {}",
                stream.id, field.field, field.indexed, field.contract
            );
        }
    }
    println!(
        "fluxora chain verify: {} streams compared, {} drifted, {} changed after the last \
         ingested ledger (not compared), {} repaired; {} getLedgerEntries and {} \
         simulateTransaction calls",
        report.checked,
        report.drifted.len(),
        report.ahead,
        report.repaired,
        report.calls,
        report.view_calls
    );
}

/// Holds the indexer lock for a writing command, or says why not (exit 1).
async fn lead(
    database: &fluxora::store::Database,
    force: bool,
    command: &str,
) -> Result<Option<Box<dyn fluxora::indexer::repo::Leadership>>, ExitCode> {
    match ChainRepository::new(database.clone())
        .try_lead_indexer()
        .await
    {
        Ok(Some(lease)) => Ok(Some(lease)),
        Ok(None) if force => {
            eprintln!(
                "fluxora chain {command}: another process leads the indexer; going on (--force)"
            );
            Ok(None)
        }
        Ok(None) => {
            eprintln!(
                "fluxora chain {command}: another process leads the indexer on this database \
                 (a fluxora serve replica); stop it first, or pass --force"
            );
            Err(ExitCode::from(1))
        }
        Err(error) => {
            eprintln!("fluxora chain {command}: {error}");
            Err(ExitCode::from(1))
        }
    }
}

async fn run_rederive(
    config: &Config,
    database: &fluxora::store::Database,
    args: LockArgs,
) -> ExitCode {
    let _lease = match lead(database, args.force, "rederive").await {
        Ok(lease) => lease,
        Err(code) => return code,
    };
    match core(config, database, None).await.rederive().await {
        Ok(report) => {
            println!(
                "fluxora chain rederive: {} chain streams from the stored events; {} rewritten, \
                 {} deleted",
                report.streams, report.changed, report.deleted
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("fluxora chain rederive: {error}");
            ExitCode::from(1)
        }
    }
}

async fn run_reset(database: &fluxora::store::Database, args: ResetArgs) -> ExitCode {
    let _lease = match lead(database, args.lock.force, "reset").await {
        Ok(lease) => lease,
        Err(code) => return code,
    };
    match ChainRepository::new(database.clone()).reset().await {
        Ok(dropped) => {
            println!(
                "fluxora chain reset: dropped {dropped} chain streams, the stored events, ledger \
                 hashes, storage entries and the indexer's progress; API streams, keys and \
                 endpoints are kept"
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("fluxora chain reset: {error}");
            ExitCode::from(1)
        }
    }
}
