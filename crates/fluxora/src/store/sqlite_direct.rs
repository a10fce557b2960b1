//! A SQLite connection that runs statements on the calling thread: the write connection of the
//! stream writer (`streams/repo/group_commit.rs`), which owns a thread of its own.
//!
//! The pool's SQLite connections (sqlx) each run on a worker thread: every statement is a
//! command sent to that thread and an answer sent back, two thread hand-offs (futex wake-ups,
//! context switches) around a statement SQLite runs in a few microseconds. A batch of writes is
//! five to seven statements per write, one after another: on the pool, the hand-offs were most
//! of the writer's time and capped creates well below what one fsync per batch allows
//! (`docs/benchmarks.md`). A [`DirectSqlite`] connection (rusqlite, on the same SQLite library
//! as sqlx) runs them in place; its transactions are run as `store::Tx::SqliteDirect`, so the
//! repositories' write functions run on it unchanged.
//!
//! It is set up like the pool's connections (`store/sqlite.rs`): WAL journal,
//! `synchronous = FULL` (a commit returns once the WAL is fsynced), foreign keys on, a 5 s busy
//! timeout for the single write lock (it waits on its own thread, never on the async runtime's),
//! the same memory map and autocheckpoint threshold. Statements are prepared once and cached
//! (up to [`STATEMENT_CACHE`] of them).
//!
//! Only a thread that may block runs statements here: a statement blocks its thread on the
//! file, on the write lock and on the commit's fsync.

use std::borrow::Cow;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, ToSql};

use super::StoreError;

/// Prepared statements kept per connection (the stream writes, the outbox inserts, the
/// idempotency statements and the transaction controls fit with room to spare).
const STATEMENT_CACHE: usize = 64;

/// How long a statement waits for another connection's write lock (`busy_timeout`), as the
/// pool's connections do.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A SQLite connection running statements on the calling thread (see the module
/// documentation). Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct DirectSqlite {
    connection: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for DirectSqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectSqlite").finish_non_exhaustive()
    }
}

impl DirectSqlite {
    /// Opens the database file `path` (which the pool has created and migrated) with the pool's
    /// settings. Blocks: call it where blocking is allowed.
    ///
    /// Errors: [`StoreError::Direct`] when the file cannot be opened or configured.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(StoreError::Direct)?;
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(StoreError::Direct)?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // `journal_mode` and `mmap_size` answer with the value they set: queries, not updates.
        let mode: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(StoreError::Direct)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!(
                "the database file is in journal mode '{mode}', not WAL"
            )));
        }
        let _: i64 = connection
            .query_row(
                &format!("PRAGMA mmap_size = {}", super::sqlite::MMAP_SIZE_BYTES),
                [],
                |row| row.get(0),
            )
            .map_err(StoreError::Direct)?;
        connection
            .execute_batch(&format!(
                "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                 PRAGMA wal_autocheckpoint = {};",
                super::sqlite::WAL_AUTOCHECKPOINT_PAGES
            ))
            .map_err(StoreError::Direct)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// Starts a transaction that takes the write lock at once (`BEGIN IMMEDIATE`: waiting for
    /// it up to the busy timeout here rather than failing on a later statement); the
    /// repositories run it as `store::Tx::SqliteDirect`. Dropped without being committed, it
    /// rolls back. Blocks.
    ///
    /// Errors: [`StoreError::Direct`] (busy past the timeout: [`StoreError::is_unavailable`]).
    pub fn begin(&self) -> Result<DirectTx, StoreError> {
        self.lock()
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(StoreError::Direct)?;
        Ok(DirectTx {
            connection: Arc::clone(&self.connection),
            open: true,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        lock(&self.connection)
    }
}

fn lock(connection: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock leaves the connection as SQLite left it, which SQLite
    // keeps consistent: nothing to repair.
    connection.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An open transaction on a [`DirectSqlite`] connection (run as `store::Tx::SqliteDirect`).
pub struct DirectTx {
    connection: Arc<Mutex<Connection>>,
    /// Still to be committed or rolled back.
    open: bool,
}

impl std::fmt::Debug for DirectTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectTx")
            .field("open", &self.open)
            .finish_non_exhaustive()
    }
}

impl DirectTx {
    /// Commits: returns once the WAL is fsynced. Blocks.
    ///
    /// Errors: [`StoreError::Direct`]; nothing of the transaction is written then.
    pub(super) fn commit(mut self) -> Result<(), StoreError> {
        self.open = false;
        let connection = lock(&self.connection);
        match connection.execute_batch("COMMIT") {
            Ok(()) => Ok(()),
            Err(error) => {
                // A failed COMMIT may leave the transaction open (SQLITE_BUSY): end it so the
                // connection is usable again; if SQLite already rolled back, this fails harmlessly.
                let _ = connection.execute_batch("ROLLBACK");
                Err(StoreError::Direct(error))
            }
        }
    }

