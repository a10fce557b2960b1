//! The stream list's fast path (`GET /api/streams`, `docs/architecture.md`, "Listing streams"):
//! its JSON is, byte for byte, each stream's resource as `GET /api/streams/{id}` serves it; a
//! corrupt stored row is a 500, never served; on PostgreSQL lists run on the pipelined
//! connections.

use serde_json::{json, Value};

use crate::helpers::{
    assert_readers_kept_and_used, execute_sql, expect_error, now, pipelined_reader_count, TestApp,
    TestDb, C1, G1, G2,
};

/// A chain stream as the indexer stores one (a contract id, chain facts, a withdrawal), so that
/// lists carry a `chain` object.
async fn insert_chain_stream(db: &TestDb, id: &str, stream_id: u64) {
    let start = now() - 100;
    let details = r#"{"claimOwner":"GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZ","childStreamIds":[7,9],"memo":{"encoding":"text","value":"rent \"May\""},"paidOutAmount":"120","lookbackLedgers":12}"#;
    execute_sql(
        &db.url(),
        &format!(
            "INSERT INTO streams (id, sender, recipient, deposit_amount, rate_per_second, \
               start_time, cliff_time, end_time, status, withdrawn_amount, checkpoint_amount, \
               checkpoint_at, source, chain_contract_id, chain_stream_id, chain_created_ledger, \
               chain_tx_hash, chain_closed, kind, chain_details, created_at, updated_at) \
             VALUES ('{id}', '{G1}', '{G2}', '100000000', '1000', {start}, {start}, {}, \
               'active', '120', '0', {start}, 'chain', '{C1}', {stream_id}, 123456, '{}', FALSE, \
               'linear', '{}', 1764403685123, 1764403699001)",
            start + 100_000,
            "ab".repeat(32),
            details.replace('\'', "''"),
        ),
    )
    .await;
}

/// Streams of every shape a list shows: active, paused, cancelled, past its end (completed),
/// and two chain streams; newest first they are the returned ids.
async fn seed(db: &TestDb, app: &TestApp) -> Vec<String> {
    let id = |s: &Value| s["id"].as_str().unwrap().to_string();
    let active = app
        .create_stream(json!({"sender": G1, "recipient": G2}))
        .await;
    insert_chain_stream(db, "chain-stream-1", 1).await;
    let paused = app
        .create_stream(json!({"sender": G2, "recipient": C1}))
        .await;
    app.post_empty(&format!("/api/streams/{}/pause", id(&paused)))
        .await;
    let cancelled = app.create_stream(json!({})).await;
    app.delete(&format!("/api/streams/{}", id(&cancelled)))
        .await;
    let ended = app
        .create_stream(json!({"startTime": now() - 10_000, "ratePerSecond": "1"}))
        .await;
    insert_chain_stream(db, "chain-stream-2", 2).await;
    vec![
        "chain-stream-2".to_string(),
        id(&ended),
        id(&cancelled),
        id(&paused),
        "chain-stream-1".to_string(),
        id(&active),
    ]
}

/// `{"streams":[…],"nextCursor":…,"hasMore":…}` with each stream's GET-by-id body at `at`.
async fn expected_page(app: &TestApp, ids: &[String], at: u64, cursor: &Value) -> String {
    let mut bodies = Vec::new();
    for id in ids {
        let response = app.get(&format!("/api/streams/{id}?at={at}")).await;
        assert_eq!(response.status(), 200, "{id}");
        bodies.push(response.text().await.unwrap());
    }
    format!(
        "{{\"streams\":[{}],\"nextCursor\":{cursor},\"hasMore\":{}}}",
        bodies.join(","),
        !cursor.is_null()
    )
}

