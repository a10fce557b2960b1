//! The HTTP conventions every route follows (`docs/api.md`) and the service routes, through real
//! HTTP: the error envelope on every error, 404/405/413/415, body rules, request ids, `GET /` and
//! the health probes.

use std::collections::HashSet;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::helpers::{expect_error, valid_body, TestApp};

/// Largest accepted body: 256 KiB, boundary included; one byte more is a 413.
const MAX_BODY: usize = 262_144;

/// Asserts the error envelope (via `expect_error`) plus `Cache-Control: no-store`, and returns the
/// error object and the response headers.
async fn envelope(response: reqwest::Response, status: u16, code: &str) -> (Value, HeaderMap) {
    let headers = response.headers().clone();
    let error = expect_error(response, status, code).await;
    assert_eq!(
        headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "{status} {code}: error responses carry Cache-Control: no-store"
    );
    (error, headers)
}

/// The methods of an `Allow` header, upper-cased.
fn allowed(headers: &HeaderMap) -> HashSet<String> {
    let allow = headers
        .get("allow")
        .expect("405 carries an Allow header")
        .to_str()
        .expect("ascii");
    allow
        .split(',')
        .map(|m| m.trim().to_ascii_uppercase())
        .filter(|m| !m.is_empty())
        .collect()
}

/// Asserts `id` is a generated UUID v7 in its canonical hyphenated form.
fn assert_uuid_v7(id: &str, case: &str) {
    let uuid = Uuid::parse_str(id).unwrap_or_else(|e| panic!("{case}: {id:?} is not a UUID: {e}"));
    assert_eq!(uuid.get_version_num(), 7, "{case}: {id} is not a UUID v7");
    assert_eq!(uuid.hyphenated().to_string(), id, "{case}: canonical form");
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .expect("x-request-id header")
        .to_str()
        .expect("ascii")
        .to_string()
}

/// `body` serialized and right-padded with spaces to exactly `size` bytes.
fn padded(body: &Value, size: usize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(body).expect("serialize");
    assert!(bytes.len() <= size);
    bytes.resize(size, b' ');
    assert_eq!(bytes.len(), size);
    bytes
}

/// POSTs raw `bytes` to `path` with the given `Content-Type` (none when `None`).
async fn post_bytes(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let mut request = app.client.post(app.url(path)).body(bytes);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send().await.expect("request")
}

