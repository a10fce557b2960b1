//! The webhook dispatcher: claims due deliveries from the outbox under a lease, signs them with
//! `fluxora-webhooks` (the contract in `docs/webhooks.md`), POSTs them through the SSRF guard (10 s
//! timeout, no redirects), and records every attempt with the delivery's next state.
//!
//! Several replicas may dispatch at once: claims are atomic (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL) and leased, so a delivery is sent by one dispatcher at a time, and a crashed
//! dispatcher's deliveries are retried when their lease expires. Consumers deduplicate on the
//! delivery id, which is stable across retries.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::backoff::random_unit;
use crate::clock::now_millis;
use crate::ssrf::SsrfPolicy;
use crate::webhook_retry::RetrySchedule;
use crate::webhooks::policy::{
    classify, next_attempt_delay, parse_retry_after, AttemptResult, Disposition, FailReason,
    NextStep, TransportErrorKind,
};
use crate::webhooks::repo::{AttemptRecord, ClaimedDelivery, WebhookRepository};
use crate::webhooks::{delivery_body, DeliveryStatus};

/// Per-attempt timeout: an attempt not answered within 10 s is retried, after at least 60 s
/// ([`crate::webhooks::policy::SLOW_DOWN_FLOOR`]).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// The stored excerpt of a response body.
pub const RESPONSE_EXCERPT_BYTES: usize = 1024;

/// Dispatcher settings.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Delays between attempts (`WEBHOOK_RETRY_SCHEDULE`).
    pub schedule: RetrySchedule,
    /// How often to look for due deliveries when not woken (ms).
    pub poll_interval: Duration,
    /// Deliveries sent at once.
    pub concurrency: u32,
    /// Disable an endpoint after this many deliveries in a row ended failed or dead.
    pub disable_after_failures: u32,
    /// How long a claim reserves a delivery (keep it above the 10 s timeout in production).
    pub lease: Duration,
}

/// The dispatcher (cheap to clone: shared handles).
#[derive(Clone)]
pub struct Dispatcher {
    store: WebhookRepository,
    client: reqwest::Client,
    ssrf: Arc<SsrfPolicy>,
    config: DispatcherConfig,
    wake: Arc<Notify>,
}

impl Dispatcher {
    /// A dispatcher over `store`, sending through an HTTP client that only connects to addresses
    /// the SSRF guard checked; `wake` is notified when new deliveries are committed.
    ///
    /// Errors: the HTTP client cannot be built (TLS set-up).
    pub fn new(
        store: WebhookRepository,
        ssrf: Arc<SsrfPolicy>,
        config: DispatcherConfig,
        wake: Arc<Notify>,
    ) -> Result<Self, reqwest::Error> {
        let client = ssrf
            .client_builder(DELIVERY_TIMEOUT)
            .user_agent(concat!("fluxora-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            store,
            client,
            ssrf,
            config,
            wake,
        })
    }

