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
/// views; streams the contract closed are served as closed.
async fn assert_served_as_the_contract_holds_them(app: &TestApp) {
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
            // A lookback window caps the contract's figure; nothing we can read says it
            // (docs/indexer.md, "Known limits").
            let ours = stroops(&at["withdrawableAmount"]);
            if lookback[id]["get_lookback_window"].is_null() {
                assert_eq!(ours, contract("get_withdrawable"), "{id} at {t}");
            } else {
                assert!(ours >= contract("get_withdrawable"), "{id} at {t}");
            }
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
    // Every stream still stored was read once, in calls of at most 200 keys.
    assert_eq!(summary["entriesRead"], 157, "{summary}");
    assert_eq!(summary["entriesApplied"], 157, "{summary}");
    assert_eq!(summary["entryCalls"], 2, "{summary}");
    assert_eq!(
        rpc.calls()
            .iter()
            .filter(|c| *c == "getLedgerEntries")
            .count(),
        2
    );

    let app = TestApp::spawn_with(&db).await;
    assert_served_as_the_contract_holds_them(&app).await;
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
    let push = |body: Value| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url("/internal/indexer/events"))
                .header("x-indexer-worker-token", WORKER)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let report: Value = response.json().await.unwrap();
            assert_eq!(status, 200, "{report}");
            report
        }
    };
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
    assert_served_as_the_contract_holds_them(&app).await;

    // An entry of a ledger not ingested yet waits; one that is not a stream entry is refused
    // with the field named, and nothing is applied.
    let mut later = entries[0].clone();
    later["lastModifiedLedgerSeq"] = json!(FULL_CONTRACT_LATEST + 10);
    let report = push(json!({"events": [], "ledgerEntries": [later]})).await;
    assert_eq!(report["entriesDeferred"], 1, "{report}");
    let response = app
        .client
        .post(app.url("/internal/indexer/events"))
        .header("x-indexer-worker-token", WORKER)
        .json(
            &json!({"events": [], "ledgerEntries": [{"xdr": "AAAA", "lastModifiedLedgerSeq": 5}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"]["details"][0]["field"], "ledgerEntries[0].xdr",
        "{body}"
    );
    assert_eq!(
        body["error"]["details"][0]["code"], "LEDGER_ENTRY_INVALID",
        "{body}"
    );
    app.stop().await;
}