async fn stream_count(app: &TestApp) -> usize {
    let response = app.get("/api/streams?limit=100").await;
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.expect("json");
    page["streams"].as_array().expect("streams").len()
}

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client for chunked request bodies (reqwest's `stream` feature, needed for
// `Body::wrap_stream`, is not enabled in this crate's dev-dependencies).
// ---------------------------------------------------------------------------------------------

struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The same checks as `helpers::expect_error`, on a raw response.
    fn expect_error(&self, status: u16, code: &str) -> Value {
        assert_eq!(
            self.status,
            status,
            "status: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert_eq!(self.header("cache-control"), Some("no-store"));
        let request_id = self.header("x-request-id").expect("x-request-id");
        let body = self.json();
        let error = body["error"].clone();
        assert_eq!(error["code"], code, "code in {body}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(
            error["requestId"], request_id,
            "requestId echoes the header"
        );
        assert_eq!(
            body.as_object().expect("object").len(),
            1,
            "only `error`: {body}"
        );
        error
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn decode_chunked(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = find(data, b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim().to_string();
        let size = usize::from_str_radix(&size_text, 16).expect("chunk size");
        data = &data[line_end + 2..];
        if size == 0 || data.len() < size {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[(size + 2).min(data.len())..];
    }
}

/// Sends `POST path` with a chunked body made of `chunks` (and `Connection: close`), and reads the
/// whole response. The body is written concurrently with reading, so an early answer (413) is
/// read even if the server stops reading the body.
async fn post_chunked(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    chunks: Vec<Vec<u8>>,
) -> RawResponse {
    let authority = app.base.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&authority)
        .await
        .expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
    );
    if let Some(content_type) = content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    head.push_str("\r\n");
    let writer_task = tokio::spawn(async move {
        // Errors are expected when the server answers early and closes; ignore them.
        let _ = writer.write_all(head.as_bytes()).await;
        for chunk in chunks {
            if chunk.is_empty() {
                continue;
            }
            let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
            framed.extend_from_slice(&chunk);
            framed.extend_from_slice(b"\r\n");
            if writer.write_all(&framed).await.is_err() {
                return;
            }
        }
        let _ = writer.write_all(b"0\r\n\r\n").await;
        let _ = writer.flush().await;
        // Keep the write half open until the task is dropped: the server closes.
        std::future::pending::<()>().await;
    });

    let mut raw = Vec::new();
    // A reset after the response was sent is fine: what was read so far is kept in `raw`.
    let _ = reader.read_to_end(&mut raw).await;
    writer_task.abort();

    let head_end = find(&raw, b"\r\n\r\n").unwrap_or_else(|| {
        panic!(
            "no complete response head in {:?}",
            String::from_utf8_lossy(&raw)
        )
    });
    let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[head_end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        decode_chunked(rest)
    } else if let Some(length) = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        rest[..length.min(rest.len())].to_vec()
    } else {
        rest.to_vec()
    };
    RawResponse {
        status,
        headers,
        body,
    }
}

/// `bytes` split into 16 KiB chunks.
fn in_chunks(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes.chunks(16 * 1024).map(<[u8]>::to_vec).collect()
}

// ---------------------------------------------------------------------------------------------
// 404 and 405
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_routes_are_404_envelopes() {
    let app = TestApp::spawn().await;
    for (method, path) in [
        (Method::GET, "/nope"),
        (Method::GET, "/api"),
        (Method::GET, "/api/stream"),
        (Method::GET, "/api/streams/x/y"),
        (Method::POST, "/api/nope"),
        (Method::DELETE, "/nothing/here"),
        (Method::GET, "/health/deep"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .expect("request");
        let (error, _) = envelope(response, 404, "NOT_FOUND").await;
        assert!(
            error["message"].as_str().is_some_and(|m| m.contains(path)),
            "{method} {path}: {error}"
        );
    }

    // A long path: still the envelope.
    let long = format!("/{}", "a".repeat(5000));
    let response = app.get(&long).await;
    let (error, _) = envelope(response, 404, "NOT_FOUND").await;
    assert!(error["message"].as_str().is_some_and(|m| m.len() < 1000));

    // An unknown stream id.
    let response = app.get("/api/streams/does-not-exist").await;
    let (error, _) = envelope(response, 404, "NOT_FOUND").await;
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("does-not-exist")),
        "{error}"
    );
    for path in [
        "/api/streams/does-not-exist/pause",
        "/api/streams/does-not-exist/resume",
    ] {
        let response = app.post_empty(path).await;
        envelope(response, 404, "NOT_FOUND").await;
    }
    let response = app.delete("/api/streams/does-not-exist").await;
    envelope(response, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let app = TestApp::spawn().await;
    let stream = app.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id");
    let by_id = format!("/api/streams/{id}");
    let pause = format!("/api/streams/{id}/pause");
    let cases: Vec<(Method, String, Vec<&str>)> = vec![
        (Method::PUT, "/api/streams".into(), vec!["GET", "POST"]),
        (Method::DELETE, "/api/streams".into(), vec!["GET", "POST"]),
        (Method::PATCH, "/api/streams".into(), vec!["GET", "POST"]),
        (Method::PATCH, by_id.clone(), vec!["GET", "DELETE"]),
        (Method::PUT, by_id.clone(), vec!["GET", "DELETE"]),
        (Method::POST, by_id.clone(), vec!["GET", "DELETE"]),
        (Method::GET, pause.clone(), vec!["POST"]),
        (Method::DELETE, pause, vec!["POST"]),
        (Method::POST, "/".into(), vec!["GET"]),
        (Method::DELETE, "/health".into(), vec!["GET"]),
        (Method::POST, "/health/ready".into(), vec!["GET"]),
    ];
    for (method, path, expected) in cases {
        let case = format!("{method} {path}");
        let response = app
            .client
            .request(method.clone(), app.url(&path))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 405, "{case}");
        let (error, headers) = envelope(response, 405, "METHOD_NOT_ALLOWED").await;
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        let allow = allowed(&headers);
        for method in &expected {
            assert!(
                allow.contains(*method),
                "{case}: Allow {allow:?} lacks {method}"
            );
        }
        assert!(
            !allow.contains(method.as_str()),
            "{case}: Allow {allow:?} lists the refused method"
        );
    }

    // A 405 with a JSON body is still a 405 (the method is wrong whatever the body).
    let response = app
        .client
        .patch(app.url(&by_id))
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"status":"paused"}"#)
        .send()
        .await
        .expect("request");
    let (_, headers) = envelope(response, 405, "METHOD_NOT_ALLOWED").await;
    assert!(allowed(&headers).contains("GET"));

    // Nothing changed.
    let response = app.get(&by_id).await;
    let read: Value = response.json().await.expect("json");
    assert_eq!(read["status"], "active");
}

