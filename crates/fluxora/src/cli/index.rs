//! `fluxora index`: a one-shot catch-up of the contract's events into `DATABASE_URL` through the
//! same RPC client, poller scan and ingest core as `fluxora serve`'s indexer
//! ([`Poller::catch_up`]): network check, fork check, one transaction per `getEvents` page,
//! previous-hash continuity, durable progress. It stops at `--until-ledger` or at the latest safe
//! ledger (`INDEXER_SAFETY_MARGIN_LEDGERS` below the RPC's tip) and prints a summary.
//!
//! Re-running is idempotent: events already stored are counted as duplicates. Without
//! `--from-ledger` a run resumes from the stored progress (or `INDEXER_START_LEDGER` on an empty
//! database, else the safe tip).
//!
//! Output: a progress bar on stderr when stderr is a terminal; logs on stderr; the summary on
//! stdout (one JSON object with `--json`). The RPC URL is never printed (it may carry an API key).
//!
//! Exit codes: 0 caught up; 1 runtime failure (RPC, database, the RPC serves another network,
//! a network reset, another process holds the indexer lock); 2 invalid configuration or usage.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use fluxora::address::{AddressKind, StellarAddress};
use fluxora::app::RPC_TIMEOUT;
use fluxora::config::Config;
use fluxora::indexer::ingest::IngestCore;
use fluxora::indexer::poller::{CatchUp, CycleError, Poller, PollerConfig, ScanBounds};
use fluxora::indexer::rpc::RpcClient;
use fluxora::indexer::state::{IndexerProblem, IndexerState};

/// `fluxora index`
#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Stellar RPC endpoint (JSON-RPC over HTTP(S)).
    #[arg(long, value_name = "URL", value_parser = parse_rpc_url)]
    rpc_url: String,
    /// The Fluxora stream contract whose events to index (a C… StrKey).
    #[arg(long, value_name = "C…", value_parser = parse_contract)]
    contract: String,
    /// First ledger to read (inclusive), instead of the stored progress. Must be inside the RPC's
    /// retention window; events already stored are reported as duplicates.
    #[arg(long, value_name = "N")]
    from_ledger: Option<u32>,
    /// Last ledger to read (inclusive; default: the latest safe ledger).
    #[arg(long, value_name = "M")]
    until_ledger: Option<u32>,
    /// Print the summary as one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn parse_rpc_url(raw: &str) -> Result<String, String> {
    match url::Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(raw.to_string())
        }
        _ => Err("expected an http:// or https:// URL".into()),
    }
}

pub(crate) fn parse_contract(raw: &str) -> Result<String, String> {
    match StellarAddress::parse(raw) {
        Ok(address) if address.kind() == AddressKind::Contract => Ok(address.as_str().to_string()),
        _ => Err("expected a C… contract StrKey".into()),
    }
}

/// Why `fluxora index` failed (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] fluxora::store::StoreError),
    /// The RPC client could not be built.
    #[error("RPC client: {0}")]
    Client(#[from] fluxora::indexer::rpc::RpcError),
    /// Another process (a `fluxora serve` replica) holds the indexer lock on this database.
    #[error(
        "another process is indexing this database (indexer lock held); stop it or let it index"
    )]
    NotLeader,
    /// The scan failed; progress up to the last stored page is kept.
    #[error("{0}")]
    Scan(String),
}

/// The summary: the scan's totals with the elapsed time and throughput.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary<'a> {
    #[serde(flatten)]
    totals: &'a CatchUp,
    /// Wall time of the run, milliseconds.
    elapsed_ms: u64,
    /// Events received per second of wall time.
    events_per_second: f64,
    /// Ledgers scanned per second of wall time.
    ledgers_per_second: f64,
}

/// Runs `fluxora index` with the service configuration (`DATABASE_URL`, `NETWORK_PASSPHRASE`,
/// `INDEXER_SAFETY_MARGIN_LEDGERS`, `INDEXER_START_LEDGER`).
///
/// Errors: [`IndexError`].
pub async fn run(config: Config, args: IndexArgs) -> Result<(), IndexError> {
    let started = Instant::now();
    let store = fluxora::store::open(&config.database).await?;
    let result = index(&config, &args, &store, started).await;
    store.close().await;
    result
}

