//! A Stellar RPC (JSON-RPC 2.0 over HTTP POST) client for the methods the indexer needs:
//! `getNetwork`, `getLatestLedger`, `getLedgers`, `getEvents`, `getLedgerEntries`,
//! `simulateTransaction` and `getHealth`
//! (stellar-rpc ≥ v23 shapes; `docs/indexer.md` says how the poller uses them).
//!
//! Every call has a timeout and retries transport failures, HTTP 429/5xx and the JSON-RPC
//! "server busy / timed out" errors with capped exponential backoff; other errors are returned at
//! once, typed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::backoff::Backoff;

/// Largest `pagination.limit` the indexer asks `getEvents` for (the server's max is 10 000).
pub const EVENTS_PAGE_LIMIT: u32 = 1000;

/// Errors of an RPC call.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// Connection refused, reset, DNS failure, or the request timed out.
    #[error("RPC transport error: {0}")]
    Transport(#[source] reqwest::Error),
    /// A non-2xx HTTP status.
    #[error("RPC answered HTTP {status}")]
    Http {
        /// The status code.
        status: u16,
    },
    /// A JSON-RPC error object (`code`, `message`); e.g. -32600 for a start ledger outside the
    /// retention window, -32001 for a getEvents call aborted after 10 s.
    #[error("RPC error {code}: {message}")]
    JsonRpc {
        /// JSON-RPC error code.
        code: i64,
        /// Server message.
        message: String,
    },
    /// The response was not the JSON-RPC shape or the method's result shape.
    #[error("unexpected RPC response: {0}")]
    Decode(String),
}

impl RpcError {
    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            RpcError::Transport(_) => true,
            RpcError::Http { status } => *status == 429 || *status == 408 || *status >= 500,
            // -32001: execution timed out; -32603: internal (e.g. unhealthy, behind); -32005: limit
            RpcError::JsonRpc { code, .. } => matches!(code, -32001 | -32603 | -32005),
            RpcError::Decode(_) => false,
        }
    }
}

/// `getNetwork` result.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInfo {
    /// The network passphrase (must match `NETWORK_PASSPHRASE`).
    pub passphrase: String,
    /// Protocol version.
    #[serde(default)]
    pub protocol_version: Option<u32>,
}

/// `getLatestLedger` result.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LatestLedger {
    /// Ledger hash (64 hex).
    pub id: String,
    /// Ledger sequence.
    pub sequence: u32,
    /// Protocol version.
    #[serde(default)]
    pub protocol_version: Option<u32>,
}

/// One ledger of a `getLedgers` page (the metadata XDR is ignored).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LedgerInfo {
    /// Ledger hash (64 hex).
    pub hash: String,
    /// Ledger sequence.
    pub sequence: u32,
    /// Close time, unix seconds, as a decimal string.
    #[serde(default)]
    pub ledger_close_time: Option<String>,
    /// The ledger's header: base64 XDR `LedgerHeaderHistoryEntry` (`xdrFormat` `base64`, the
    /// default). Absent from some providers' answers.
    #[serde(default)]
    pub header_xdr: Option<String>,
}

/// Largest decoded `LedgerHeaderHistoryEntry` accepted (a real one is about 400 bytes).
const MAX_HEADER_XDR_BYTES: u32 = 64 * 1024;

