//! The service against its own OpenAPI document where the contract test
//! (`scripts/schemathesis.sh`, `docs/api.md` "Contract testing") found them apart, through real
//! HTTP: the delivery list's `eventType` filter is the document's enum, an empty `cursor` is
//! refused as the document's `minLength: 1` says, the list operations document exactly the
//! parameters they accept, a method a path does not allow is a 405 with `Allow` before any
//! credential is checked (declared methods still need theirs), and a NUL character in a path or
//! a filter is a 4xx or an empty list on both stores (PostgreSQL text cannot hold one).

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::e2e_auth::{call, create_key as create_key_body, ADMIN};
use crate::helpers::{detail_codes, expect_error, TestApp, TestDb};

const WORKER: &str = "contract-worker-token-0123456789abcdef";

/// A service with the admin API and push ingest on.
async fn spawn() -> (TestApp, TestDb) {
    let db = TestDb::new().await;
    let app = TestApp::spawn_env(
        &db,
        &[("ADMIN_TOKEN", ADMIN), ("INDEXER_WORKER_TOKEN", WORKER)],
    )
    .await;
    (app, db)
}

async fn document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("the document is JSON")
}

/// The query parameters of `method path` in the document, by name.
fn query_parameters(doc: &Value, method: &str, path: &str) -> Vec<(String, Value)> {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| (p["name"].as_str().expect("name").to_string(), p.clone()))
        .collect()
}

/// `schema`, with a `$ref` to `#/components/schemas/…` resolved.
fn resolved<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .expect("a component reference");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// Creates an API key through the admin API ([`create_key_body`]); returns the key.
async fn create_key(app: &TestApp, name: &str, scopes: &[&str]) -> String {
    let created = create_key_body(app, name, scopes).await;
    created["key"].as_str().expect("key").to_string()
}

/// The methods of a 405's `Allow`, upper-cased.
fn allowed(response: &reqwest::Response) -> BTreeSet<String> {
    response
        .headers()
        .get("allow")
        .expect("a 405 carries Allow")
        .to_str()
        .expect("ascii")
        .split(',')
        .map(|m| m.trim().to_ascii_uppercase())
        .filter(|m| !m.is_empty())
        .collect()
}

