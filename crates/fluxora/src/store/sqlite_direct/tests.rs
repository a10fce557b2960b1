//! Tests of the direct SQLite connection, through the `Query` API the repositories use.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::store::{Columns, Query, Tx};

/// A WAL database file with one table, as the pool would have left it.
fn database() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("direct.db");
    let setup = Connection::open(&path).unwrap();
    let _: String = setup
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .unwrap();
    setup
        .execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, b BLOB, f INTEGER)")
        .unwrap();
    (dir, path)
}

fn pragma(direct: &DirectSqlite, name: &str) -> i64 {
    direct
        .lock()
        .query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
        .unwrap()
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn the_connection_is_as_durable_as_the_pools() {
    let (_dir, path) = database();
    let direct = DirectSqlite::open(&path).unwrap();
    // synchronous = FULL (2): a commit returns once the WAL is fsynced.
    assert_eq!(pragma(&direct, "synchronous"), 2);
    assert_eq!(pragma(&direct, "foreign_keys"), 1);
    assert_eq!(pragma(&direct, "busy_timeout"), 5_000);
    assert_eq!(
        pragma(&direct, "wal_autocheckpoint"),
        i64::from(crate::store::sqlite::WAL_AUTOCHECKPOINT_PAGES)
    );
    let mode: String = direct
        .lock()
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn statements_bind_numbered_and_anonymous_parameters_and_read_rows() {
    let (_dir, path) = database();
    let direct = DirectSqlite::open(&path).unwrap();
    block_on(async {
        let mut tx = Tx::SqliteDirect(direct.begin().unwrap());
        // Numbered parameters used out of order and twice.
        let written = Query::new("INSERT INTO t (n, id, b, f) VALUES ($2, $1, $3, $4)")
            .bind("a")
            .bind(7_i64)
            .bind(vec![1_u8, 2])
            .bind(true)
            .execute(&mut tx)
            .await
            .unwrap();
        assert_eq!(written, 1);
        let written = Query::new("INSERT INTO t (id, n) VALUES (?, ?)")
            .bind("b")
            .bind(Option::<i64>::None)
            .execute(&mut tx)
            .await
            .unwrap();
        assert_eq!(written, 1);
        let row = Query::new("SELECT id, n, b, f FROM t WHERE id = $1 AND n = $2 - 0")
            .bind("a")
            .bind(7_i64)
            .fetch_one(&mut tx)
            .await
            .unwrap();
        assert_eq!(row.text("id").unwrap(), "a");
        assert_eq!(row.int("n").unwrap(), 7);
        assert_eq!(row.opt_bytes("b").unwrap(), Some(vec![1, 2]));
        assert!(row.flag("f").unwrap());
        assert!(row.text("missing").is_err());
        let rows = Query::new("SELECT id, n FROM t ORDER BY id")
            .fetch_all(&mut tx)
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].opt_int("n").unwrap(), None);
        // A type mismatch is reported, not guessed at.
        assert!(rows[0].int("id").is_err());
        tx.commit().await.unwrap();
    });
    let other = Connection::open(&path).unwrap();
    let count: i64 = other
        .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count, 2);
}

#[test]
fn an_uncommitted_transaction_rolls_back_and_the_connection_stays_usable() {
    let (_dir, path) = database();
    let direct = DirectSqlite::open(&path).unwrap();
    block_on(async {
        let mut tx = Tx::SqliteDirect(direct.begin().unwrap());
        Query::new("INSERT INTO t (id) VALUES ($1)")
            .bind("gone")
            .execute(&mut tx)
            .await
            .unwrap();
        drop(tx);
        let mut tx = Tx::SqliteDirect(direct.begin().unwrap());
        let rows = Query::new("SELECT id FROM t")
            .fetch_all(&mut tx)
            .await
            .unwrap();
        assert!(rows.is_empty());
        // A failing statement leaves the transaction usable (the caller decides).
        let duplicate = Query::new("INSERT INTO t (id) VALUES ($1), ($1)")
            .bind("x")
            .execute(&mut tx)
            .await;
        assert!(matches!(duplicate, Err(StoreError::Direct(_))));
        assert!(!duplicate.unwrap_err().is_unavailable());
        tx.commit().await.unwrap();
    });
}

#[test]
fn a_write_lock_held_elsewhere_past_the_timeout_is_unavailable() {
    let (_dir, path) = database();
    let direct = DirectSqlite::open(&path).unwrap();
    direct
        .lock()
        .busy_timeout(Duration::from_millis(10))
        .unwrap();
    let holder = Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let refused = direct.begin().unwrap_err();
    assert!(refused.is_unavailable(), "{refused}");
    holder.execute_batch("ROLLBACK").unwrap();
    assert!(direct.begin().is_ok());
}

#[test]
fn an_unbound_parameter_is_an_error_not_a_null() {
    let (_dir, path) = database();
    let direct = DirectSqlite::open(&path).unwrap();
    block_on(async {
        let mut tx = Tx::SqliteDirect(direct.begin().unwrap());
        let missing = Query::new("INSERT INTO t (id, n) VALUES ($1, $2)")
            .bind("a")
            .execute(&mut tx)
            .await;
        assert!(matches!(missing, Err(StoreError::Corrupt(_))));
    });
}