    /// Runs `sql` (SQLite placeholders: numbered `$n` or anonymous `?`) with `args`: the rows
    /// it returns (at most one when `first_only`) and the rows it changed. Blocks.
    ///
    /// Errors: [`StoreError::Direct`] from SQLite; [`StoreError::Corrupt`] when a placeholder
    /// names a parameter that was not bound.
    pub(super) fn run(
        &self,
        sql: &str,
        args: &[impl ToSql],
        first_only: bool,
    ) -> Result<(Vec<DirectRow>, u64), StoreError> {
        let connection = lock(&self.connection);
        let mut statement = connection.prepare_cached(sql).map_err(StoreError::Direct)?;
        for index in 1..=statement.parameter_count() {
            // `$n` names parameter n; an anonymous `?` is bound in order of appearance.
            let number = match statement.parameter_name(index) {
                None => index,
                Some(name) => name
                    .get(1..)
                    .and_then(|digits| digits.parse::<usize>().ok())
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "unsupported placeholder {name} in a statement"
                        ))
                    })?,
            };
            let arg = number
                .checked_sub(1)
                .and_then(|i| args.get(i))
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("parameter {number} of a statement is not bound"))
                })?;
            statement
                .raw_bind_parameter(index, arg)
                .map_err(StoreError::Direct)?;
        }
        if statement.column_count() == 0 {
            let changed = statement.raw_execute().map_err(StoreError::Direct)?;
            return Ok((Vec::new(), changed as u64));
        }
        let names: Arc<[String]> = statement
            .column_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let width = names.len();
        let mut rows = statement.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(StoreError::Direct)? {
            let mut values = Vec::with_capacity(width);
            for column in 0..width {
                values.push(row.get_ref(column).map_err(StoreError::Direct)?.into());
            }
            out.push(DirectRow {
                names: Arc::clone(&names),
                values,
            });
            if first_only {
                break;
            }
        }
        drop(rows);
        let changed = connection.changes();
        Ok((out, changed))
    }
}

impl Drop for DirectTx {
    fn drop(&mut self) {
        if self.open {
            // Rolled back when dropped uncommitted, as the pool's transactions are. If SQLite
            // already ended the transaction (after some errors it does), this fails harmlessly.
            let _ = lock(&self.connection).execute_batch("ROLLBACK");
        }
    }
}

/// A result row read on a [`DirectSqlite`] connection: its column names and owned values.
#[derive(Debug, Clone)]
pub struct DirectRow {
    names: Arc<[String]>,
    values: Vec<Value>,
}

impl DirectRow {
    /// The value of column `index` (0-based).
    ///
    /// Errors: [`StoreError::Corrupt`] when there is no such column.
    pub(crate) fn at(&self, index: usize) -> Result<&Value, StoreError> {
        self.values
            .get(index)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {index} in a row")))
    }

    /// The value of the column named `name`.
    ///
    /// Errors: [`StoreError::Corrupt`] when there is no such column.
    pub(super) fn named(&self, name: &str) -> Result<&Value, StoreError> {
        let index = self
            .names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {name} in a row")))?;
        self.at(index)
    }
}

/// Reads a SQLite value as the type `T` a column is declared to hold: NULL as `None` for the
/// `Option`s, integers for booleans (0 or 1, as stored).
pub(crate) trait FromDirect<'r>: Sized {
    /// The value as `Self`, or a description of what it is instead.
    fn from_direct(value: &'r Value) -> Result<Self, Cow<'static, str>>;
}

fn mismatch(value: &Value, wanted: &'static str) -> Cow<'static, str> {
    let found = match value {
        Value::Null => "NULL",
        Value::Integer(_) => "an integer",
        Value::Real(_) => "a real",
        Value::Text(_) => "text",
        Value::Blob(_) => "a blob",
    };
    Cow::Owned(format!("expected {wanted}, found {found}"))
}

impl<'r> FromDirect<'r> for &'r str {
    fn from_direct(value: &'r Value) -> Result<Self, Cow<'static, str>> {
        match value {
            Value::Text(text) => Ok(text),
            other => Err(mismatch(other, "text")),
        }
    }
}

impl FromDirect<'_> for String {
    fn from_direct(value: &Value) -> Result<Self, Cow<'static, str>> {
        <&str>::from_direct(value).map(str::to_owned)
    }
}

impl FromDirect<'_> for i64 {
    fn from_direct(value: &Value) -> Result<Self, Cow<'static, str>> {
        match value {
            Value::Integer(int) => Ok(*int),
            other => Err(mismatch(other, "an integer")),
        }
    }
}

impl FromDirect<'_> for bool {
    fn from_direct(value: &Value) -> Result<Self, Cow<'static, str>> {
        i64::from_direct(value).map(|int| int != 0)
    }
}

impl FromDirect<'_> for Vec<u8> {
    fn from_direct(value: &Value) -> Result<Self, Cow<'static, str>> {
        match value {
            Value::Blob(bytes) => Ok(bytes.clone()),
            other => Err(mismatch(other, "a blob")),
        }
    }
}

impl<'r, T: FromDirect<'r>> FromDirect<'r> for Option<T> {
    fn from_direct(value: &'r Value) -> Result<Self, Cow<'static, str>> {
        match value {
            Value::Null => Ok(None),
            other => T::from_direct(other).map(Some),
        }
    }
}

/// Whether a SQLite error means the write lock could not be had in time (`SQLITE_BUSY`,
/// `SQLITE_LOCKED`): unavailable, worth a retry.
pub(super) fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

#[cfg(test)]
mod tests;
