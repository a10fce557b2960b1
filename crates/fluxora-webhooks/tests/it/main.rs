//! Integration tests of the `fluxora-webhooks` public API: one binary (fast linking), one module
//! per area. The Redis tests need Redis at 127.0.0.1:6379 (started on every development and CI
//! machine); each uses its own key prefix and deletes its keys.

// Test code may panic on unexpected results: that is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

mod axum_extractor;
mod contract;
mod dedup_memory;
mod dedup_protocol;
mod dedup_redis;
mod never_panics;
mod standard_webhooks;