// ---------------------------------------------------------------------------------------------
// Body size (413)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn body_of_exactly_256_kib_is_accepted_by_the_size_rule() {
    let app = TestApp::spawn().await;
    // Valid content: created.
    let response = post_bytes(
        &app,
        "/api/streams",
        Some("application/json"),
        padded(&valid_body(), MAX_BODY),
    )
    .await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["depositAmount"], "100.0000000");

    // Invalid content of the same size: judged on content (400), not size.
    let mut invalid = valid_body();
    invalid["memo"] = json!("x");
    let response = post_bytes(
        &app,
        "/api/streams",
        Some("application/json"),
        padded(&invalid, MAX_BODY),
    )
    .await;
    envelope(response, 400, "VALIDATION_ERROR").await;
    assert_eq!(stream_count(&app).await, 1);
}

#[tokio::test]
async fn body_of_256_kib_plus_one_is_413() {
    let app = TestApp::spawn().await;
    for (case, bytes) in [
        ("valid JSON padded", padded(&valid_body(), MAX_BODY + 1)),
        ("malformed JSON", vec![b'{'; MAX_BODY + 1]),
        ("1 MiB", padded(&valid_body(), 1024 * 1024)),
    ] {
        let response = post_bytes(&app, "/api/streams", Some("application/json"), bytes).await;
        assert_eq!(response.status(), 413, "{case}");
        envelope(response, 413, "PAYLOAD_TOO_LARGE").await;
    }
    // The size rule applies before the media-type rule and on every route.
    let response = post_bytes(&app, "/api/streams", None, vec![b' '; MAX_BODY + 1]).await;
    envelope(response, 413, "PAYLOAD_TOO_LARGE").await;
    assert_eq!(stream_count(&app).await, 0);
}

