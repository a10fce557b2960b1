//! The chain indexer against a local Stellar RPC fed with the real contract's events
//! (`fixtures/chain/`): derived states match the contract's own to the stroop, reorgs roll back
//! and re-ingest, restarts resume, the network is checked, failures are retried, and trusted
//! workers can push events through the same ingest core.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::binary::Server;
use crate::helpers::{expect_error, TestApp, TestDb};
use crate::rpc_fixture::{fixture, Branch, FixtureRpc, CONTRACT_ID, LATEST_LEDGER, START_LEDGER};

const TOKEN: &str = "worker-token-0123456789abcdef";

/// Formats i128 stroops (decimal text) as the API's 7-decimal string.
fn units(stroops: &str) -> String {
    let value: i128 = stroops.parse().expect("stroops");
    format!("{}.{:07}", value / 10_000_000, value % 10_000_000)
}

fn indexer_env(rpc: &FixtureRpc) -> Vec<(&'static str, String)> {
    vec![
        ("STELLAR_RPC_URL", rpc.url.clone()),
        ("FLUXORA_CONTRACT_ID", CONTRACT_ID.to_string()),
        ("INDEXER_START_LEDGER", START_LEDGER.to_string()),
        ("INDEXER_POLL_INTERVAL_MS", "50".to_string()),
    ]
}

async fn spawn_indexer(db: &TestDb, rpc: &FixtureRpc, extra: &[(&str, &str)]) -> TestApp {
    let env = indexer_env(rpc);
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    pairs.extend_from_slice(extra);
    TestApp::spawn_env(db, &pairs).await
}

