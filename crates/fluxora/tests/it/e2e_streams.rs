//! Streams API behaviour (`docs/api.md`): create, get, `?at=`, lifecycle, list and cursors,
//! idempotency, concurrency and durability across restarts.

use std::collections::HashSet;

use fluxora::config::Config;
use serde_json::{json, Value};

use crate::helpers::{
    assert_readers_kept_and_used, execute_sql, expect_error, now, pipelined_reader_count,
    valid_body, with, TestApp, TestDb, C1, G1, G2, RECIPIENT, SENDER,
};

#[tokio::test]
async fn create_returns_201_with_location_and_the_resource() {
    let app = TestApp::spawn().await;
    let start = now() + 1000;
    let response = app
        .post_json(
            "/api/streams",
            &json!({
                "sender": SENDER, "recipient": C1,
                "depositAmount": "1000", "ratePerSecond": "0.001",
                "startTime": start, "cliffTime": start + 10, "endTime": start + 100_000,
            }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(location, format!("/api/streams/{id}"));
    assert_eq!(created["sender"], SENDER);
    assert_eq!(created["recipient"], C1);
    assert_eq!(created["depositAmount"], "1000.0000000");
    assert_eq!(created["ratePerSecond"], "0.0010000");
    assert_eq!(created["startTime"], start);
    assert_eq!(created["cliffTime"], start + 10);
    assert_eq!(created["endTime"], start + 100_000);
    assert_eq!(created["status"], "active");
    assert_eq!(created["withdrawnAmount"], "0.0000000");
    assert_eq!(created["streamedAmount"], "0.0000000");
    assert_eq!(created["remainingAmount"], "1000.0000000");
    assert_eq!(created["cancelledAt"], Value::Null);
    assert_eq!(created["source"], "api");
    assert_eq!(created["chain"], Value::Null);
    for field in ["createdAt", "updatedAt"] {
        let text = created[field].as_str().unwrap();
        assert!(
            text.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(text).is_ok(),
            "{field}: {text}"
        );
    }

    let fetched: Value = app.get_json(&location).await;
    assert_eq!(fetched, created, "GET returns what POST returned");
}

#[tokio::test]
async fn get_unknown_stream_is_404_for_every_route() {
    let app = TestApp::spawn().await;
    let missing = "/api/streams/00000000-0000-7000-8000-000000000000";
    expect_error(app.get(missing).await, 404, "NOT_FOUND").await;
    expect_error(app.delete(missing).await, 404, "NOT_FOUND").await;
    expect_error(
        app.post_empty(&format!("{missing}/pause")).await,
        404,
        "NOT_FOUND",
    )
    .await;
    let error = expect_error(
        app.post_empty(&format!("{missing}/resume")).await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert_eq!(
        error["message"],
        "Stream '00000000-0000-7000-8000-000000000000' not found"
    );
}

#[tokio::test]
async fn accrual_follows_the_contract_at_any_instant() {
    let app = TestApp::spawn().await;
    // 100 units at 0.001/s from `start`, cliff 1000 s in, end start + 100 000 (deposit-limited).
    let start = 1_767_225_600u64;
    let stream = app
        .create_stream(json!({"startTime": start, "cliffTime": start + 1000}))
        .await;
    assert_eq!(
        stream["endTime"],
        start + 100_000,
        "default end = start + deposit / rate"
    );
    let id = stream["id"].as_str().unwrap();
    let at = |t: u64| format!("/api/streams/{id}?at={t}");
    let cases = [
        (start - 1, "0.0000000"),
        (start + 999, "0.0000000"),  // before the cliff nothing is visible
        (start + 1000, "1.0000000"), // at the cliff the whole start..cliff slice appears
        (start + 1234, "1.2340000"),
        (start + 100_000, "100.0000000"),
        (start + 10_000_000, "100.0000000"), // capped at the deposit
    ];
    for (t, streamed) in cases {
        let view: Value = app.get_json(&at(t)).await;
        assert_eq!(view["streamedAmount"], streamed, "at {t}");
        let remaining = 100.0 - streamed.parse::<f64>().unwrap();
        assert_eq!(view["remainingAmount"], format!("{remaining:.7}"), "at {t}");
    }
}

#[tokio::test]
async fn lifecycle_transitions_and_conflicts() {
    let app = TestApp::spawn().await;
    let stream = app.create_stream(json!({})).await;
    let id = stream["id"].as_str().unwrap();
    let path = |suffix: &str| format!("/api/streams/{id}{suffix}");

    // active → paused
    let response = app.post_empty(&path("/pause")).await;
    assert_eq!(response.status(), 200);
    let paused: Value = response.json().await.unwrap();
    assert_eq!(paused["status"], "paused");
    // paused → paused is refused; so is resuming twice.
    let error = expect_error(app.post_empty(&path("/pause")).await, 409, "CONFLICT").await;
    assert_eq!(error["message"], format!("Stream '{id}' is already paused"));
    // Pausing does not stop accrual (the contract's rule: it only blocks withdrawals).
    let later: Value = app
        .get(&format!("{}?at={}", path(""), now() + 60))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(later["streamedAmount"], paused["streamedAmount"]);

    // paused → active
    let resumed: Value = app.post_empty(&path("/resume")).await.json().await.unwrap();
    assert_eq!(resumed["status"], "active");
    expect_error(app.post_empty(&path("/resume")).await, 409, "CONFLICT").await;

    // active → cancelled
    let response = app.delete(&path("")).await;
    assert_eq!(response.status(), 200);
    let cancelled: Value = response.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    let cancelled_at = cancelled["cancelledAt"].as_u64().expect("cancelledAt set");
    assert!(cancelled_at.abs_diff(now()) <= 5);

    // Terminal: every further action is a conflict, and the stored state is unchanged.
    let error = expect_error(app.delete(&path("")).await, 409, "CONFLICT").await;
    assert_eq!(
        error["message"],
        format!("Stream '{id}' is already cancelled")
    );
    expect_error(app.post_empty(&path("/pause")).await, 409, "CONFLICT").await;
    expect_error(app.post_empty(&path("/resume")).await, 409, "CONFLICT").await;
    let stored: Value = app.get_json(&path("")).await;
    assert_eq!(stored["status"], "cancelled");
    assert_eq!(stored["cancelledAt"], cancelled_at);

    // A cancelled stream is evaluated at min(at, cancelledAt).
    let far: Value = app
        .get(&format!("{}?at={}", path(""), cancelled_at + 86_400))
        .await
        .json()
        .await
        .unwrap();
    let at_cancel: Value = app
        .get(&format!("{}?at={cancelled_at}", path("")))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(far["streamedAmount"], at_cancel["streamedAmount"]);
    let before: Value = app
        .get(&format!("{}?at={}", path(""), cancelled_at - 100))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(before["streamedAmount"], at_cancel["streamedAmount"]);
}

/// On SQLite a GET by id reads on plain connections beside the pool, on PostgreSQL down pipelined
/// connections beside it (the fast read paths); concurrent GETs are spread over them or go through
/// the pool: whichever serves a read, it reflects every change answered before the read was sent
/// (no connection keeps an old snapshot).
#[tokio::test]
async fn every_read_reflects_the_changes_answered_before_it() {
    let app = TestApp::spawn().await;
    reads_follow_every_change(&app).await;
}

/// Creates a stream, then pauses, resumes, pauses and cancels it; before and after each change,
/// 16 concurrent GETs all read its current state.
async fn reads_follow_every_change(app: &TestApp) {
    let created = app.create_stream(json!({})).await;
    let path = format!("/api/streams/{}", created["id"].as_str().unwrap());
    let read_many = || futures::future::join_all((0..16).map(|_| app.get_json(&path)));
    for stream in read_many().await {
        assert_eq!(stream["status"], "active");
    }
    for (action, status) in [
        ("/pause", "paused"),
        ("/resume", "active"),
        ("/pause", "paused"),
    ] {
        let response = app.post_empty(&format!("{path}{action}")).await;
        assert_eq!(response.status(), 200, "{action}");
        for stream in read_many().await {
            assert_eq!(stream["status"], status, "after {action}");
        }
    }
    assert_eq!(app.delete(&path).await.status(), 200);
    for stream in read_many().await {
        assert_eq!(stream["status"], "cancelled");
        assert!(stream["cancelledAt"].is_u64());
    }
}

/// On PostgreSQL the first reads open one pipelined read connection per core (`application_name`
/// `fluxora-reads`), and GETs by id run on them (each backend ran statements during the reads),
/// seeing every change.
#[tokio::test]
async fn postgres_reads_run_on_the_pipelined_connections() {
    let db = TestDb::postgres().await;
    let app = TestApp::spawn_with(&db).await;
    let before = db
        .wait_for_pipelined_readers(&app, pipelined_reader_count(), &[])
        .await;
    reads_follow_every_change(&app).await;
    let after = db.pipelined_readers().await;
    assert_readers_kept_and_used(&before, &after, "read");
}

/// Losing the pipelined connections (terminated backends: an administrator, a failover) loses
/// no read: reads go through the pool meanwhile, and the connections are opened again.
#[tokio::test]
async fn postgres_reads_survive_the_loss_of_the_pipelined_connections() {
    let db = TestDb::postgres().await;
    let app = TestApp::spawn_with(&db).await;
    let count = pipelined_reader_count();
    db.wait_for_pipelined_readers(&app, count, &[]).await;
    let created = app.create_stream(json!({})).await;
    let path = format!("/api/streams/{}", created["id"].as_str().unwrap());
    let terminated = db.terminate_pipelined_readers().await;
    assert_eq!(terminated.len(), count);
    for _ in 0..3 {
        let responses = futures::future::join_all((0..16).map(|_| app.get(&path))).await;
        for response in responses {
            assert_eq!(response.status(), 200);
            let stream: Value = response.json().await.unwrap();
            assert_eq!(stream["id"], created["id"]);
        }
    }
    // Reads open them again (new backends), and run on them.
    let reopened = db
        .wait_for_pipelined_readers(&app, count, &terminated)
        .await;
    reads_follow_every_change(&app).await;
    let after = db.pipelined_readers().await;
    assert_eq!(after.len(), count);
    for (old, new) in reopened.iter().zip(&after) {
        assert_eq!(old.pid, new.pid);
        assert_ne!(
            old.state_change, new.state_change,
            "backend {} ran no read",
            old.pid
        );
    }
}

/// A `DATABASE_URL` with a parameter only sqlx knows opens no pipelined connection: every read
/// goes through the pool, and answers as before.
#[tokio::test]
async fn postgres_reads_go_through_the_pool_when_the_url_is_sqlx_only() {
    let db = TestDb::postgres().await;
    let mut config = Config::for_database(format!("{}?statement-cache-capacity=50", db.url()));
    config.rate_limit.enabled = false;
    let app = TestApp::spawn_config(config).await;
    reads_follow_every_change(&app).await;
    assert_eq!(db.pipelined_readers().await, Vec::new());
}

#[tokio::test]
async fn paused_stream_can_be_cancelled() {
    let app = TestApp::spawn().await;
    let id = app.create_stream(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.post_empty(&format!("/api/streams/{id}/pause"))
            .await
            .status(),
        200
    );
    let cancelled: Value = app
        .delete(&format!("/api/streams/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
}

#[tokio::test]
async fn a_stream_past_its_end_reads_completed_and_is_terminal() {
    let app = TestApp::spawn().await;
    // Started long ago; 100 units at 1/s ended after 100 s.
    let start = now() - 10_000;
    let stream = app
        .create_stream(json!({"startTime": start, "ratePerSecond": "1"}))
        .await;
    assert_eq!(stream["status"], "completed");
    assert_eq!(stream["streamedAmount"], "100.0000000");
    assert_eq!(stream["remainingAmount"], "0.0000000");
    let id = stream["id"].as_str().unwrap();
    for (request, name) in [
        (app.delete(&format!("/api/streams/{id}")).await, "cancel"),
        (
            app.post_empty(&format!("/api/streams/{id}/pause")).await,
            "pause",
        ),
        (
            app.post_empty(&format!("/api/streams/{id}/resume")).await,
            "resume",
        ),
    ] {
        let error = expect_error(request, 409, "CONFLICT").await;
        assert!(
            error["message"].as_str().unwrap().contains("completed"),
            "{name}: {error}"
        );
    }
}

#[tokio::test]
async fn list_is_newest_first_and_filters() {
    let app = TestApp::spawn().await;
    let a = app
        .create_stream(json!({"sender": G1, "recipient": G2}))
        .await;
    let b = app
        .create_stream(json!({"sender": G2, "recipient": G1}))
        .await;
    let c = app
        .create_stream(json!({"sender": G1, "recipient": C1}))
        .await;
    let ended = app
        .create_stream(json!({"startTime": now() - 10_000, "ratePerSecond": "1"}))
        .await;
    let b_id = b["id"].as_str().unwrap();
    app.delete(&format!("/api/streams/{b_id}")).await;
    let c_id = c["id"].as_str().unwrap();
    app.post_empty(&format!("/api/streams/{c_id}/pause")).await;

    let ids = |page: &Value| -> Vec<String> {
        page["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    let id = |s: &Value| s["id"].as_str().unwrap().to_string();

    let all: Value = app.get_json("/api/streams").await;
    assert_eq!(ids(&all), vec![id(&ended), id(&c), id(&b), id(&a)]);
    assert_eq!(all["hasMore"], false);
    assert_eq!(all["nextCursor"], Value::Null);

    let cases = [
        (format!("sender={G1}"), vec![id(&c), id(&a)]),
        (format!("recipient={G1}"), vec![id(&b)]),
        (format!("sender={G1}&recipient={C1}"), vec![id(&c)]),
        ("status=active".to_string(), vec![id(&a)]),
        ("status=paused".to_string(), vec![id(&c)]),
        ("status=cancelled".to_string(), vec![id(&b)]),
        ("status=completed".to_string(), vec![id(&ended)]),
        (
            "source=api".to_string(),
            vec![id(&ended), id(&c), id(&b), id(&a)],
        ),
        ("source=chain".to_string(), vec![]),
    ];
    for (query, expected) in cases {
        let page: Value = app.get_json(&format!("/api/streams?{query}")).await;
        assert_eq!(ids(&page), expected, "{query}");
        for stream in page["streams"].as_array().unwrap() {
            if let Some(status) = query.strip_prefix("status=") {
                assert_eq!(stream["status"], status, "{query}");
            }
        }
    }
}

/// Walks every page with `limit`, collecting ids in order.
async fn walk(app: &TestApp, limit: u32, filters: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/streams?limit={limit}{filters}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let response = app.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
        let page: Value = response.json().await.unwrap();
        let streams = page["streams"].as_array().unwrap();
        assert!(streams.len() <= limit as usize);
        seen.extend(
            streams
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_string()),
        );
        match page["nextCursor"].as_str() {
            Some(next) => {
                assert_eq!(page["hasMore"], true);
                cursor = Some(next.to_string());
            }
            None => {
                assert_eq!(page["hasMore"], false);
                return seen;
            }
        }
    }
}

#[tokio::test]
async fn pagination_never_repeats_or_skips_while_others_insert() {
    let app = TestApp::spawn().await;
    let mut existing = Vec::new();
    for _ in 0..23 {
        existing.push(
            app.create_stream(json!({})).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    existing.reverse(); // newest first

    // Walk with small pages while a concurrent writer keeps inserting.
    let writer = {
        let client = app.client.clone();
        let url = app.url("/api/streams");
        tokio::spawn(async move {
            let mut created = 0;
            for _ in 0..30 {
                let response = client.post(&url).json(&valid_body()).send().await.unwrap();
                assert_eq!(response.status(), 201);
                created += 1;
                tokio::task::yield_now().await;
            }
            created
        })
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/streams?limit=4".to_string();
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page: Value = app.get_json(&path).await;
        let ids: Vec<String> = page["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect();
        seen.extend(ids);
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(writer.await.unwrap(), 30);

    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a stream appeared twice");
    // Every stream that existed before the walk appears, in newest-first order, with no gap.
    let positions: Vec<usize> = existing
        .iter()
        .map(|id| {
            seen.iter()
                .position(|s| s == id)
                .unwrap_or_else(|| panic!("{id} skipped"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "order broken");
    assert_eq!(
        &seen[seen.len() - existing.len()..],
        existing.as_slice(),
        "the pre-existing streams close the walk contiguously"
    );

    // A walk after the writer stopped sees all 53, each once, newest first.
    let all = walk(&app, 7, "").await;
    assert_eq!(all.len(), 53);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 53);
    assert_eq!(&all[30..], existing.as_slice());
}

#[tokio::test]
async fn filtered_walk_covers_exactly_the_matching_streams() {
    let app = TestApp::spawn().await;
    let mut expected = Vec::new();
    for i in 0..15 {
        let sender = if i % 3 == 0 { G1 } else { G2 };
        let stream = app
            .create_stream(json!({"sender": sender, "recipient": RECIPIENT}))
            .await;
        if sender == G1 {
            expected.push(stream["id"].as_str().unwrap().to_string());
        }
    }
    expected.reverse();
    assert_eq!(walk(&app, 2, &format!("&sender={G1}")).await, expected);
}

#[tokio::test]
async fn idempotent_create_replays_the_first_response() {
    let app = TestApp::spawn().await;
    let body = valid_body();
    let send = |raw: String, key: &'static str| {
        app.client
            .post(app.url("/api/streams"))
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(raw)
            .send()
    };
    let first = send(body.to_string(), "order-42:create_1").await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotency-replayed").is_none());
    let location = first.headers()["location"].clone();
    let first_body = first.bytes().await.unwrap();

    // Same body, keys reordered and re-spaced: equal after canonicalisation → replay.
    let mut reordered: Vec<(String, Value)> =
        body.as_object().unwrap().clone().into_iter().collect();
    reordered.reverse();
    let raw = format!(
        "{{ {} }}",
        reordered
            .iter()
            .map(|(k, v)| format!("\"{k}\" :  {v}"))
            .collect::<Vec<_>>()
            .join(" ,\n ")
    );
    let replay = send(raw, "order-42:create_1").await.unwrap();
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotency-replayed"], "true");
    assert_eq!(replay.headers()["location"], location);
    assert_eq!(
        replay.bytes().await.unwrap(),
        first_body,
        "byte-identical body"
    );

    // A different body under the same key is a conflict.
    let other = with(body.clone(), json!({"depositAmount": "200"}));
    expect_error(
        send(other.to_string(), "order-42:create_1").await.unwrap(),
        409,
        "CONFLICT",
    )
    .await;

    // Defaults are not applied before comparing: omitting startTime is a different request.
    let without_start = with(body.clone(), json!({"startTime": null}));
    expect_error(
        send(without_start.to_string(), "order-42:create_1")
            .await
            .unwrap(),
        409,
        "CONFLICT",
    )
    .await;

    let list: Value = app.get_json("/api/streams").await;
    assert_eq!(
        list["streams"].as_array().unwrap().len(),
        1,
        "exactly one stream"
    );
}

#[tokio::test]
async fn a_rejected_body_does_not_burn_the_idempotency_key() {
    let app = TestApp::spawn().await;
    let post = |body: Value| {
        app.client
            .post(app.url("/api/streams"))
            .header("idempotency-key", "retry-me")
            .json(&body)
            .send()
    };
    let bad = with(valid_body(), json!({"depositAmount": 100}));
    expect_error(post(bad).await.unwrap(), 400, "VALIDATION_ERROR").await;
    let fixed = post(valid_body()).await.unwrap();
    assert_eq!(fixed.status(), 201);
    assert!(fixed.headers().get("idempotency-replayed").is_none());
}

#[tokio::test]
async fn invalid_idempotency_keys_are_refused() {
    let app = TestApp::spawn().await;
    let long = "k".repeat(129);
    for key in ["", "has space", "slash/no", "dot.no", long.as_str()] {
        let response = app.create_with_key(key, &valid_body()).await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"][0]["field"], "Idempotency-Key", "{key:?}");
    }
    let ok = app.create_with_key(&"k".repeat(128), &valid_body()).await;
    assert_eq!(ok.status(), 201);
    let list: Value = app.get_json("/api/streams").await;
    assert_eq!(list["streams"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_creates_with_one_key_make_one_stream() {
    let app = TestApp::spawn().await;
    let body = valid_body();
    let requests = (0..16).map(|_| {
        app.client
            .post(app.url("/api/streams"))
            .header("idempotency-key", "same-key")
            .json(&body)
            .send()
    });
    let responses = futures::future::join_all(requests).await;
    let mut created = 0;
    let mut replayed = 0;
    let mut conflicts = 0;
    let mut ids = HashSet::new();
    for response in responses {
        let response = response.unwrap();
        match response.status().as_u16() {
            201 if response.headers().get("idempotency-replayed").is_some() => {
                replayed += 1;
                ids.insert(
                    response.json::<Value>().await.unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
            201 => {
                created += 1;
                ids.insert(
                    response.json::<Value>().await.unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
            409 => {
                // Only "still in flight" is possible here (one body), told apart from a
                // reused key and with a time to come back.
                assert_eq!(response.headers()["retry-after"], "1");
                expect_error(response, 409, "IDEMPOTENCY_KEY_IN_FLIGHT").await;
                conflicts += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(created, 1, "exactly one creation");
    assert_eq!(created + replayed + conflicts, 16);
    assert_eq!(ids.len(), 1, "replays carry the same stream");
    let list: Value = app.get_json("/api/streams").await;
    assert_eq!(list["streams"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_key_whose_first_request_is_in_flight_says_when_to_retry() {
    use sha2::Digest;
    let db = TestDb::new().await;
    let app = TestApp::spawn_with(&db).await;
    let body = valid_body();
    // What a replica that crashed between claiming the key and committing leaves behind: an
    // in-flight claim on the key (anonymous scope), locked for another minute.
    let hash = hex::encode(sha2::Sha256::digest(serde_json::to_vec(&body).unwrap()));
    let blob = if db.url().starts_with("postgres") {
        format!("decode('{hash}', 'hex')")
    } else {
        format!("X'{hash}'")
    };
    let now_ms = now() as i64 * 1000;
    execute_sql(
        &db.url(),
        &format!(
            "INSERT INTO idempotency_keys \
               (scope, key, request_hash, state, locked_until, created_at, expires_at) \
             VALUES ('', 'crashed-1', {blob}, 'in_flight', {}, {now_ms}, {})",
            now_ms + 60_000,
            now_ms + 86_400_000
        ),
    )
    .await;

    // The same request: wait and retry (its own code and a Retry-After).
    let same = app.create_with_key("crashed-1", &body).await;
    assert_eq!(same.headers()["retry-after"], "1");
    let error = expect_error(same, 409, "IDEMPOTENCY_KEY_IN_FLIGHT").await;
    assert!(
        error["message"].as_str().unwrap().contains("in progress"),
        "{error}"
    );
    // Another body under that key: a permanent conflict, no Retry-After.
    let other = app
        .create_with_key(
            "crashed-1",
            &with(body.clone(), json!({"depositAmount": "7"})),
        )
        .await;
    assert!(other.headers().get("retry-after").is_none());
    expect_error(other, 409, "CONFLICT").await;

    // Once the claim lapses the key is free again.
    execute_sql(
        &db.url(),
        &format!("UPDATE idempotency_keys SET locked_until = {now_ms} WHERE key = 'crashed-1'"),
    )
    .await;
    assert_eq!(app.create_with_key("crashed-1", &body).await.status(), 201);
}

#[tokio::test]
async fn concurrent_cancels_succeed_exactly_once() {
    let app = TestApp::spawn().await;
    let id = app.create_stream(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = app.url(&format!("/api/streams/{id}"));
    let requests = (0..8).map(|_| app.client.delete(&url).send());
    let statuses: Vec<u16> = futures::future::join_all(requests)
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
        7,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_restart_keeps_every_stream_and_idempotency_key() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_with(&db).await;
    let mut before = Vec::new();
    for i in 0..12 {
        let stream = app
            .create_stream(json!({"depositAmount": format!("{}", 100 + i)}))
            .await;
        before.push(stream);
    }
    let cancelled_id = before[3]["id"].as_str().unwrap().to_string();
    app.delete(&format!("/api/streams/{cancelled_id}")).await;
    // One body for both calls: `valid_body()` depends on the current second.
    let keyed_request = valid_body();
    let keyed = app
        .create_with_key("survives-restart", &keyed_request)
        .await;
    assert_eq!(keyed.status(), 201);
    let keyed_body = keyed.bytes().await.unwrap();
    let first_page: Value = app.get_json("/api/streams?limit=5").await;
    let cursor = first_page["nextCursor"].as_str().unwrap().to_string();
    app.stop().await;

    let app = TestApp::spawn_with(&db).await;
    for stream in &before {
        let id = stream["id"].as_str().unwrap();
        let fetched: Value = app.get_json(&format!("/api/streams/{id}")).await;
        assert_eq!(fetched["depositAmount"], stream["depositAmount"], "{id}");
        assert_eq!(fetched["createdAt"], stream["createdAt"], "{id}");
    }
    let cancelled: Value = app.get_json(&format!("/api/streams/{cancelled_id}")).await;
    assert_eq!(cancelled["status"], "cancelled");
    let replay = app
        .create_with_key("survives-restart", &keyed_request)
        .await;
    assert_eq!(replay.headers()["idempotency-replayed"], "true");
    assert_eq!(replay.bytes().await.unwrap(), keyed_body);
    // Cursors issued before the restart still work (the signing secret is durable).
    let next = app
        .get(&format!("/api/streams?limit=5&cursor={cursor}"))
        .await;
    assert_eq!(next.status(), 200);
    let all: Value = app.get_json("/api/streams?limit=100").await;
    assert_eq!(all["streams"].as_array().unwrap().len(), 13);
}