#[tokio::test]
async fn chunked_bodies_follow_the_same_size_rule() {
    let app = TestApp::spawn().await;
    // Exactly 262 144 bytes, chunked: created.
    let response = post_chunked(
        &app,
        "/api/streams",
        Some("application/json"),
        in_chunks(&padded(&valid_body(), MAX_BODY)),
    )
    .await;
    assert_eq!(
        response.status,
        201,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.json()["depositAmount"], "100.0000000");
    assert!(response.header("x-request-id").is_some());

    // 262 145 bytes, chunked: 413, whatever the content.
    for (case, bytes) in [
        ("valid JSON padded", padded(&valid_body(), MAX_BODY + 1)),
        ("malformed JSON", vec![b'['; MAX_BODY + 1]),
    ] {
        let response = post_chunked(
            &app,
            "/api/streams",
            Some("application/json"),
            in_chunks(&bytes),
        )
        .await;
        assert_eq!(response.status, 413, "{case}");
        response.expect_error(413, "PAYLOAD_TOO_LARGE");
    }
    // One single oversized chunk.
    let response = post_chunked(
        &app,
        "/api/streams",
        Some("application/json"),
        vec![padded(&valid_body(), MAX_BODY + 1)],
    )
    .await;
    response.expect_error(413, "PAYLOAD_TOO_LARGE");

    assert_eq!(
        stream_count(&app).await,
        1,
        "only the 256 KiB body created a stream"
    );
}

// ---------------------------------------------------------------------------------------------
// Content-Type (415) and body-less requests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bodies_need_a_json_content_type() {
    let app = TestApp::spawn().await;
    let body = serde_json::to_vec(&valid_body()).expect("serialize");
    for content_type in [
        None,
        Some("text/plain"),
        Some("text/plain; charset=utf-8"),
        Some("application/xml"),
        Some("application/x-www-form-urlencoded"),
        Some("text/json"),
        Some("application/jsonx"),
        Some("multipart/form-data; boundary=x"),
    ] {
        let response = post_bytes(&app, "/api/streams", content_type, body.clone()).await;
        assert_eq!(response.status(), 415, "{content_type:?}");
        envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    }
    // Chunked bodies too.
    for content_type in [None, Some("text/plain")] {
        let response = post_chunked(&app, "/api/streams", content_type, vec![body.clone()]).await;
        response.expect_error(415, "UNSUPPORTED_MEDIA_TYPE");
    }
    assert_eq!(stream_count(&app).await, 0, "nothing created by 415s");

    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "Application/JSON",
        "application/merge-patch+json",
        "application/vnd.api+json; charset=utf-8",
    ] {
        let response = post_bytes(&app, "/api/streams", Some(content_type), body.clone()).await;
        assert_eq!(response.status(), 201, "{content_type}");
    }
    let response = post_chunked(
        &app,
        "/api/streams",
        Some("application/json; charset=utf-8"),
        vec![body.clone()],
    )
    .await;
    assert_eq!(response.status, 201, "chunked JSON");
    assert_eq!(stream_count(&app).await, 7);
}

#[tokio::test]
async fn body_less_actions_need_no_content_type() {
    let app = TestApp::spawn().await;
    let stream = app.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id");

    let response = app
        .client
        .post(app.url(&format!("/api/streams/{id}/pause")))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "pause without Content-Type");
    assert!(response.headers().get("x-request-id").is_some());
    let paused: Value = response.json().await.expect("json");
    assert_eq!(paused["status"], "paused");

    let response = app
        .client
        .post(app.url(&format!("/api/streams/{id}/resume")))
        .header("content-length", "0")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "resume with Content-Length: 0");
    let resumed: Value = response.json().await.expect("json");
    assert_eq!(resumed["status"], "active");

    let response = app
        .client
        .delete(app.url(&format!("/api/streams/{id}")))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "DELETE without Content-Type");
    let cancelled: Value = response.json().await.expect("json");
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["cancelledAt"].is_u64(), "{cancelled}");
}