/// Polls `/health` (bounded) until `done` holds for its indexer object; returns the report.
async fn wait_for_health(app: &TestApp, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let report = app.get_json("/health").await;
        if done(&report["indexer"]) {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {report}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn wait_caught_up(app: &TestApp) -> Value {
    // A whole cycle: the tip reached, the storage entries read, then the first reconciliation
    // (which runs right after the first successful cycle).
    wait_for_health(app, "the indexer to reach the tip", |indexer| {
        indexer["lastIngestedLedger"] == LATEST_LEDGER
            && indexer["status"] == "healthy"
            && indexer["lastVerifiedAt"].is_string()
    })
    .await
}

/// Asserts the API's chain streams equal the contract's own states (`fields` objects keyed by
/// stream id, as in the fixtures).
pub(crate) async fn assert_states(app: &TestApp, expected: &[(u64, Value, bool)]) {
    for (stream_id, fields, closed) in expected {
        let id = format!("{CONTRACT_ID}-{stream_id}");
        let response = app.get(&format!("/api/streams/{id}")).await;
        assert_eq!(response.status(), 200, "stream {id}");
        let stream: Value = response.json().await.unwrap();
        let status = ["active", "paused", "completed", "cancelled"]
            [fields["status"].as_u64().unwrap() as usize];
        assert_eq!(stream["status"], status, "{id} status");
        for (api, contract) in [
            ("depositAmount", "deposit_amount"),
            ("withdrawnAmount", "withdrawn_amount"),
            ("ratePerSecond", "rate_per_second"),
        ] {
            assert_eq!(
                stream[api],
                units(fields[contract].as_str().unwrap()),
                "{id} {api}"
            );
        }
        for (api, contract) in [
            ("startTime", "start_time"),
            ("cliffTime", "cliff_time"),
            ("endTime", "end_time"),
            ("cancelledAt", "cancelled_at"),
        ] {
            assert_eq!(stream[api], fields[contract], "{id} {api}");
        }
        assert_eq!(stream["sender"], fields["sender"], "{id} sender");
        assert_eq!(stream["recipient"], fields["recipient"], "{id} recipient");
        assert_eq!(stream["source"], "chain");
        assert_eq!(stream["chain"]["contractId"], CONTRACT_ID);
        assert_eq!(stream["chain"]["streamId"], *stream_id);
        assert_eq!(stream["chain"]["closed"], *closed, "{id} closed");
        // The checkpoint is the contract's: accrual at the checkpoint instant equals it.
        let at = fields["checkpointed_at"].as_u64().unwrap();
        if fields["status"] != 2 && at >= fields["cliff_time"].as_u64().unwrap() {
            let view = app.get_json(&format!("/api/streams/{id}?at={at}")).await;
            assert_eq!(
                view["streamedAmount"],
                units(fields["checkpointed_amount"].as_str().unwrap()),
                "{id} checkpoint"
            );
        }
    }
}

pub(crate) fn main_branch_states() -> Vec<(u64, Value, bool)> {
    let decoded = fixture("fluxora-scenario.decoded.json");
    vec![
        (
            0,
            decoded["finalStreamStates"]["0"]["fields"].clone(),
            false,
        ),
        (
            1,
            decoded["finalStreamStates"]["1"]["fields"].clone(),
            false,
        ),
        // #2 is deleted on chain after `closed`; its last state was read just before.
        (
            2,
            decoded["stream2StateJustBeforeClose"]["fields"].clone(),
            true,
        ),
    ]
}

pub(crate) fn reorg_branch_states() -> Vec<(u64, Value, bool)> {
    let reorg = fixture("reorg-variant.getEvents.json");
    (0..3)
        .map(|i| {
            (
                i,
                reorg["expectedFinalStreamStates"][i.to_string()]["fields"].clone(),
                false,
            )
        })
        .collect()
}

#[tokio::test]
async fn indexes_the_contract_to_its_own_final_states() {
    let rpc = FixtureRpc::start().await;
    let db = TestDb::new().await;
    let app = spawn_indexer(&db, &rpc, &[]).await;
    let report = wait_caught_up(&app).await;
    assert_eq!(report["status"], "ok");
    let indexer = &report["indexer"];
    assert_eq!(
        indexer["lastSafeLedger"],
        LATEST_LEDGER - 1,
        "safety margin 1"
    );
    assert_eq!(indexer["reorgDetected"], false);
    assert!(indexer["lagMs"].as_u64().is_some());
    assert!(indexer["lastSuccessfulSyncAt"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_states(&app, &main_branch_states()).await;

    // Stream 0's accrual by its end is what the contract computes (fixtures README).
    let at_end = app
        .get_json(&format!("/api/streams/{CONTRACT_ID}-0?at=1750002519"))
        .await;
    assert_eq!(at_end["streamedAmount"], units("14659798200"));
    // Chain streams are read-only through the API.
    for path in ["/pause", "/resume", ""] {
        let url = format!("/api/streams/{CONTRACT_ID}-0{path}");
        let response = if path.is_empty() {
            app.delete(&url).await
        } else {
            app.post_empty(&url).await
        };
        let error = expect_error(response, 409, "CONFLICT").await;
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("contract events"),
            "{error}"
        );
    }
    let chain = app.get_json("/api/streams?source=chain").await;
    assert_eq!(chain["streams"].as_array().unwrap().len(), 3);
    // It paged the way stellar-rpc expects: a start ledger, then cursors.
    let calls = rpc.calls();
    assert!(
        calls.iter().filter(|c| *c == "getEvents").count() >= 2,
        "{calls:?}"
    );
    assert!(calls.contains(&"getNetwork".to_string()));
}

#[tokio::test]
async fn a_reorg_rolls_back_and_reingests_the_new_branch() {
    let rpc = FixtureRpc::start().await;
    let db = TestDb::new().await;
    let server = Server::start_with(
        &db.url(),
        &indexer_env(&rpc)
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    )
    .await;
    let client = reqwest::Client::new();
    let health = |client: reqwest::Client, base: String| async move {
        client
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while health(client.clone(), server.base.clone()).await["indexer"]["lastIngestedLedger"]
        != LATEST_LEDGER
    {
        assert!(Instant::now() < deadline, "never caught up");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let closed: Value = client
        .get(format!("{}/api/streams/{CONTRACT_ID}-2", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(closed["chain"]["closed"], true);

    rpc.switch(Branch::Reorg);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stream0: Value = client
            .get(format!("{}/api/streams/{CONTRACT_ID}-0", server.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if stream0["status"] == "paused" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "reorg branch never applied: {stream0}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // The binary's own /metrics counts the reorg and the events, and shows the ledgers.
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |prefix: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{prefix} missing in {metrics}"))
    };
    assert!(value("fluxora_indexer_reorgs_total ") >= 1.0);
    assert!(value(r#"fluxora_indexer_events_total{result="ingested"}"#) >= 1.0);
    assert!(value("fluxora_indexer_last_ingested_ledger ") >= 1_216_500.0);
    assert!(value("fluxora_indexer_last_safe_ledger ") >= 1.0);
    let _ = value("fluxora_indexer_lag_seconds ");
    let log = server.terminate().await;
    let warn = log
        .iter()
        .find(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("chain reorganisation detected"))
        })
        .expect("a reorg WARN line");
    assert_eq!(warn["level"], "WARN");
    assert_eq!(warn["ledger"], 1_216_500);
    assert_eq!(
        warn["existing_hash"],
        rpc.ledger_hash(Branch::Main, 1_216_500).unwrap()
    );
    assert_eq!(
        warn["incoming_hash"],
        rpc.ledger_hash(Branch::Reorg, 1_216_500).unwrap()
    );

    // Restart on the same database with the reorg branch: the states are the contract's.
    let app = spawn_indexer(&db, &rpc, &[]).await;
    wait_caught_up(&app).await;
    assert_states(&app, &reorg_branch_states()).await;
}

#[tokio::test]
async fn reorg_detected_is_reported_until_ingest_passes_the_fork() {
    // Push path: the worker sends the main branch, then a ledger again with another hash.
    let rpc = FixtureRpc::start().await;
    let db = TestDb::new().await;
    let app = TestApp::spawn_env(
        &db,
        &[
            ("INDEXER_WORKER_TOKEN", TOKEN),
            ("FLUXORA_CONTRACT_ID", CONTRACT_ID),
        ],
    )
    .await;
    let push = |events: Vec<Value>| {
        app.client
            .post(app.url("/internal/indexer/events"))
            .header("x-indexer-worker-token", TOKEN)
            .json(&json!({"events": events}))
            .send()
    };
    let main = rpc.push_events(Branch::Main);
    let response = push(main.clone()).await.unwrap();
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["inserted"], 18);
    assert_eq!(report["applied"], 18);
    assert_eq!(report["duplicates"], 0);
    assert_eq!(report["reorg"], Value::Null);
    assert_states(&app, &main_branch_states()).await;

    // The same batch again: all duplicates, nothing changes.
    let again: Value = push(main).await.unwrap().json().await.unwrap();
    assert_eq!(again["duplicates"], 18);
    assert_eq!(again["inserted"], 0);
    assert_states(&app, &main_branch_states()).await;

    // The reorg branch from the fork ledger on.
    let branch: Vec<Value> = rpc
        .push_events(Branch::Reorg)
        .into_iter()
        .filter(|e| e["ledger"].as_u64().unwrap() >= 1_216_500)
        .collect();
    let report: Value = push(branch).await.unwrap().json().await.unwrap();
    assert_eq!(report["reorg"]["ledger"], 1_216_500, "{report}");
    assert_eq!(
        report["reorg"]["existingHash"],
        rpc.ledger_hash(Branch::Main, 1_216_500).unwrap()
    );
    assert_states(&app, &reorg_branch_states()).await;
    let health = app.get_json("/health").await;
    assert_eq!(
        health["indexer"]["reorgDetected"], false,
        "ingest passed the fork point"
    );
}

#[tokio::test]
async fn a_restart_resumes_from_the_durable_cursor() {
    let rpc = FixtureRpc::start().await;
    let db = TestDb::new().await;
    let app = spawn_indexer(&db, &rpc, &[]).await;
    wait_caught_up(&app).await;
    let before = app.get_json("/api/streams?source=chain").await;
    app.stop().await;
    let calls_before = rpc.calls().len();

    let app = spawn_indexer(&db, &rpc, &[("INDEXER_WORKER_TOKEN", TOKEN)]).await;
    wait_caught_up(&app).await;
    // The restarted indexer continued from its cursor: no getEvents by start ledger again.
    let after_calls = &rpc.calls()[calls_before..];
    assert!(after_calls.iter().any(|c| c == "getEvents"));
    let after = app.get_json("/api/streams?source=chain").await;
    assert_eq!(after["streams"], before["streams"], "nothing re-applied");
    // Every event is stored exactly once: pushing them all again changes nothing.
    let events = rpc.push_events(Branch::Main);
    let report: Value = app
        .client
        .post(app.url("/internal/indexer/events"))
        .header("x-indexer-worker-token", TOKEN)
        .json(&json!({"events": events}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["duplicates"], 18, "{report}");
}

#[tokio::test]
async fn a_network_mismatch_stops_indexing_and_is_reported() {
    let rpc = FixtureRpc::start().await;
    rpc.set_passphrase("Public Global Stellar Network ; September 2015");
    let db = TestDb::new().await;
    let app = spawn_indexer(&db, &rpc, &[]).await;
    let report = wait_for_health(&app, "the mismatch report", |indexer| {
        indexer["summary"]
            .as_str()
            .is_some_and(|s| s.contains("Public Global"))
    })
    .await;
    assert_eq!(report["status"], "degraded");
    assert_eq!(report["indexer"]["status"], "starting");
    assert!(report["indexer"]["operatorAction"]
        .as_str()
        .unwrap()
        .contains("STELLAR_RPC_URL"));
    assert!(
        !rpc.calls().contains(&"getEvents".to_string()),
        "never read the wrong network"
    );
    let chain = app.get_json("/api/streams?source=chain").await;
    assert_eq!(chain["streams"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_network_reset_is_reported_not_a_crash() {
    let rpc = FixtureRpc::start().await;
    let db = TestDb::new().await;
    let app = spawn_indexer(&db, &rpc, &[]).await;
    wait_caught_up(&app).await;
    rpc.set_latest(1_000);
    let report = wait_for_health(&app, "the reset report", |indexer| {
        indexer["summary"]
            .as_str()
            .is_some_and(|s| s.contains("below our last ingested ledger"))
    })
    .await;
    assert_eq!(report["database"]["status"], "ok");
    // Still serving.
    assert_eq!(
        app.get(&format!("/api/streams/{CONTRACT_ID}-0"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn rpc_failures_are_retried_until_the_indexer_syncs() {
    let rpc = FixtureRpc::start().await;
    rpc.fail_next(6);
    let db = TestDb::new().await;
    let app = spawn_indexer(&db, &rpc, &[]).await;
    wait_caught_up(&app).await;
    assert_states(&app, &main_branch_states()).await;
}

#[tokio::test]
async fn an_unreachable_rpc_leaves_the_service_up_and_degraded() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let db = TestDb::new().await;
    let url = format!("http://127.0.0.1:{closed_port}");
    let app = TestApp::spawn_env(
        &db,
        &[
            ("STELLAR_RPC_URL", &url),
            ("FLUXORA_CONTRACT_ID", CONTRACT_ID),
        ],
    )
    .await;
    let report = wait_for_health(&app, "the failure summary", |indexer| {
        indexer["summary"]
            .as_str()
            .is_some_and(|s| s.contains("last attempt failed"))
    })
    .await;
    assert_eq!(report["status"], "degraded");
    assert_eq!(report["indexer"]["status"], "starting");
    assert_eq!(report["indexer"]["lastIngestedLedger"], Value::Null);
    // The API keeps serving.
    assert_eq!(app.get("/api/streams").await.status(), 200);
}

#[tokio::test]
async fn push_ingest_checks_its_token_and_batch() {
    let rpc = FixtureRpc::start().await;
    let db = TestDb::new().await;
    // Without a token configured the route does not exist.
    let closed = TestApp::spawn().await;
    expect_error(
        closed
            .post_json("/internal/indexer/events", &json!({"events": []}))
            .await,
        404,
        "NOT_FOUND",
    )
    .await;

    let app = TestApp::spawn_env(
        &db,
        &[
            ("INDEXER_WORKER_TOKEN", TOKEN),
            ("FLUXORA_CONTRACT_ID", CONTRACT_ID),
        ],
    )
    .await;
    let url = app.url("/internal/indexer/events");
    let send = |token: Option<&str>, body: Value| {
        let mut request = app.client.post(&url).json(&body);
        if let Some(token) = token {
            request = request.header("x-indexer-worker-token", token);
        }
        request.send()
    };
    expect_error(
        send(None, json!({"events": []})).await.unwrap(),
        401,
        "UNAUTHORIZED",
    )
    .await;
    expect_error(
        send(Some("wrong-token-0123456789"), json!({"events": []}))
            .await
            .unwrap(),
        401,
        "UNAUTHORIZED",
    )
    .await;

    let main = rpc.push_events(Branch::Main);
    let event = |i: usize| main[i].clone();
    // Over 100 events.
    let many: Vec<Value> = (0..101).map(|_| event(0)).collect();
    let error = expect_error(
        send(Some(TOKEN), json!({"events": many})).await.unwrap(),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(error["details"][0]["code"], "BATCH_TOO_LARGE");
    // A missing ledgerHash and a bad type, each reported with its index; nothing applied.
    let mut no_hash = event(1);
    no_hash.as_object_mut().unwrap().remove("ledgerHash");
    let mut bad_type = event(2);
    bad_type["ledger"] = json!("1204012");
    let error = expect_error(
        send(
            Some(TOKEN),
            json!({"events": [event(0), no_hash, bad_type]}),
        )
        .await
        .unwrap(),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    let fields: Vec<&str> = error["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert!(
        fields
            .iter()
            .any(|f| f.starts_with("events[1]") && f.contains("ledgerHash")),
        "{fields:?}"
    );
    assert!(
        fields
            .iter()
            .any(|f| f.starts_with("events[2]") && f.contains("ledger")),
        "{fields:?}"
    );
    assert_eq!(
        app.get_json("/api/streams?source=chain").await["streams"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "nothing partially applied"
    );
    // Not an object / unknown field.
    expect_error(
        send(Some(TOKEN), json!([1])).await.unwrap(),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    expect_error(
        send(Some(TOKEN), json!({"events": [], "extra": 1}))
            .await
            .unwrap(),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    // Another contract's event.
    let mut foreign = event(0);
    foreign["contractId"] = json!("CA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQGAXE");
    let error = expect_error(
        send(Some(TOKEN), json!({"events": [foreign]}))
            .await
            .unwrap(),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(error["details"][0]["code"], "CONTRACT_ID_MISMATCH");
}

#[tokio::test]
async fn malformed_events_are_stored_and_skipped_never_fatal() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_env(&db, &[("INDEXER_WORKER_TOKEN", TOKEN)]).await;
    let malformed = fixture("malformed.getEvents.json");
    let events: Vec<Value> = malformed["response"]["result"]["events"]
        .as_array()
        .unwrap()
        .clone();
    let cases: Vec<Value> = malformed["cases"].as_array().unwrap().clone();
    assert_eq!(events.len(), 5);
    let with_hash = |mut e: Value| {
        e["ledgerHash"] = json!(format!("{:064x}", e["ledger"].as_u64().unwrap_or(1)));
        e
    };
    let push = |events: Vec<Value>| {
        app.client
            .post(app.url("/internal/indexer/events"))
            .header("x-indexer-worker-token", TOKEN)
            .json(&json!({"events": events}))
            .send()
    };
    // Case 2 has no `ledger`: the batch is refused (400), naming it.
    let error = expect_error(
        push(vec![with_hash(events[2].clone())]).await.unwrap(),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert!(
        error["details"][0]["field"]
            .as_str()
            .unwrap()
            .contains("ledger"),
        "{cases:?} {error}"
    );
    // The other four are stored: bad base64, wrong field type and truncated XDR as invalid, the
    // unknown name as unknown. The indexer carries on.
    let rest: Vec<Value> = [0, 1, 3, 4]
        .iter()
        .map(|i| with_hash(events[*i].clone()))
        .collect();
    let response = push(rest.clone()).await.unwrap();
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["inserted"], 4, "{report}");
    assert_eq!(report["invalid"], 3, "{report}");
    assert_eq!(report["unknown"], 1, "{report}");
    assert_eq!(report["applied"], 0, "{report}");
    // Stored: pushing them again finds them.
    let again: Value = push(rest).await.unwrap().json().await.unwrap();
    assert_eq!(again["duplicates"], 4);
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn exactly_one_replica_indexes_and_another_takes_over() {
    let rpc = FixtureRpc::start().await;
    let db = TestDb::postgres().await;
    let env = indexer_env(&rpc);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = Server::start_with(&db.url(), &env).await;
    let b = Server::start_with(&db.url(), &env).await;
    let client = reqwest::Client::new();
    let leading = |log: &[Value]| {
        log.iter()
            .filter(|e| e["message"] == "indexer leading: following the contract")
            .count()
    };

    // Wait until one of them leads and the data is indexed (served by both).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let led = leading(&a.log()) + leading(&b.log());
        let stream: Value = client
            .get(format!("{}/api/streams/{CONTRACT_ID}-1", b.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if led >= 1 && stream["status"] == "completed" {
            break;
        }
        assert!(Instant::now() < deadline, "no replica indexed");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        leading(&a.log()) + leading(&b.log()),
        1,
        "exactly one replica leads"
    );
    let (leader, standby) = if leading(&a.log()) == 1 {
        (a, b)
    } else {
        (b, a)
    };

    // The leader dies without warning: the standby takes over within seconds.
    leader.kill().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while leading(&standby.log()) == 0 {
        assert!(Instant::now() < deadline, "the standby never took over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let health: Value = client
        .get(format!("{}/health", standby.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["database"]["backend"], "postgres");
    standby.terminate().await;
}