    /// Dispatches until `shutdown`. On shutdown, deliveries in flight finish (each is bounded by
    /// the 10 s timeout) and are recorded; nothing new is claimed.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), String> {
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let now = now_millis();
            let lease_until = now
                .saturating_add(i64::try_from(self.config.lease.as_millis()).unwrap_or(i64::MAX));
            let claimed = match self
                .store
                .claim_deliveries(now, lease_until, self.config.concurrency.max(1))
                .await
            {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(error = %error, "claiming webhook deliveries failed");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(self.config.poll_interval) => {}
                }
                continue;
            }
            let records =
                futures::future::join_all(claimed.into_iter().map(|c| self.deliver(c))).await;
            if let Err(error) = self.store.record_attempts(&records).await {
                // The leases expire and the deliveries are retried: at-least-once, and the
                // consumers deduplicate on the delivery id.
                tracing::error!(error = %error, deliveries = records.len(), "recording webhook attempts failed");
            }
        }
    }

    /// Sends one delivery; returns the attempt to record.
    async fn deliver(&self, claimed: ClaimedDelivery) -> AttemptRecord {
        let attempt = claimed.attempts.saturating_add(1);
        let started_ms = now_millis();
        let body = delivery_body(
            &claimed.event_id,
            &claimed.delivery_id,
            &claimed.event_type,
            claimed.event_created_at,
            &claimed.data,
        );
        let started = Instant::now();
        let sent = match self.ssrf.check_url(&claimed.endpoint.url) {
            // Checked at creation and again now: DNS and policy may have changed since.
            Err(refused) => Sent {
                disposition: Disposition::Failed(FailReason::AddressForbidden),
                retry_after: None,
                status_code: None,
                excerpt: None,
                error: Some(format!("refused by the SSRF guard: {refused}")),
            },
            Ok(url) => self.send(url, &claimed, &body, started_ms).await,
        };
        let latency_ms = started.elapsed().as_millis() as u64;

        let (status, next_attempt_at) = match sent.disposition {
            Disposition::Delivered { .. } => (DeliveryStatus::Delivered, started_ms),
            Disposition::Failed(_) => (DeliveryStatus::Failed, started_ms),
            Disposition::Retry(_) => match next_attempt_delay(
                &self.config.schedule,
                attempt,
                sent.disposition,
                sent.retry_after,
                random_unit(),
            ) {
                NextStep::RetryAfter(delay) => (
                    DeliveryStatus::Pending,
                    started_ms.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
                ),
                NextStep::Failed => (DeliveryStatus::Failed, started_ms),
                NextStep::Dead | NextStep::Done => (DeliveryStatus::Dead, started_ms),
            },
        };
        let record = AttemptRecord {
            delivery_id: claimed.delivery_id.clone(),
            endpoint_id: claimed.endpoint.id.clone(),
            attempt,
            attempted_at: started_ms,
            status_code: sent.status_code,
            latency_ms,
            error: sent.error.clone(),
            response_body: sent.excerpt,
            status,
            next_attempt_at,
            success: status == DeliveryStatus::Delivered,
            disable_after_failures: self.config.disable_after_failures,
        };
        crate::telemetry::metrics::record_delivery_attempt(
            match status {
                DeliveryStatus::Delivered => "delivered",
                DeliveryStatus::Pending => "retry",
                DeliveryStatus::Failed => "failed",
                DeliveryStatus::Dead => "dead",
            },
            started.elapsed(),
        );
        match status {
            DeliveryStatus::Delivered => {
                tracing::info!(delivery_id = %claimed.delivery_id, attempt, latency_ms, "webhook delivered")
            }
            DeliveryStatus::Pending => {
                tracing::warn!(delivery_id = %claimed.delivery_id, attempt, status = sent.status_code.unwrap_or(0), error = sent.error.as_deref().unwrap_or(""), "webhook attempt failed; will retry")
            }
            DeliveryStatus::Failed | DeliveryStatus::Dead => {
                tracing::warn!(delivery_id = %claimed.delivery_id, attempt, status = sent.status_code.unwrap_or(0), error = sent.error.as_deref().unwrap_or(""), outcome = status.as_str(), "webhook delivery ended without success")
            }
        }
        record
    }

    /// POSTs the signed body and classifies what happened.
    async fn send(
        &self,
        url: url::Url,
        claimed: &ClaimedDelivery,
        body: &[u8],
        now_ms: i64,
    ) -> Sent {
        let timestamp = u64::try_from(now_ms / 1000).unwrap_or(0);
        let secret = claimed.endpoint.signing_secret(now_ms);
        let signature = fluxora_webhooks::sign(secret.expose().as_bytes(), timestamp, body);
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-fluxora-delivery-id", &claimed.delivery_id)
            .header("x-fluxora-timestamp", timestamp.to_string())
            .header("x-fluxora-signature", signature)
            .header("x-fluxora-event", &claimed.event_type)
            .body(body.to_vec())
            .send()
            .await;
        let mut response = match response {
            Ok(response) => response,
            Err(error) => {
                let kind = TransportErrorKind::of(&error);
                return Sent {
                    disposition: classify(&AttemptResult::Transport(kind), []),
                    retry_after: None,
                    status_code: None,
                    excerpt: None,
                    error: Some(error_chain(&error).chars().take(500).collect()),
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after_header = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut excerpt = Vec::new();
        while excerpt.len() < RESPONSE_EXCERPT_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                _ => break,
            }
        }
        excerpt.truncate(RESPONSE_EXCERPT_BYTES);
        Sent {
            disposition: classify(&AttemptResult::Status(status), &excerpt),
            retry_after: retry_after_header
                .as_deref()
                .and_then(|value| parse_retry_after(value, SystemTime::now())),
            status_code: Some(status),
            excerpt: Some(String::from_utf8_lossy(&excerpt).into_owned()),
            error: (!(200..300).contains(&status)).then(|| format!("HTTP {status}")),
        }
    }
}

/// What one send produced.
struct Sent {
    disposition: Disposition,
    retry_after: Option<Duration>,
    status_code: Option<u16>,
    excerpt: Option<String>,
    error: Option<String>,
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
