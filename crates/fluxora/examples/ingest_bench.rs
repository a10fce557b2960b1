//! Indexer ingest benchmark: events/s through the real decode + ingest core, and the time to roll
//! back 1 000 ledgers (goals: ≥ 50 000 events/s on SQLite, ≥ 20 000 on PostgreSQL, a 1 000-ledger
//! rollback under 1 s; results in `docs/benchmarks.md`).
//!
//! ```sh
//! cargo run --release -p fluxora --example ingest_bench -- DATABASE_URL [EVENTS] [BATCH]
//! ```
//!
//! `BENCH_WEBHOOK_ENDPOINTS=N` (default 0): create N enabled webhook endpoints subscribed to
//! every event type first, so that every applied event also writes its outbox event and N
//! deliveries (nothing is sent: no dispatcher runs). With none, the webhook events of safe
//! ledgers are not written at all (nothing would deliver them).
//!
//! `BENCH_VACUUM_EVERY=N` (PostgreSQL): `VACUUM ANALYZE` the written tables every N batches,
//! outside the timed ingest, where the server runs without autovacuum.
//!
//! `DATABASE_URL` must name an empty database (`sqlite:///tmp/bench.db`, or a freshly created
//! PostgreSQL database); it is migrated first. Defaults: 1 000 000 events, 1 000 per batch (the
//! poller's `getEvents` page size).
//!
//! The events are the 18 real contract events of `fixtures/chain/fluxora-scenario.getEvents.json`
//! (the contract's own XDR), re-encoded over and over with fresh stream ids (the `stream_id` topic
//! and payload field), fresh ledgers (10 events a ledger, one transaction each) and fresh event
//! ids; close times are the fixture's, so every copy's derived state is the contract's own final
//! state, which the benchmark checks at the end. Each batch is validated like a `getEvents` page
//! (`parse_event_json`) and handed to [`IngestCore::ingest`] with its ledger hashes, exactly as the
//! poller does; the throughput figure times `ingest` (decode, dedup, fold, one transaction).
//!
//! Then the last 1 000 ledgers are rolled back (`IngestCore::rollback`, the poller's reorg path:
//! delete events, ledgers and held webhooks from the fork on, rebuild the touched streams by
//! replaying their remaining events) and re-ingested (derived state checked again).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use fluxora::config::Config;
use fluxora::indexer::event::parse_event_json;
use fluxora::indexer::ingest::{IngestBatch, IngestCore, Reorg};
use fluxora::indexer::state::IndexerState;
use fluxora::streams::repo::StreamRepository;
use serde_json::{json, Value};
use stellar_xdr::{Limits, ReadXdr, ScVal, WriteXdr};

const CONTRACT_ID: &str = "CD2BJ2TNXVV3KY6VMQ4PTUN2BXE7IUKMI3KR7XVMRBWUL2DZ7MGNICV4";
const FIRST_LEDGER: u64 = 2_000_000;
const EVENTS_PER_LEDGER: u64 = 10;
const ROLLBACK_LEDGERS: u64 = 1_000;

/// One fixture event, decoded once.
struct Template {
    name_topic: String,
    stream_id: u64,
    value: ScVal,
    closed_at: String,
}

fn fixture_events() -> Vec<Template> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/chain/fluxora-scenario.getEvents.json"
    );
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut events: Vec<Value> = file["pages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            p["result"]["events"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    events.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    events.dedup_by(|a, b| a["id"] == b["id"]);
    events
        .iter()
        .map(|e| {
            let topic = e["topic"].as_array().unwrap();
            let stream_id =
                match ScVal::from_xdr_base64(topic[1].as_str().unwrap(), Limits::none()).unwrap() {
                    ScVal::U64(id) => id,
                    other => panic!("unexpected stream id topic {other:?}"),
                };
            Template {
                name_topic: topic[0].as_str().unwrap().to_string(),
                stream_id,
                value: ScVal::from_xdr_base64(e["value"].as_str().unwrap(), Limits::none())
                    .unwrap(),
                closed_at: e["ledgerClosedAt"].as_str().unwrap().to_string(),
            }
        })
        .collect()
}

