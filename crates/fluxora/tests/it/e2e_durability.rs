//! Durability, replicas and outages, with the real binary: two servers on one database, concurrent
//! migrations, SIGKILL crash trials, and a PostgreSQL outage.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::binary::{command, Server, PROCESS_TIMEOUT};
use crate::helpers::{valid_body, TestDb};
use crate::pg_cluster::Cluster;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn create(client: &reqwest::Client, base: &str, key: Option<&str>) -> reqwest::Response {
    let mut request = client
        .post(format!("{base}/api/streams"))
        .json(&valid_body());
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request.send().await.unwrap()
}

async fn get_json(client: &reqwest::Client, url: impl reqwest::IntoUrl) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// Every stream id, walking all pages.
async fn all_ids(client: &reqwest::Client, base: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/streams?limit=100");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page: Value = get_json(client, &url).await;
        ids.extend(
            page["streams"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_string()),
        );
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn two_servers_on_one_database_serve_the_same_data() {
    let db = TestDb::new().await;
    let a = Server::start(&db.url()).await;
    let b = Server::start(&db.url()).await;
    let client = client();

    let created: Value = create(&client, &a.base, None).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let on_b: Value = get_json(&client, format!("{}/api/streams/{id}", b.base)).await;
    assert_eq!(on_b["createdAt"], created["createdAt"]);
    assert_eq!(on_b["depositAmount"], created["depositAmount"]);

    // A change through one replica is what the other serves.
    let paused = client
        .post(format!("{}/api/streams/{id}/pause", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), 200);
    let on_a: Value = get_json(&client, format!("{}/api/streams/{id}", a.base)).await;
    assert_eq!(on_a["status"], "paused");

    // Concurrent cancels through both replicas: exactly one wins.
    let cancels = (0..6).map(|i| {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        client.delete(format!("{base}/api/streams/{id}")).send()
    });
    let statuses: Vec<u16> = futures::future::join_all(cancels)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        5,
        "{statuses:?}"
    );

    // One idempotency key through both replicas at once: one stream.
    let keyed = (0..8).map(|i| {
        let base = if i % 2 == 0 {
            a.base.clone()
        } else {
            b.base.clone()
        };
        let client = client.clone();
        async move { create(&client, &base, Some("replicated-key")).await }
    });
    let responses = futures::future::join_all(keyed).await;
    let mut ids = HashSet::new();
    let mut fresh = 0;
    for response in responses {
        match response.status().as_u16() {
            201 => {
                if response.headers().get("idempotency-replayed").is_none() {
                    fresh += 1;
                }
                ids.insert(
                    response.json::<Value>().await.unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
            409 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(fresh, 1);
    assert_eq!(ids.len(), 1);

    assert_eq!(
        all_ids(&client, &a.base).await,
        all_ids(&client, &b.base).await
    );
    assert_eq!(all_ids(&client, &a.base).await.len(), 2);
    a.terminate().await;
    b.terminate().await;
}

#[tokio::test]
async fn replicas_migrating_together_do_not_race() {
    let db = TestDb::new().await;
    let url = db.url();
    let runs = (0..4).map(|_| command(&url).arg("migrate").output());
    for output in futures::future::join_all(runs).await {
        let output = output.unwrap();
        assert!(
            output.status.success(),
            "concurrent migrate failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let server = Server::start(&url).await;
    let ready = client()
        .get(format!("{}/health/ready", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    server.terminate().await;
}

/// A tiny deterministic generator for kill delays; the seed is printed so a failure can be
/// replayed with `FLUXORA_CRASH_SEED`.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// Creates streams from several clients, SIGKILLs the server at a random moment, restarts it
/// and checks that every stream whose 201 was received is there, none twice, and the database is
/// consistent. `FLUXORA_CRASH_TRIALS` (default 20) sets the number of trials.
#[tokio::test]
async fn every_acknowledged_create_survives_sigkill() {
    let trials: usize = std::env::var("FLUXORA_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("FLUXORA_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("crash trials: {trials}, FLUXORA_CRASH_SEED={seed}");
    let mut random = Lcg(seed);
    let db = TestDb::new().await;
    let client = client();
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();

    // Durability under load, not rate limits: with the per-IP limit on, the writers' creates and
    // the checks below (which grow with every trial) would run into 429s.
    let unlimited = [("RATE_LIMIT_ENABLED", "false")];
    for trial in 0..trials {
        let server = Server::start_with(&db.url(), &unlimited).await;
        // 16 writers: enough concurrent creates that SQLite commits them in groups.
        let writers: Vec<_> = (0..16)
            .map(|_| {
                let client = client.clone();
                let base = server.base.clone();
                let acknowledged = acknowledged.clone();
                tokio::spawn(async move {
                    // Until the server dies under us.
                    loop {
                        let Ok(response) = client
                            .post(format!("{base}/api/streams"))
                            .json(&valid_body())
                            .send()
                            .await
                        else {
                            return;
                        };
                        if response.status() != 201 {
                            return;
                        }
                        let Ok(body) = response.json::<Value>().await else {
                            return;
                        };
                        acknowledged
                            .lock()
                            .unwrap()
                            .push(body["id"].as_str().unwrap().to_string());
                    }
                })
            })
            .collect();
        // Let the load run for a random 5–150 ms, then kill without warning.
        tokio::time::sleep(Duration::from_millis(5 + random.next() % 146)).await;
        server.kill().await;
        for writer in writers {
            writer.await.unwrap();
        }

        let restarted = Server::start_with(&db.url(), &unlimited).await;
        let ready = client
            .get(format!("{}/health/ready", restarted.base))
            .send()
            .await
            .unwrap();
        assert_eq!(
            ready.status(),
            200,
            "trial {trial}: not ready after the crash"
        );
        let stored = all_ids(&client, &restarted.base).await;
        let unique: HashSet<&String> = stored.iter().collect();
        assert_eq!(
            unique.len(),
            stored.len(),
            "trial {trial}: a stream listed twice"
        );
        // A set: the checks grow with every trial (the database keeps every trial's streams).
        let acked: HashSet<String> = acknowledged.lock().unwrap().iter().cloned().collect();
        for id in &acked {
            assert!(
                unique.contains(id),
                "trial {trial} (seed {seed}): acknowledged {id} lost"
            );
        }
        // Created but unacknowledged streams may exist (the 201 was lost with the process);
        // each is complete and readable.
        for id in stored.iter().filter(|id| !acked.contains(*id)) {
            let response = client
                .get(format!("{}/api/streams/{id}", restarted.base))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
        restarted.terminate().await;
    }
    let total = acknowledged.lock().unwrap().len();
    assert!(total > 0, "no create was ever acknowledged");
    eprintln!("{trials} trials, {total} acknowledged creates, none lost");

    if let TestDb::Sqlite { .. } = db {
        use sqlx::Connection;
        let mut connection = sqlx::SqliteConnection::connect(&db.url()).await.unwrap();
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut connection)
            .await
            .unwrap();
        assert_eq!(check, "ok");
    }
}

#[tokio::test]
async fn a_database_outage_is_a_fast_503_and_heals_without_restart() {
    let cluster = Cluster::new();
    let token = "outage-worker-token-0123456789";
    let server = Server::start_with(
        &cluster.url(),
        &[
            ("DATABASE_ACQUIRE_TIMEOUT_MS", "500"),
            ("INDEXER_WORKER_TOKEN", token),
        ],
    )
    .await;
    let client = client();
    let created: Value = create(&client, &server.base, None)
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();

    cluster.stop();

    // Every request gets a prompt 503 envelope, never a hang or a 500.
    for path in [format!("/api/streams/{id}"), "/api/streams".to_string()] {
        let started = Instant::now();
        let response = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
        assert!(started.elapsed() < PROCESS_TIMEOUT, "{path} hung");
    }
    let response = create(&client, &server.base, None).await;
    assert_eq!(response.status(), 503);
    // Push ingest answers 503 too (nothing applied, the worker retries later).
    let events = crate::rpc_fixture::fixture("fluxora-scenario.getEvents.json")["pages"][0]
        ["result"]["events"]
        .clone();
    let mut events = events.as_array().unwrap().clone();
    for event in &mut events {
        event["ledgerHash"] =
            serde_json::json!(format!("{:064x}", event["ledger"].as_u64().unwrap()));
    }
    let pushed = client
        .post(format!("{}/internal/indexer/events", server.base))
        .header("x-indexer-worker-token", token)
        .json(&serde_json::json!({"events": events}))
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 503);
    let body: Value = pushed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
    // /health answers from the background check (HEALTH_CHECK_INTERVAL_MS, and at once after
    // a request found the database unreachable): poll (bounded) until it reports the outage.
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    let health = loop {
        let health = client
            .get(format!("{}/health", server.base))
            .send()
            .await
            .unwrap();
        if health.status() == 503 {
            break health;
        }
        assert!(
            Instant::now() < deadline,
            "/health never reported the outage"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let report: Value = health.json().await.unwrap();
    assert_eq!(report["status"], "unavailable");
    assert_eq!(report["database"]["status"], "unavailable");
    assert_eq!(report["database"]["backend"], "postgres");
    let ready = client
        .get(format!("{}/health/ready", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);

    cluster.start();

    // The pool reconnects on its own: poll (bounded) until health is back, then serve.
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    loop {
        let health = client
            .get(format!("{}/health", server.base))
            .send()
            .await
            .unwrap();
        if health.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the service did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let again = client
        .get(format!("{}/api/streams/{id}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(create(&client, &server.base, None).await.status(), 201);
    let log = server.terminate().await;
    assert!(
        log.iter().any(|e| e["message"] == "database unavailable"),
        "the outage is logged"
    );
}

/// A stream for the repository-level tests: API stream `id`, the fixture actors.
fn api_stream(id: &str) -> fluxora::streams::Stream {
    use fluxora::amount::Amount;
    use fluxora::streams::{Stream, StreamKind, StreamSource, StreamStatus};
    Stream {
        id: id.to_string(),
        sender: fluxora::address::StellarAddress::parse(crate::helpers::SENDER).unwrap(),
        recipient: fluxora::address::StellarAddress::parse(crate::helpers::RECIPIENT).unwrap(),
        deposit_amount: Amount::from_stroops(10_000_000_000),
        rate_per_second: Amount::from_stroops(10_000),
        kind: StreamKind::Linear,
        start_time: 1_893_456_000,
        cliff_time: 1_893_456_000,
        end_time: 1_894_456_000,
        status: StreamStatus::Active,
        withdrawn_amount: Amount::ZERO,
        checkpoint_amount: Amount::ZERO,
        checkpoint_at: 1_893_456_000,
        cancelled_at: None,
        source: StreamSource::Api,
        chain: None,
        created_at: 1,
        updated_at: 1,
        version: 0,
    }
}

/// Concurrent writes that commit together: one that fails (a duplicate id) gets its error, and
/// every other write of its batch is written. On SQLite the writes are made to queue behind a
/// write lock held from outside, so that they all form one group commit when it is released.
#[tokio::test]
async fn a_failing_write_does_not_fail_the_writes_it_commits_with() {
    use fluxora::streams::repo::StreamRepository;
    let db = TestDb::new().await;
    let database = fluxora::store::open(&fluxora::config::Config::for_database(db.url()).database)
        .await
        .unwrap();
    let repo = StreamRepository::open(database.clone()).await;
    let sqlite = matches!(database, fluxora::store::Database::Sqlite(_));
    // On a SQLite file the batches run on the writer thread's own connection.
    assert_eq!(repo.writes_on_writer_thread(), sqlite);

    // SQLite: hold the write lock, and let a first write take the writer (it waits for the lock
    // inside its batch) so the next ones queue up.
    let mut lock = None;
    if sqlite {
        use sqlx::Connection;
        let mut holder = sqlx::SqliteConnection::connect(&db.url()).await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut holder)
            .await
            .unwrap();
        lock = Some(holder);
    }
    let first = tokio::spawn({
        let repo = repo.clone();
        async move { repo.insert(api_stream("first"), None, None).await }
    });
    if sqlite {
        // Taken by the writer (no longer queued) and not answered: waiting for the lock.
        wait_until(|| repo.unanswered_writes() == 1 && repo.queued_writes() == 0).await;
    }
    let mut writes = Vec::new();
    for i in 0..20 {
        // The 6th write repeats the 5th's id: one of the two must fail, alone.
        let id = if i == 5 {
            "w4".to_string()
        } else {
            format!("w{i}")
        };
        let repo = repo.clone();
        writes.push(tokio::spawn(async move {
            repo.insert(api_stream(&id), None, None).await
        }));
    }
    if sqlite {
        wait_until(|| repo.queued_writes() == 20).await;
        let mut holder = lock.take().unwrap();
        sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    }
    first
        .await
        .unwrap()
        .expect("the first write commits once the lock is free");
    let mut failed = Vec::new();
    for (i, write) in writes.into_iter().enumerate() {
        if write.await.unwrap().is_err() {
            failed.push(i);
        }
    }
    // The two writes of "w4" race (the tasks run in any order): exactly one of them fails.
    assert!(
        failed == vec![4] || failed == vec![5],
        "only one write of the duplicate id fails: {failed:?}"
    );
    for i in (0..20).filter(|i| *i != 5) {
        let id = format!("w{i}");
        assert!(repo.get(&id).await.unwrap().is_some(), "{id} was written");
    }
    assert!(repo.get("first").await.unwrap().is_some());
}

/// Polls `condition` until it holds (10 s at most).
async fn wait_until(condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "condition not reached in 10 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
