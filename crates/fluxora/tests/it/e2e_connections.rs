//! Hostile connections against the real binary (`docs/operations.md`, "Connections"): stalled
//! request heads, idle keep-alive connections, the connection caps per peer and in total, and
//! running out of file descriptors; then the request-head limits (414/431 in the envelope), the
//! bounded refusal logs and secret-shaped request ids.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::binary::{Server, PROCESS_TIMEOUT};
use crate::helpers::TestDb;

/// A client address other than 127.0.0.1 (the whole 127/8 is loopback on Linux).
const OTHER_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn address(server: &Server) -> SocketAddr {
    server
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("socket address")
}

/// A TCP connection to `server` from the local address `from`.
async fn connect_from(server: &Server, from: IpAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(address(server)).await
}

/// A connection that sent part of a request head and will never finish it.
async fn stalled(server: &Server, from: IpAddr) -> TcpStream {
    let mut stream = connect_from(server, from).await.expect("connect");
    // The server may already have closed an over-cap connection: the write may fail.
    let _ = stream
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: fluxora\r\nX-Stalled: ")
        .await;
    stream
}

/// Waits (bounded) until the server closes `stream`; returns what it sent before closing.
async fn closed_by_server(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(PROCESS_TIMEOUT, stream.read(&mut buffer))
            .await
            .expect("the server closes the connection in time")
        {
            Ok(0) | Err(_) => return received,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

/// Sends one complete GET on `stream` and reads its whole response (keeping the connection).
async fn get_on(stream: &mut TcpStream, path: &str) -> String {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: fluxora\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(PROCESS_TIMEOUT, stream.read(&mut buffer))
            .await
            .expect("response in time")
            .expect("read");
        assert!(read > 0, "closed before the response ended");
        received.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .expect("content-length");
            if received.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

/// A client whose connections come from `from`.
fn client_from(from: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(from)
        .timeout(PROCESS_TIMEOUT)
        .build()
        .expect("client")
}

/// The value of the counter `fluxora_http_connections_closed_total{reason="<reason>"}`.
async fn closed_total(server: &Server, reason: &str) -> u64 {
    let text = client_from(OTHER_CLIENT)
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let prefix = format!("fluxora_http_connections_closed_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |value| value.trim().parse().unwrap_or(0))
}

/// Polls until the counter of `reason` reaches `expected` (bounded), and returns it.
async fn wait_closed_total(server: &Server, reason: &str, expected: u64) -> u64 {
    let deadline = tokio::time::Instant::now() + PROCESS_TIMEOUT;
    loop {
        let value = closed_total(server, reason).await;
        if value >= expected {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{reason}: {value} of {expected} closed connections counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_thousand_stalled_connections_from_one_client_do_not_starve_another() {
    let db = TestDb::new().await;
    // 256 file descriptors: without the per-IP cap the stalled connections would exhaust them.
    let server = Server::start_limited(
        &db.url(),
        &[
            ("HTTP_MAX_CONNECTIONS_PER_IP", "64"),
            ("HTTP_MAX_CONNECTIONS", "160"),
            ("HTTP_HEADER_READ_TIMEOUT_MS", "120000"),
        ],
        256,
    )
    .await;
    let mut connections = Vec::new();
    for _ in 0..1000 {
        connections.push(stalled(&server, IpAddr::V4(Ipv4Addr::LOCALHOST)).await);
    }
    // Every connection over the per-IP cap was closed at accept.
    assert_eq!(
        wait_closed_total(&server, "connection_cap_per_ip", 936).await,
        936
    );
    // Another client is served at once.
    let live = client_from(OTHER_CLIENT)
        .get(format!("{}/health/live", server.base))
        .send()
        .await
        .expect("health/live answers");
    assert_eq!(live.status(), 200);
    drop(connections);
    let log = server.terminate().await;
    // Refusals are summarised, never logged one line each.
    let summaries: Vec<&Value> = log
        .iter()
        .filter(|e| e["message"] == "requests and connections refused (summary)")
        .collect();
    assert!(
        !summaries.is_empty() && summaries.len() <= 3,
        "{summaries:?}"
    );
    assert!(
        summaries.iter().any(|e| e["top"]
            .as_str()
            .is_some_and(|top| top.contains("ip:127.0.0.1 - connection_cap_per_ip"))),
        "{summaries:?}"
    );
    assert!(log.len() < 100, "{} log lines", log.len());
}

#[tokio::test]
async fn the_total_cap_closes_new_connections_until_one_frees() {
    let db = TestDb::new().await;
    let server = Server::start_with(
        &db.url(),
        &[
            ("HTTP_MAX_CONNECTIONS", "4"),
            ("HTTP_HEADER_READ_TIMEOUT_MS", "120000"),
        ],
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(stalled(&server, IpAddr::V4(Ipv4Addr::LOCALHOST)).await);
    }
    // The server has admitted them when a complete request on one of them is answered.
    let probe = held.last_mut().expect("a connection");
    probe.write_all(b"\r\n\r\n").await.expect("finish the head");
    let mut answer = [0u8; 12];
    tokio::time::timeout(PROCESS_TIMEOUT, probe.read_exact(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    assert_eq!(&answer, b"HTTP/1.1 200");
    let mut over = connect_from(&server, OTHER_CLIENT).await.expect("connect");
    let _ = over
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert!(
        closed_by_server(&mut over).await.is_empty(),
        "an over-cap connection gets no answer"
    );
    drop(held);
    // Places free up as the held connections close.
    let deadline = tokio::time::Instant::now() + PROCESS_TIMEOUT;
    loop {
        let mut stream = connect_from(&server, OTHER_CLIENT).await.expect("connect");
        let _ = stream
            .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        let answer = closed_by_server(&mut stream).await;
        if answer.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never served again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(closed_total(&server, "connection_cap_total").await >= 1);
    server.terminate().await;
}

#[tokio::test]
async fn stalled_heads_and_idle_keep_alive_connections_are_closed() {
    let db = TestDb::new().await;
    // Header timeout short, idle timeout long: a stalled head closes on the first.
    let server = Server::start_with(
        &db.url(),
        &[
            ("HTTP_HEADER_READ_TIMEOUT_MS", "300"),
            ("HTTP_KEEPALIVE_IDLE_TIMEOUT_MS", "600000"),
        ],
    )
    .await;
    let mut fresh = stalled(&server, IpAddr::V4(Ipv4Addr::LOCALHOST)).await;
    assert!(closed_by_server(&mut fresh).await.is_empty());
    // On a kept-alive connection, the next head is timed from its first byte.
    let mut kept = connect_from(&server, IpAddr::V4(Ipv4Addr::LOCALHOST))
        .await
        .expect("connect");
    assert!(get_on(&mut kept, "/health/live")
        .await
        .starts_with("HTTP/1.1 200"));
    assert!(get_on(&mut kept, "/health/live")
        .await
        .starts_with("HTTP/1.1 200"));
    kept.write_all(b"GET /health/live HTTP/1.1\r\nHost")
        .await
        .expect("partial head");
    assert!(closed_by_server(&mut kept).await.is_empty());
    assert!(wait_closed_total(&server, "header_read_timeout", 2).await >= 2);
    server.terminate().await;

    // Idle timeout short, header timeout long: an idle kept-alive connection closes on the first.
    let server = Server::start_with(
        &db.url(),
        &[
            ("HTTP_HEADER_READ_TIMEOUT_MS", "600000"),
            ("HTTP_KEEPALIVE_IDLE_TIMEOUT_MS", "300"),
        ],
    )
    .await;
    let mut idle = connect_from(&server, IpAddr::V4(Ipv4Addr::LOCALHOST))
        .await
        .expect("connect");
    assert!(get_on(&mut idle, "/health/live")
        .await
        .starts_with("HTTP/1.1 200"));
    assert!(closed_by_server(&mut idle).await.is_empty());
    assert!(wait_closed_total(&server, "idle_timeout", 1).await >= 1);
    server.terminate().await;
}

#[tokio::test]
async fn running_out_of_file_descriptors_does_not_stop_the_accept_loop() {
    let db = TestDb::new().await;
    // Caps above the descriptor limit: accept itself fails (EMFILE) while the stalled
    // connections are open; the loop backs off, and serves again once they are closed.
    let server = Server::start_limited(
        &db.url(),
        &[
            ("HTTP_MAX_CONNECTIONS", "10000"),
            ("HTTP_MAX_CONNECTIONS_PER_IP", "10000"),
            ("HTTP_HEADER_READ_TIMEOUT_MS", "1000"),
        ],
        96,
    )
    .await;
    let mut connections = Vec::new();
    for _ in 0..150 {
        connections.push(stalled(&server, IpAddr::V4(Ipv4Addr::LOCALHOST)).await);
    }
    server
        .wait_for_log("accepting a connection failed; retrying (logged at most every 10 s)")
        .await;
    // The header timeout closes the stalled connections; the service answers again.
    let deadline = tokio::time::Instant::now() + PROCESS_TIMEOUT;
    let client = client_from(OTHER_CLIENT);
    loop {
        if let Ok(response) = client
            .get(format!("{}/health/live", server.base))
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            if response.status() == 200 {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never answered again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(connections);
    let log = server.terminate().await;
    let warnings = log
        .iter()
        .filter(|e| {
            e["message"] == "accepting a connection failed; retrying (logged at most every 10 s)"
        })
        .count();
    assert!((1..=4).contains(&warnings), "{warnings} accept warnings");
}

#[tokio::test]
async fn a_flood_of_429s_is_logged_as_a_summary() {
    let db = TestDb::new().await;
    // 60 a minute: a burst of 6, then refusals.
    let server = Server::start_with(&db.url(), &[("RATE_LIMIT_IP_PER_MINUTE", "60")]).await;
    let client = reqwest::Client::new();
    let mut refused = 0u64;
    for _ in 0..300 {
        let response = client
            .get(format!("{}/api/streams", server.base))
            .send()
            .await
            .expect("answer");
        if response.status() == 429 {
            refused += 1;
        }
    }
    assert!(refused >= 290, "{refused} refused");
    let log = server.terminate().await;
    let per_request_429 = log
        .iter()
        .filter(|e| e["message"] == "request completed" && e["status"] == 429)
        .count();
    assert_eq!(per_request_429, 0, "no line per refused request");
    let summaries: Vec<&Value> = log
        .iter()
        .filter(|e| e["message"] == "requests and connections refused (summary)")
        .collect();
    assert!(
        !summaries.is_empty() && summaries.len() <= 3,
        "{summaries:?}"
    );
    let counted: u64 = summaries
        .iter()
        .map(|e| e["refused"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(counted, refused);
    assert!(summaries.iter().all(|e| e["level"] == "WARN"));
    assert!(
        summaries.iter().any(|e| e["top"]
            .as_str()
            .is_some_and(|top| { top.contains("ip:127.0.0.1 GET /api/streams rate_limited ×") })),
        "{summaries:?}"
    );
    assert!(log.len() < 60, "{} log lines", log.len());
}

#[tokio::test]
async fn a_secret_seed_as_request_id_is_neither_echoed_nor_logged() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url()).await;
    let seed = "SB3KJRSQ2KHFAPDD4JOGUHFQH6T4NTMBIAJ6UKSMXEWEFN7LY3BO7X2E";
    let key = "flx_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd";
    let client = reqwest::Client::new();
    for secret in [seed, key] {
        let response = client
            .get(format!("{}/api/nowhere", server.base))
            .header("x-request-id", secret)
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), 404);
        let echoed = response.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_string();
        assert_ne!(echoed, secret);
        assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "{echoed}");
        let body: Value = response.json().await.expect("envelope");
        assert_eq!(body["error"]["requestId"], echoed.as_str());
    }
    let ordinary = client
        .get(format!("{}/health/live", server.base))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .expect("answer");
    assert_eq!(ordinary.headers()["x-request-id"], "trace-42");
    let log = server.terminate().await;
    let text = serde_json::to_string(&log).expect("log as text");
    assert!(!text.contains(&seed[1..]), "the seed is in the log");
    assert!(!text.contains(&key[4..]), "the key is in the log");
    assert!(text.contains("trace-42"));
}