/// The payload with every `stream_id` (struct field, or the id of a `[Symbol, U64]` enum)
/// replaced by `id`.
fn with_stream_id(value: &ScVal, id: u64) -> ScVal {
    let mut value = value.clone();
    match &mut value {
        ScVal::Map(Some(map)) => {
            let mut entries = map.0.to_vec();
            for entry in &mut entries {
                if matches!(&entry.key, ScVal::Symbol(s) if s.0.as_slice() == b"stream_id") {
                    entry.val = ScVal::U64(id);
                }
            }
            map.0 = entries.try_into().unwrap();
        }
        ScVal::Vec(Some(items)) => {
            let mut items_vec = items.0.to_vec();
            if let Some(last) = items_vec.last_mut() {
                *last = ScVal::U64(id);
            }
            items.0 = items_vec.try_into().unwrap();
        }
        other => panic!("unexpected payload {other:?}"),
    }
    value
}

fn toid(ledger: u64, tx: u64, op: u64) -> u64 {
    (ledger << 32) | (tx << 12) | op
}

fn ledger_hash(ledger: u64, generation: u64) -> String {
    format!("{generation:08x}{ledger:056x}")
}

/// Global event `g` as a getEvents JSON event.
fn event_json(templates: &[Template], g: u64) -> Value {
    let n = templates.len() as u64;
    let (copy, i) = (g / n, (g % n) as usize);
    let template = &templates[i];
    let stream_id = copy * 3 + template.stream_id;
    let ledger = FIRST_LEDGER + g / EVENTS_PER_LEDGER;
    let tx = g % EVENTS_PER_LEDGER + 1;
    json!({
        "type": "contract",
        "ledger": ledger,
        "ledgerClosedAt": template.closed_at,
        "contractId": CONTRACT_ID,
        "id": format!("{:019}-{:010}", toid(ledger, tx, 0), 0),
        "operationIndex": 0,
        "transactionIndex": tx,
        "txHash": format!("{g:064x}"),
        "inSuccessfulContractCall": true,
        "topic": [template.name_topic, ScVal::U64(stream_id).to_xdr_base64(Limits::none()).unwrap()],
        "value": with_stream_id(&template.value, stream_id).to_xdr_base64(Limits::none()).unwrap(),
    })
}

/// The batch of events `[from, to)`, validated as the poller validates a page.
fn batch(templates: &[Template], from: u64, to: u64, generation: u64) -> IngestBatch {
    let events: Vec<_> = (from..to)
        .map(|g| parse_event_json(&event_json(templates, g), false).unwrap())
        .collect();
    let mut ledgers: Vec<(u32, String, Option<u64>)> = events
        .iter()
        .map(|e| {
            (
                e.ledger,
                ledger_hash(u64::from(e.ledger), generation),
                Some(e.ledger_closed_at),
            )
        })
        .collect();
    ledgers.dedup_by_key(|l| l.0);
    IngestBatch {
        events,
        ledgers,
        ..IngestBatch::default()
    }
}

/// Checks copy `copy`'s three streams against the contract's final states (fixtures README).
async fn check_copy(store: &StreamRepository, copy: u64) {
    let expect = [
        (0, "15000000000", "9017548200", "active"),
        (1, "3600000000", "3600000000", "completed"),
        (2, "5000000000", "145800000", "cancelled"),
    ];
    for (offset, deposit, withdrawn, status) in expect {
        let id = format!("{CONTRACT_ID}-{}", copy * 3 + offset);
        let stream = store.get(&id).await.unwrap().expect("stream exists");
        assert_eq!(stream.deposit_amount.stroops().to_string(), deposit, "{id}");
        assert_eq!(
            stream.withdrawn_amount.stroops().to_string(),
            withdrawn,
            "{id}"
        );
        assert_eq!(stream.status.as_str(), status, "{id}");
    }
}

/// `VACUUM ANALYZE` of the tables ingest rewrites, every this many batches, when
/// `BENCH_VACUUM_EVERY` is set on PostgreSQL: stands in for autovacuum on servers where it is
/// off (the benchmark machine's). Not counted in the ingest time.
fn vacuum_every() -> Option<u64> {
    std::env::var("BENCH_VACUUM_EVERY").ok()?.parse().ok()
}

async fn vacuum(database_url: &str) {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(database_url).await.unwrap();
    sqlx::query("VACUUM ANALYZE webhook_events, chain_events, chain_ledgers, streams")
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
}