/// A list page is, byte for byte, the page envelope around each listed stream's
/// `GET /api/streams/{id}` body evaluated at the same `at`: API streams in every status and
/// chain streams, one page and page by page, filtered and not.
#[tokio::test]
async fn a_list_page_is_each_streams_resource_byte_for_byte() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_with(&db).await;
    let ids = seed(&db, &app).await;
    let at = now() + 30;

    let response = app.get(&format!("/api/streams?limit=100&at={at}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = response.text().await.unwrap();
    assert_eq!(body, expected_page(&app, &ids, at, &Value::Null).await);

    // Page by page: the same bytes per page, the cursor as issued.
    let mut cursor: Option<String> = None;
    let mut walked = 0;
    loop {
        let mut path = format!("/api/streams?limit=4&at={at}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let body = app.get(&path).await.text().await.unwrap();
        let page: Value = serde_json::from_str(&body).unwrap();
        let page_ids: Vec<String> = page["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(page_ids, ids[walked..walked + page_ids.len()]);
        assert_eq!(
            body,
            expected_page(&app, &page_ids, at, &page["nextCursor"]).await
        );
        walked += page_ids.len();
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(walked, ids.len());

    // Filtered, and without `at` (amounts at now: compared on the ids and shapes only).
    let chain = app
        .get(&format!("/api/streams?source=chain&at={at}"))
        .await
        .text()
        .await
        .unwrap();
    let chain_ids = vec![ids[0].clone(), ids[4].clone()];
    assert_eq!(
        chain,
        expected_page(&app, &chain_ids, at, &Value::Null).await
    );
    let page = app.get_json("/api/streams?status=paused").await;
    assert_eq!(page["streams"].as_array().unwrap().len(), 1);
    assert_eq!(page["streams"][0]["id"], ids[3].as_str());
}

/// A stored sender that is not a valid StrKey (a damaged row) is reported, never served: the
/// list and the GET answer 500 `INTERNAL_ERROR`, and serve again once the row is repaired.
#[tokio::test]
async fn a_corrupt_stored_address_is_a_500_not_served() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_with(&db).await;
    let created = app.create_stream(json!({"sender": G1})).await;
    let id = created["id"].as_str().unwrap();
    // One character changed: valid base32, wrong checksum.
    let damaged = format!("{}B{}", &G1[..10], &G1[11..]);
    assert_ne!(damaged, G1);
    for (value, status) in [(damaged.as_str(), 500), ("not a strkey", 500), (G1, 200)] {
        execute_sql(
            &db.url(),
            &format!("UPDATE streams SET sender = '{value}' WHERE id = '{id}'"),
        )
        .await;
        for path in ["/api/streams".to_string(), format!("/api/streams/{id}")] {
            let response = app.get(&path).await;
            if status == 500 {
                let error = expect_error(response, 500, "INTERNAL_ERROR").await;
                assert!(
                    !error.to_string().contains(&damaged),
                    "the stored value is not echoed: {error}"
                );
            } else {
                assert_eq!(response.status(), 200, "{path}");
            }
        }
    }
}

/// On PostgreSQL lists run on the pipelined read connections (each backend ran the list
/// statements, and none was dropped for a failure: the same backends throughout).
#[tokio::test]
async fn postgres_lists_run_on_the_pipelined_connections() {
    let db = TestDb::postgres().await;
    let app = TestApp::spawn_with(&db).await;
    let count = pipelined_reader_count();
    let ids = seed(&db, &app).await;
    let before = db.wait_for_pipelined_readers(&app, count, &[]).await;
    for query in ["", "?limit=2", "?source=chain", "?status=completed"] {
        // Two rounds per connection: the first prepares the statement there, the second
        // reuses it.
        for _ in 0..2 * count {
            let page = app.get_json(&format!("/api/streams{query}")).await;
            assert!(!page["streams"].as_array().unwrap().is_empty(), "{query}");
        }
    }
    let page = app.get_json("/api/streams").await;
    assert_eq!(page["streams"].as_array().unwrap().len(), ids.len());
    let after = db.pipelined_readers().await;
    assert_readers_kept_and_used(&before, &after, "list");
}
