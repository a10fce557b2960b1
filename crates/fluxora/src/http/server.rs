//! The HTTP/1.1 server: our accept loop over hyper's HTTP/1 connection driver, serving the
//! axum router (`docs/operations.md`, "Connections").
//!
//! What it adds to a plain `axum::serve`:
//! - caps on open connections, in total and per peer address ([`ConnectionLimits`]): a new
//!   connection over a cap is closed at once (no response: an immediate close keeps file
//!   descriptors bounded), counted in `fluxora_http_connections_closed_total` and in the
//!   refusal summary ([`crate::telemetry::refusals`]);
//! - a header-read timeout (`HTTP_HEADER_READ_TIMEOUT_MS`): a new connection must deliver its
//!   first request head within it, counted from accept; a kept-alive connection its next
//!   request head, counted from that head's first byte. A connection over it is closed without
//!   a response (the client was not sending);
//! - a keep-alive idle timeout (`HTTP_KEEPALIVE_IDLE_TIMEOUT_MS`): a kept-alive connection with
//!   no request in flight and no byte of a next request is closed after it;
//! - accept errors (out of file descriptors, `EMFILE`/`ENFILE`, or memory) never end the loop:
//!   it backs off [`ACCEPT_BACKOFF`] and logs at most one WARN per [`ACCEPT_WARN_INTERVAL`].
//!
//! hyper's own header-read timer is off: in hyper 1.x it starts when the connection starts
//! waiting for a request, so it would bound the idle wait of a kept-alive connection by the
//! header timeout. These timers are kept here instead, from the connection's activity
//! ([`Activity`]).
//!
//! Graceful shutdown (see [`serve`]): when the shutdown future completes the listener closes,
//! every connection is told to finish (an idle one closes at once, one with a request in flight
//! closes after its response), and [`serve`] returns once every connection has closed.
//!
//! Request heads: hyper parses them up to the limits below ([`HYPER_MAX_HEAD_BYTES`],
//! [`HYPER_MAX_HEADERS`]), well above the ones the API enforces with an error envelope
//! ([`crate::http::limits`]); a head beyond hyper's limits, or bytes that are not HTTP/1 at all,
//! get hyper's own bare answer (431, 414 or 400 without a body) and the connection closes.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::http::connections::{ConnectionLimits, ConnectionPermit};
use crate::http::ratelimit::Throttle;
use crate::proxies::TrustedProxies;
use crate::telemetry::refusals::{self, Reason};

/// Largest request head (request line and headers, in bytes) hyper parses; a larger one gets
/// hyper's bare 431. The API's own, lower limits answer with the envelope
/// ([`crate::http::limits`]).
pub const HYPER_MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header fields hyper parses in one request; more get hyper's bare 431.
pub const HYPER_MAX_HEADERS: usize = 256;
/// Pause after an accept error (such as running out of file descriptors) before accepting again.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one WARN about accept errors per this interval.
pub const ACCEPT_WARN_INTERVAL: Duration = Duration::from_secs(10);

/// The server's connection settings (`docs/operations.md`, "Connections").
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// `HTTP_HEADER_READ_TIMEOUT_MS`.
    pub header_read_timeout: Duration,
    /// `HTTP_KEEPALIVE_IDLE_TIMEOUT_MS`.
    pub keepalive_idle_timeout: Duration,
    /// `HTTP_MAX_CONNECTIONS`.
    pub max_connections: usize,
    /// `HTTP_MAX_CONNECTIONS_PER_IP`.
    pub max_connections_per_ip: usize,
    /// Peers exempt from the per-IP cap (`TRUST_PROXY`).
    pub per_ip_exempt: TrustedProxies,
}

