//! Supervised background workers (the indexer, the webhook dispatcher): a worker that fails or
//! panics is restarted with capped exponential backoff while the HTTP service keeps serving; all
//! stop on shutdown.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;

/// The restart schedule of supervised workers: 1 s doubling to 60 s, half of it jittered.
pub const RESTART_BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(1),
    cap: Duration::from_secs(60),
    jitter: 0.5,
};

/// Runs the worker `make` builds until it returns `Ok(())` or `shutdown` is cancelled. Each run
/// is a separate task: an `Err` or a panic is logged and the worker is rebuilt after
/// `backoff.delay(n)` (n = consecutive failures). Workers must watch `shutdown` themselves and
/// return `Ok(())` when it fires.
pub async fn supervise<F, Fut>(
    name: &'static str,
    shutdown: CancellationToken,
    backoff: Backoff,
    mut make: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let mut failures: u32 = 0;
    loop {
        let outcome = tokio::spawn(make()).await;
        match outcome {
            Ok(Ok(())) => return,
            Ok(Err(error)) => {
                tracing::warn!(worker = name, error = %error, "worker failed; restarting")
            }
            Err(join) if join.is_panic() => {
                tracing::error!(worker = name, "worker panicked; restarting")
            }
            Err(_) => return,
        }
        if shutdown.is_cancelled() {
            return;
        }
        let delay = backoff.delay(failures);
        failures = failures.saturating_add(1);
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn restarts_after_errors_and_panics_until_success() {
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        let fast = Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
            jitter: 0.0,
        };
        supervise("test", CancellationToken::new(), fast, move || {
            let counter = counter.clone();
            async move {
                match counter.fetch_add(1, Ordering::SeqCst) {
                    0 => Err("first run fails".to_string()),
                    1 => panic!("second run panics"),
                    _ => Ok(()),
                }
            }
        })
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn shutdown_stops_restarting() {
        let token = CancellationToken::new();
        token.cancel();
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        supervise("test", token, RESTART_BACKOFF, move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Err("always fails".to_string())
            }
        })
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "no restart after shutdown");
    }
}
