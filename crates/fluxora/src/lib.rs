//! Fluxora backend: the HTTP API, durable store and background workers of the Fluxora treasury
//! streaming protocol on Stellar/Soroban.
//!
//! `docs/architecture.md` maps the code: its layers, how a request, an ingested contract event
//! and a webhook delivery travel through them, and where each rule lives. Data flows one way:
//! HTTP → use cases (services) → domain rules and repositories → database. Each module holds one
//! concept:
//!
//! | module | concept |
//! |---|---|
//! | [`config`] | environment configuration, validated before the port is bound |
//! | [`secret`] | secret values from the environment, never printed |
//! | [`proxies`] | the proxies whose `X-Forwarded-For` is believed (`TRUST_PROXY`) |
//! | [`cors`] | the browser origins allowed to call the API (`CORS_ALLOWED_ORIGINS`) |
//! | [`webhook_retry`] | webhook retry limits: the retry schedule and the disable threshold |
//! | [`ssrf`] | the SSRF guard of webhook URLs and its development allow-list |
//! | [`amount`] | exact 7-decimal token amounts over i128 stroops |
//! | [`address`] | Stellar StrKey addresses, G… accounts and C… contracts |
//! | [`clock`] | wall-clock time in the service's units (unix seconds, milliseconds) |
//! | [`streams`] | the stream domain: model, lifecycle, accrual and the stream service |
//! | [`idempotency`] | `Idempotency-Key` values and request fingerprints |
//! | [`pagination`] | opaque, tamper-proof list cursors bound to their filters |
//! | [`validation`] | per-field validation errors shared by every input parser |
//! | [`fields`] | JSON request bodies: one description per body, read by its parser and rendered as its OpenAPI schema |
//! | [`store`] | the database handle every repository runs on (no domain types) |
//! | [`health`] | the `/health` report and readiness |
//! | [`http`] | router, middleware, the error envelope and handlers |
//! | [`telemetry`] | structured logs, the panic hook and Prometheus metrics |
//! | [`indexer`] | follows the Fluxora contract on Stellar RPC: decoding, ingest, reorgs |
//! | [`webhooks`] | live webhook delivery: endpoints, outbox, dispatcher, admin use cases |
//! | [`apikeys`] | API keys: generation, hashing, scopes and the in-memory view of active keys |
//! | [`backoff`] | capped exponential backoff with jitter for every retry loop |
//! | [`worker`] | supervised background workers, restarted with backoff after a failure or panic |
//! | [`app`] | the composition root: [`app::Application::build`] |
//!
//! Use cases live in services next to their domain: [`streams::service`], [`webhooks::service`]
//! (the webhook admin use cases), [`indexer::ingest`] and [`webhooks::dispatcher`]. So do the
//! repositories, one per aggregate: [`streams::repo`] (streams and idempotency keys),
//! [`indexer::repo`] (contract events, ledgers, progress), [`webhooks::repo`] (endpoints, outbox,
//! deliveries), [`apikeys::repo`] and [`store::meta`] (service metadata such as the cursor
//! secret). The domain queries live in them; [`store`] runs them on SQLite or PostgreSQL.
//!
//! `secret`, `proxies`, `cors`, `webhook_retry` and `ssrf` are leaves (they import no other
//! module of the crate), and `config` imports only them and `address`, so every module may use
//! the configuration without an import cycle (`scripts/check-module-cycles.sh` checks this).

pub mod address;
pub mod amount;
pub mod apikeys;
pub mod app;
pub mod backoff;
pub mod clock;
pub mod config;
pub mod cors;
pub mod fields;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod indexer;
pub mod pagination;
pub mod proxies;
pub mod secret;
pub mod ssrf;
pub mod store;
pub mod streams;
pub mod telemetry;
pub mod validation;
pub mod webhook_retry;
pub mod webhooks;
pub mod worker;