#[tokio::test]
async fn the_event_type_filter_is_the_documented_enum_and_anything_else_is_refused() {
    let (app, _db) = spawn().await;
    let doc = document(&app).await;
    let parameters = query_parameters(&doc, "get", "/api/webhooks/deliveries");
    let (_, event_type) = parameters
        .iter()
        .find(|(name, _)| name == "eventType")
        .expect("eventType is documented");
    let documented: Vec<String> = resolved(&doc, &event_type["schema"])["enum"]
        .as_array()
        .expect("eventType is an enum")
        .iter()
        .map(|v| v.as_str().expect("string").to_string())
        .collect();
    assert!(documented.contains(&"stream.created".to_string()));

    // Every documented value is accepted.
    for value in &documented {
        let path = format!("/api/webhooks/deliveries?eventType={value}");
        let response = call(&app, Method::GET, &path, Some(ADMIN), None).await;
        assert_eq!(response.status(), 200, "{value}");
        let page: Value = response.json().await.expect("json");
        assert_eq!(page["deliveries"], json!([]), "{value}");
    }

    // Anything else is a 400 naming the accepted values: the documented ones.
    for value in [
        "AAA",
        "stream.paused",
        "STREAM.CREATED",
        "stream.created ",
        "",
    ] {
        let encoded: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
        let path = format!("/api/webhooks/deliveries?eventType={encoded}");
        let response = call(&app, Method::GET, &path, Some(ADMIN), None).await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert_eq!(
            detail_codes(&error),
            vec![("eventType".to_string(), "INVALID_PARAMETER".to_string())],
            "{value:?}: {error}"
        );
        let message = error["details"][0]["message"].as_str().expect("message");
        assert!(
            message.starts_with("eventType must be one of "),
            "{message}"
        );
        let listed: Vec<&str> = message
            .trim_start_matches("eventType must be one of ")
            .split(", ")
            .collect();
        assert_eq!(listed, documented, "the message lists the document's enum");
    }
    // Reported with the other bad parameters, like `status`.
    let response = call(
        &app,
        Method::GET,
        "/api/webhooks/deliveries?eventType=x&status=y",
        Some(ADMIN),
        None,
    )
    .await;
    let error = expect_error(response, 400, "VALIDATION_ERROR").await;
    let mut codes = detail_codes(&error);
    codes.sort();
    assert_eq!(
        codes,
        vec![
            ("eventType".to_string(), "INVALID_PARAMETER".to_string()),
            ("status".to_string(), "INVALID_PARAMETER".to_string()),
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn an_empty_cursor_is_refused_as_the_document_declares() {
    let (app, _db) = spawn().await;
    let doc = document(&app).await;
    for path in ["/api/streams", "/api/webhooks/deliveries"] {
        let parameters = query_parameters(&doc, "get", path);
        let (_, cursor) = parameters
            .iter()
            .find(|(name, _)| name == "cursor")
            .expect("cursor is documented");
        assert_eq!(cursor["schema"]["minLength"], 1, "{path}: {cursor}");
        assert_ne!(
            cursor["required"], true,
            "{path}: omitted for the first page"
        );

        for query in ["cursor=", "cursor", "limit=5&cursor="] {
            let response = call(
                &app,
                Method::GET,
                &format!("{path}?{query}"),
                Some(ADMIN),
                None,
            )
            .await;
            // `ADMIN_TOKEN` is no stream credential, but reads are public while no key exists.
            let error = expect_error(response, 400, "VALIDATION_ERROR").await;
            assert_eq!(
                detail_codes(&error),
                vec![("cursor".to_string(), "INVALID_CURSOR".to_string())],
                "{path}?{query}: {error}"
            );
            assert_eq!(
                error["details"][0]["message"],
                "cursor must not be empty; omit it for the first page",
                "{path}?{query}"
            );
        }
        // Without it: the first page.
        let response = call(&app, Method::GET, path, Some(ADMIN), None).await;
        assert_eq!(response.status(), 200, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_list_operations_document_exactly_the_parameters_they_accept() {
    let (app, _db) = spawn().await;
    let doc = document(&app).await;
    for (path, accepted) in [
        (
            "/api/streams",
            &[
                "limit",
                "cursor",
                "status",
                "sender",
                "recipient",
                "source",
                "at",
            ][..],
        ),
        (
            "/api/webhooks/deliveries",
            &["status", "endpointId", "eventType", "cursor", "limit"][..],
        ),
    ] {
        let documented: BTreeSet<String> = query_parameters(&doc, "get", path)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let expected: BTreeSet<String> = accepted.iter().map(|s| s.to_string()).collect();
        assert_eq!(documented, expected, "{path}");
        // Each is accepted (with a valid value), and an undocumented one is refused.
        for name in accepted {
            let value = match *name {
                "limit" => "5",
                "status" if path == "/api/streams" => "active",
                "status" => "pending",
                "sender" | "recipient" => crate::helpers::SENDER,
                "source" => "api",
                "at" => "0",
                "eventType" => "stream.created",
                "endpointId" => "wep_0",
                // A cursor is tested in the cursor tests.
                _ => continue,
            };
            let response = call(
                &app,
                Method::GET,
                &format!("{path}?{name}={value}"),
                Some(ADMIN),
                None,
            )
            .await;
            assert_eq!(response.status(), 200, "{path}?{name}={value}");
        }
        let response = call(
            &app,
            Method::GET,
            &format!("{path}?nope=1"),
            Some(ADMIN),
            None,
        )
        .await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert_eq!(
            detail_codes(&error),
            vec![("nope".to_string(), "UNKNOWN_PARAMETER".to_string())]
        );
    }
    // `at` is documented with its bounds.
    let parameters = query_parameters(&doc, "get", "/api/streams");
    let (_, at) = parameters
        .iter()
        .find(|(name, _)| name == "at")
        .expect("at");
    assert_eq!(at["schema"]["minimum"], 0);
    assert_eq!(at["schema"]["maximum"], json!(i64::MAX));
    app.stop().await;
}

#[tokio::test]
async fn undeclared_methods_are_405_with_allow_before_authentication() {
    let (app, _db) = spawn().await;
    // Keys exist: the stream writes need `streams:write` from now on.
    let writer = create_key(&app, "writer", &["streams:write"]).await;
    let reader = create_key(&app, "reader", &["streams:read"]).await;
    let stream = {
        let response = call(
            &app,
            Method::POST,
            "/api/streams",
            Some(&writer),
            Some(crate::helpers::valid_body()),
        )
        .await;
        assert_eq!(response.status(), 201);
        response.json::<Value>().await.expect("json")
    };
    let id = stream["id"].as_str().expect("id").to_string();

    let cases: Vec<(Method, String, &[&str])> = vec![
        (
            Method::PUT,
            format!("/api/streams/{id}"),
            &["GET", "HEAD", "DELETE"],
        ),
        (
            Method::PATCH,
            format!("/api/streams/{id}"),
            &["GET", "HEAD", "DELETE"],
        ),
        (
            Method::TRACE,
            format!("/api/streams/{id}"),
            &["GET", "HEAD", "DELETE"],
        ),
        (
            Method::TRACE,
            "/api/streams".into(),
            &["GET", "HEAD", "POST"],
        ),
        (Method::PUT, "/api/streams".into(), &["GET", "HEAD", "POST"]),
        (
            Method::DELETE,
            "/api/streams".into(),
            &["GET", "HEAD", "POST"],
        ),
        (Method::GET, format!("/api/streams/{id}/pause"), &["POST"]),
        (
            Method::DELETE,
            format!("/api/streams/{id}/resume"),
            &["POST"],
        ),
        (
            Method::PUT,
            "/api/webhooks/endpoints".into(),
            &["GET", "HEAD", "POST"],
        ),
        (
            Method::POST,
            "/api/webhooks/endpoints/wep_0".into(),
            &["GET", "HEAD", "PATCH", "DELETE"],
        ),
        (
            Method::DELETE,
            "/api/webhooks/deliveries".into(),
            &["GET", "HEAD"],
        ),
        (
            Method::GET,
            "/api/webhooks/deliveries/dlv_0/replay".into(),
            &["POST"],
        ),
        (
            Method::PUT,
            "/api/admin/keys".into(),
            &["GET", "HEAD", "POST"],
        ),
        (Method::GET, "/api/admin/keys/key_0".into(), &["DELETE"]),
        (Method::GET, "/internal/indexer/events".into(), &["POST"]),
        (Method::POST, "/health".into(), &["GET", "HEAD"]),
    ];
    let credentials: [(&str, Option<&str>); 5] = [
        ("no credential", None),
        (
            "an unknown key",
            Some("flx_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ),
        ("a key without the scope", Some(&reader)),
        ("the right key", Some(&writer)),
        ("ADMIN_TOKEN", Some(ADMIN)),
    ];
    for (method, path, expected) in &cases {
        for (who, bearer) in &credentials {
            let case = format!("{method} {path} with {who}");
            let body = matches!(*method, Method::PUT | Method::PATCH | Method::POST)
                .then(|| json!({"status": "paused"}));
            let response = call(&app, method.clone(), path, *bearer, body).await;
            assert_eq!(response.status(), 405, "{case}");
            let allow = allowed(&response);
            let expected: BTreeSet<String> = expected.iter().map(|m| m.to_string()).collect();
            assert_eq!(allow, expected, "{case}");
            assert!(
                response.headers().get("www-authenticate").is_none(),
                "{case}: no authentication challenge"
            );
            let error = expect_error(response, 405, "METHOD_NOT_ALLOWED").await;
            assert!(
                error["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(method.as_str())),
                "{case}: {error}"
            );
        }
    }

    // Declared methods still need their credential.
    let by_id = format!("/api/streams/{id}");
    let pause = format!("/api/streams/{id}/pause");
    for (method, path, bearer, status) in [
        (Method::POST, "/api/streams", None, 401),
        (Method::POST, "/api/streams", Some(reader.as_str()), 403),
        (Method::POST, "/api/streams", Some(ADMIN), 403),
        (
            Method::POST,
            "/api/streams",
            Some("flx_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            401,
        ),
        (Method::DELETE, by_id.as_str(), None, 401),
        (Method::DELETE, by_id.as_str(), Some(reader.as_str()), 403),
        (Method::POST, pause.as_str(), None, 401),
        (Method::GET, "/api/webhooks/endpoints", None, 401),
        (
            Method::GET,
            "/api/webhooks/endpoints",
            Some(writer.as_str()),
            403,
        ),
        (Method::GET, "/api/webhooks/deliveries", None, 401),
        (Method::GET, "/api/admin/keys", None, 401),
        (Method::GET, "/api/admin/keys", Some(writer.as_str()), 403),
        (Method::POST, "/internal/indexer/events", None, 401),
    ] {
        let case = format!("{method} {path} with {bearer:?}");
        let body = (method == Method::POST).then(|| json!({"events": []}));
        let response = call(&app, method.clone(), path, bearer, body).await;
        assert_eq!(response.status(), status, "{case}");
    }
    // … and pass with it; nothing above changed the stream.
    let response = call(&app, Method::POST, &pause, Some(&writer), None).await;
    assert_eq!(response.status(), 200);
    let paused: Value = response.json().await.expect("json");
    assert_eq!(paused["status"], "paused");
    // HEAD comes with GET (reads are public: no `AUTH_REQUIRE_READ_KEY`).
    let response = call(&app, Method::HEAD, &by_id, None, None).await;
    assert_eq!(response.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn undeclared_methods_are_405_while_the_admin_routes_are_off() {
    // No ADMIN_TOKEN and no `webhooks:admin` key: the admin routes answer 404 to their declared
    // methods, and a method no configuration allows is still a 405.
    let app = TestApp::spawn().await;
    for (method, path, status) in [
        (Method::GET, "/api/admin/keys", 404),
        (Method::PUT, "/api/admin/keys", 405),
        (Method::GET, "/api/webhooks/endpoints", 404),
        (Method::PUT, "/api/webhooks/endpoints", 405),
        (Method::POST, "/internal/indexer/events", 404),
        (Method::GET, "/internal/indexer/events", 405),
    ] {
        let body = (method == Method::POST).then(|| json!({"events": []}));
        let response = call(&app, method.clone(), path, None, body).await;
        assert_eq!(response.status(), status, "{method} {path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_nul_character_in_a_path_or_filter_names_nothing_on_every_store() {
    let (app, _db) = spawn().await;
    let writer = create_key(&app, "writer", &["streams:write"]).await;
    for (method, path, bearer) in [
        (Method::GET, "/api/streams/%00", None),
        (Method::GET, "/api/streams/a%00b?at=1", None),
        (Method::DELETE, "/api/streams/%00", Some(writer.as_str())),
        (
            Method::POST,
            "/api/streams/%00/pause",
            Some(writer.as_str()),
        ),
        (Method::POST, "/api/streams/%00/resume", None),
        (Method::GET, "/api/webhooks/endpoints/%00", Some(ADMIN)),
        (Method::PATCH, "/api/webhooks/endpoints/%00", Some(ADMIN)),
        (Method::DELETE, "/api/webhooks/endpoints/%00", Some(ADMIN)),
        (
            Method::POST,
            "/api/webhooks/endpoints/%00/test",
            Some(ADMIN),
        ),
        (Method::GET, "/api/webhooks/deliveries/%00", Some(ADMIN)),
        (
            Method::POST,
            "/api/webhooks/deliveries/%00/replay",
            Some(ADMIN),
        ),
        (Method::DELETE, "/api/admin/keys/%00", Some(ADMIN)),
        (Method::GET, "/nothing/%00", None),
    ] {
        let body = (method == Method::PATCH).then(|| json!({"enabled": false}));
        let response = call(&app, method.clone(), path, bearer, body).await;
        expect_error(response, 404, "NOT_FOUND").await;
    }
    // A filter holding one matches nothing.
    let response = call(
        &app,
        Method::GET,
        "/api/webhooks/deliveries?endpointId=%00",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.expect("json");
    assert_eq!(
        page,
        json!({"deliveries": [], "nextCursor": null, "hasMore": false})
    );
    app.stop().await;
}
