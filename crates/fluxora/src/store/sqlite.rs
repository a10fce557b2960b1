//! Opening the embedded SQLite database (the zero set-up default: one file, one machine).
//!
//! Durability: WAL journal with `synchronous = FULL`, so a transaction is on disk (the WAL is
//! fsynced) before the commit returns and a 201 never refers to data a power cut could lose.
//! `NORMAL` would be faster but may roll back the last commits after an OS crash or power loss.
//! Writers wait up to `busy_timeout` (5 s) for the single write lock.
//!
//! Reads go through a memory map of the database file (`mmap_size`, up to SQLite's ceiling of
//! about 2 GiB): otherwise each connection of the pool re-reads pages with `pread` after another
//! connection's commit, which was a fifth to a half of the indexer's ingest CPU
//! (`docs/benchmarks.md`). Durability is unchanged (writes still go through the WAL and its
//! fsync).
//!
//! Checkpoints: after an ingest batch commits, the WAL is copied into the database file in the
//! background on another connection, rather than inline by the next writer to commit; SQLite's
//! own inline checkpoint stays as a backstop at 10 000 WAL pages (`WAL_AUTOCHECKPOINT_PAGES`).

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::StoreError;
use crate::config::DatabaseConfig;

/// Bytes of the database file SQLite reads through a memory map (also the stream repository's
/// inline readers) (`PRAGMA mmap_size`): SQLite's
/// own ceiling on Linux (`SQLITE_MAX_MMAP_SIZE`, 0x7fff0000, just under 2 GiB). Address space,
/// not memory: the pages live in the OS page cache, shared by the pool's connections.
pub const MMAP_SIZE_BYTES: u64 = 0x7fff_0000;

/// WAL pages after which a committing connection checkpoints inline (`PRAGMA
/// wal_autocheckpoint`; SQLite's default is 1 000 pages, 4 MiB). Raised to 10 000 pages (about
/// 40 MiB of WAL) because bulk writers checkpoint in the background instead (see
/// [`SqliteDatabase::after_bulk_commit`]); this stays as the backstop that bounds the WAL if the
/// background checkpoints fall behind or fail.
pub(crate) const WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The migrations embedded in this binary.
pub(crate) fn migrator() -> &'static sqlx::migrate::Migrator {
    &MIGRATOR
}

/// A SQLite database behind a sqlx connection pool.
#[derive(Debug, Clone)]
pub struct SqliteDatabase {
    pool: SqlitePool,
    /// The database file (`None` in memory), locked while migrating.
    file: Option<std::path::PathBuf>,
    /// Set while a background WAL checkpoint runs (at most one at a time).
    checkpointing: Arc<AtomicBool>,
}

impl SqliteDatabase {
    /// Opens the database `config.url` names (`sqlite://PATH`, created if missing, or
    /// `sqlite::memory:`), in WAL mode with `synchronous = FULL`.
    ///
    /// Errors: [`StoreError`] when the file cannot be opened or created.
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, StoreError> {
        let in_memory = config.url.contains(":memory:") || config.url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(&config.url)
            .map_err(StoreError::from_sqlx)?
            .create_if_missing(true)
            .journal_mode(if in_memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .pragma("mmap_size", MMAP_SIZE_BYTES.to_string())
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string())
            .foreign_keys(true);
        // An in-memory database exists per connection: keep exactly one, forever.
        let pool_options = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(config.max_connections)
        }
        // A connection to a local file does not go stale the way a network connection does: the
        // ping sqlx would send before every checkout is one more round trip to the connection's
        // worker thread (two thread hand-offs) per query, and detects nothing. (The ping on
        // release, which sqlx always sends, still flushes a connection an abandoned query left
        // busy.)
        .test_before_acquire(false);
        let file = (!in_memory).then(|| options.get_filename().to_path_buf());
        let pool = pool_options
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(Self {
            pool,
            file,
            checkpointing: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The database file; `None` for an in-memory database.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }

    /// Applies the embedded migrations (`migrations/sqlite`). Idempotent. Several processes
    /// starting on one file (`serve` beside `migrate` or `fluxora keys`) are serialized by an
    /// exclusive advisory lock (`flock`) on a sidecar file `<database>-migrate.lock`, held while
    /// migrating: SQLite has no advisory locks of its own. The lock is never taken on the
    /// database file itself: closing any descriptor of that file would drop every POSIX lock
    /// SQLite's connections in this process hold on it (SQLite's "How To Corrupt" guide, on POSIX advisory locks), so
    /// another process could then delete the WAL under them and leave them reading a stale
    /// snapshot.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let _lock = match &self.file {
            Some(path) => Some(lock_exclusively(path.clone()).await?),
            None => None,
        };
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// [`SqliteDatabase::connect`] then the migrations, both under the migration lock of
    /// [`SqliteDatabase::migrate`]: several processes starting on a new file at once would
    /// otherwise race to create it and switch it to WAL while another one migrates it, and the
    /// loser's journal-mode change fails with `database is locked` instead of waiting.
    ///
    /// Errors: [`StoreError`] when the file cannot be opened, created or migrated.
    pub async fn open_migrated(config: &DatabaseConfig) -> Result<Self, StoreError> {
        let file = SqliteConnectOptions::from_str(&config.url)
            .map_err(StoreError::from_sqlx)?
            .get_filename()
            .to_path_buf();
        let in_memory = config.url.contains(":memory:") || config.url.contains("mode=memory");
        let _lock = if in_memory {
            None
        } else {
            Some(lock_exclusively(file).await?)
        };
        let database = Self::connect(config).await?;
        MIGRATOR.run(&database.pool).await?;
        Ok(database)
    }
}

impl SqliteDatabase {
    /// After a bulk commit (an ingest batch), copies the WAL into the database file in the
    /// background (`PRAGMA wal_checkpoint(PASSIVE)` on another pool connection, which blocks no
    /// reader or writer), instead of letting the next committing writer do it inline: the
    /// indexer's next batch then runs while the checkpoint does. One runs at a time; a failure
    /// is logged at DEBUG and leaves the inline backstop (`WAL_AUTOCHECKPOINT_PAGES`).
    /// Needs a Tokio runtime (the store is only used inside one).
    pub fn after_bulk_commit(&self) {
        if self.file.is_none() || self.checkpointing.swap(true, Ordering::AcqRel) {
            return;
        }
        let pool = self.pool.clone();
        let checkpointing = Arc::clone(&self.checkpointing);
        tokio::spawn(async move {
            if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                tracing::debug!(%error, "background WAL checkpoint failed");
            }
            checkpointing.store(false, Ordering::Release);
        });
    }
}

/// Opens (creating) the sidecar `<database>-migrate.lock` and waits for an exclusive advisory
/// lock on it; dropping the file releases it.
async fn lock_exclusively(database: std::path::PathBuf) -> Result<std::fs::File, StoreError> {
    let mut path = database.into_os_string();
    path.push("-migrate.lock");
    let locked = tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|e| StoreError::Corrupt(format!("migration lock task failed: {e}")))?;
    locked.map_err(|e| StoreError::Database(sqlx::Error::Io(e)))
}
