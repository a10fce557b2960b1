//! Integration tests: one binary (fast linking), one module per area. Every test starts the real
//! service on a random port over a brand-new SQLite file and talks HTTP to it.

// Test code may panic on unexpected results: that is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod binary;
mod helpers;
mod pg_cluster;
mod pki;
mod rpc_fixture;

mod e2e_auth;
mod e2e_connections;
mod e2e_contract;
mod e2e_conventions;
mod e2e_docs;
mod e2e_durability;
mod e2e_full_contract;
mod e2e_hardening;
mod e2e_index_cli;
mod e2e_indexer;
mod e2e_metrics;
mod e2e_openapi;
mod e2e_process;
mod e2e_ratelimit;
mod e2e_request_fields;
mod e2e_shutdown;
mod e2e_stream_lists;
mod e2e_streams;
mod e2e_tls;
mod e2e_validation;
mod e2e_webhook_cli;
mod e2e_webhooks;
