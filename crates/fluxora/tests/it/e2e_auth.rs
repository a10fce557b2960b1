//! API keys and authentication: the open API while no key exists, the admin key routes, scopes on
//! stream and admin routes, the `fluxora keys` CLI on the same database, refresh across processes,
//! fail-closed refresh, and no key in any response or log.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::binary::{self, Server};
use crate::helpers::{detail_codes, execute_sql, expect_error, valid_body, TestApp, TestDb};

pub(crate) const ADMIN: &str = "admin-token-0123456789abcdef";
/// How long a condition may take to become true (a refresh cycle or a process start).
const DEADLINE: Duration = Duration::from_secs(15);

/// Sends `method path` with an optional bearer credential and JSON body.
pub(crate) async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    send(&app.client, &app.base, method, path, bearer, body).await
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = client.request(method, format!("{base}{path}"));
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// Creates a key through the admin API; returns the 201 body (with `key`).
pub(crate) async fn create_key(app: &TestApp, name: &str, scopes: &[&str]) -> Value {
    let response = call(
        app,
        Method::POST,
        "/api/admin/keys",
        Some(ADMIN),
        Some(json!({"name": name, "scopes": scopes})),
    )
    .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

pub(crate) fn key_of(created: &Value) -> String {
    created["key"].as_str().unwrap().to_string()
}

async fn expect_401(response: reqwest::Response) -> Value {
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string()),
        Some("Bearer".to_string()),
        "401 carries WWW-Authenticate: Bearer"
    );
    expect_error(response, 401, "UNAUTHORIZED").await
}

