//! The full-contract corpus (`fixtures/chain/full-contract/`: the contract's own code over every
//! stream path) indexed through the real interfaces, on the suite's database: `fluxora index`
//! against the fixture RPC (the poller's catch-up, then `getLedgerEntries` for the streams whose
//! state events cannot tell), and push ingest (events, then the storage entries the worker read).
//! Every stream of the corpus is served as the contract holds it, and `streamedAmount` and
//! `withdrawableAmount` read with `?at=` equal the contract's own views to the stroop.

use serde_json::{json, Value};

use crate::binary::command;
use crate::helpers::{TestApp, TestDb};
use crate::rpc_fixture::{
    fixture, Branch, FixtureRpc, FULL_CONTRACT_ID, FULL_CONTRACT_LATEST, FULL_CONTRACT_START,
};

const WORKER: &str = "full-contract-worker-token-0123456789";

/// Stroops of a 7-decimal amount string of the API.
fn stroops(amount: &Value) -> i128 {
    let text = amount.as_str().unwrap_or_else(|| panic!("amount {amount}"));
    let (units, fraction) = text.split_once('.').unwrap();
    units.parse::<i128>().unwrap() * 10_000_000 + fraction.parse::<i128>().unwrap()
}

fn status_name(code: u64) -> &'static str {
    match code {
        0 => "active",
        1 => "paused",
        2 => "completed",
        _ => "cancelled",
    }
}

fn kind_name(code: u64) -> &'static str {
    match code {
        0 => "linear",
        1 => "cliffOnly",
        _ => "cliffSlope",
    }
}

/// Every stream of the corpus as the service serves it, against the contract's final state and
/// views; streams the contract closed are served as closed. `token`: whether the contract's
/// configuration was read (else the token is shown as unknown).
async fn assert_served_as_the_contract_holds_them(app: &TestApp, token: bool) {
    let decoded = fixture("full-contract/decoded.json");
    let finals = decoded["finalStreamStates"].as_object().unwrap();
    let origins = decoded["streamOrigins"].as_object().unwrap();
    let lookback = &decoded["finalPerStreamViews"];
    let mut served = 0;
    for id in origins.keys() {
        let resource = app
            .get_json(&format!("/api/streams/{FULL_CONTRACT_ID}-{id}"))
            .await;
        assert_eq!(resource["source"], "chain", "{id}: {resource}");
        served += 1;
        let Some(state) = finals.get(id).filter(|s| s["exists"] == true) else {
            assert_eq!(
                resource["chain"]["closed"], true,
                "{id} was closed: {resource}"
            );
            continue;
        };
        let want = &state["fields"];
        let amount = |field: &str| want[field].as_str().unwrap().parse::<i128>().unwrap();
        assert_eq!(resource["sender"], want["sender"], "{id}");
        assert_eq!(resource["recipient"], want["recipient"], "{id}");
        assert_eq!(
            stroops(&resource["depositAmount"]),
            amount("deposit_amount"),
            "{id}"
        );
        assert_eq!(
            stroops(&resource["ratePerSecond"]),
            amount("rate_per_second"),
            "{id}"
        );
        assert_eq!(
            stroops(&resource["withdrawnAmount"]),
            amount("withdrawn_amount"),
            "{id}"
        );
        assert_eq!(resource["startTime"], want["start_time"], "{id}");
        assert_eq!(resource["cliffTime"], want["cliff_time"], "{id}");
        assert_eq!(resource["endTime"], want["end_time"], "{id}");
        assert_eq!(resource["cancelledAt"], want["cancelled_at"], "{id}");
        assert_eq!(
            resource["status"],
            status_name(want["status"].as_u64().unwrap()),
            "{id}"
        );
        assert_eq!(
            resource["kind"],
            kind_name(want["kind"].as_u64().unwrap()),
            "{id}"
        );
        let chain = &resource["chain"];
        assert_eq!(chain["closed"], false, "{id}");
        assert_eq!(
            chain["lookbackLedgers"], lookback[id]["get_lookback_window"],
            "{id}"
        );
        assert!(chain["lookbackReadLedger"].is_u64(), "{id}: {chain}");
        let want_token = if token {
            decoded["finalContractViews"]["get_config"]["token"].clone()
        } else {
            Value::Null
        };
        assert_eq!(chain["tokenContractId"], want_token, "{id}");
        assert_eq!(chain["claimOwner"], want["claim_owner"], "{id}");
        assert_eq!(chain["witness"], want["witness"], "{id}");
        assert_eq!(chain["parentStreamId"], want["parent_stream_id"], "{id}");
        assert_eq!(chain["delegationDepth"], want["delegation_depth"], "{id}");
        assert_eq!(
            chain["irrevocable"],
            want["irrevocable"].as_bool().unwrap_or(false),
            "{id}"
        );
        assert_eq!(
            stroops(&chain["withdrawDustThreshold"]),
            amount("withdraw_dust_threshold"),
            "{id}"
        );
        for view in decoded["withdrawableAt"]["streams"][id].as_array().unwrap() {
            let t = view["timestamp"].as_u64().unwrap();
            let at = app
                .get_json(&format!("/api/streams/{FULL_CONTRACT_ID}-{id}?at={t}"))
                .await;
            let contract = |field: &str| view[field].as_str().unwrap().parse::<i128>().unwrap();
            assert_eq!(
                stroops(&at["streamedAmount"]),
                contract("calculate_accrued"),
                "{id} at {t}"
            );
            assert_eq!(
                stroops(&at["withdrawableAmount"]),
                contract("get_withdrawable"),
                "{id} at {t}"
            );
        }
    }
    assert_eq!(served, 242);
}

