//! Subcommands of the `fluxora` binary that are more than a call into the service.
//!
//! - [`webhook`]: `fluxora webhook sign|verify`, the operators' tools for the webhook signature
//!   contract (`docs/webhooks.md`). They need no service configuration.
//! - [`healthcheck`]: `fluxora healthcheck`, the container's `HEALTHCHECK` probe.
//! - [`keys`]: `fluxora keys create|list|revoke`, API key management on `DATABASE_URL`.
//! - [`index`]: `fluxora index`, a one-shot catch-up of the contract's events (`docs/indexer.md`),
//!   with the service configuration.
//! - [`chain`]: `fluxora chain verify|rederive|reset`, reconciliation and maintenance of the
//!   indexed chain data (`docs/indexer.md`).

pub mod chain;
pub mod healthcheck;
pub mod index;
pub mod keys;
pub mod webhook;
