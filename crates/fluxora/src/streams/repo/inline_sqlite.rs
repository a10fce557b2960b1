//! Stream reads on the calling thread, for `GET /api/streams/{id}` and the stream lists
//! (`GET /api/streams`) on SQLite.
//!
//! sqlx runs every SQLite connection on a worker thread of its own: a query through its pool is
//! a command sent to that thread and rows sent back, plus a ping to it when the connection
//! returns to the pool — four thread hand-offs (futex wake-ups and context switches) around a
//! primary-key lookup that takes SQLite a few microseconds. Under GET load those hand-offs were
//! most of the service's CPU time (`docs/benchmarks.md`). A [`InlineReaders`] set keeps a few
//! plain SQLite connections (rusqlite, on the same SQLite library as sqlx) and runs the lookup
//! directly on the task's thread: no hand-off at all.
//!
//! It never makes the async runtime wait for the database:
//! - a connection is taken only if one is idle (`try_lock`-style): none idle → the caller falls
//!   back to the sqlx pool, which waits asynchronously;
//! - the connections' busy timeout is zero: in WAL mode a reader waits for nobody (writers
//!   append to the WAL, readers read a snapshot), and in the rare cases SQLite would make a
//!   reader wait (WAL recovery after a crash) the read fails at once with `SQLITE_BUSY` and falls
//!   back to the pool, which waits up to its own busy timeout on its own thread;
//! - the statements are the `SELECT … WHERE id = $1` on the `streams` primary key and the list
//!   page (at most 101 rows along an index, `StreamRepository::list`), through the same memory
//!   map of the file as the pool's connections (`mmap_size`). What they do block on is the page
//!   cache: a page not in the OS's cache (the first reads after a restart) is read from disk on
//!   this thread, a few pages for a point lookup, a few dozen for a page of streams.
//!
//! Consistency is the pool's: each read is its own (autocommit) read transaction on the
//! database file, so it sees every transaction committed before it started — the same snapshot a
//! pooled connection would read. Nothing is cached between requests.
//!
//! Any failure here (an error from SQLite, a row that does not decode) is not reported: the
//! caller repeats the read through the pool, which reports it exactly as before.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use rusqlite::types::ValueRef;

use super::{column_error, stream_from_row, ListArg, StreamRow};
use crate::store::{Page, StoreError};
use crate::streams::Stream;

/// Plain SQLite connections for reads on the caller's thread (see the module documentation).
pub(crate) struct InlineReaders {
    idle: Mutex<Vec<Connection>>,
    select_stream: String,
}

impl std::fmt::Debug for InlineReaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineReaders").finish_non_exhaustive()
    }
}

impl InlineReaders {
    /// Opens `count` connections to the database file `path` for the stream lookup
    /// `select_stream` (one `$1` parameter: the id), read-only in effect (`query_only`), with a
    /// zero busy timeout and a memory map of `mmap_size` bytes.
    ///
    /// Errors: the SQLite error of the first connection that could not be opened or configured.
    pub(crate) fn open(
        path: &Path,
        count: usize,
        mmap_size: u64,
        select_stream: String,
    ) -> Result<Self, rusqlite::Error> {
        let mut idle = Vec::with_capacity(count);
        for _ in 0..count {
            // Read-write at the file level (a read-only open of a WAL database needs its -shm
            // file to exist already), refused writes at the connection level (`query_only`).
            let connection = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            connection.busy_timeout(std::time::Duration::ZERO)?;
            connection.pragma_update(None, "query_only", true)?;
            // `PRAGMA mmap_size` answers with the size it set: a query, not an update.
            let _: i64 =
                connection.query_row(&format!("PRAGMA mmap_size = {mmap_size}"), [], |row| {
                    row.get(0)
                })?;
            idle.push(connection);
        }
        Ok(Self {
            idle: Mutex::new(idle),
            select_stream,
        })
    }

