//! The `/health` report (its fields and what each state means: `docs/operations.md`).
//!
//! Health never waits on the chain or the database: it reads in-memory indexer state and the
//! result of the last background database check ([`HealthService::run_checks`], every
//! `HEALTH_CHECK_INTERVAL_MS`; one query, bounded by [`DATABASE_PING_TIMEOUT`]), so a probe costs
//! no query and does not slow down when the database is busy. A request that finds the database
//! unreachable triggers a check at once ([`database_failure_observed`]). Status is `ok`,
//! `degraded` (indexer starting or stalled, or a reorg rollback in progress; still HTTP 200) or
//! `unavailable` (database unreachable at the last check, or the service shutting down; HTTP 503).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use serde::Serialize;

use crate::clock::{format_millis, now_millis};
use crate::indexer::state::{IndexerProblem, IndexerSnapshot, IndexerState};
use crate::store::{Database, PoolStats};

/// Longest a background health check waits for the database.
pub const DATABASE_PING_TIMEOUT: Duration = Duration::from_millis(1000);

/// Shortest time between two checks triggered by [`database_failure_observed`].
pub const MIN_TRIGGERED_CHECK_SPACING: Duration = Duration::from_millis(100);

/// Wakes the health checks of this process: a request found the database unreachable.
static FAILURE_OBSERVED: Notify = Notify::const_new();

/// Tells the health checks ([`HealthService::run_checks`]) that a request just found the
/// database unreachable, so they check at once instead of at the next interval. Cheap; called
/// for every [`crate::store::StoreError::Unavailable`] answered as a 503.
pub fn database_failure_observed() {
    FAILURE_OBSERVED.notify_waiters();
}

/// The service name reported by `/` and `/health`.
pub const SERVICE_NAME: &str = "fluxora-backend";

/// Overall status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DatabaseHealth {
    /// `ok` or `unavailable`.
    #[schema(value_type = String, pattern = "^(ok|unavailable)$")]
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    #[schema(value_type = String, pattern = "^(sqlite|postgres)$")]
    pub backend: &'static str,
}

/// Indexer part of the report; every field is always present (null when unknown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IndexerHealth {
    /// `not_configured`, `starting`, `healthy` or `stalled`.
    #[schema(
        value_type = String,
        pattern = "^(not_configured|starting|healthy|stalled)$"
    )]
    pub status: &'static str,
    /// RFC 3339 time of the last successful sync.
    #[schema(format = DateTime)]
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
    /// RFC 3339 time of the last reconciliation with the contract's storage
    /// (`INDEXER_VERIFY_INTERVAL_MS`), null before the first.
    #[schema(format = DateTime)]
    pub last_verified_at: Option<String>,
    /// Open chain streams that differed from the contract's storage at that reconciliation (then
    /// repaired); null before the first.
    pub drifted_streams: Option<usize>,
    /// RFC 3339 time of the last reconciliation that found drift (a later one finds none once
    /// it is repaired); null if none ever did.
    #[schema(format = DateTime)]
    pub last_drift_at: Option<String>,
    /// How many streams that reconciliation found drifted; null if none ever did.
    pub last_drifted_streams: Option<usize>,
    /// One sentence for humans.
    pub summary: String,
    /// What API clients experience: `none`, or a sentence.
    pub client_impact: String,
    /// What an operator should do: `none`, or a sentence.
    pub operator_action: String,
}

