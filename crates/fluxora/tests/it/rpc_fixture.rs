//! A local Stellar RPC server fed with the real contract events of `fixtures/chain/`.
//!
//! It emulates the JSON-RPC methods the indexer calls, with stellar-rpc's semantics
//! (`reference/chain.md` §B7): `getEvents` pages by `startLedger` or cursor, filters on the
//! contract, scans at most 10 000 ledgers per call and returns the end-of-window cursor
//! (`TOID(end − 1, 0xFFFFF, 0xFFF)-4294967295`) on short pages; `getLedgers` serves the fixture's
//! ledger hashes; `getLatestLedger` and `getNetwork` answer from the fixture. Tests can switch to
//! the reorg branch, change the passphrase, or make the next calls fail.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// Where the fixtures are (the repository's copy).
pub fn fixtures_dir() -> std::path::PathBuf {
    std::env::var_os("FLUXORA_FIXTURES_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/chain"))
        })
}

/// Reads a fixture file as JSON.
pub fn fixture(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture JSON")
}

/// The fixture contract.
pub const CONTRACT_ID: &str = "CD2BJ2TNXVV3KY6VMQ4PTUN2BXE7IUKMI3KR7XVMRBWUL2DZ7MGNICV4";
/// The fixture network.
pub const TESTNET: &str = "Test SDF Network ; September 2015";
/// The fixture's first ledger (deployment).
pub const START_LEDGER: u32 = 1_204_000;
/// The simulated node's latest ledger.
pub const LATEST_LEDGER: u32 = 1_216_504;
const SCAN_LIMIT: u64 = 10_000;
const RETENTION: u32 = 120_960;

/// Which branch the node serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Branch {
    Main,
    Reorg,
}

struct Node {
    branch: Branch,
    passphrase: String,
    latest: u32,
    fail_next: u32,
    calls: Vec<String>,
}

/// A running fixture RPC server.
#[derive(Clone)]
pub struct FixtureRpc {
    pub url: String,
    node: Arc<Mutex<Node>>,
    main_events: Arc<Vec<Value>>,
    reorg_events: Arc<Vec<Value>>,
    ledgers: Arc<Value>,
}