#[tokio::test]
async fn the_poller_serves_every_stream_as_the_contract_holds_it() {
    let rpc = FixtureRpc::start_full_contract().await;
    let db = TestDb::new().await;
    let from = FULL_CONTRACT_START.to_string();
    let output = command(&db.url())
        .env("NETWORK_PASSPHRASE", "Test SDF Network ; September 2015")
        .arg("index")
        .args(["--rpc-url", &rpc.url, "--contract", FULL_CONTRACT_ID])
        .args(["--from-ledger", &from, "--json"])
        .output()
        .await
        .expect("run fluxora index");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let summary: Value = serde_json::from_slice(&output.stdout).expect("JSON summary");
    assert_eq!(summary["events"], 1570, "{summary}");
    assert_eq!(summary["applied"], 1540 - 4, "all but ac_trig: {summary}");
    assert_eq!(summary["invalid"], 0, "{summary}");
    assert_eq!(summary["unknown"], 0, "{summary}");
    assert_eq!(summary["lastIngestedLedger"], FULL_CONTRACT_LATEST - 1);
    assert!(
        summary["ledgersPerSecond"].as_f64().unwrap() > 0.0,
        "{summary}"
    );
    assert!(
        summary["eventsPerSecond"].as_f64().unwrap() > 0.0,
        "{summary}"
    );
    // Every stream still stored was read once, in calls of at most 200 keys.
    assert_eq!(summary["entriesRead"], 157, "{summary}");
    assert_eq!(summary["entriesApplied"], 157, "{summary}");
    assert_eq!(
        summary["entryCalls"], 1,
        "closed streams are not asked for: {summary}"
    );
    assert_eq!(
        rpc.calls()
            .iter()
            .filter(|c| *c == "getLedgerEntries")
            .count(),
        1
    );
    // Ledger hashes by range: far fewer calls than ledgers holding events (398 for 1 278; the
    // corpus' event ledgers are ~90 apart, so a 200-ledger page covers about three).
    let ledgers_with_events: std::collections::BTreeSet<u64> = rpc
        .push_events(Branch::Main)
        .iter()
        .filter_map(|e| e["ledger"].as_u64())
        .collect();
    let get_ledgers = rpc.calls().iter().filter(|c| *c == "getLedgers").count();
    assert!(
        get_ledgers * 3 < ledgers_with_events.len(),
        "{get_ledgers} getLedgers calls for {} ledgers",
        ledgers_with_events.len()
    );

    // One simulation per stream still stored (its lookback window) and one for the contract's
    // configuration.
    assert_eq!(summary["lookbacksApplied"], 157, "{summary}");
    assert_eq!(summary["viewCalls"], 158, "{summary}");
    assert_eq!(
        rpc.calls()
            .iter()
            .filter(|c| *c == "simulateTransaction")
            .count(),
        158
    );

    let app = TestApp::spawn_with(&db).await;
    assert_served_as_the_contract_holds_them(&app, true).await;
    app.stop().await;
}

