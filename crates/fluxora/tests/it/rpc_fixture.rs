//! A local Stellar RPC server fed with the real contract events of `fixtures/chain/`.
//!
//! It emulates the JSON-RPC methods the indexer calls, with stellar-rpc's semantics (v23 and later;
//! `fixtures/chain/README.md` has the rules): `getEvents` pages by `startLedger` or cursor, filters
//! on the contract, scans at most 10 000 ledgers per call and returns the end-of-window cursor
//! (`TOID(end − 1, 0xFFFFF, 0xFFF)-4294967295`) on short pages; `getLedgers` serves the fixture's
//! ledger hashes and a `headerXdr` per ledger; `getLatestLedger` and `getNetwork` answer from the
//! fixture. Tests can switch to the reorg branch (now, or when a given method is next called),
//! change the passphrase, leave the headers out, or make the next calls fail.
//!
//! Headers: `getLedgers` serves each ledger's `headerXdr` as a base64 XDR
//! `LedgerHeaderHistoryEntry` (encoded with `stellar-xdr`) whose `hash` is the served hash and
//! whose `previousLedgerHash` is the served hash of the ledger before. The fixture's hashes are
//! synthetic: `ledgers.json` lists only some ledgers, its hashes are sha256 chains over the
//! *listed* ledgers (`previousListedHash` is the hash of the previous listed entry, not
//! necessarily of ledger − 1), and unlisted ledgers get a branch-independent placeholder hash
//! here. So `previousListedHash` is used where the previous listed entry is ledger − 1 (checked
//! when the server starts), the placeholder otherwise; the other header fields are zeros apart
//! from the close time and protocol version.

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
    /// Switch to this branch when this method is next called (before answering it).
    switch_on: Option<(String, Branch)>,
    headers: bool,
    passphrase: String,
    latest: u32,
    fail_next: u32,
    calls: Vec<String>,
    /// Added before every answer (a remote RPC's round trip; benchmarks).
    latency: std::time::Duration,
}

/// A running fixture RPC server.
#[derive(Clone)]
pub struct FixtureRpc {
    pub url: String,
    node: Arc<Mutex<Node>>,
    /// The contract whose events and storage the node serves.
    pub contract_id: Arc<String>,
    main_events: Arc<Vec<Value>>,
    reorg_events: Arc<Vec<Value>>,
    ledgers: Arc<Value>,
    /// `getLedgerEntries` answers of the main branch: `{key, xdr, lastModifiedLedgerSeq,
    /// liveUntilLedgerSeq}` per stream still stored at the tip.
    entries: Arc<Vec<Value>>,
    /// What the contract's views return at the tip (`simulateTransaction`):
    /// `{"config": {admin, token} | null, "lookback": {"<stream id>": ledgers | null}}`; a view
    /// the fixtures do not know fails like the contract would (`StreamNotFound`).
    views: Arc<Value>,
}

/// The full-contract corpus' contract (`fixtures/chain/full-contract/`).
pub const FULL_CONTRACT_ID: &str = "CBX72YCL7Q4B7IFWPNIW24SZXRICTIBI456D7J24BAMYRPTFF5VLOYPM";
/// The full-contract corpus' latest ledger.
pub const FULL_CONTRACT_LATEST: u32 = 1_417_834;
/// The full-contract corpus' first ledger (deployment).
pub const FULL_CONTRACT_START: u32 = 1_300_000;

