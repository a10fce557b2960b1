//! `fluxora index`: the real binary against the fixture Stellar RPC, writing to a test database
//! that a service started afterwards reads. Also previous-hash continuity (`getLedgers`
//! headers), which the one-shot command makes deterministic to exercise.

use serde_json::Value;

use crate::binary::{command, PROCESS_TIMEOUT};
use crate::e2e_indexer::{assert_states, main_branch_states, reorg_branch_states};
use crate::helpers::{TestApp, TestDb};
use crate::rpc_fixture::{Branch, FixtureRpc, CONTRACT_ID, LATEST_LEDGER, START_LEDGER};

/// What a `fluxora index` run printed.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The `--json` summary: stdout is exactly one JSON object.
    fn summary(&self) -> Value {
        assert_eq!(self.code, Some(0), "exit code; stderr: {}", self.stderr);
        assert_eq!(self.stdout.lines().count(), 1, "one line: {}", self.stdout);
        serde_json::from_str(self.stdout.trim_end()).expect("JSON summary")
    }

    /// JSON log lines on stderr.
    fn logs(&self) -> Vec<Value> {
        self.stderr
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

/// Runs `fluxora index --rpc-url … --contract … <args>` on `db`.
async fn index(db: &TestDb, rpc: &FixtureRpc, args: &[&str]) -> Run {
    let mut command = command(&db.url());
    command
        .arg("index")
        .args(["--rpc-url", &rpc.url, "--contract", CONTRACT_ID])
        .args(args);
    let output = tokio::time::timeout(PROCESS_TIMEOUT, command.output())
        .await
        .expect("fluxora index finishes in time")
        .expect("run fluxora index");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// The WARN line of a rollback.
fn reorg_warning(run: &Run) -> Value {
    run.logs()
        .into_iter()
        .find(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("chain reorganisation detected"))
        })
        .unwrap_or_else(|| panic!("a reorg WARN line in {}", run.stderr))
}

#[tokio::test]
async fn index_catches_up_to_the_contracts_final_states_and_reruns_as_duplicates() {
    let rpc = FixtureRpc::start().await;
    let db = TestDb::new().await;
    let from = START_LEDGER.to_string();
    let first = index(&db, &rpc, &["--from-ledger", &from, "--json"]).await;
    let summary = first.summary();
    // Up to the latest safe ledger: the tip minus INDEXER_SAFETY_MARGIN_LEDGERS (1).
    assert_eq!(summary["firstLedger"], START_LEDGER, "{summary}");
    assert_eq!(summary["targetLedger"], LATEST_LEDGER - 1);
    assert_eq!(summary["lastIngestedLedger"], LATEST_LEDGER - 1);
    assert_eq!(summary["lastSafeLedger"], LATEST_LEDGER - 2);
    assert_eq!(summary["ledgersScanned"], LATEST_LEDGER - START_LEDGER);
    assert_eq!(summary["events"], 18);
    assert_eq!(summary["inserted"], 18);
    assert_eq!(summary["applied"], 18);
    assert_eq!(summary["duplicates"], 0);
    assert_eq!(summary["unknown"], 0);
    assert_eq!(summary["invalid"], 0);
    assert_eq!(summary["malformed"], 0);
    assert_eq!(summary["reorgs"], 0);
    assert!(summary["elapsedMs"].as_u64().is_some());
    assert!(summary["eventsPerSecond"].as_f64().unwrap() > 0.0);
    // A pipe is not a terminal: no progress bar drawn.
    assert!(!first.stderr.contains("ledgers ·"), "{}", first.stderr);

    // A service on the same database serves what the command indexed.
    let app = TestApp::spawn_with(&db).await;
    assert_states(&app, &main_branch_states()).await;
    let chain = app.get_json("/api/streams?source=chain").await;
    assert_eq!(chain["streams"].as_array().unwrap().len(), 3, "{chain}");
    let before = chain["streams"].clone();
    app.stop().await;

    // Again from the start: every event is a duplicate, nothing changes.
    let again = index(&db, &rpc, &["--from-ledger", &from, "--json"])
        .await
        .summary();
    assert_eq!(again["events"], 18, "{again}");
    assert_eq!(again["duplicates"], 18);
    assert_eq!(again["inserted"], 0);
    assert_eq!(again["applied"], 0);
    assert_eq!(again["lastIngestedLedger"], LATEST_LEDGER - 1);

    // Without --from-ledger it resumes from the stored progress: nothing new to read.
    let resumed = index(&db, &rpc, &[]).await;
    assert_eq!(resumed.code, Some(0), "{}", resumed.stderr);
    assert!(
        resumed.stdout.contains("nothing new") && resumed.stdout.contains("duplicates"),
        "text summary: {}",
        resumed.stdout
    );

    let app = TestApp::spawn_with(&db).await;
    let after = app.get_json("/api/streams?source=chain").await;
    assert_eq!(after["streams"], before, "nothing re-applied");
    assert_states(&app, &main_branch_states()).await;
}