#[tokio::test]
async fn push_ingest_with_storage_entries_serves_every_stream_as_the_contract_holds_it() {
    let rpc = FixtureRpc::start_full_contract().await;
    let db = TestDb::new().await;
    let app = TestApp::spawn_env(
        &db,
        &[
            ("INDEXER_WORKER_TOKEN", WORKER),
            ("FLUXORA_CONTRACT_ID", FULL_CONTRACT_ID),
        ],
    )
    .await;
    let push = |body: Value| crate::e2e_webhooks::push_body(&app, WORKER, body);
    let events = rpc.push_events(Branch::Main);
    assert_eq!(events.len(), 1570);
    for chunk in events.chunks(100) {
        push(json!({"events": chunk})).await;
    }
    // The worker read the storage at the tip and sends it with an (empty) batch.
    let entries = fixture("full-contract/ledgerEntries.json")["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| json!({"xdr": e["xdr"], "lastModifiedLedgerSeq": e["lastModifiedLedgerSeq"]}))
        .collect::<Vec<_>>();
    let mut applied = 0;
    for chunk in entries.chunks(200) {
        let report = push(json!({"events": [], "ledgerEntries": chunk})).await;
        applied += report["entriesApplied"].as_u64().unwrap();
        assert_eq!(report["entriesDeferred"], 0, "{report}");
    }
    assert_eq!(applied, 157);
    // And the lookback windows it read with the contract's view.
    let lookbacks: Vec<Value> = fixture("full-contract/decoded.json")["finalPerStreamViews"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, views)| {
            json!({"contractId": FULL_CONTRACT_ID, "streamId": id.parse::<u64>().unwrap(),
                   "lookbackLedgers": views["get_lookback_window"],
                   "readLedger": FULL_CONTRACT_LATEST})
        })
        .collect();
    let mut applied = 0;
    for chunk in lookbacks.chunks(200) {
        let report = push(json!({"events": [], "lookbackWindows": chunk})).await;
        applied += report["lookbacksApplied"].as_u64().unwrap();
    }
    assert_eq!(applied, 157);
    assert_served_as_the_contract_holds_them(&app, false).await;

    // A read older than the one a stream holds changes nothing; one of another contract is
    // refused with the field named.
    let stale = json!({"events": [], "lookbackWindows": [{"contractId": FULL_CONTRACT_ID,
        "streamId": 101, "lookbackLedgers": null, "readLedger": FULL_CONTRACT_LATEST - 1}]});
    assert_eq!(push(stale).await["lookbacksApplied"], 0);
    let resource = app
        .get_json(&format!("/api/streams/{FULL_CONTRACT_ID}-101"))
        .await;
    assert_eq!(resource["chain"]["lookbackLedgers"], 720, "{resource}");
    let foreign = json!({"events": [], "lookbackWindows": [{
        "contractId": "CD2BJ2TNXVV3KY6VMQ4PTUN2BXE7IUKMI3KR7XVMRBWUL2DZ7MGNICV4",
        "streamId": 101, "lookbackLedgers": 5, "readLedger": FULL_CONTRACT_LATEST}]});
    assert_refused(
        &app,
        foreign,
        "lookbackWindows[0].contractId",
        "CONTRACT_ID_MISMATCH",
    )
    .await;

    // An entry of a ledger not ingested yet waits; one that is not a stream entry is refused
    // with the field named, and nothing is applied.
    let mut later = entries[0].clone();
    later["lastModifiedLedgerSeq"] = json!(FULL_CONTRACT_LATEST + 10);
    let report = push(json!({"events": [], "ledgerEntries": [later]})).await;
    assert_eq!(report["entriesDeferred"], 1, "{report}");
    let not_an_entry =
        json!({"events": [], "ledgerEntries": [{"xdr": "AAAA", "lastModifiedLedgerSeq": 5}]});
    assert_refused(
        &app,
        not_an_entry,
        "ledgerEntries[0].xdr",
        "LEDGER_ENTRY_INVALID",
    )
    .await;
    app.stop().await;
}