/// Serves `router` on `listener` until `shutdown` completes, then shuts down gracefully: stops
/// accepting, lets every connection finish its request in flight (idle ones close at once) and
/// returns when all have closed. Handlers see the peer as `ConnectInfo<SocketAddr>`.
///
/// Never fails: accept errors are retried after [`ACCEPT_BACKOFF`].
pub async fn serve<F>(listener: TcpListener, router: Router, settings: ServerSettings, shutdown: F)
where
    F: Future<Output = ()>,
{
    let limits = ConnectionLimits::new(
        settings.max_connections,
        settings.max_connections_per_ip,
        settings.per_ip_exempt.clone(),
    );
    let settings = Arc::new(settings);
    let stop = CancellationToken::new();
    let connections = TaskTracker::new();
    let accept_warning = Throttle::new(ACCEPT_WARN_INTERVAL);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => match limits.admit(peer.ip()) {
                Ok(permit) => {
                    connections.spawn(serve_connection(
                        stream,
                        peer,
                        router.clone(),
                        settings.clone(),
                        permit,
                        stop.clone(),
                    ));
                }
                Err(reason) => {
                    // Closed at once: no response, no file descriptor kept.
                    drop(stream);
                    refused(peer, reason);
                }
            },
            Err(error) if is_connection_error(&error) => {}
            Err(error) => {
                if accept_warning.ready() {
                    tracing::warn!(
                        error = %error,
                        open_connections = limits.open(),
                        "accepting a connection failed; retrying (logged at most every 10 s)"
                    );
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
    drop(listener);
    stop.cancel();
    connections.close();
    connections.wait().await;
}

/// Errors of one connection (the peer gave up before accept), not of the listener.
fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Counts a connection closed unserved, for `reason`.
fn refused(peer: SocketAddr, reason: Reason) {
    crate::telemetry::metrics::record_connection_closed(reason.as_str());
    refusals::record(&format!("ip:{}", peer.ip()), "-", reason);
}

/// Drives one connection until it closes, a timeout closes it, or shutdown has let it finish.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    settings: Arc<ServerSettings>,
    permit: ConnectionPermit,
    stop: CancellationToken,
) {
    // Responses are written whole; waiting to coalesce them only adds latency.
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let guard = requests.begin_request();
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await?;
            Ok::<_, std::convert::Infallible>(response.map(|body| {
                Body::new(Guarded {
                    inner: body,
                    _guard: guard,
                })
            }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .keep_alive(true)
        .header_read_timeout(None)
        .max_header_size(HYPER_MAX_HEAD_BYTES)
        .max_headers(HYPER_MAX_HEADERS);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    // The timer is not moved by each request (that would cost a wake-up and a timer
    // re-registration per request): it fires at a check time, which recomputes the deadline
    // from the connection's activity and either closes the connection or sets the next check
    // ([`next_check`]).
    let check = tokio::time::sleep_until(Instant::now() + check_interval(&settings));
    tokio::pin!(check);
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = connection.as_mut() => break,
            () = stop.cancelled(), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
            () = check.as_mut() => {
                let now = Instant::now();
                match next_check(activity.deadline(&settings), now, &settings) {
                    Ok(at) => check.as_mut().reset(at),
                    Err(reason) => {
                        refused(peer, reason);
                        break;
                    }
                }
            }
        }
    }
    drop(permit);
}

/// The longest time between two checks of a connection's deadline: the shorter of the two
/// timeouts.
fn check_interval(settings: &ServerSettings) -> Duration {
    settings
        .header_read_timeout
        .min(settings.keepalive_idle_timeout)
}

/// At a check time `now`: `Err(reason)` when the connection's `deadline` has passed, else the
/// next check: the deadline, but never more than [`check_interval`] away. Activity can bring a
/// deadline closer (a request head starting on an idle connection: head start + header-read
/// timeout; a request ending: end + idle timeout), but never closer than [`check_interval`]
/// after the activity; since checks are never further apart than that, a check falls between
/// the activity and its deadline, and sets the next check to the deadline.
fn next_check(
    deadline: Option<(Instant, Reason)>,
    now: Instant,
    settings: &ServerSettings,
) -> Result<Instant, Reason> {
    let latest = now + check_interval(settings);
    match deadline {
        Some((at, reason)) if at <= now => Err(reason),
        Some((at, _)) => Ok(at.min(latest)),
        // A request in flight: its own timeout bounds it; look again later.
        None => Ok(latest),
    }
}

/// What a connection is doing, for its timeouts: requests in flight, when it last became idle,
/// and when the first byte of its next request head arrived.
struct Activity {
    state: Mutex<ActivityState>,
}

struct ActivityState {
    in_flight: usize,
    /// Accept, or the end of the last response.
    idle_since: Instant,
    /// The first byte read while idle (a request head under way).
    head_started: Option<Instant>,
    /// No request was served yet (the first head is timed from accept).
    fresh: bool,
}

impl Activity {
    fn new() -> Self {
        Self {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                idle_since: Instant::now(),
                head_started: None,
                fresh: true,
            }),
        }
    }

    /// When the connection must be closed and why: `None` while a request is in flight (the
    /// request timeout bounds it).
    fn deadline(&self, settings: &ServerSettings) -> Option<(Instant, Reason)> {
        let state = self.state.lock().ok()?;
        if state.in_flight > 0 {
            return None;
        }
        if state.fresh {
            return Some((
                state.idle_since + settings.header_read_timeout,
                Reason::HeaderReadTimeout,
            ));
        }
        match state.head_started {
            Some(at) => Some((at + settings.header_read_timeout, Reason::HeaderReadTimeout)),
            None => Some((
                state.idle_since + settings.keepalive_idle_timeout,
                Reason::IdleTimeout,
            )),
        }
    }

    /// Bytes arrived from the client.
    fn on_read(&self) {
        if let Ok(mut state) = self.state.lock() {
            if state.in_flight == 0 && state.head_started.is_none() {
                state.head_started = Some(Instant::now());
            }
        }
    }

    /// A request head was parsed: its request is in flight until the guard (held by the
    /// response body) drops.
    fn begin_request(self: &Arc<Self>) -> RequestGuard {
        if let Ok(mut state) = self.state.lock() {
            state.in_flight += 1;
            state.head_started = None;
            state.fresh = false;
        }
        RequestGuard {
            activity: self.clone(),
        }
    }

    fn end_request(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.in_flight = state.in_flight.saturating_sub(1);
            if state.in_flight == 0 {
                state.idle_since = Instant::now();
                state.head_started = None;
            }
        }
    }
}

/// A request in flight on its connection ([`Activity`]); dropped with the response body, once
/// hyper has written it (or given up on it).
struct RequestGuard {
    activity: Arc<Activity>,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.activity.end_request();
    }
}

/// A response body that keeps its request in flight until it is dropped.
struct Guarded {
    inner: Body,
    _guard: RequestGuard,
}

impl HttpBody for Guarded {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The connection's socket, telling its [`Activity`] when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