#[tokio::test]
async fn index_stops_at_until_ledger_and_a_later_run_continues() {
    let rpc = FixtureRpc::start().await;
    let db = TestDb::new().await;
    let from = START_LEDGER.to_string();
    // Up to the cancel of #2 at 1 205 530: 3 created, 2 withdrew, paused, resumed, cancelled.
    let partial = index(
        &db,
        &rpc,
        &[
            "--from-ledger",
            &from,
            "--until-ledger",
            "1205530",
            "--json",
        ],
    )
    .await
    .summary();
    assert_eq!(partial["targetLedger"], 1_205_530, "{partial}");
    assert_eq!(partial["lastIngestedLedger"], 1_205_530);
    assert_eq!(partial["inserted"], 8);

    let app = TestApp::spawn_with(&db).await;
    let stream2 = app.get_json(&format!("/api/streams/{CONTRACT_ID}-2")).await;
    assert_eq!(stream2["status"], "cancelled");
    assert_eq!(
        stream2["withdrawnAmount"], "0.0000000",
        "its withdraw is later"
    );
    let stream0 = app.get_json(&format!("/api/streams/{CONTRACT_ID}-0")).await;
    assert_eq!(stream0["withdrawnAmount"], "42.7080600");
    assert_eq!(stream0["depositAmount"], "1000.0000000", "top-up is later");
    app.stop().await;

    // The rest, from the stored progress: nothing lost or repeated at the bound.
    let rest = index(&db, &rpc, &["--json"]).await.summary();
    assert_eq!(rest["inserted"], 10, "{rest}");
    assert_eq!(rest["duplicates"], 0);
    assert_eq!(rest["lastIngestedLedger"], LATEST_LEDGER - 1);
    let app = TestApp::spawn_with(&db).await;
    assert_states(&app, &main_branch_states()).await;
}

#[tokio::test]
async fn index_refuses_an_rpc_of_another_network() {
    let rpc = FixtureRpc::start().await;
    rpc.set_passphrase("Public Global Stellar Network ; September 2015");
    let db = TestDb::new().await;
    let run = index(&db, &rpc, &["--from-ledger", "1204000", "--json"]).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "no summary: {}", run.stdout);
    assert!(
        run.stderr.contains("network mismatch")
            && run
                .stderr
                .contains("Public Global Stellar Network ; September 2015")
            && run.stderr.contains("Test SDF Network ; September 2015"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(&rpc.url), "the RPC URL is not printed");
    assert!(
        !rpc.calls().contains(&"getEvents".to_string()),
        "never read the wrong network"
    );
}

#[tokio::test]
async fn a_previous_hash_discontinuity_is_rolled_back_as_a_fork() {
    let rpc = FixtureRpc::start().await;
    let db = TestDb::new().await;
    let from = START_LEDGER.to_string();
    // The main branch up to its ledger 1 216 500, whose hash is stored.
    let main = index(
        &db,
        &rpc,
        &[
            "--from-ledger",
            &from,
            "--until-ledger",
            "1216500",
            "--json",
        ],
    )
    .await
    .summary();
    assert_eq!(main["lastIngestedLedger"], 1_216_500, "{main}");

    // The node moves to the reorg branch in the middle of the next run, after the fork check
    // (which still sees the main branch): only the new ledgers' headers reveal that their chain
    // does not continue our ledger 1 216 500.
    rpc.switch_on("getEvents", Branch::Reorg);
    let run = index(&db, &rpc, &["--json"]).await;
    let summary = run.summary();
    assert_eq!(summary["reorgs"], 1, "{summary}");
    let warn = reorg_warning(&run);
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

    // Rolled back and re-read: the contract's states on the reorg branch, nothing of main's
    // tip left.
    let app = TestApp::spawn_with(&db).await;
    assert_states(&app, &reorg_branch_states()).await;
}

#[tokio::test]
async fn without_headers_a_fork_is_still_found_by_comparing_hashes() {
    let rpc = FixtureRpc::start().await;
    rpc.set_headers(false);
    let db = TestDb::new().await;
    let from = START_LEDGER.to_string();
    index(
        &db,
        &rpc,
        &[
            "--from-ledger",
            &from,
            "--until-ledger",
            "1216500",
            "--json",
        ],
    )
    .await
    .summary();

    rpc.switch(Branch::Reorg);
    let run = index(&db, &rpc, &["--json"]).await;
    let summary = run.summary();
    assert_eq!(summary["reorgs"], 1, "{summary}");
    let warn = reorg_warning(&run);
    assert_eq!(warn["ledger"], 1_216_500);
    assert_eq!(
        warn["incoming_hash"],
        rpc.ledger_hash(Branch::Reorg, 1_216_500).unwrap()
    );
    let app = TestApp::spawn_with(&db).await;
    assert_states(&app, &reorg_branch_states()).await;
}
