//! Catch-up benchmark: the whole full-contract corpus (`fixtures/chain/full-contract/`, 1 570
//! events over 117 835 ledgers, 157 stream entries) indexed from its first ledger through the
//! poller's catch-up (`fluxora index`'s path: `getEvents` pages, ledger hashes, storage entries,
//! the contract's views),
//! against the tests' RPC stand-in (`tests/it/rpc_fixture.rs`) answering every call after an added
//! latency. Prints the wall time and the calls made per method, next to the fewest calls the
//! RPC's limits allow (results in `docs/benchmarks.md`).
//!
//! ```sh
//! cargo run --release -p fluxora --example catchup_bench -- [LATENCY_MS ...]   # default: 0 20
//! ```
//!
//! Each run indexes into a fresh SQLite file in a temporary directory.
//!
//! The fewest calls: `getEvents` scans at most 10 000 ledgers a call, so one call per scan window
//! from the first ledger to the tip (the corpus has fewer events per window than a page holds);
//! `getLedgers` returns at most 200 ledgers a call, so the fewest calls covering every ledger that
//! holds an event is the greedy cover by 200-ledger windows; `getLedgerEntries` takes at most 200
//! keys, one call per 200 stored streams; `simulateTransaction` (the contract's views) does not
//! batch, one call per stored stream and one for the contract's configuration; plus one
//! `getNetwork` and one `getLatestLedger`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/it/rpc_fixture.rs"]
#[allow(dead_code)]
mod rpc_fixture;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fluxora::config::Config;
use fluxora::indexer::ingest::IngestCore;
use fluxora::indexer::poller::{Poller, PollerConfig, ScanBounds};
use fluxora::indexer::rpc::RpcClient;
use fluxora::indexer::state::IndexerState;

use rpc_fixture::{
    Branch, FixtureRpc, FULL_CONTRACT_ID, FULL_CONTRACT_LATEST, FULL_CONTRACT_START,
};

const SCAN_WINDOW: u32 = 10_000;
const LEDGERS_PAGE: u32 = 200;
const ENTRY_KEYS: usize = 200;
const STORED_STREAMS: usize = 157;

fn fewest_calls(event_ledgers: &BTreeSet<u32>, tip: u32) -> BTreeMap<&'static str, usize> {
    let windows = (tip + 1 - FULL_CONTRACT_START).div_ceil(SCAN_WINDOW) as usize;
    let mut covers = 0;
    let mut covered_to: Option<u32> = None;
    for ledger in event_ledgers {
        if covered_to.is_none_or(|end| *ledger > end) {
            covers += 1;
            covered_to = Some(ledger + LEDGERS_PAGE - 1);
        }
    }
    BTreeMap::from([
        ("getEvents", windows),
        ("getLedgers", covers),
        ("getLedgerEntries", STORED_STREAMS.div_ceil(ENTRY_KEYS)),
        // A view simulation does not batch: one per stream still stored (its lookback window)
        // and one for the contract's configuration.
        ("simulateTransaction", STORED_STREAMS + 1),
        ("getNetwork", 1),
        ("getLatestLedger", 1),
    ])
}

#[tokio::main]
async fn main() {
    let latencies: Vec<u64> = std::env::args()
        .skip(1)
        .map(|arg| arg.parse().expect("latency in ms"))
        .collect();
    let latencies = if latencies.is_empty() {
        vec![0, 20]
    } else {
        latencies
    };
    for latency_ms in latencies {
        let rpc = FixtureRpc::start_full_contract().await;
        rpc.set_latency(Duration::from_millis(latency_ms));
        let event_ledgers: BTreeSet<u32> = rpc
            .push_events(Branch::Main)
            .iter()
            .filter_map(|e| e["ledger"].as_u64())
            .map(|l| u32::try_from(l).unwrap())
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let config = Config::for_database(format!(
            "sqlite://{}",
            dir.path().join("catchup.db").display()
        ));
        let database = fluxora::store::open(&config.database).await.unwrap();
        let core = Arc::new(IngestCore::new(
            fluxora::indexer::repo::ChainRepository::new(database.clone()),
            fluxora::streams::repo::StreamRepository::open(database.clone()).await,
            fluxora::webhooks::repo::WebhookRepository::new(database.clone()),
            IndexerState::new(true),
            Some(FULL_CONTRACT_ID.to_string()),
            1,
        ));
        let client = Arc::new(RpcClient::new(rpc.url.clone(), Duration::from_secs(15)).unwrap());
        let poller = Poller::new(
            client,
            core,
            PollerConfig {
                contract_id: FULL_CONTRACT_ID.to_string(),
                passphrase: "Test SDF Network ; September 2015".to_string(),
                start_ledger: Some(FULL_CONTRACT_START),
                poll_interval: Duration::ZERO,
                verify_interval: None,
            },
        );
        let started = Instant::now();
        let totals = poller
            .catch_up(
                ScanBounds {
                    from_ledger: Some(FULL_CONTRACT_START),
                    until_ledger: None,
                    tip_margin: 1,
                },
                &mut |_| {},
            )
            .await
            .unwrap();
        let elapsed = started.elapsed();
        database.close().await;
        assert_eq!(totals.events, 1570);
        assert_eq!(totals.entries_applied, 157);
        assert_eq!(totals.lookbacks_applied, 157);
        let mut made: BTreeMap<String, usize> = BTreeMap::new();
        for call in rpc.calls() {
            *made.entry(call).or_default() += 1;
        }
        let fewest = fewest_calls(&event_ledgers, FULL_CONTRACT_LATEST - 1);
        let total_made: usize = made.values().sum();
        let total_fewest: usize = fewest.values().sum();
        println!(
            "latency {latency_ms} ms: {:.2} s wall, {} ledgers/s, {} events/s; calls {total_made} \
             (fewest the limits allow: {total_fewest})",
            elapsed.as_secs_f64(),
            (f64::from(FULL_CONTRACT_LATEST - FULL_CONTRACT_START) / elapsed.as_secs_f64()).round(),
            (1570.0 / elapsed.as_secs_f64()).round(),
        );
        for (method, count) in &made {
            let floor = fewest.get(method.as_str()).copied().unwrap_or(0);
            println!("  {method:<18} {count:>5}   fewest {floor:>5}");
        }
    }
}