impl LedgerInfo {
    /// The hash of the ledger before this one, from the header's `previousLedgerHash`
    /// (lowercase hex): Stellar ledger N+1 carries the hash of ledger N, a hash chain back to
    /// genesis. `Ok(None)` when the RPC sent no header.
    ///
    /// # Errors
    /// When `headerXdr` is not a base64 XDR `LedgerHeaderHistoryEntry`, or names another ledger
    /// (`ledgerSeq`) or another hash than this entry.
    pub fn previous_hash(&self) -> Result<Option<String>, String> {
        use stellar_xdr::{LedgerHeaderHistoryEntry, Limits, ReadXdr};
        let Some(header) = self.header_xdr.as_deref() else {
            return Ok(None);
        };
        let limits = Limits {
            depth: 16,
            len: MAX_HEADER_XDR_BYTES as usize,
        };
        let entry = LedgerHeaderHistoryEntry::from_xdr_base64(header, limits)
            .map_err(|e| format!("ledger {}: undecodable headerXdr: {e}", self.sequence))?;
        if entry.header.ledger_seq != self.sequence {
            return Err(format!(
                "ledger {}: headerXdr is the header of ledger {}",
                self.sequence, entry.header.ledger_seq
            ));
        }
        if !hex::encode(entry.hash.0).eq_ignore_ascii_case(&self.hash) {
            return Err(format!(
                "ledger {}: headerXdr carries another hash than the entry",
                self.sequence
            ));
        }
        Ok(Some(hex::encode(entry.header.previous_ledger_hash.0)))
    }
}

/// `getLedgers` result.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LedgersPage {
    /// Ledgers in ascending sequence.
    pub ledgers: Vec<LedgerInfo>,
    /// Latest ledger the server knows.
    pub latest_ledger: u32,
    /// Oldest ledger the server still has.
    pub oldest_ledger: u32,
}

/// Most keys one `getLedgerEntries` call takes (stellar-rpc's limit).
pub const MAX_LEDGER_ENTRY_KEYS: usize = 200;

/// `getLedgerEntries` result: the entries that exist (keys without an entry are left out).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntriesPage {
    /// The entries found (`null` is read as none).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub entries: Vec<LedgerEntryResult>,
    /// Latest ledger the server knows.
    pub latest_ledger: u32,
}

/// One `getLedgerEntries` entry.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntryResult {
    /// The base64 `LedgerKey` asked for.
    pub key: String,
    /// The base64 `LedgerEntryData`.
    pub xdr: String,
    /// The ledger of the entry's last change.
    pub last_modified_ledger_seq: u32,
    /// Until which ledger the entry lives (absent for entries without a TTL).
    #[serde(default)]
    pub live_until_ledger_seq: Option<u32>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// `simulateTransaction` result, as far as a read-only view call needs it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Simulation {
    /// The ledger the simulation ran at.
    pub latest_ledger: u32,
    /// Set when the invocation failed (the host's or the contract's error, as text).
    #[serde(default)]
    pub error: Option<String>,
    /// One result per invocation (a view call has one); absent when `error` is set.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub results: Vec<SimulationResult>,
}

/// One `simulateTransaction` result.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SimulationResult {
    /// The return value: base64 XDR `ScVal`.
    pub xdr: String,
}

/// Where a `getEvents` page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventsStart {
    /// From this ledger (inclusive), when no cursor is known yet.
    Ledger(u32),
    /// After the position a previous page returned.
    Cursor(String),
}

/// HTTP JSON-RPC client for one endpoint.
#[derive(Debug)]
pub struct RpcClient {
    http: reqwest::Client,
    url: String,
    next_id: AtomicU64,
    retry: Backoff,
    attempts: u32,
}

impl RpcClient {
    /// A client for `url` with a per-request `timeout`. Redirects are not followed.
    ///
    /// Errors: [`RpcError::Transport`] if the HTTP client cannot be built (TLS set-up).
    pub fn new(url: impl Into<String>, timeout: Duration) -> Result<Self, RpcError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("fluxora/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(RpcError::Transport)?;
        Ok(Self {
            http,
            url: url.into(),
            next_id: AtomicU64::new(1),
            retry: Backoff {
                base: Duration::from_millis(200),
                cap: Duration::from_secs(5),
                jitter: 0.5,
            },
            attempts: 4,
        })
    }

    /// Sets how many attempts a retryable call gets (at least 1) and its backoff.
    pub fn with_retry(mut self, attempts: u32, retry: Backoff) -> Self {
        self.attempts = attempts.max(1);
        self.retry = retry;
        self
    }

