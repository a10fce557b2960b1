//! The PostgreSQL implementation of [`super::Store`], for production and several replicas.
//!
//! Durability: a 201 is sent only after the transaction committed (PostgreSQL's default
//! `synchronous_commit = on` flushes the WAL before the commit returns). Migrations run under
//! sqlx's advisory lock, so replicas starting together apply them once. Amounts are
//! NUMERIC(39, 0) — exact i128 stroops.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Postgres;

use super::rows::{
    bind_stream_insert, bind_stream_update, db, idempotency_from_row, list_query, page_from_rows,
    stream_from_row,
};
use super::sql::{impl_sql_store, SqlDialect, Statements};
use super::{
    ClaimOutcome, IdempotencyCompletion, IdempotencyRecord, StoreError, StreamPage, StreamPageQuery,
};
use crate::config::DatabaseConfig;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

fn migrator() -> &'static sqlx::migrate::Migrator {
    &MIGRATOR
}

/// PostgreSQL store over a sqlx connection pool.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    sql: Statements,
}

impl PostgresStore {
    /// Connects to `config.url` (`postgres://user:pass@host:port/db`). The pool connects lazily
    /// and checks each connection before use, so a database restart is survived without a
    /// service restart; a request waits at most `acquire_timeout` for a connection.
    ///
    /// Errors: [`StoreError`] when the URL is invalid or the first connection fails.
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(&config.url)
            .map_err(StoreError::from_sqlx)?
            .application_name("fluxora");
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .test_before_acquire(true)
            .connect_with(options)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(Self {
            pool,
            sql: Statements::new(SqlDialect::Postgres),
        })
    }

    /// Applies the embedded migrations (`migrations/postgres`) under a PostgreSQL advisory lock
    /// (sqlx's migrator takes it), so concurrent starts are safe. Idempotent.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }
}

impl_sql_store!(PostgresStore, Postgres, "postgres");
