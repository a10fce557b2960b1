//! The `/health` report (`design.md` §6).
//!
//! Health never waits on the chain: it reads in-memory indexer state and pings the database with
//! a short timeout ([`DATABASE_PING_TIMEOUT`]). Status is `ok`, `degraded` (indexer starting or
//! stalled, or a reorg rollback in progress; still HTTP 200) or `unavailable` (database unreachable
//! or the service shutting down; HTTP 503).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::clock::{format_millis, now_millis};
use crate::store::Store;

/// Longest a health probe waits for the database.
pub const DATABASE_PING_TIMEOUT: Duration = Duration::from_millis(1000);

/// The service name reported by `/` and `/health`.
pub const SERVICE_NAME: &str = "fluxora-backend";

/// Overall status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OverallStatus {
    /// Everything works.
    Ok,
    /// Serving, but chain-derived data may be stale.
    Degraded,
    /// Not serving (database down or shutting down): HTTP 503.
    Unavailable,
}

/// Database part of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseHealth {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
}

/// Indexer part of the report; every field is always present (null when unknown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexerHealth {
    /// `not_configured`, `starting`, `healthy` or `stalled`.
    pub status: &'static str,
    /// RFC 3339 time of the last successful sync.
    pub last_successful_sync_at: Option<String>,
    /// Milliseconds since the last successful sync.
    pub lag_ms: Option<u64>,
    /// `INDEXER_STALL_THRESHOLD_MS`.
    pub threshold_ms: u64,
    /// Highest ingested ledger.
    pub last_ingested_ledger: Option<u32>,
    /// Highest ledger considered safe (ingested − safety margin).
    pub last_safe_ledger: Option<u32>,
    /// Whether a reorg rollback is in progress.
    pub reorg_detected: bool,
    /// One sentence for humans.
    pub summary: &'static str,
    /// What API clients experience.
    pub client_impact: &'static str,
    /// What an operator should do.
    pub operator_action: &'static str,
}

/// The whole `/health` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    /// Overall status.
    pub status: OverallStatus,
    /// Always `fluxora-backend`.
    pub service: &'static str,
    /// Crate version.
    pub version: &'static str,
    /// RFC 3339 time of the report.
    pub timestamp: String,
    /// Database state.
    pub database: DatabaseHealth,
    /// Indexer state.
    pub indexer: IndexerHealth,
}

/// Produces health reports; shared by the handlers.
#[derive(Clone)]
pub struct HealthService {
    store: Arc<dyn Store>,
    stall_threshold_ms: u64,
    shutting_down: Arc<AtomicBool>,
}

impl HealthService {
    /// A health service for `store`, reporting `stall_threshold_ms` as the indexer threshold.
    pub fn new(store: Arc<dyn Store>, stall_threshold_ms: u64) -> Self {
        Self {
            store,
            stall_threshold_ms,
            shutting_down: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Marks the service as shutting down: from now on health reports `unavailable`.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Whether the database answers within [`DATABASE_PING_TIMEOUT`].
    pub async fn database_reachable(&self) -> bool {
        matches!(
            tokio::time::timeout(DATABASE_PING_TIMEOUT, self.store.ping()).await,
            Ok(Ok(()))
        )
    }

    /// Whether the database answers and every migration is applied (`/health/ready`).
    pub async fn ready(&self) -> bool {
        if self.is_shutting_down() {
            return false;
        }
        matches!(
            tokio::time::timeout(DATABASE_PING_TIMEOUT, self.store.migrations_applied()).await,
            Ok(Ok(true))
        )
    }

    /// The full report.
    pub async fn report(&self) -> HealthReport {
        let database_ok = self.database_reachable().await;
        let indexer = IndexerHealth {
            status: "not_configured",
            last_successful_sync_at: None,
            lag_ms: None,
            threshold_ms: self.stall_threshold_ms,
            last_ingested_ledger: None,
            last_safe_ledger: None,
            reorg_detected: false,
            summary: "The chain indexer is not configured; only streams created through the API are served.",
            client_impact: "none",
            operator_action: "none",
        };
        let status = if !database_ok || self.is_shutting_down() {
            OverallStatus::Unavailable
        } else {
            OverallStatus::Ok
        };
        HealthReport {
            status,
            service: SERVICE_NAME,
            version: env!("CARGO_PKG_VERSION"),
            timestamp: format_millis(now_millis()),
            database: DatabaseHealth {
                status: if database_ok { "ok" } else { "unavailable" },
                backend: self.store.backend(),
            },
            indexer,
        }
    }
}