    /// The stream `id` read on this thread: `Some(Ok(None))` when there is no such stream,
    /// `None` when the read could not be made here (no idle connection, SQLite busy, any error
    /// or undecodable row) and must go through the pool instead.
    pub(crate) fn get_stream(&self, id: &str) -> Option<Option<Stream>> {
        self.with_connection(|connection| read_stream(connection, &self.select_stream, id))
    }

    /// One page of the list statement `sql` (SQLite placeholders, parameters `args`, `LIMIT`
    /// `limit + 1`) read on this thread, or `None` when it could not be read here (as
    /// [`InlineReaders::get_stream`]).
    pub(crate) fn list_streams(
        &self,
        sql: &str,
        args: &[ListArg<'_>],
        limit: u32,
    ) -> Option<Page<Stream>> {
        self.with_connection(|connection| read_page(connection, sql, args, limit))
    }

    /// `read` on an idle connection, or `None` when none is idle or `read` failed (logged at
    /// DEBUG: the pool repeats the read and reports the error).
    fn with_connection<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, InlineError>,
    ) -> Option<T> {
        let connection = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()?;
        let result = read(&connection);
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(connection);
        match result {
            Ok(found) => Some(found),
            Err(error) => {
                tracing::debug!(error = %error, "inline stream read failed; reading through the pool");
                None
            }
        }
    }
}

/// Why an inline read was abandoned.
#[derive(Debug, thiserror::Error)]
enum InlineError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Decode(#[from] StoreError),
}

fn read_stream(
    connection: &Connection,
    sql: &str,
    id: &str,
) -> Result<Option<Stream>, InlineError> {
    let mut statement = connection.prepare_cached(sql)?;
    let decoded = statement
        .query_row([id], |row| Ok(stream_from_row(&InlineRow(row))))
        .optional()?;
    Ok(decoded.transpose()?.map(|(_, stream)| stream))
}

fn read_page(
    connection: &Connection,
    sql: &str,
    args: &[ListArg<'_>],
    limit: u32,
) -> Result<Page<Stream>, InlineError> {
    let mut statement = connection.prepare_cached(sql)?;
    for (i, arg) in args.iter().enumerate() {
        match *arg {
            ListArg::Int(value) => statement.raw_bind_parameter(i + 1, value)?,
            ListArg::Text(value) => statement.raw_bind_parameter(i + 1, value)?,
        }
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut items = Vec::with_capacity(limit.min(128));
    let mut last_position = None;
    let mut has_more = false;
    let mut rows = statement.raw_query();
    while let Some(row) = rows.next()? {
        if items.len() == limit {
            has_more = true;
            break;
        }
        let (position, stream) = stream_from_row(&InlineRow(row))?;
        items.push(stream);
        last_position = Some(position);
    }
    Ok(Page {
        items,
        last_position,
        has_more,
    })
}

/// A rusqlite row of a stream SELECT, read by column position.
struct InlineRow<'r, 's>(&'r rusqlite::Row<'s>);

impl InlineRow<'_, '_> {
    fn value(&self, index: usize) -> Result<ValueRef<'_>, StoreError> {
        self.0
            .get_ref(index)
            .map_err(|error| column_error(index, error))
    }
}

impl StreamRow for InlineRow<'_, '_> {
    fn str(&self, index: usize) -> Result<&str, StoreError> {
        self.value(index)?
            .as_str()
            .map_err(|error| column_error(index, error))
    }
    fn opt_str(&self, index: usize) -> Result<Option<&str>, StoreError> {
        self.value(index)?
            .as_str_or_null()
            .map_err(|error| column_error(index, error))
    }
    fn int(&self, index: usize) -> Result<i64, StoreError> {
        self.value(index)?
            .as_i64()
            .map_err(|error| column_error(index, error))
    }
    fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        self.value(index)?
            .as_i64_or_null()
            .map_err(|error| column_error(index, error))
    }
    fn flag(&self, index: usize) -> Result<bool, StoreError> {
        Ok(self.int(index)? != 0)
    }
}