/// The indexer part of `/health` from a state snapshot at unix ms `now`: status `not_configured`,
/// `starting` (no successful sync yet), `healthy` (last successful sync at most `threshold_ms` ago,
/// inclusive) or `stalled`. Pure, so every boundary is unit-tested.
pub fn indexer_health(snapshot: &IndexerSnapshot, now: i64, threshold_ms: u64) -> IndexerHealth {
    let lag_ms = snapshot
        .last_successful_sync_at
        .map(|at| u64::try_from(now.saturating_sub(at)).unwrap_or(0));
    let status = match (snapshot.configured, lag_ms) {
        (false, _) => "not_configured",
        (true, None) => "starting",
        (true, Some(lag)) if lag <= threshold_ms => "healthy",
        (true, Some(_)) => "stalled",
    };
    let (summary, client_impact, operator_action) = match (&snapshot.problem, status) {
        (_, "not_configured") => (
            "The chain indexer is not configured; only streams created through the API are served.".to_string(),
            "none".to_string(),
            "none".to_string(),
        ),
        (Some(IndexerProblem::NetworkMismatch { expected, actual }), _) => (
            format!("Indexing stopped: the RPC serves network '{actual}', not the configured '{expected}'."),
            "Chain streams are not updated.".to_string(),
            "Point STELLAR_RPC_URL at the configured network, or fix STELLAR_NETWORK/NETWORK_PASSPHRASE.".to_string(),
        ),
        (Some(IndexerProblem::NetworkReset { last_ingested, rpc_latest }), _) => (
            format!("Indexing stopped: the RPC's latest ledger {rpc_latest} is below our last ingested ledger {last_ingested} (network reset or provider switch)."),
            "Chain streams are not updated.".to_string(),
            "Check the RPC endpoint; after a network reset, index into a fresh database.".to_string(),
        ),
        (_, _) if snapshot.reorg_in_progress => (
            format!(
                "A chain reorganisation was detected at ledger {}; rolled back and re-ingesting.",
                snapshot.reorg_fork_ledger.map_or_else(|| "?".to_string(), |l| l.to_string())
            ),
            "Chain streams may briefly show pre-reorg values.".to_string(),
            "none: rollback is automatic; investigate if it persists.".to_string(),
        ),
        (problem, "starting") => (
            match problem {
                Some(IndexerProblem::RpcFailing { error }) => format!("The indexer has not synced yet; the last attempt failed: {error}"),
                _ => "The indexer is configured and has not completed its first sync yet.".to_string(),
            },
            "Chain streams may be missing or stale.".to_string(),
            "Wait for the first sync; if it persists, check STELLAR_RPC_URL and the logs.".to_string(),
        ),
        (problem, "stalled") => (
            match problem {
                Some(IndexerProblem::RpcFailing { error }) => format!("No successful sync within the threshold; the last attempt failed: {error}"),
                _ => "No successful sync within the threshold.".to_string(),
            },
            "Chain streams may be stale.".to_string(),
            "Check the RPC endpoint (STELLAR_RPC_URL), the network and the indexer logs.".to_string(),
        ),
        _ => (
            "The indexer is following the chain.".to_string(),
            "none".to_string(),
            "none".to_string(),
        ),
    };
    IndexerHealth {
        status,
        last_successful_sync_at: snapshot.last_successful_sync_at.map(format_millis),
        lag_ms,
        threshold_ms,
        last_ingested_ledger: snapshot.last_ingested_ledger,
        last_safe_ledger: snapshot.last_safe_ledger,
        reorg_detected: snapshot.reorg_in_progress,
        last_verified_at: snapshot.verification.map(|v| format_millis(v.at_ms)),
        drifted_streams: snapshot.verification.map(|v| v.drifted),
        last_drift_at: snapshot.last_drift.map(|v| format_millis(v.at_ms)),
        last_drifted_streams: snapshot.last_drift.map(|v| v.drifted),
        summary,
        client_impact,
        operator_action,
    }
}

/// The whole `/health` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HealthReport {
    /// Overall status.
    pub status: OverallStatus,
    /// Always `fluxora-backend`.
    #[schema(value_type = String, example = "fluxora-backend")]
    pub service: &'static str,
    /// Crate version.
    #[schema(value_type = String)]
    pub version: &'static str,
    /// RFC 3339 time of the report.
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// Database state.
    pub database: DatabaseHealth,
    /// Indexer state.
    pub indexer: IndexerHealth,
}

/// Produces health reports; shared by the handlers.
#[derive(Clone)]
pub struct HealthService {
    store: Database,
    indexer: IndexerState,
    stall_threshold_ms: u64,
    shutting_down: Arc<AtomicBool>,
    check_interval: Duration,
    /// The database answered the last check.
    database_ok: Arc<AtomicBool>,
    /// Every migration was applied at the last check.
    migrations_ok: Arc<AtomicBool>,
    /// A check has run.
    checked: Arc<AtomicBool>,
}

