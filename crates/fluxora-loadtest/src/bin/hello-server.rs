//! `hello-server`: a bare axum server for measuring the ceiling of the HTTP stack on a machine.
//!
//! It answers the routes of the load scenarios with constant, minimal bodies of the API's shapes
//! (so the harness's preflight passes) and touches no database, no middleware and no logging:
//! the same harness against it and against `fluxora serve` tells how much of the service's time
//! is the HTTP stack itself (docs/benchmarks.md).
//!
//! ```sh
//! hello-server --port 3001        # prints "hello-server listening on http://127.0.0.1:3001"
//! ```
//!
//! Like `fluxora serve`, it runs a multi-threaded tokio runtime with one worker per core (or
//! `--threads`), and stops on Ctrl-C or SIGTERM.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use clap::Parser;

/// A bare HTTP server answering the load scenarios' routes with constant bodies.
#[derive(Debug, Parser)]
#[command(name = "hello-server", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on (0: any free port; the chosen one is printed).
    #[arg(long, default_value_t = 3001)]
    port: u16,
    /// Runtime worker threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
}

const JSON: [(header::HeaderName, &str); 1] = [(header::CONTENT_TYPE, "application/json")];

async fn hello() -> &'static str {
    "Hello, World!"
}

async fn health() -> impl IntoResponse {
    (JSON, r#"{"status":"ok"}"#)
}

async fn list() -> impl IntoResponse {
    (JSON, r#"{"streams":[],"nextCursor":null,"hasMore":false}"#)
}

async fn create(_body: Bytes) -> impl IntoResponse {
    (
        StatusCode::CREATED,
        JSON,
        r#"{"id":"00000000-0000-7000-8000-000000000000"}"#,
    )
}

async fn stream(Path(id): Path<String>) -> impl IntoResponse {
    (JSON, serde_json::json!({ "id": id }).to_string())
}

fn router() -> Router {
    Router::new()
        .route("/", get(hello))
        .route("/health", get(health))
        .route("/api/streams", get(list).post(create))
        .route("/api/streams/{id}", get(stream))
        .fallback(hello)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn serve(args: Args) -> Result<(), std::io::Error> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.host, args.port)).await?;
    println!(
        "hello-server listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, router())
        .with_graceful_shutdown(shutdown_signal())
        .await
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        builder.worker_threads(threads.max(1));
    }
    let result = builder
        .enable_all()
        .build()
        .and_then(|runtime| runtime.block_on(serve(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hello-server: {error}");
            ExitCode::from(1)
        }
    }
}