/// Pushes `body` and expects a 400 whose first detail names `field` with `code`.
async fn assert_refused(app: &TestApp, body: Value, field: &str, code: &str) {
    let response = app
        .client
        .post(app.url("/internal/indexer/events"))
        .header("x-indexer-worker-token", WORKER)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["details"][0]["field"], field, "{body}");
    assert_eq!(body["error"]["details"][0]["code"], code, "{body}");
}

/// Runs `fluxora <args>` on `db`; (exit code, stdout, stderr).
async fn fluxora(db: &TestDb, args: &[&str]) -> (Option<i32>, String, String) {
    let output = command(&db.url())
        .env("NETWORK_PASSPHRASE", "Test SDF Network ; September 2015")
        .args(args)
        .output()
        .await
        .expect("run fluxora");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// From events alone (push ingest without storage entries) the streams differ from the
/// contract's storage exactly where events cannot tell; `fluxora chain verify` names each drift
/// and exits 3, `--repair` applies the storage, and then nothing drifts. `rederive` rebuilds the
/// same streams from what is stored, without the RPC; `reset` drops the chain data and keeps the
/// API's.
#[tokio::test]
async fn chain_verify_rederive_and_reset() {
    let rpc = FixtureRpc::start_full_contract().await;
    let db = TestDb::new().await;
    let app = TestApp::spawn_env(
        &db,
        &[
            ("INDEXER_WORKER_TOKEN", WORKER),
            ("FLUXORA_CONTRACT_ID", FULL_CONTRACT_ID),
        ],
    )
    .await;
    for chunk in rpc.push_events(Branch::Main).chunks(100) {
        let response = app
            .client
            .post(app.url("/internal/indexer/events"))
            .header("x-indexer-worker-token", WORKER)
            .json(&json!({"events": chunk}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let api_stream = app
        .post_json(
            "/api/streams",
            &json!({"sender": "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5",
                    "recipient": "GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZ",
                    "depositAmount": "100", "ratePerSecond": "1"}),
        )
        .await;
    assert_eq!(api_stream.status(), 201);
    let api_id = api_stream.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.stop().await;

    let verify = [
        "chain",
        "verify",
        "--rpc-url",
        &rpc.url,
        "--contract",
        FULL_CONTRACT_ID,
    ];
    let (code, stdout, stderr) = fluxora(&db, &[&verify[..], &["--json"]].concat()).await;
    assert_eq!(code, Some(3), "drift: {stdout} {stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["checked"], 157, "{report}");
    let drifted = report["drifted"].as_array().unwrap();
    let mut fields: Vec<&str> = drifted
        .iter()
        .flat_map(|d| d["fields"].as_array().unwrap())
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    fields.dedup();
    assert_eq!(
        fields,
        [
            "checkpointed_amount",
            "checkpointed_at",
            "kind",
            "lookback_ledgers",
            "withdrawn_amount"
        ],
        "only what events cannot tell: {report}"
    );
    assert!(drifted.iter().all(|d| d["missing"] == false));
    // Text output: one line per drifted field, then the summary.
    let (code, text, _) = fluxora(&db, &verify).await;
    assert_eq!(code, Some(3));
    assert!(
        text.contains(&format!("{FULL_CONTRACT_ID}-"))
            && text.contains(" kind indexed linear contract cliffSlope"),
        "{text}"
    );

    let (code, stdout, _) = fluxora(&db, &[&verify[..], &["--repair", "--json"]].concat()).await;
    assert_eq!(code, Some(3), "the drift found before repairing: {stdout}");
    let repaired: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(repaired["repaired"], drifted.len(), "{repaired}");
    let (code, stdout, _) = fluxora(&db, &[&verify[..], &["--json"]].concat()).await;
    assert_eq!(code, Some(0), "{stdout}");

    let (code, stdout, stderr) = fluxora(&db, &["chain", "rederive"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("242 chain streams") && stdout.contains("0 rewritten"),
        "{stdout} {stderr}"
    );
    let app = TestApp::spawn_with(&db).await;
    assert_served_as_the_contract_holds_them(&app, true).await;
    app.stop().await;

    let (code, _, stderr) = fluxora(&db, &["chain", "reset"]).await;
    assert_eq!(code, Some(2), "needs --yes: {stderr}");
    let (code, stdout, stderr) = fluxora(&db, &["chain", "reset", "--yes"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("dropped 242 chain streams"), "{stdout}");
    let app = TestApp::spawn_with(&db).await;
    let chain = app.get_json("/api/streams?source=chain").await;
    assert_eq!(chain["streams"].as_array().unwrap().len(), 0, "{chain}");
    let kept = app.get(&format!("/api/streams/{api_id}")).await;
    assert_eq!(kept.status(), 200, "API streams are kept");
    let health = app.get_json("/health").await;
    assert_eq!(
        health["indexer"]["lastIngestedLedger"],
        Value::Null,
        "{health}"
    );
    app.stop().await;
}

/// `fluxora_indexer_drift_total` on `/metrics` (0 before any drift was recorded).
async fn drift_total(app: &TestApp) -> f64 {
    let metrics = app.get("/metrics").await.text().await.unwrap();
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("fluxora_indexer_drift_total "))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

/// The service's indexer follows the corpus through the poller, reads the storage where events
/// cannot tell, and reconciles in the background (`INDEXER_VERIFY_INTERVAL_MS`): a stream
/// changed behind its back (here, directly in the database while the service was down) is found
/// at the next reconciliation, reported on `/health` and `/metrics`, and repaired.
#[tokio::test]
async fn the_service_reconciles_in_the_background() {
    let rpc = FixtureRpc::start_full_contract().await;
    let db = TestDb::new().await;
    let start = FULL_CONTRACT_START.to_string();
    let env = [
        ("STELLAR_RPC_URL", rpc.url.as_str()),
        ("FLUXORA_CONTRACT_ID", FULL_CONTRACT_ID),
        ("NETWORK_PASSPHRASE", "Test SDF Network ; September 2015"),
        ("INDEXER_START_LEDGER", start.as_str()),
        ("INDEXER_POLL_INTERVAL_MS", "50"),
        ("INDEXER_VERIFY_INTERVAL_MS", "200"),
    ];
    let app = TestApp::spawn_env(&db, &env).await;
    // The first reconciliation after the catch-up finds nothing: the storage was read.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let health = loop {
        let health = app.get_json("/health").await;
        if health["indexer"]["lastVerifiedAt"].is_string() {
            break health;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reconciliation: {health}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(health["indexer"]["driftedStreams"], 0, "{health}");
    assert_eq!(health["indexer"]["lastDriftAt"], Value::Null, "{health}");
    assert_served_as_the_contract_holds_them(&app, true).await;

    let drift_before = drift_total(&app).await;
    // Someone changes a stream behind the indexer's back, while it is down (a change racing a
    // running reconciliation would be repaired by it before being counted).
    app.stop().await;
    let database = fluxora::store::open(&fluxora::config::Config::for_database(db.url()).database)
        .await
        .unwrap();
    let id = format!("{FULL_CONTRACT_ID}-2");
    fluxora::store::Query::new("UPDATE streams SET withdrawn_amount = '1' WHERE id = $1")
        .bind(id.as_str())
        .execute(&database)
        .await
        .unwrap();
    database.close().await;
    let app = TestApp::spawn_env(&db, &env).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let health = loop {
        let health = app.get_json("/health").await;
        if health["indexer"]["lastDriftAt"].is_string() {
            break health;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "drift not found: {health}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(health["indexer"]["lastDriftedStreams"], 1, "{health}");
    // The metric counts it (other services of this test process may have counted before).
    assert!(
        drift_total(&app).await > drift_before,
        "fluxora_indexer_drift_total grew"
    );
    // Repaired: the stream is the contract's again.
    let repaired = app.get_json(&format!("/api/streams/{id}")).await;
    assert_eq!(repaired["withdrawnAmount"], "12.6582424", "{repaired}");
    app.stop().await;
}