// ---------------------------------------------------------------------------------------------
// Malformed, empty and deeply nested JSON (400)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn malformed_and_empty_json_is_400() {
    let app = TestApp::spawn().await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", br#"{"sender":"#.to_vec()),
        ("single quotes", b"{'a':1}".to_vec()),
        ("trailing comma", br#"{"a":1,}"#.to_vec()),
        ("two documents", b"{} {}".to_vec()),
        ("not json", b"hello".to_vec()),
        ("invalid utf-8", b"{\"a\":\"\xff\xfe\"}".to_vec()),
        ("bare key", b"{a:1}".to_vec()),
        ("NaN", b"{\"depositAmount\":NaN}".to_vec()),
    ];
    for (case, bytes) in cases {
        let response = post_bytes(&app, "/api/streams", Some("application/json"), bytes).await;
        assert_eq!(response.status(), 400, "{case}");
        envelope(response, 400, "VALIDATION_ERROR").await;
    }
    // Empty bodies: with and without a Content-Type, and whitespace only.
    for (case, content_type, bytes) in [
        ("empty, JSON type", Some("application/json"), Vec::new()),
        ("empty, no type", None, Vec::new()),
        ("whitespace", Some("application/json"), b"  \n ".to_vec()),
    ] {
        let response = post_bytes(&app, "/api/streams", content_type, bytes).await;
        assert_eq!(response.status(), 400, "{case}");
        envelope(response, 400, "VALIDATION_ERROR").await;
    }
    let response = app.post_empty("/api/streams").await;
    envelope(response, 400, "VALIDATION_ERROR").await;
    assert_eq!(stream_count(&app).await, 0);
}

#[tokio::test]
async fn deeply_nested_json_is_400_not_500() {
    let app = TestApp::spawn().await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("10 000 [", "[".repeat(10_000).into_bytes()),
        (
            "10 000 balanced []",
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
        ),
        ("10 000 {\"a\":", "{\"a\":".repeat(10_000).into_bytes()),
        (
            "nested inside a field",
            format!(
                "{{\"depositAmount\":{}{}}}",
                "[".repeat(10_000),
                "]".repeat(10_000)
            )
            .into_bytes(),
        ),
    ];
    for (case, bytes) in cases {
        let response = post_bytes(&app, "/api/streams", Some("application/json"), bytes).await;
        assert_eq!(response.status(), 400, "{case}");
        envelope(response, 400, "VALIDATION_ERROR").await;
    }
    let response = app.get("/health/live").await;
    assert_eq!(response.status(), 200, "still alive");
}

// ---------------------------------------------------------------------------------------------
// Request ids
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn valid_inbound_request_ids_are_echoed() {
    let app = TestApp::spawn().await;
    let visible: String = (0x21u8..=0x7e).map(char::from).collect();
    let long: String = format!("{visible}{}", "x".repeat(128 - visible.len()));
    assert_eq!(long.len(), 128);
    for id in [
        "a",
        "abc-123_!~",
        "req:42/alpha",
        "\"quoted\\\"",
        long.as_str(),
    ] {
        let case = format!("inbound {id:?}");
        // On a success.
        let response = app
            .client
            .get(app.url("/health/live"))
            .header("x-request-id", id)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{case}");
        assert_eq!(request_id(response.headers()), id, "{case}: success header");

        // On an error: the header and the envelope.
        let response = app
            .client
            .get(app.url("/no/such/route"))
            .header("x-request-id", id)
            .send()
            .await
            .expect("request");
        assert_eq!(request_id(response.headers()), id, "{case}: error header");
        let error = expect_error(response, 404, "NOT_FOUND").await;
        assert_eq!(error["requestId"], id, "{case}: envelope");

        // On a validation error from the create route.
        let response = app
            .client
            .post(app.url("/api/streams"))
            .header("x-request-id", id)
            .json(&json!({}))
            .send()
            .await
            .expect("request");
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["requestId"], id, "{case}: validation envelope");
    }
}