    /// One JSON-RPC call with retries.
    async fn call<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T, RpcError> {
        let mut attempt = 0;
        loop {
            match self.call_once(method, &params).await {
                Err(error) if error.is_retryable() && attempt + 1 < self.attempts => {
                    let delay = self.retry.delay(attempt);
                    tracing::debug!(method, error = %error, delay_ms = delay.as_millis() as u64, "RPC call failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn call_once<T: DeserializeOwned>(
        &self,
        method: &str,
        params: &Value,
    ) -> Result<T, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let response = self
            .http
            .post(&self.url)
            .json(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .send()
            .await
            .map_err(RpcError::Transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(RpcError::Http {
                status: status.as_u16(),
            });
        }
        let body: Value = response.json().await.map_err(RpcError::Transport)?;
        if let Some(error) = body.get("error") {
            return Err(RpcError::JsonRpc {
                code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .chars()
                    .take(500)
                    .collect(),
            });
        }
        let result = body
            .get("result")
            .cloned()
            .ok_or_else(|| RpcError::Decode(format!("{method}: no result")))?;
        serde_json::from_value(result).map_err(|e| RpcError::Decode(format!("{method}: {e}")))
    }

    /// `getNetwork`: the network's passphrase.
    pub async fn get_network(&self) -> Result<NetworkInfo, RpcError> {
        self.call("getNetwork", json!({})).await
    }

    /// `getLatestLedger`: the newest ledger's sequence and hash.
    pub async fn get_latest_ledger(&self) -> Result<LatestLedger, RpcError> {
        self.call("getLatestLedger", json!({})).await
    }

    /// `getLedgers` from `start` (inclusive), at most `limit` (≤ 200) ledgers.
    pub async fn get_ledgers(&self, start: u32, limit: u32) -> Result<LedgersPage, RpcError> {
        self.call(
            "getLedgers",
            json!({"startLedger": start, "pagination": {"limit": limit.clamp(1, 200)}}),
        )
        .await
    }

    /// `getEvents` of one contract, from a ledger or a cursor, at most `limit` events. The raw
    /// result is returned for the caller to validate event by event.
    pub async fn get_events(
        &self,
        start: &EventsStart,
        contract_id: &str,
        limit: u32,
    ) -> Result<Value, RpcError> {
        let filters = json!([{"type": "contract", "contractIds": [contract_id]}]);
        let params = match start {
            EventsStart::Ledger(ledger) => json!({
                "startLedger": ledger,
                "filters": filters,
                "pagination": {"limit": limit},
                "xdrFormat": "base64",
            }),
            EventsStart::Cursor(cursor) => json!({
                "filters": filters,
                "pagination": {"cursor": cursor, "limit": limit},
                "xdrFormat": "base64",
            }),
        };
        self.call("getEvents", params).await
    }

    /// `getLedgerEntries` for at most [`MAX_LEDGER_ENTRY_KEYS`] base64 `LedgerKey`s (more are
    /// refused by the server; the caller splits).
    pub async fn get_ledger_entries(&self, keys: &[String]) -> Result<LedgerEntriesPage, RpcError> {
        self.call(
            "getLedgerEntries",
            json!({"keys": keys, "xdrFormat": "base64"}),
        )
        .await
    }

    /// `simulateTransaction` of a base64 `TransactionEnvelope` (nothing is submitted): how the
    /// contract's read-only views are called ([`crate::indexer::views`]).
    pub async fn simulate_transaction(&self, transaction: &str) -> Result<Simulation, RpcError> {
        self.call(
            "simulateTransaction",
            json!({"transaction": transaction, "xdrFormat": "base64"}),
        )
        .await
    }

    /// `getHealth`: `Ok` when the node reports `healthy`.
    pub async fn get_health(&self) -> Result<Value, RpcError> {
        self.call("getHealth", json!({})).await
    }
}
