//! HTTP hardening through real HTTP: the request timeout's envelope, the CORS allow-list, security
//! headers on successes and errors, `Cache-Control: no-store` on errors, and the JSON nesting
//! limit.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{expect_error, valid_body, TestApp, TestDb};

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().expect("ascii header"))
}

fn assert_security_headers(headers: &HeaderMap, case: &str) {
    assert_eq!(
        header(headers, "x-content-type-options"),
        Some("nosniff"),
        "{case}"
    );
    assert_eq!(header(headers, "x-frame-options"), Some("DENY"), "{case}");
    assert_eq!(
        header(headers, "referrer-policy"),
        Some("no-referrer"),
        "{case}"
    );
    assert_eq!(
        header(headers, "content-security-policy"),
        Some("frame-ancestors 'none'"),
        "{case}"
    );
}

#[tokio::test]
async fn security_headers_on_successes_and_errors_and_no_store_on_errors() {
    let app = TestApp::spawn().await;

    let ok = app.get("/").await;
    assert_eq!(ok.status(), 200);
    assert_security_headers(ok.headers(), "GET /");
    assert_ne!(
        header(ok.headers(), "cache-control"),
        Some("no-store"),
        "successes are not marked no-store by the error layer"
    );
    let health = app.get("/health").await;
    assert_security_headers(health.headers(), "GET /health");

    let not_found = app.get("/no/such/route").await;
    let headers = not_found.headers().clone();
    expect_error(not_found, 404, "NOT_FOUND").await;
    assert_security_headers(&headers, "404");
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));

    let not_allowed = app
        .client
        .request(Method::PUT, app.url("/api/streams"))
        .send()
        .await
        .unwrap();
    let headers = not_allowed.headers().clone();
    expect_error(not_allowed, 405, "METHOD_NOT_ALLOWED").await;
    assert_security_headers(&headers, "405");
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));

    let malformed = app
        .client
        .post(app.url("/api/streams"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let headers = malformed.headers().clone();
    expect_error(malformed, 400, "VALIDATION_ERROR").await;
    assert_security_headers(&headers, "400");
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
    app.stop().await;
}

/// `{"a":[{"a":[… 1 …]}]}` with `depth` arrays and objects.
fn nested(depth: usize) -> String {
    let mut body = String::new();
    for i in 0..depth {
        body.push_str(if i % 2 == 0 { "{\"a\":" } else { "[" });
    }
    body.push('1');
    for i in (0..depth).rev() {
        body.push(if i % 2 == 0 { '}' } else { ']' });
    }
    body
}

async fn post_raw(app: &TestApp, body: String) -> reqwest::Response {
    app.client
        .post(app.url("/api/streams"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn json_nested_deeper_than_32_levels_is_refused() {
    let app = TestApp::spawn().await;
    for depth in [33, 5_000] {
        let error =
            expect_error(post_raw(&app, nested(depth)).await, 400, "VALIDATION_ERROR").await;
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("maximum depth of 32"),
            "depth {depth}: {message}"
        );
    }
    // 32 levels parse; the body is then refused for what it says, not for its depth.
    let error = expect_error(post_raw(&app, nested(32)).await, 400, "VALIDATION_ERROR").await;
    assert!(
        !error.to_string().contains("depth"),
        "32 levels are within the limit: {error}"
    );
    // An ordinary create is unaffected.
    let created = app.post_json("/api/streams", &valid_body()).await;
    assert_eq!(created.status(), 201);
    app.stop().await;
}

/// Sends a request head promising a 100-byte body, then only part of it, and reads the answer
/// (with a deadline far above the configured timeout). The body is never completed, so the
/// only possible answer is the timeout's.
async fn send_incomplete_body(app: &TestApp) -> (u16, String, String) {
    let authority = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&authority)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/streams HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"sender\":"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    let mut raw = Vec::new();
    let read = async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buffer[..n]),
            }
            let text = String::from_utf8_lossy(&raw);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the server answers within the deadline");
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {text:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    (status, head.to_ascii_lowercase(), body.to_string())
}

#[tokio::test]
async fn a_request_past_the_timeout_gets_a_503_envelope() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_env(&db, &[("REQUEST_TIMEOUT_MS", "300")]).await;
    let (status, head, body) = send_incomplete_body(&app).await;
    assert_eq!(status, 503, "{head}\n{body}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(head.contains("cache-control: no-store"), "{head}");
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(head.contains("x-request-id: "), "{head}");
    let envelope: Value = serde_json::from_str(&body).expect("JSON envelope");
    assert_eq!(envelope["error"]["code"], "SERVICE_UNAVAILABLE");
    assert!(
        envelope["error"]["message"]
            .as_str()
            .unwrap()
            .contains("300 ms"),
        "{envelope}"
    );
    // Ordinary requests are unaffected.
    assert_eq!(app.get("/").await.status(), 200);
    app.stop().await;
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, app.url("/api/streams"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,idempotency-key,authorization",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn cors_allows_listed_origins_only() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_env(
        &db,
        &[
            (
                "CORS_ALLOWED_ORIGINS",
                "https://app.example, http://localhost:5173",
            ),
            ("RATE_LIMIT_ENABLED", "true"),
        ],
    )
    .await;

    let allowed = preflight(&app, "https://app.example").await;
    assert_eq!(allowed.status(), 200);
    let headers = allowed.headers();
    assert_eq!(
        header(headers, "access-control-allow-origin"),
        Some("https://app.example")
    );
    let methods = header(headers, "access-control-allow-methods").unwrap();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let allowed_headers = header(headers, "access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for name in ["content-type", "idempotency-key", "authorization"] {
        assert!(allowed_headers.contains(name), "{allowed_headers}");
    }
    assert_eq!(header(headers, "access-control-max-age"), Some("600"));
    assert!(header(headers, "access-control-allow-credentials").is_none());

    let refused = preflight(&app, "https://evil.example").await;
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "an unlisted origin is not allowed"
    );

    // Actual requests: allowed origins may read the response and its rate-limit headers.
    let get = app
        .client
        .get(app.url("/api/streams"))
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(
        header(get.headers(), "access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    let exposed = header(get.headers(), "access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    for name in ["x-request-id", "ratelimit-remaining", "retry-after"] {
        assert!(exposed.contains(name), "{exposed}");
    }
    assert!(get.headers().get("ratelimit-remaining").is_some());
    // Errors carry CORS headers too, so a page can read the envelope.
    let error = app
        .client
        .get(app.url("/api/streams/nope"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(error.headers(), "access-control-allow-origin"),
        Some("https://app.example")
    );
    let other = app
        .client
        .get(app.url("/api/streams"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    app.stop().await;
}

#[tokio::test]
async fn without_an_allow_list_there_are_no_cors_headers() {
    let app = TestApp::spawn().await;
    let refused = preflight(&app, "https://app.example").await;
    let headers = refused.headers().clone();
    expect_error(refused, 405, "METHOD_NOT_ALLOWED").await;
    assert!(headers.get("access-control-allow-origin").is_none());
    let get = app
        .client
        .get(app.url("/"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    assert!(get
        .headers()
        .keys()
        .all(|name| !name.as_str().starts_with("access-control-")));
    app.stop().await;
}

/// Asserts `response` is the error envelope with `code`, its request id echoed in the header.
async fn assert_envelope(response: reqwest::Response, status: u16, code: &str) {
    assert_eq!(response.status(), status);
    assert_eq!(
        header(response.headers(), "content-type"),
        Some("application/json")
    );
    let request_id = header(response.headers(), "x-request-id")
        .expect("x-request-id")
        .to_string();
    let body: Value = response.json().await.expect("envelope");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["requestId"], request_id.as_str());
}

#[tokio::test]
async fn a_too_long_uri_is_a_414_envelope() {
    let app = TestApp::spawn().await;
    let response = app
        .get(&format!("/api/streams?cursor={}", "a".repeat(9000)))
        .await;
    assert_envelope(response, 414, "URI_TOO_LONG").await;
    // At the limit it is an ordinary request.
    let path = format!("/{}", "a".repeat(8191));
    assert_envelope(app.get(&path).await, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn too_large_headers_are_a_431_envelope() {
    let app = TestApp::spawn().await;
    let big = app
        .client
        .get(app.url("/health/live"))
        .header("x-padding", "p".repeat(20_000))
        .send()
        .await
        .expect("answer");
    assert_envelope(big, 431, "HEADERS_TOO_LARGE").await;
    let mut many = app.client.get(app.url("/health/live"));
    for i in 0..120 {
        many = many.header(format!("x-h{i}"), "1");
    }
    assert_envelope(many.send().await.expect("answer"), 431, "HEADERS_TOO_LARGE").await;
    // Past hyper's own limit (64 KiB of head) the answer is hyper's bare 431: documented.
    let huge = app
        .client
        .get(app.url("/health/live"))
        .header("x-padding", "p".repeat(70_000))
        .send()
        .await
        .expect("answer");
    assert_eq!(huge.status(), 431);
}