async fn ingest_range(
    database_url: &str,
    core: &IngestCore,
    templates: &[Template],
    from: u64,
    to: u64,
    batch_size: u64,
    generation: u64,
) -> (Duration, usize, usize) {
    let mut in_core = Duration::ZERO;
    let (mut inserted, mut duplicates) = (0, 0);
    let mut start = from;
    let mut last_report = Instant::now();
    let vacuum_every = vacuum_every().filter(|_| database_url.starts_with("postgres"));
    let mut batches = 0u64;
    while start < to {
        batches += 1;
        if vacuum_every.is_some_and(|n| batches.is_multiple_of(n)) {
            vacuum(database_url).await;
        }
        let end = (start + batch_size).min(to);
        let batch = batch(templates, start, end, generation);
        let t = Instant::now();
        let report = core.ingest(&batch).await.unwrap();
        in_core += t.elapsed();
        inserted += report.inserted;
        duplicates += report.duplicates;
        start = end;
        if last_report.elapsed() > Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "  {start} events, {:.0} events/s in the core so far",
                (start - from) as f64 / in_core.as_secs_f64()
            );
        }
    }
    (in_core, inserted, duplicates)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let database_url = args
        .first()
        .cloned()
        .unwrap_or_else(|| "sqlite:///tmp/fluxora-ingest-bench.db".into());
    let total: u64 = args.get(1).map_or(1_000_000, |s| s.parse().unwrap());
    let batch_size: u64 = args.get(2).map_or(1_000, |s| s.parse().unwrap());

    let config = Config::for_database(&database_url);
    let database = fluxora::store::open(&config.database).await.unwrap();
    let store = StreamRepository::open(database.clone()).await;
    let webhooks = fluxora::webhooks::repo::WebhookRepository::new(database.clone());
    let core = IngestCore::new(
        fluxora::indexer::repo::ChainRepository::new(database.clone()),
        store.clone(),
        webhooks.clone(),
        IndexerState::new(true),
        Some(CONTRACT_ID.to_string()),
        1,
    );
    let endpoints: u32 = std::env::var("BENCH_WEBHOOK_ENDPOINTS").map_or(0, |n| n.parse().unwrap());
    for n in 0..endpoints {
        let now = chrono::Utc::now().timestamp_millis();
        webhooks
            .create_endpoint(&fluxora::webhooks::Endpoint::new(
                format!("https://hooks.example.com/{n}"),
                None,
                vec![],
                true,
                fluxora::secret::Secret::new("s".repeat(32)),
                now,
            ))
            .await
            .unwrap();
    }
    let templates = fixture_events();
    let total = total - total % templates.len() as u64; // whole scenario copies
    println!(
        "backend={} events={total} batch={batch_size} streams={} webhook_endpoints={endpoints}",
        database.backend(),
        total / templates.len() as u64 * 3
    );

    let wall = Instant::now();
    let (in_core, inserted, _) =
        ingest_range(&database_url, &core, &templates, 0, total, batch_size, 0).await;
    let wall = wall.elapsed();
    assert_eq!(inserted as u64, total);
    println!(
        "ingest: {total} events in {:.1} s in the ingest core ({:.0} events/s); \
         {:.1} s wall including page validation ({:.0} events/s)",
        in_core.as_secs_f64(),
        total as f64 / in_core.as_secs_f64(),
        wall.as_secs_f64(),
        total as f64 / wall.as_secs_f64()
    );
    let copies = total / templates.len() as u64;
    for copy in [0, copies / 2, copies - 1] {
        check_copy(&store, copy).await;
    }

    // Roll back the newest 1 000 ledgers, as the poller does on a fork.
    let last_ledger = FIRST_LEDGER + (total - 1) / EVENTS_PER_LEDGER;
    let fork = last_ledger + 1 - ROLLBACK_LEDGERS;
    let t = Instant::now();
    let report = core
        .rollback(Reorg {
            ledger: u32::try_from(fork).unwrap(),
            existing_hash: ledger_hash(fork, 0),
            incoming_hash: ledger_hash(fork, 1),
        })
        .await
        .unwrap();
    let rollback = t.elapsed();
    assert_eq!(
        report.last_ingested_ledger,
        Some(u32::try_from(fork - 1).unwrap())
    );
    let first_rolled = (fork - FIRST_LEDGER) * EVENTS_PER_LEDGER;
    println!(
        "rollback: {ROLLBACK_LEDGERS} ledgers ({} events, streams rebuilt) in {:.0} ms",
        total - first_rolled,
        rollback.as_secs_f64() * 1000.0
    );

    // Re-ingest the new branch (other ledger hashes) over the fork.
    let (reingest, inserted, _) = ingest_range(
        &database_url,
        &core,
        &templates,
        first_rolled,
        total,
        batch_size,
        1,
    )
    .await;
    assert_eq!(inserted as u64, total - first_rolled);
    check_copy(&store, copies - 1).await;
    println!(
        "re-ingest after the rollback: {} events in {:.0} ms",
        total - first_rolled,
        reingest.as_secs_f64() * 1000.0
    );
    database.close().await;
}