#[tokio::test]
async fn invalid_inbound_request_ids_are_replaced_by_uuid_v7() {
    let app = TestApp::spawn().await;
    let too_long = "a".repeat(129);
    let cases: Vec<(&str, HeaderValue)> = vec![
        ("empty", HeaderValue::from_static("")),
        ("with a space", HeaderValue::from_static("has space")),
        ("with a tab", HeaderValue::from_static("has\ttab")),
        (
            "129 characters",
            HeaderValue::from_str(&too_long).expect("header"),
        ),
        (
            "non-ASCII bytes",
            HeaderValue::from_bytes(b"caf\xc3\xa9").expect("header"),
        ),
    ];
    let mut seen = HashSet::new();
    for (case, value) in cases {
        let response = app
            .client
            .get(app.url("/"))
            .header("x-request-id", value.clone())
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{case}");
        let id = request_id(response.headers());
        assert_ne!(id.as_bytes(), value.as_bytes(), "{case}: not honoured");
        assert_uuid_v7(&id, case);
        assert!(seen.insert(id), "{case}: ids are unique");

        let response = app
            .client
            .get(app.url("/missing"))
            .header("x-request-id", value)
            .send()
            .await
            .expect("request");
        let id = request_id(response.headers());
        assert_uuid_v7(&id, case);
        let error = expect_error(response, 404, "NOT_FOUND").await;
        assert_eq!(error["requestId"], id.as_str(), "{case}: envelope");
        assert!(seen.insert(id), "{case}: ids are unique");
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let stream = app.create_stream(json!({})).await;
    let id = stream["id"].as_str().expect("id").to_string();
    let json_body = serde_json::to_vec(&valid_body()).expect("serialize");

    let requests: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        ("GET /", app.client.get(app.url("/")), 200),
        ("GET /health", app.client.get(app.url("/health")), 200),
        (
            "GET /health/live",
            app.client.get(app.url("/health/live")),
            200,
        ),
        (
            "GET /health/ready",
            app.client.get(app.url("/health/ready")),
            200,
        ),
        ("GET list", app.client.get(app.url("/api/streams")), 200),
        (
            "GET one",
            app.client.get(app.url(&format!("/api/streams/{id}"))),
            200,
        ),
        (
            "POST create",
            app.client
                .post(app.url("/api/streams"))
                .header("content-type", "application/json")
                .body(json_body.clone()),
            201,
        ),
        (
            "POST pause",
            app.client
                .post(app.url(&format!("/api/streams/{id}/pause"))),
            200,
        ),
        (
            "DELETE",
            app.client.delete(app.url(&format!("/api/streams/{id}"))),
            200,
        ),
        (
            "DELETE again (409)",
            app.client.delete(app.url(&format!("/api/streams/{id}"))),
            409,
        ),
        ("404", app.client.get(app.url("/nope")), 404),
        ("405", app.client.put(app.url("/api/streams")), 405),
        ("400", app.client.get(app.url("/api/streams?limit=0")), 400),
        (
            "413",
            app.client
                .post(app.url("/api/streams"))
                .header("content-type", "application/json")
                .body(vec![b' '; MAX_BODY + 1]),
            413,
        ),
        (
            "415",
            app.client
                .post(app.url("/api/streams"))
                .header("content-type", "text/plain")
                .body(json_body.clone()),
            415,
        ),
    ];
    let mut seen = HashSet::new();
    for (case, request, status) in requests {
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), status, "{case}");
        let id = request_id(response.headers());
        assert_uuid_v7(&id, case);
        assert!(seen.insert(id.clone()), "{case}: ids are unique");
        if status >= 400 {
            let code = match status {
                400 => "VALIDATION_ERROR",
                404 => "NOT_FOUND",
                405 => "METHOD_NOT_ALLOWED",
                409 => "CONFLICT",
                413 => "PAYLOAD_TOO_LARGE",
                _ => "UNSUPPORTED_MEDIA_TYPE",
            };
            let (error, _) = envelope(response, status, code).await;
            assert_eq!(error["requestId"], id.as_str(), "{case}");
        } else {
            assert_eq!(
                response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok()),
                Some("application/json"),
                "{case}: JSON out"
            );
            let body: Value = response.json().await.expect("json");
            assert!(body.get("error").is_none(), "{case}: {body}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Service routes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn root_describes_the_service() {
    let app = TestApp::spawn().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({
            "name": "fluxora-backend",
            "version": env!("CARGO_PKG_VERSION"),
            "network": "testnet",
            "docs": "/docs",
            "openapi": "/openapi.json",
        })
    );
}