fn events_of(file: &str) -> Vec<Value> {
    let mut events: Vec<Value> = fixture(file)["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .flat_map(|page| {
            page["result"]["events"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    events.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    events.dedup_by(|a, b| a["id"] == b["id"]);
    events
}

fn toid(ledger: u64, tx: u64, op: u64) -> u64 {
    (ledger << 32) | (tx << 12) | op
}

fn ledger_of_id(id: &str) -> Option<u64> {
    id.split('-')
        .next()?
        .parse::<u64>()
        .ok()
        .map(|toid| toid >> 32)
}

impl FixtureRpc {
    /// Starts the server on 127.0.0.1:0, serving the main branch.
    pub async fn start() -> FixtureRpc {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let rpc = FixtureRpc {
            url,
            node: Arc::new(Mutex::new(Node {
                branch: Branch::Main,
                passphrase: TESTNET.to_string(),
                latest: LATEST_LEDGER,
                fail_next: 0,
                calls: Vec::new(),
            })),
            main_events: Arc::new(events_of("fluxora-scenario.getEvents.json")),
            reorg_events: Arc::new(events_of("reorg-variant.getEvents.json")),
            ledgers: Arc::new(fixture("ledgers.json")),
        };
        let app = Router::new()
            .route("/", post(handle))
            .with_state(rpc.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        rpc
    }

    /// Serves `branch` from now on.
    pub fn switch(&self, branch: Branch) {
        self.node.lock().unwrap().branch = branch;
    }

    /// Answers `getNetwork` with `passphrase`.
    pub fn set_passphrase(&self, passphrase: &str) {
        self.node.lock().unwrap().passphrase = passphrase.to_string();
    }

    /// Reports `latest` as the latest ledger (e.g. below what was ingested: a network reset).
    pub fn set_latest(&self, latest: u32) {
        self.node.lock().unwrap().latest = latest;
    }

    /// The next `n` calls answer HTTP 503.
    pub fn fail_next(&self, n: u32) {
        self.node.lock().unwrap().fail_next = n;
    }

    /// Method names called so far.
    pub fn calls(&self) -> Vec<String> {
        self.node.lock().unwrap().calls.clone()
    }

    /// The events of the main branch (as getEvents returns them).
    pub fn main_events(&self) -> Vec<Value> {
        self.main_events.as_ref().clone()
    }

    /// The events of the reorg branch.
    pub fn reorg_events(&self) -> Vec<Value> {
        self.reorg_events.as_ref().clone()
    }

    /// The events of `branch` as a push-ingest worker sends them: each with its `ledgerHash`.
    pub fn push_events(&self, branch: Branch) -> Vec<Value> {
        let events = match branch {
            Branch::Main => self.main_events(),
            Branch::Reorg => self.reorg_events(),
        };
        events
            .into_iter()
            .map(|mut event| {
                let ledger = event["ledger"].as_u64().expect("ledger") as u32;
                event["ledgerHash"] = json!(self.ledger_hash(branch, ledger).expect("listed"));
                event
            })
            .collect()
    }

    /// The hash of `sequence` on `branch`, if the fixture lists it.
    pub fn ledger_hash(&self, branch: Branch, sequence: u32) -> Option<String> {
        let key = match branch {
            Branch::Main => "main",
            Branch::Reorg => "reorg",
        };
        self.ledgers[key]
            .as_array()?
            .iter()
            .find(|l| l["sequence"] == sequence)
            .and_then(|l| l["hash"].as_str().map(str::to_string))
    }

    fn ledgers_of(&self, branch: Branch) -> Vec<Value> {
        let key = match branch {
            Branch::Main => "main",
            Branch::Reorg => "reorg",
        };
        self.ledgers[key].as_array().cloned().unwrap_or_default()
    }
}

fn rpc_error(id: &Value, code: i64, message: &str) -> Response {
    Json(json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}))
        .into_response()
}

async fn handle(State(rpc): State<FixtureRpc>, Json(request): Json<Value>) -> Response {
    let id = request["id"].clone();
    let method = request["method"].as_str().unwrap_or("").to_string();
    let params = request["params"].clone();
    let (branch, passphrase, latest) = {
        let mut node = rpc.node.lock().unwrap();
        node.calls.push(method.clone());
        if node.fail_next > 0 {
            node.fail_next -= 1;
            return (StatusCode::SERVICE_UNAVAILABLE, "overloaded").into_response();
        }
        (node.branch, node.passphrase.clone(), node.latest)
    };
    let oldest = latest.saturating_sub(RETENTION - 1);
    let ledgers = rpc.ledgers_of(branch);
    let hash_of = |sequence: u32| {
        ledgers
            .iter()
            .find(|l| l["sequence"] == sequence)
            .and_then(|l| l["hash"].as_str().map(str::to_string))
    };
    let result = match method.as_str() {
        "getNetwork" => json!({"passphrase": passphrase, "protocolVersion": 23}),
        "getHealth" => json!({"status": "healthy", "latestLedger": latest, "oldestLedger": oldest}),
        "getLatestLedger" => json!({
            "id": hash_of(latest).unwrap_or_else(|| format!("{latest:064x}")),
            "sequence": latest,
            "protocolVersion": 23,
        }),
        "getLedgers" => {
            let Some(start) = params["startLedger"].as_u64() else {
                return rpc_error(&id, -32602, "startLedger required");
            };
            let limit = params["pagination"]["limit"]
                .as_u64()
                .unwrap_or(50)
                .min(200) as usize;
            // Real RPC returns contiguous ledgers; the fixture lists only some, so ledgers in
            // between are synthesized with a branch-independent placeholder hash.
            let mut out = Vec::new();
            let mut sequence = start;
            while out.len() < limit && sequence <= u64::from(latest) {
                let seq = sequence as u32;
                let hash = hash_of(seq).unwrap_or_else(|| format!("{:064x}", seq));
                out.push(json!({"hash": hash, "sequence": seq, "ledgerCloseTime": "0"}));
                sequence += 1;
            }
            json!({"ledgers": out, "latestLedger": latest, "oldestLedger": oldest,
                   "cursor": (sequence - 1).to_string()})
        }
        "getEvents" => {
            let events = match branch {
                Branch::Main => &rpc.main_events,
                Branch::Reorg => &rpc.reorg_events,
            };
            let limit = params["pagination"]["limit"].as_u64().unwrap_or(100) as usize;
            // (bound, inclusive, first ledger scanned)
            let (bound, inclusive, scan_from) = match (
                params["startLedger"].as_u64(),
                params["pagination"]["cursor"].as_str(),
            ) {
                (Some(_), Some(_)) => {
                    return rpc_error(&id, -32602, "ledger ranges and cursor cannot both be set")
                }
                (Some(start), None) => {
                    if start < u64::from(oldest) || start > u64::from(latest) {
                        return rpc_error(
                            &id,
                            -32600,
                            &format!(
                                "startLedger must be within the ledger range: {oldest} - {latest}"
                            ),
                        );
                    }
                    (format!("{:019}-{:010}", toid(start, 0, 0), 0), true, start)
                }
                (None, Some(cursor)) => {
                    let Some(ledger) = ledger_of_id(cursor) else {
                        return rpc_error(&id, -32602, "invalid cursor");
                    };
                    (cursor.to_string(), false, ledger)
                }
                (None, None) => return rpc_error(&id, -32602, "startLedger or cursor required"),
            };
            let window_end = (scan_from + SCAN_LIMIT).min(u64::from(latest) + 1);
            let page: Vec<Value> = events
                .iter()
                .filter(|e| {
                    let event_id = e["id"].as_str().unwrap_or("");
                    let ledger = e["ledger"].as_u64().unwrap_or(0);
                    let after_start = if inclusive {
                        event_id >= bound.as_str()
                    } else {
                        event_id > bound.as_str()
                    };
                    after_start && ledger < window_end && e["contractId"] == CONTRACT_ID
                })
                .take(limit)
                .cloned()
                .collect();
            let cursor = if page.len() == limit {
                page.last()
                    .and_then(|e| e["id"].as_str())
                    .unwrap_or("")
                    .to_string()
            } else {
                format!(
                    "{:019}-{}",
                    toid(window_end - 1, 0xFFFFF, 0xFFF),
                    4_294_967_295u64
                )
            };
            json!({"events": page, "cursor": cursor, "latestLedger": latest, "oldestLedger": oldest,
                   "latestLedgerCloseTime": "0", "oldestLedgerCloseTime": "0"})
        }
        other => return rpc_error(&id, -32601, &format!("method not found: {other}")),
    };
    Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}
