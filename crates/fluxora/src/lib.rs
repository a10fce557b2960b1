//! Fluxora backend: the HTTP API, durable store and background workers of the Fluxora treasury
//! streaming protocol on Stellar/Soroban.
//!
//! Data flows one way, HTTP → domain → store: handlers call the domain services, which call the
//! store; nothing below the HTTP layer imports it. Each module holds one concept:
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
//! | [`streams`] | the stream domain model, lifecycle, accrual and the stream service |
//! | [`idempotency`] | `Idempotency-Key` values and request fingerprints |
//! | [`pagination`] | opaque, tamper-proof list cursors |
//! | [`store`] | the storage interface and its SQLite implementation |
//! | [`health`] | the `/health` report |
//! | [`http`] | router, middleware, the error envelope and handlers (`docs/api.md`) |
//! | [`telemetry`] | structured logs and request ids |
//! | [`validation`] | per-field validation errors shared by every input parser |
//! | [`fields`] | JSON request bodies: one description per body, read by its parser and rendered as its OpenAPI schema |
//! | [`indexer`] | follows the Fluxora contract on Stellar RPC (`docs/indexer.md`) |
//! | [`backoff`] | capped exponential backoff with jitter for every retry loop |
//! | [`webhooks`] | live webhook delivery: endpoints, outbox, dispatcher |
//! | [`apikeys`] | API keys: generation, hashing, scopes and the in-memory view of active keys |
//! | [`app`] | the composition root: [`app::Application::build`] |
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