async fn index(
    config: &Config,
    args: &IndexArgs,
    database: &fluxora::store::Database,
    started: Instant,
) -> Result<(), IndexError> {
    let chain = fluxora::indexer::repo::ChainRepository::new(database.clone());
    let Some(_lease) = chain.try_lead_indexer().await? else {
        return Err(IndexError::NotLeader);
    };
    let state = IndexerState::new(true);
    let core = Arc::new(IngestCore::new(
        chain,
        fluxora::streams::repo::StreamRepository::open(database.clone()).await,
        fluxora::webhooks::repo::WebhookRepository::new(database.clone()),
        state,
        Some(args.contract.clone()),
        config.indexer.safety_margin_ledgers,
    ));
    let rpc = Arc::new(RpcClient::new(args.rpc_url.clone(), RPC_TIMEOUT)?);
    let poller = Poller::new(
        rpc,
        core,
        PollerConfig {
            contract_id: args.contract.clone(),
            passphrase: config.network_passphrase.clone(),
            start_ledger: config.indexer.start_ledger,
            poll_interval: Duration::ZERO,
            verify_interval: None,
        },
    );
    let bounds = ScanBounds {
        from_ledger: args.from_ledger,
        until_ledger: args.until_ledger,
        tip_margin: config.indexer.safety_margin_ledgers,
    };

    let bar = progress_bar();
    let mut last = CatchUp::default();
    let mut on_page = |totals: &CatchUp| {
        let length = u64::from(totals.target_ledger)
            .saturating_add(1)
            .saturating_sub(u64::from(totals.first_ledger));
        bar.set_length(length);
        let done = totals
            .scanned_to
            .map_or(0, |s| u64::from(s).saturating_add(1))
            .saturating_sub(u64::from(totals.first_ledger));
        bar.set_position(done.min(length));
        let seconds = started.elapsed().as_secs_f64();
        let events_per_second = if seconds > 0.0 {
            totals.events as f64 / seconds
        } else {
            0.0
        };
        bar.set_message(format!(
            "{} events ({events_per_second:.0}/s), {} new, {} duplicates",
            totals.events, totals.inserted, totals.duplicates
        ));
        last = totals.clone();
    };
    let outcome = poller.catch_up(bounds, &mut on_page).await;
    bar.finish_and_clear();
    match outcome {
        Ok(totals) => {
            print_summary(&totals, started.elapsed(), args.json);
            Ok(())
        }
        Err(error) => {
            if last.pages > 0 {
                eprintln!(
                    "fluxora index: stopped after {} pages ({} events stored); progress is kept, \
                     run again to resume",
                    last.pages, last.inserted
                );
            }
            Err(IndexError::Scan(describe(error)))
        }
    }
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{wide_bar}] {pos}/{len} ledgers ({per_sec}) · {msg} · eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// An operator-facing message for a failed scan.
fn describe(error: CycleError) -> String {
    match error {
        CycleError::Stopped(IndexerProblem::NetworkMismatch { expected, actual }) => format!(
            "network mismatch: the RPC serves '{actual}' but NETWORK_PASSPHRASE (or \
             STELLAR_NETWORK) is '{expected}'; nothing was indexed"
        ),
        CycleError::Stopped(IndexerProblem::NetworkReset {
            last_ingested,
            rpc_latest,
        }) => format!(
            "network reset: the RPC's latest ledger {rpc_latest} is below our last ingested \
             ledger {last_ingested} (a testnet reset or another network); nothing was indexed"
        ),
        // reqwest names the URL, which may carry an API key: drop it.
        CycleError::Rpc(fluxora::indexer::rpc::RpcError::Transport(error)) => {
            format!("RPC transport error: {}", error.without_url())
        }
        other => other.to_string(),
    }
}

fn print_summary(totals: &CatchUp, elapsed: Duration, json: bool) {
    let seconds = elapsed.as_secs_f64();
    let per_second = |count: u64| {
        if seconds > 0.0 {
            (count as f64 / seconds * 10.0).round() / 10.0
        } else {
            0.0
        }
    };
    let events_per_second = per_second(totals.events);
    let ledgers_per_second = per_second(totals.ledgers_scanned);
    if json {
        let summary = Summary {
            totals,
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            events_per_second,
            ledgers_per_second,
        };
        match serde_json::to_string(&summary) {
            Ok(line) => println!("{line}"),
            Err(error) => eprintln!("fluxora index: could not render the summary: {error}"),
        }
        return;
    }
    let range = match totals.scanned_to {
        Some(to) if totals.ledgers_scanned > 0 => format!("{}..={to}", totals.first_ledger),
        _ => "nothing new".to_string(),
    };
    let ledger = |l: Option<u32>| l.map_or_else(|| "none".to_string(), |l| l.to_string());
    println!(
        "fluxora index: caught up (ledgers {range}; RPC latest {})",
        totals.latest_ledger
    );
    println!("  ledgers scanned      {}", totals.ledgers_scanned);
    println!(
        "  events ingested      {} (applied to streams {})",
        totals.inserted, totals.applied
    );
    println!("  duplicates           {}", totals.duplicates);
    println!(
        "  skipped              {} unknown, {} undecodable, {} malformed, {} without effect",
        totals.unknown, totals.invalid, totals.malformed, totals.skipped
    );
    println!("  reorgs rolled back   {}", totals.reorgs);
    println!(
        "  storage entries      {} read in {} getLedgerEntries calls, {} applied",
        totals.entries_read, totals.entry_calls, totals.entries_applied
    );
    println!("  elapsed              {seconds:.2} s");
    println!("  throughput           {events_per_second} events/s, {ledgers_per_second} ledgers/s");
    println!(
        "  last ingested/safe   {} / {}",
        ledger(totals.last_ingested_ledger),
        ledger(totals.last_safe_ledger)
    );
}