/// Polls `probe` until it returns true, failing after [`DEADLINE`].
async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !probe().await {
        assert!(start.elapsed() < DEADLINE, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn spawn(extra: &[(&str, &str)]) -> (TestApp, TestDb) {
    let db = TestDb::new().await;
    let mut env = vec![("ADMIN_TOKEN", ADMIN)];
    env.extend_from_slice(extra);
    (TestApp::spawn_env(&db, &env).await, db)
}

/// Runs `fluxora keys <args>` on `database_url`; returns (exit code, stdout, stderr).
async fn keys_cli(database_url: &str, args: &[&str]) -> (i32, String, String) {
    let mut command = binary::command(database_url);
    command.arg("keys").args(args);
    let output = tokio::time::timeout(binary::PROCESS_TIMEOUT, command.output())
        .await
        .expect("fluxora keys finishes in time")
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn the_api_is_open_while_no_key_exists_and_a_warn_says_so() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url()).await;
    let warned = server.log().iter().any(|line| {
        line["level"] == "WARN"
            && line["message"]
                .as_str()
                .is_some_and(|m| m.contains("no active API key"))
    });
    assert!(
        warned,
        "startup WARN about the open API: {:?}",
        server.log()
    );
    let client = reqwest::Client::new();
    let created = send(
        &client,
        &server.base,
        Method::POST,
        "/api/streams",
        None,
        Some(valid_body()),
    )
    .await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let paused = send(
        &client,
        &server.base,
        Method::POST,
        &format!("/api/streams/{id}/pause"),
        None,
        None,
    )
    .await;
    assert_eq!(paused.status(), 200);
    server.terminate().await;
}

#[tokio::test]
async fn admin_key_routes_show_the_key_once_and_revoke() {
    let (app, _db) = spawn(&[]).await;
    let created = create_key(&app, "  ci deploy  ", &["streams:write", "streams:read"]).await;
    let key = key_of(&created);
    assert!(key.starts_with("flx_") && key.len() == 47, "{key}");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("key_"));
    assert_eq!(created["name"], "ci deploy");
    assert_eq!(created["scopes"], json!(["streams:read", "streams:write"]));
    assert_eq!(created["prefix"], &key[..12]);
    assert!(created["createdAt"].is_string());
    assert_eq!(created["revokedAt"], Value::Null);

    let list = call(&app, Method::GET, "/api/admin/keys", Some(ADMIN), None).await;
    assert_eq!(list.status(), 200);
    let text = list.text().await.unwrap();
    let hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(key.as_bytes()))
    };
    assert!(!text.contains(&key) && !text.contains(&key[4..]), "{text}");
    assert!(!text.contains(&hash), "the hash is never shown: {text}");
    let listed: Value = serde_json::from_str(&text).unwrap();
    let mut shown = created.clone();
    shown.as_object_mut().unwrap().remove("key");
    assert_eq!(listed["keys"], json!([shown]));

    let revoked = call(
        &app,
        Method::DELETE,
        &format!("/api/admin/keys/{id}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(revoked.status(), 204);
    let listed: Value = call(&app, Method::GET, "/api/admin/keys", Some(ADMIN), None)
        .await
        .json()
        .await
        .unwrap();
    let revoked_at = listed["keys"][0]["revokedAt"].clone();
    assert!(revoked_at.is_string(), "{listed}");
    // Revoking twice: 204 again, the first revocation time kept.
    let again = call(
        &app,
        Method::DELETE,
        &format!("/api/admin/keys/{id}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(again.status(), 204);
    let listed: Value = call(&app, Method::GET, "/api/admin/keys", Some(ADMIN), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["keys"][0]["revokedAt"], revoked_at);
    let unknown = call(
        &app,
        Method::DELETE,
        "/api/admin/keys/key_nope",
        Some(ADMIN),
        None,
    )
    .await;
    expect_error(unknown, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn new_key_bodies_are_validated_field_by_field() {
    let (app, _db) = spawn(&[]).await;
    let cases = [
        (
            json!({"name": "x", "scopes": ["streams:write"], "admin": true}),
            vec![("admin", "UNKNOWN_FIELD")],
        ),
        (
            json!({"name": "x", "scopes": ["streams:write", "streams:delete"]}),
            vec![("scopes", "SCOPE_UNKNOWN")],
        ),
        (
            json!({"name": "x", "scopes": []}),
            vec![("scopes", "SCOPES_EMPTY")],
        ),
        (
            json!({"name": "x", "scopes": "streams:write"}),
            vec![("scopes", "SCOPES_INVALID")],
        ),
        (
            json!({"name": "", "scopes": ["streams:write"]}),
            vec![("name", "NAME_INVALID")],
        ),
        (
            json!({"name": "x".repeat(101), "scopes": ["streams:write"]}),
            vec![("name", "NAME_INVALID")],
        ),
        (
            json!({"name": 7}),
            vec![("name", "NAME_INVALID"), ("scopes", "SCOPES_INVALID")],
        ),
        (json!(["name"]), vec![("body", "INVALID_BODY")]),
    ];
    for (body, expected) in cases {
        let response = call(
            &app,
            Method::POST,
            "/api/admin/keys",
            Some(ADMIN),
            Some(body.clone()),
        )
        .await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        let expected: Vec<(String, String)> = expected
            .into_iter()
            .map(|(f, c)| (f.to_string(), c.to_string()))
            .collect();
        assert_eq!(detail_codes(&error), expected, "for {body}");
    }
    // A name of exactly 100 characters is fine.
    create_key(&app, &"n".repeat(100), &["webhooks:admin"]).await;
    let listed: Value = call(&app, Method::GET, "/api/admin/keys", Some(ADMIN), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["keys"].as_array().unwrap().len(),
        1,
        "nothing invalid stored"
    );
}

#[tokio::test]
async fn key_management_needs_the_admin_token() {
    // No ADMIN_TOKEN: the routes do not exist.
    let closed = TestApp::spawn().await;
    expect_error(closed.get("/api/admin/keys").await, 404, "NOT_FOUND").await;
    expect_error(
        closed
            .post_json(
                "/api/admin/keys",
                &json!({"name": "x", "scopes": ["streams:write"]}),
            )
            .await,
        404,
        "NOT_FOUND",
    )
    .await;

    let (app, _db) = spawn(&[]).await;
    expect_401(call(&app, Method::GET, "/api/admin/keys", None, None).await).await;
    // A mistyped ADMIN_TOKEN: the message names both kinds of credential, not only API keys.
    let mistyped = format!("{ADMIN}x");
    let error =
        expect_401(call(&app, Method::GET, "/api/admin/keys", Some(&mistyped), None).await).await;
    assert_eq!(
        error["message"],
        "the bearer token is neither an active API key nor ADMIN_TOKEN"
    );
    assert!(!error.to_string().contains(&mistyped), "never echoed");
    // An empty token (`-H "Authorization: Bearer $ADMIN_TOKEN"` with the variable unset) is
    // told it is empty.
    let empty = app
        .client
        .get(app.url("/api/admin/keys"))
        .header("authorization", "Bearer ")
        .send()
        .await
        .unwrap();
    let error = expect_401(empty).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("the bearer token is empty"),
        "{error}"
    );
    // A webhooks:admin key cannot manage keys (it could mint itself streams:write keys).
    let webhook_admin = key_of(&create_key(&app, "hooks", &["webhooks:admin"]).await);
    let forbidden = call(
        &app,
        Method::POST,
        "/api/admin/keys",
        Some(&webhook_admin),
        Some(json!({"name": "escalate", "scopes": ["streams:write"]})),
    )
    .await;
    expect_error(forbidden, 403, "FORBIDDEN").await;
    let forbidden = call(
        &app,
        Method::GET,
        "/api/admin/keys",
        Some(&webhook_admin),
        None,
    )
    .await;
    expect_error(forbidden, 403, "FORBIDDEN").await;
}

#[tokio::test]
async fn stream_writes_need_a_key_with_streams_write_once_a_key_exists() {
    let (app, _db) = spawn(&[]).await;
    let reader = key_of(&create_key(&app, "reader", &["streams:read"]).await);
    let writer = key_of(&create_key(&app, "writer", &["streams:write"]).await);

    let body = Some(valid_body());
    expect_401(call(&app, Method::POST, "/api/streams", None, body.clone()).await).await;
    let error = expect_error(
        call(
            &app,
            Method::POST,
            "/api/streams",
            Some(&reader),
            body.clone(),
        )
        .await,
        403,
        "FORBIDDEN",
    )
    .await;
    assert!(error["message"].as_str().unwrap().contains("streams:write"));
    // ADMIN_TOKEN is not a stream credential.
    expect_error(
        call(
            &app,
            Method::POST,
            "/api/streams",
            Some(ADMIN),
            body.clone(),
        )
        .await,
        403,
        "FORBIDDEN",
    )
    .await;
    let created = call(
        &app,
        Method::POST,
        "/api/streams",
        Some(&writer),
        body.clone(),
    )
    .await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    for (method, path) in [
        (Method::POST, format!("/api/streams/{id}/pause")),
        (Method::POST, format!("/api/streams/{id}/resume")),
        (Method::DELETE, format!("/api/streams/{id}")),
    ] {
        expect_401(call(&app, method.clone(), &path, None, None).await).await;
        expect_error(
            call(&app, method.clone(), &path, Some(&reader), None).await,
            403,
            "FORBIDDEN",
        )
        .await;
        let done = call(&app, method.clone(), &path, Some(&writer), None).await;
        assert_eq!(done.status(), 200, "{method} {path}");
    }

    // Reads stay public, with or without a valid key.
    assert_eq!(app.get("/api/streams").await.status(), 200);
    assert_eq!(app.get(&format!("/api/streams/{id}")).await.status(), 200);
    let with_key = call(&app, Method::GET, "/api/streams", Some(&reader), None).await;
    assert_eq!(with_key.status(), 200);
}

#[tokio::test]
async fn revoked_and_invalid_credentials_get_401_even_on_public_routes() {
    let (app, _db) = spawn(&[]).await;
    let created = create_key(&app, "writer", &["streams:write"]).await;
    let writer = key_of(&created);
    let other = key_of(&create_key(&app, "other", &["streams:read"]).await);
    let unknown = format!("flx_{}", "A".repeat(43));
    let long = format!("flx_{}", "A".repeat(600));
    for bad in [unknown.as_str(), long.as_str(), "", "not a bearer"] {
        for path in ["/api/streams", "/api/webhooks/endpoints", "/api/nope"] {
            let response = app
                .client
                .get(app.url(path))
                .header("authorization", format!("Bearer {bad}"))
                .send()
                .await
                .unwrap();
            expect_401(response).await;
        }
    }
    for header in ["Basic dXNlcjpwYXNz", "Bearer", &format!("Token {writer}")] {
        let response = app
            .client
            .post(app.url("/api/streams"))
            .header("authorization", header)
            .json(&valid_body())
            .send()
            .await
            .unwrap();
        expect_401(response).await;
    }
    // Routes with their own rules ignore the Authorization header.
    for path in ["/health", "/health/live", "/"] {
        let response = call(&app, Method::GET, path, Some(&unknown), None).await;
        assert!(response.status().is_success(), "{path}");
    }

    let id = created["id"].as_str().unwrap();
    let revoked = call(
        &app,
        Method::DELETE,
        &format!("/api/admin/keys/{id}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(revoked.status(), 204);
    let error = expect_401(
        call(
            &app,
            Method::POST,
            "/api/streams",
            Some(&writer),
            Some(valid_body()),
        )
        .await,
    )
    .await;
    assert!(
        !error.to_string().contains(&writer),
        "the key is never echoed"
    );
    expect_401(call(&app, Method::GET, "/api/streams", Some(&writer), None).await).await;

    // Once no active key remains, the stream API is open again (documented).
    let other_id = call(&app, Method::GET, "/api/admin/keys", Some(ADMIN), None)
        .await
        .json::<Value>()
        .await
        .unwrap()["keys"][1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            &format!("/api/admin/keys/{other_id}"),
            Some(ADMIN),
            None
        )
        .await
        .status(),
        204
    );
    expect_401(call(&app, Method::GET, "/api/streams", Some(&other), None).await).await;
    let open = call(&app, Method::POST, "/api/streams", None, Some(valid_body())).await;
    assert_eq!(open.status(), 201);
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_the_api_key_that_used_them() {
    let (app, _db) = spawn(&[]).await;
    let alice = key_of(&create_key(&app, "alice", &["streams:write"]).await);
    let bob = key_of(&create_key(&app, "bob", &["streams:write"]).await);
    let create = |key: &str| {
        app.client
            .post(app.url("/api/streams"))
            .bearer_auth(key)
            .header("idempotency-key", "order-1")
            .json(&valid_body())
            .send()
    };

    let first = create(&alice).await.unwrap();
    assert_eq!(first.status(), 201);
    let alices: Value = first.json().await.unwrap();
    // The same idempotency key and body from another API key is another request: a new stream,
    // never Alice's replayed to Bob.
    let second = create(&bob).await.unwrap();
    assert_eq!(second.status(), 201);
    assert!(second.headers().get("idempotency-replayed").is_none());
    let bobs: Value = second.json().await.unwrap();
    assert_ne!(alices["id"], bobs["id"]);
    // Each key still replays its own.
    for (key, expected) in [(&alice, &alices), (&bob, &bobs)] {
        let replay = create(key).await.unwrap();
        assert_eq!(replay.status(), 201);
        assert_eq!(replay.headers()["idempotency-replayed"], "true");
        assert_eq!(replay.json::<Value>().await.unwrap()["id"], expected["id"]);
    }
    let list: Value = app.get_json("/api/streams").await;
    assert_eq!(list["streams"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn reads_need_streams_read_when_configured() {
    let (app, _db) = spawn(&[("AUTH_REQUIRE_READ_KEY", "true")]).await;
    // No key yet: everything open.
    assert_eq!(app.get("/api/streams").await.status(), 200);
    let reader = key_of(&create_key(&app, "reader", &["streams:read"]).await);
    let writer = key_of(&create_key(&app, "writer", &["streams:write"]).await);
    let created = call(
        &app,
        Method::POST,
        "/api/streams",
        Some(&writer),
        Some(valid_body()),
    )
    .await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    for path in ["/api/streams".to_string(), format!("/api/streams/{id}")] {
        expect_401(app.get(&path).await).await;
        expect_error(
            call(&app, Method::GET, &path, Some(&writer), None).await,
            403,
            "FORBIDDEN",
        )
        .await;
        let read = call(&app, Method::GET, &path, Some(&reader), None).await;
        assert_eq!(read.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn webhook_admin_routes_accept_a_webhooks_admin_key() {
    let (app, _db) = spawn(&[]).await;
    let hooks = key_of(&create_key(&app, "hooks", &["webhooks:admin"]).await);
    let writer = key_of(&create_key(&app, "writer", &["streams:write"]).await);
    let ok = call(
        &app,
        Method::GET,
        "/api/webhooks/endpoints",
        Some(&hooks),
        None,
    )
    .await;
    assert_eq!(ok.status(), 200);
    let ok = call(
        &app,
        Method::GET,
        "/api/webhooks/deliveries",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(ok.status(), 200);
    expect_error(
        call(
            &app,
            Method::GET,
            "/api/webhooks/endpoints",
            Some(&writer),
            None,
        )
        .await,
        403,
        "FORBIDDEN",
    )
    .await;
    expect_401(call(&app, Method::GET, "/api/webhooks/endpoints", None, None).await).await;
    // A webhooks:admin key grants no stream writes.
    expect_error(
        call(
            &app,
            Method::POST,
            "/api/streams",
            Some(&hooks),
            Some(valid_body()),
        )
        .await,
        403,
        "FORBIDDEN",
    )
    .await;
}

#[tokio::test]
async fn keys_cli_creates_lists_and_revokes_and_servers_follow_within_the_refresh_interval() {
    let db = TestDb::new().await;
    let url = db.url();
    // No ADMIN_TOKEN: the webhook admin routes exist only once a webhooks:admin key does.
    let app = TestApp::spawn_env(&db, &[("API_KEY_REFRESH_MS", "100")]).await;
    expect_error(app.get("/api/webhooks/endpoints").await, 404, "NOT_FOUND").await;

    let (code, stdout, stderr) = keys_cli(
        &url,
        &["create", "--name", "hooks", "--scope", "webhooks:admin"],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let hooks = stdout.trim_end().to_string();
    assert!(
        hooks.starts_with("flx_") && hooks.len() == 47,
        "stdout is the key alone: {stdout}"
    );
    assert_eq!(stdout, format!("{hooks}\n"));
    assert!(
        !stderr.contains(&hooks),
        "the key is printed once, on stdout"
    );

    let (code, stdout, stderr) = keys_cli(
        &url,
        &[
            "create",
            "--name",
            "deploy",
            "--scope",
            "streams:write",
            "--scope",
            "streams:read",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let created: Value = serde_json::from_str(&stdout).unwrap();
    let writer = key_of(&created);
    assert_eq!(created["scopes"], json!(["streams:read", "streams:write"]));
    assert!(!stderr.contains(&writer));

    // The running service picks both up within API_KEY_REFRESH_MS.
    eventually("the webhooks:admin key is accepted", || async {
        call(
            &app,
            Method::GET,
            "/api/webhooks/endpoints",
            Some(&hooks),
            None,
        )
        .await
        .status()
            == 200
    })
    .await;
    eventually("the streams:write key is accepted", || async {
        call(&app, Method::GET, "/api/streams", Some(&writer), None)
            .await
            .status()
            == 200
    })
    .await;
    expect_401(call(&app, Method::POST, "/api/streams", None, Some(valid_body())).await).await;
    let ok = call(
        &app,
        Method::POST,
        "/api/streams",
        Some(&writer),
        Some(valid_body()),
    )
    .await;
    assert_eq!(ok.status(), 201);
    expect_401(call(&app, Method::GET, "/api/webhooks/endpoints", None, None).await).await;

    let (code, stdout, _) = keys_cli(&url, &["list", "--json"]).await;
    assert_eq!(code, 0);
    assert!(!stdout.contains(&hooks) && !stdout.contains(&writer));
    let listed: Value = serde_json::from_str(&stdout).unwrap();
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["name"], "hooks");
    let hooks_id = keys[0]["id"].as_str().unwrap().to_string();
    let (code, table, _) = keys_cli(&url, &["list"]).await;
    assert_eq!(code, 0);
    assert!(
        table.contains(&hooks_id) && table.contains("deploy"),
        "{table}"
    );
    assert!(!table.contains(&hooks) && !table.contains(&writer));

    let (code, _, _) = keys_cli(&url, &["revoke", &hooks_id]).await;
    assert_eq!(code, 0);
    let (code, _, _) = keys_cli(&url, &["revoke", &hooks_id]).await;
    assert_eq!(code, 0, "revoking twice succeeds");
    let (code, _, stderr) = keys_cli(&url, &["revoke", "key_unknown"]).await;
    assert_eq!(code, 1, "{stderr}");
    let (code, stdout, stderr) = keys_cli(
        &url,
        &["create", "--name", "x", "--scope", "streams:everything"],
    )
    .await;
    assert_eq!((code, stdout.as_str()), (2, ""), "{stderr}");
    assert!(stderr.contains("streams:write"), "{stderr}");

    // Revoked on the database: the service refuses it within the interval, and with no
    // webhooks:admin key left (and no ADMIN_TOKEN) the routes answer 404 again.
    eventually("the revoked key is refused", || async {
        call(&app, Method::GET, "/api/streams", Some(&hooks), None)
            .await
            .status()
            == 401
    })
    .await;
    expect_error(app.get("/api/webhooks/endpoints").await, 404, "NOT_FOUND").await;
    app.stop().await;
}

/// Renames the `api_keys` table (`from` → `to`) behind the service's back.
async fn rename_keys_table(url: &str, from: &str, to: &str) {
    execute_sql(url, &format!("ALTER TABLE {from} RENAME TO {to}")).await;
}

#[tokio::test]
async fn an_unreadable_key_table_keeps_the_last_keys_and_never_reopens_the_api() {
    let db = TestDb::new().await;
    let server = Server::start_with(&db.url(), &[("API_KEY_REFRESH_MS", "100")]).await;
    let (code, writer, stderr) = keys_cli(
        &db.url(),
        &["create", "--name", "w", "--scope", "streams:write"],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let writer = writer.trim_end().to_string();
    let client = reqwest::Client::new();
    let post = |bearer: Option<String>| {
        let client = client.clone();
        let base = server.base.clone();
        async move {
            send(
                &client,
                &base,
                Method::POST,
                "/api/streams",
                bearer.as_deref(),
                Some(valid_body()),
            )
            .await
            .status()
        }
    };
    eventually("the key is enforced", || async { post(None).await == 401 }).await;

    rename_keys_table(&db.url(), "api_keys", "api_keys_away").await;
    let start = Instant::now();
    while !server.log().iter().any(|line| {
        line["level"] == "WARN"
            && line["message"]
                .as_str()
                .is_some_and(|m| m.contains("refreshing API keys failed"))
    }) {
        assert!(
            start.elapsed() < DEADLINE,
            "no failed refresh logged: {:#?}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(post(None).await, 401, "still closed");
    assert_eq!(
        post(Some(writer.clone())).await,
        201,
        "the last known key still works"
    );
    rename_keys_table(&db.url(), "api_keys_away", "api_keys").await;
    let log = server.terminate().await;
    assert!(
        !log.iter().any(|line| line.to_string().contains(&writer)),
        "no key in the log"
    );
}

#[tokio::test]
async fn keys_and_the_admin_token_never_reach_the_log() {
    let db = TestDb::new().await;
    let server = Server::start_with(&db.url(), &[("ADMIN_TOKEN", ADMIN)]).await;
    let client = reqwest::Client::new();
    let created: Value = send(
        &client,
        &server.base,
        Method::POST,
        "/api/admin/keys",
        Some(ADMIN),
        Some(json!({"name": "w", "scopes": ["streams:write"]})),
    )
    .await
    .json()
    .await
    .unwrap();
    let key = key_of(&created);
    let id = created["id"].as_str().unwrap().to_string();
    let ok = send(
        &client,
        &server.base,
        Method::POST,
        "/api/streams",
        Some(&key),
        Some(valid_body()),
    )
    .await;
    assert_eq!(ok.status(), 201);
    let stream = ok.text().await.unwrap();
    assert!(!stream.contains(&key));
    let wrong = format!("{key}x");
    let refused = send(
        &client,
        &server.base,
        Method::GET,
        "/api/streams",
        Some(&wrong),
        None,
    )
    .await;
    assert_eq!(refused.status(), 401);
    assert!(!refused.text().await.unwrap().contains(&key));
    let listed = send(
        &client,
        &server.base,
        Method::GET,
        "/api/admin/keys",
        Some(ADMIN),
        None,
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(!listed.contains(&key));
    let revoked = send(
        &client,
        &server.base,
        Method::DELETE,
        &format!("/api/admin/keys/{id}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(revoked.status(), 204);

    let log = server.terminate().await;
    let text: Vec<String> = log.iter().map(Value::to_string).collect();
    for secret in [key.as_str(), &key[4..], ADMIN] {
        assert!(
            !text.iter().any(|line| line.contains(secret)),
            "a secret reached the log"
        );
    }
    let logged_ids = |message: &str| {
        log.iter()
            .any(|line| line["message"] == message && line["key_id"] == id.as_str())
    };
    assert!(
        logged_ids("API key created") && logged_ids("API key revoked"),
        "{text:?}"
    );
}
