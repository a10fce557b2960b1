//! Fluxora backend: the HTTP API, durable store and background workers of the Fluxora treasury
//! streaming protocol on Stellar/Soroban.
//!
//! The architecture follows `design.md` §2: data flows one way, HTTP → domain → store. Each
//! module holds one concept:
//!
//! | module | concept |
//! |---|---|
//! | [`config`] | environment configuration, validated before the port is bound (§3) |
//! | [`amount`] | exact 7-decimal token amounts over i128 stroops (§5.1) |
//! | [`address`] | Stellar StrKey addresses, G… accounts and C… contracts (§5) |
//! | [`streams`] | the stream domain model, lifecycle, accrual and the stream service (§5, §8) |
//! | [`idempotency`] | `Idempotency-Key` values and request fingerprints (§5) |
//! | [`pagination`] | opaque, tamper-proof list cursors (§5) |
//! | [`store`] | the storage interface and its SQLite implementation |
//! | [`health`] | the `/health` report (§6) |
//! | [`http`] | router, middleware, the error envelope and handlers (§4) |
//! | [`telemetry`] | structured logs and request ids |
//! | [`validation`] | per-field validation errors shared by every input parser |
//! | [`indexer`] | follows the Fluxora contract on Stellar RPC (§6) |
//! | [`backoff`] | capped exponential backoff with jitter for every retry loop |
//! | [`webhooks`] | live webhook delivery: endpoints, outbox, dispatcher |
//! | [`apikeys`] | API keys: generation, hashing, scopes and the in-memory view of active keys (§9) |
//! | [`app`] | the composition root: [`app::Application::build`] |

pub mod address;
pub mod amount;
pub mod apikeys;
pub mod app;
pub mod backoff;
pub mod clock;
pub mod config;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod indexer;
pub mod pagination;
pub mod store;
pub mod streams;
pub mod telemetry;
pub mod validation;
pub mod webhooks;
pub mod worker;