/// The storage entries of the first scenario's streams still stored at its end, as
/// `getLedgerEntries` returns them: the contract's own final state of each (`stateXdr` of
/// `fluxora-scenario.decoded.json`) in a persistent `ContractData` entry under
/// `[Symbol("Stream"), U64(id)]`, last modified in the ledger of the stream's last event.
fn scenario_entries() -> Vec<Value> {
    use stellar_xdr::{
        ContractDataDurability, ContractDataEntry, ContractId, ExtensionPoint, LedgerEntryData,
        LedgerKey, LedgerKeyContractData, Limits, ReadXdr, ScAddress, ScVal, WriteXdr,
    };
    let decoded = fixture("fluxora-scenario.decoded.json");
    let contract = stellar_strkey::Contract::from_string(CONTRACT_ID).unwrap();
    let mut entries = Vec::new();
    for (id, state) in decoded["finalStreamStates"].as_object().unwrap() {
        let Some(state_xdr) = state["stateXdr"].as_str() else {
            continue;
        };
        let stream_id: u64 = id.parse().unwrap();
        let last_modified = decoded["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["streamId"].as_u64() == Some(stream_id))
            .filter_map(|e| e["ledger"].as_u64())
            .max()
            .unwrap();
        let key_val = ScVal::Vec(Some(
            vec![
                ScVal::Symbol("Stream".try_into().unwrap()),
                ScVal::U64(stream_id),
            ]
            .try_into()
            .unwrap(),
        ));
        let address = ScAddress::Contract(ContractId(stellar_xdr::Hash(contract.0)));
        let key = LedgerKey::ContractData(LedgerKeyContractData {
            contract: address.clone(),
            key: key_val.clone(),
            durability: ContractDataDurability::Persistent,
        });
        let data = LedgerEntryData::ContractData(ContractDataEntry {
            ext: ExtensionPoint::V0,
            contract: address,
            key: key_val,
            durability: ContractDataDurability::Persistent,
            val: ScVal::from_xdr_base64(state_xdr, Limits::none()).unwrap(),
        });
        entries.push(json!({
            "key": key.to_xdr_base64(Limits::none()).unwrap(),
            "xdr": data.to_xdr_base64(Limits::none()).unwrap(),
            "lastModifiedLedgerSeq": last_modified,
            "liveUntilLedgerSeq": last_modified + 120_960,
        }));
    }
    entries
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
                switch_on: None,
                headers: true,
                passphrase: TESTNET.to_string(),
                latest: LATEST_LEDGER,
                fail_next: 0,
                calls: Vec::new(),
                latency: std::time::Duration::ZERO,
            })),
            contract_id: Arc::new(CONTRACT_ID.to_string()),
            main_events: Arc::new(events_of("fluxora-scenario.getEvents.json")),
            reorg_events: Arc::new(events_of("reorg-variant.getEvents.json")),
            ledgers: Arc::new(fixture("ledgers.json")),
            entries: Arc::new(scenario_entries()),
            // The first scenario records no view results.
            views: Arc::new(json!({"config": null, "lookback": {}})),
        };
        rpc.serve(listener).await
    }

    /// Starts a node serving the full-contract corpus (`fixtures/chain/full-contract/`): its
    /// events, ledger hashes and the storage entries of the streams still stored at its tip
    /// (`getLedgerEntries`). It has no reorg branch.
    pub async fn start_full_contract() -> FixtureRpc {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let entries = fixture("full-contract/ledgerEntries.json")["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                json!({"key": e["key"], "xdr": e["xdr"],
                       "lastModifiedLedgerSeq": e["lastModifiedLedgerSeq"],
                       "liveUntilLedgerSeq": e["liveUntilLedgerSeq"]})
            })
            .collect();
        let rpc = FixtureRpc {
            url,
            node: Arc::new(Mutex::new(Node {
                branch: Branch::Main,
                switch_on: None,
                headers: true,
                passphrase: TESTNET.to_string(),
                latest: FULL_CONTRACT_LATEST,
                fail_next: 0,
                calls: Vec::new(),
                latency: std::time::Duration::ZERO,
            })),
            contract_id: Arc::new(FULL_CONTRACT_ID.to_string()),
            main_events: Arc::new(events_of("full-contract/events.getEvents.json")),
            reorg_events: Arc::new(Vec::new()),
            ledgers: Arc::new(fixture("full-contract/ledgers.json")),
            entries: Arc::new(entries),
            views: Arc::new(full_contract_views()),
        };
        rpc.serve(listener).await
    }

    async fn serve(self, listener: tokio::net::TcpListener) -> FixtureRpc {
        let rpc = self;
        rpc.check_listed_chain();
        let app = Router::new()
            .route("/", post(handle))
            .with_state(rpc.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        rpc
    }

    /// Adds `latency` before every answer from now on.
    #[allow(dead_code)]
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.node.lock().unwrap().latency = latency;
    }

    /// Serves `branch` from now on.
    pub fn switch(&self, branch: Branch) {
        self.node.lock().unwrap().branch = branch;
    }

    /// Serves `branch` from the next call of `method` on (that call included): a node that
    /// changes branch in the middle of a poll cycle.
    pub fn switch_on(&self, method: &str, branch: Branch) {
        self.node.lock().unwrap().switch_on = Some((method.to_string(), branch));
    }

    /// Whether `getLedgers` sends `headerXdr` (default true; some providers leave it out).
    pub fn set_headers(&self, headers: bool) {
        self.node.lock().unwrap().headers = headers;
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

    /// The `getLedgerEntries` entries the node serves on the main branch (the storage of the
    /// streams still stored at its tip).
    pub fn entries(&self) -> Vec<Value> {
        self.entries.as_ref().clone()
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

    /// `previousListedHash` is the hash of the previous listed entry on both branches.
    fn check_listed_chain(&self) {
        for branch in [Branch::Main, Branch::Reorg] {
            let ledgers = self.ledgers_of(branch);
            for pair in ledgers.windows(2) {
                assert_eq!(
                    pair[1]["previousListedHash"], pair[0]["hash"],
                    "ledgers.json chains over the listed ledgers"
                );
            }
        }
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
    let (branch, headers, passphrase, latest, latency) = {
        let mut node = rpc.node.lock().unwrap();
        node.calls.push(method.clone());
        if node.fail_next > 0 {
            node.fail_next -= 1;
            return (StatusCode::SERVICE_UNAVAILABLE, "overloaded").into_response();
        }
        if node.switch_on.as_ref().is_some_and(|(m, _)| *m == method) {
            if let Some((_, branch)) = node.switch_on.take() {
                node.branch = branch;
            }
        }
        (
            node.branch,
            node.headers,
            node.passphrase.clone(),
            node.latest,
            node.latency,
        )
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let oldest = latest.saturating_sub(RETENTION - 1);
    let ledgers = rpc.ledgers_of(branch);
    let index: std::collections::HashMap<u64, usize> = ledgers
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l["sequence"].as_u64().map(|sequence| (sequence, i)))
        .collect();
    let listed = |sequence: u32| index.get(&u64::from(sequence)).copied();
    let hash_of = |sequence: u32| {
        listed(sequence).and_then(|i| ledgers[i]["hash"].as_str().map(str::to_string))
    };
    // The served hash: the listed one, else a branch-independent placeholder.
    let served_hash =
        |sequence: u32| hash_of(sequence).unwrap_or_else(|| format!("{sequence:064x}"));
    let previous_hash = |sequence: u32| match listed(sequence) {
        Some(i) if i > 0 && ledgers[i - 1]["sequence"] == sequence - 1 => ledgers[i]
            ["previousListedHash"]
            .as_str()
            .unwrap()
            .to_string(),
        _ => served_hash(sequence - 1),
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
                let hash = served_hash(seq);
                let close_time = listed(seq)
                    .and_then(|i| ledgers[i]["closeTimeUnix"].as_u64())
                    .unwrap_or(0);
                let mut ledger = json!({"hash": hash, "sequence": seq, "ledgerCloseTime": close_time.to_string()});
                if headers {
                    ledger["headerXdr"] =
                        json!(header_xdr(seq, &hash, &previous_hash(seq), close_time));
                }
                out.push(ledger);
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
                    after_start
                        && ledger < window_end
                        && e["contractId"] == rpc.contract_id.as_str()
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
        "getLedgerEntries" => {
            let Some(keys) = params["keys"].as_array() else {
                return rpc_error(&id, -32602, "keys required");
            };
            if keys.len() > 200 {
                return rpc_error(&id, -32602, "key count exceeds the maximum of 200");
            }
            // The reorg branch's storage is not in the fixtures: nothing is found there.
            let found: Vec<Value> = match branch {
                Branch::Main => keys
                    .iter()
                    .filter_map(|key| rpc.entries.iter().find(|e| e["key"] == *key).cloned())
                    .collect(),
                Branch::Reorg => Vec::new(),
            };
            json!({"entries": found, "latestLedger": latest})
        }
        "simulateTransaction" => match simulate(&rpc, &params, latest) {
            Ok(result) => result,
            Err(message) => return rpc_error(&id, -32602, &message),
        },
        other => return rpc_error(&id, -32601, &format!("method not found: {other}")),
    };
    Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}

/// The full-contract corpus' views at its tip (`decoded.json`: `finalContractViews.get_config`,
/// `finalPerStreamViews[id].get_lookback_window`).
fn full_contract_views() -> Value {
    let decoded = fixture("full-contract/decoded.json");
    let lookback: serde_json::Map<String, Value> = decoded["finalPerStreamViews"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, views)| (id.clone(), views["get_lookback_window"].clone()))
        .collect();
    json!({
        "config": decoded["finalContractViews"]["get_config"],
        "lookback": lookback,
    })
}

/// Answers a `simulateTransaction` of one of the contract's views from the fixtures: the
/// envelope is decoded here with stellar-xdr (not with the service's own code).
fn simulate(rpc: &FixtureRpc, params: &Value, latest: u32) -> Result<Value, String> {
    use stellar_xdr::{
        HostFunction, Limits, OperationBody, ReadXdr, ScMap, ScMapEntry, ScSymbol, ScVal,
        TransactionEnvelope, WriteXdr,
    };
    let envelope = params["transaction"]
        .as_str()
        .ok_or("transaction required")?;
    let TransactionEnvelope::Tx(envelope) =
        TransactionEnvelope::from_xdr_base64(envelope, Limits::none())
            .map_err(|e| format!("invalid transaction: {e}"))?
    else {
        return Err("expected a v1 transaction".into());
    };
    let [operation] = envelope.tx.operations.as_slice() else {
        return Err("expected one operation".into());
    };
    let OperationBody::InvokeHostFunction(op) = &operation.body else {
        return Err("expected InvokeHostFunction".into());
    };
    let HostFunction::InvokeContract(call) = &op.host_function else {
        return Err("expected InvokeContract".into());
    };
    let stellar_xdr::ScAddress::Contract(stellar_xdr::ContractId(stellar_xdr::Hash(contract))) =
        &call.contract_address
    else {
        return Err("expected a contract address".into());
    };
    let failed = |message: &str| Ok(json!({"error": message, "latestLedger": latest}));
    if stellar_strkey::Contract(*contract).to_string().as_str() != rpc.contract_id.as_str() {
        return failed("HostError: Error(Storage, MissingValue) (no such contract)");
    }
    let function = String::from_utf8(call.function_name.to_vec()).unwrap_or_default();
    let value = match (function.as_str(), call.args.as_slice()) {
        ("get_lookback_window", [ScVal::U64(stream_id)]) => {
            match rpc.views["lookback"].get(stream_id.to_string()) {
                Some(Value::Null) => ScVal::Void,
                Some(ledgers) => ScVal::U32(ledgers.as_u64().unwrap() as u32),
                None => return failed("HostError: Error(Contract, #1)"),
            }
        }
        ("get_config", []) => {
            let config = &rpc.views["config"];
            if config.is_null() {
                return failed("HostError: Error(Storage, MissingValue)");
            }
            let address =
                |text: &str| ScVal::Address(text.parse::<stellar_xdr::ScAddress>().unwrap());
            let entry = |key: &str, val: ScVal| ScMapEntry {
                key: ScVal::Symbol(ScSymbol(key.as_bytes().to_vec().try_into().unwrap())),
                val,
            };
            ScVal::Map(Some(ScMap(
                vec![
                    entry("admin", address(config["admin"].as_str().unwrap())),
                    entry("token", address(config["token"].as_str().unwrap())),
                ]
                .try_into()
                .unwrap(),
            )))
        }
        _ => return failed("HostError: Error(WasmVm, MissingValue) (no such function)"),
    };
    let xdr = value.to_xdr_base64(Limits::none()).unwrap();
    Ok(json!({
        "results": [{"auth": [], "xdr": xdr}],
        "transactionData": "",
        "minResourceFee": "0",
        "latestLedger": latest,
    }))
}

fn hash32(hex_text: &str) -> stellar_xdr::Hash {
    let bytes: [u8; 32] = hex::decode(hex_text).unwrap().try_into().unwrap();
    stellar_xdr::Hash(bytes)
}

/// A base64 XDR `LedgerHeaderHistoryEntry` for `sequence` with the given hashes.
fn header_xdr(sequence: u32, hash: &str, previous_hash: &str, close_time: u64) -> String {
    use stellar_xdr::{
        Hash, LedgerHeader, LedgerHeaderExt, LedgerHeaderHistoryEntry, LedgerHeaderHistoryEntryExt,
        Limits, StellarValue, StellarValueExt, TimePoint, WriteXdr,
    };
    let zero = Hash([0; 32]);
    LedgerHeaderHistoryEntry {
        hash: hash32(hash),
        header: LedgerHeader {
            ledger_version: 23,
            previous_ledger_hash: hash32(previous_hash),
            scp_value: StellarValue {
                tx_set_hash: zero.clone(),
                close_time: TimePoint(close_time),
                upgrades: Default::default(),
                ext: StellarValueExt::Basic,
            },
            tx_set_result_hash: zero.clone(),
            bucket_list_hash: zero.clone(),
            ledger_seq: sequence,
            total_coins: 0,
            fee_pool: 0,
            inflation_seq: 0,
            id_pool: 0,
            base_fee: 100,
            base_reserve: 5_000_000,
            max_tx_set_size: 100,
            skip_list: [zero.clone(), zero.clone(), zero.clone(), zero],
            ext: LedgerHeaderExt::V0,
        },
        ext: LedgerHeaderHistoryEntryExt::V0,
    }
    .to_xdr_base64(Limits::none())
    .unwrap()
}