#[tokio::test]
async fn health_has_the_exact_report_shape() {
    let app = TestApp::spawn().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let body: Value = response.json().await.expect("json");

    let keys: HashSet<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        HashSet::from([
            "status",
            "service",
            "version",
            "timestamp",
            "database",
            "indexer"
        ]),
        "{body}"
    );
    assert_eq!(body["status"], "ok");
    assert_eq!(body["service"], "fluxora-backend");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    let timestamp = body["timestamp"].as_str().expect("timestamp");
    assert!(timestamp.ends_with('Z'), "{timestamp}");
    let parsed = chrono::DateTime::parse_from_rfc3339(timestamp).expect("RFC 3339 timestamp");
    let skew = (chrono::Utc::now().timestamp() - parsed.timestamp()).abs();
    assert!(skew < 60, "timestamp {timestamp} is not now");
    assert_eq!(
        body["database"],
        json!({"status": "ok", "backend": crate::helpers::backend()})
    );

    let indexer = body["indexer"].as_object().expect("indexer object");
    let keys: HashSet<&str> = indexer.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        HashSet::from([
            "status",
            "lastSuccessfulSyncAt",
            "lagMs",
            "thresholdMs",
            "lastIngestedLedger",
            "lastSafeLedger",
            "reorgDetected",
            "lastVerifiedAt",
            "driftedStreams",
            "lastDriftAt",
            "lastDriftedStreams",
            "summary",
            "clientImpact",
            "operatorAction",
        ]),
        "every indexer field is present: {body}"
    );
    assert_eq!(indexer["status"], "not_configured");
    for field in [
        "lastSuccessfulSyncAt",
        "lagMs",
        "lastIngestedLedger",
        "lastSafeLedger",
        "lastVerifiedAt",
        "driftedStreams",
        "lastDriftAt",
        "lastDriftedStreams",
    ] {
        assert!(indexer[field].is_null(), "{field} is null: {body}");
    }
    assert_eq!(indexer["thresholdMs"], 300_000);
    assert_eq!(indexer["reorgDetected"], false);
    for field in ["summary", "clientImpact", "operatorAction"] {
        assert!(
            indexer[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field} is a non-empty string: {body}"
        );
    }
}

#[tokio::test]
async fn liveness_and_readiness_probes_answer_200() {
    let app = TestApp::spawn().await;
    for path in ["/health/live", "/health/ready"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.headers().get("x-request-id").is_some(), "{path}");
        let body: Value = response.json().await.expect("json");
        assert!(body.get("error").is_none(), "{path}: {body}");
        assert!(body["status"].is_string(), "{path}: {body}");
    }
}

#[tokio::test]
async fn error_responses_are_not_cacheable() {
    let app = TestApp::spawn().await;
    let responses = vec![
        (app.get("/nope").await, 404, "NOT_FOUND"),
        (app.get("/api/streams/unknown").await, 404, "NOT_FOUND"),
        (
            app.client
                .put(app.url("/api/streams"))
                .send()
                .await
                .expect("request"),
            405,
            "METHOD_NOT_ALLOWED",
        ),
        (
            app.get("/api/streams?limit=abc").await,
            400,
            "VALIDATION_ERROR",
        ),
        (
            app.post_json("/api/streams", &json!({"x": 1})).await,
            400,
            "VALIDATION_ERROR",
        ),
        (
            post_bytes(&app, "/api/streams", Some("text/plain"), b"{}".to_vec()).await,
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            post_bytes(
                &app,
                "/api/streams",
                Some("application/json"),
                vec![b' '; MAX_BODY + 1],
            )
            .await,
            413,
            "PAYLOAD_TOO_LARGE",
        ),
    ];
    for (response, status, code) in responses {
        envelope(response, status, code).await;
    }
}