impl HealthService {
    /// A health service for the database `store` and the indexer's `state`, with the
    /// indexer's stall threshold (`INDEXER_STALL_THRESHOLD_MS`) and the database check interval
    /// (`HEALTH_CHECK_INTERVAL_MS`). Reports the database unavailable until the first
    /// [`HealthService::check_now`].
    pub fn new(
        store: Database,
        indexer: IndexerState,
        stall_threshold_ms: u64,
        check_interval: Duration,
    ) -> Self {
        Self {
            store,
            indexer,
            stall_threshold_ms,
            shutting_down: Arc::new(AtomicBool::new(false)),
            check_interval,
            database_ok: Arc::new(AtomicBool::new(false)),
            migrations_ok: Arc::new(AtomicBool::new(false)),
            checked: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Checks the database once (one query: are the migrations applied?, within
    /// [`DATABASE_PING_TIMEOUT`]) and records the result the probes read. A change is logged.
    pub async fn check_now(&self) {
        let (database_ok, migrations_ok) = match tokio::time::timeout(
            DATABASE_PING_TIMEOUT,
            self.store.migrations_applied(),
        )
        .await
        {
            Ok(Ok(applied)) => (true, applied),
            Ok(Err(_)) | Err(_) => (false, false),
        };
        let was_ok = self.database_ok.swap(database_ok, Ordering::SeqCst);
        self.migrations_ok.store(migrations_ok, Ordering::SeqCst);
        let first = !self.checked.swap(true, Ordering::SeqCst);
        if first {
            if !database_ok {
                tracing::warn!("health check: the database is unreachable; /health answers 503");
            }
        } else if was_ok && !database_ok {
            tracing::warn!("health check: the database is unreachable; /health answers 503");
        } else if !was_ok && database_ok {
            tracing::info!("health check: the database answers");
        }
    }

    /// Checks the database every `HEALTH_CHECK_INTERVAL_MS`, and at once (at most every
    /// [`MIN_TRIGGERED_CHECK_SPACING`]) when a request found it unreachable
    /// ([`database_failure_observed`]), until `shutdown`.
    pub async fn run_checks(self, shutdown: CancellationToken) {
        let mut next = tokio::time::Instant::now() + self.check_interval;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep_until(next) => {}
                () = FAILURE_OBSERVED.notified() => {}
            }
            let started = tokio::time::Instant::now();
            self.check_now().await;
            next = started + self.check_interval;
            // Triggered checks are spaced: a burst of failing requests is one check.
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep_until(started + MIN_TRIGGERED_CHECK_SPACING) => {}
            }
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

    /// Whether the database answered the last check (no query of its own).
    pub fn database_reachable(&self) -> bool {
        self.database_ok.load(Ordering::SeqCst)
    }

    /// Whether, at the last check, the database answered with every migration applied, and the
    /// service is not shutting down (`/health/ready`; no query of its own).
    pub async fn ready(&self) -> bool {
        !self.is_shutting_down()
            && self.database_ok.load(Ordering::SeqCst)
            && self.migrations_ok.load(Ordering::SeqCst)
    }

    /// The connection pool's figures (never touches the database; `/metrics`).
    pub fn pool_stats(&self) -> PoolStats {
        self.store.pool_stats()
    }

    /// The indexer part of the report alone (never touches the database; `/metrics`).
    pub fn indexer_report(&self) -> IndexerHealth {
        indexer_health(
            &self.indexer.snapshot(),
            now_millis(),
            self.stall_threshold_ms,
        )
    }

    /// The full report.
    pub async fn report(&self) -> HealthReport {
        let database_ok = self.database_reachable();
        let now = now_millis();
        let indexer = indexer_health(&self.indexer.snapshot(), now, self.stall_threshold_ms);
        let degraded = matches!(indexer.status, "starting" | "stalled") || indexer.reorg_detected;
        let status = if !database_ok || self.is_shutting_down() {
            OverallStatus::Unavailable
        } else if degraded {
            OverallStatus::Degraded
        } else {
            OverallStatus::Ok
        };
        HealthReport {
            status,
            service: SERVICE_NAME,
            version: env!("CARGO_PKG_VERSION"),
            timestamp: format_millis(now),
            database: DatabaseHealth {
                status: if database_ok { "ok" } else { "unavailable" },
                backend: self.store.backend(),
            },
            indexer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexer_status_boundaries() {
        let threshold = 300_000;
        let now = 10_000_000;
        let mut snapshot = IndexerSnapshot::default();
        assert_eq!(
            indexer_health(&snapshot, now, threshold).status,
            "not_configured"
        );
        snapshot.configured = true;
        let starting = indexer_health(&snapshot, now, threshold);
        assert_eq!(starting.status, "starting");
        assert_eq!(starting.lag_ms, None);
        snapshot.last_successful_sync_at = Some(now - 300_000);
        let at_threshold = indexer_health(&snapshot, now, threshold);
        assert_eq!(at_threshold.status, "healthy", "the threshold is inclusive");
        assert_eq!(at_threshold.lag_ms, Some(300_000));
        snapshot.last_successful_sync_at = Some(now - 300_001);
        assert_eq!(indexer_health(&snapshot, now, threshold).status, "stalled");
        snapshot.last_successful_sync_at = Some(now + 5);
        assert_eq!(
            indexer_health(&snapshot, now, threshold).lag_ms,
            Some(0),
            "clock skew"
        );
    }

    #[test]
    fn problems_are_explained() {
        let snapshot = IndexerSnapshot {
            configured: true,
            problem: Some(IndexerProblem::NetworkMismatch {
                expected: "Test SDF Network ; September 2015".into(),
                actual: "Public Global Stellar Network ; September 2015".into(),
            }),
            ..IndexerSnapshot::default()
        };
        let health = indexer_health(&snapshot, 0, 1000);
        assert_eq!(health.status, "starting");
        assert!(health.summary.contains("Public Global"));
        assert!(health.operator_action.contains("STELLAR_RPC_URL"));
        let reorg = IndexerSnapshot {
            configured: true,
            last_successful_sync_at: Some(0),
            reorg_in_progress: true,
            reorg_fork_ledger: Some(1_216_500),
            ..IndexerSnapshot::default()
        };
        let health = indexer_health(&reorg, 0, 1000);
        assert!(health.reorg_detected);
        assert!(health.summary.contains("1216500"));
    }
}
