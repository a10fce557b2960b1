//! Subcommands of the `fluxora` binary that are more than a call into the service.
//!
//! - [`webhook`]: `fluxora webhook sign|verify`, the operators' tools for the webhook signature
//!   contract (design §7). They need no service configuration.

//! - [`index`]: `fluxora index`, a one-shot catch-up of the contract's events (design §6), with
//!   the service configuration.

pub mod index;
pub mod webhook;
