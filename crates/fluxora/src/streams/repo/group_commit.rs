//! Group commit of stream writes on SQLite: concurrent creates, lifecycle changes and
//! idempotency claims share one transaction and one fsync.
//!
//! With `synchronous = FULL` every SQLite commit waits for an fsync of the WAL, and SQLite has
//! one writer at a time: committed one by one, writes queue behind each other's fsync and the
//! disk's flush latency caps the service at about a thousand writes per second, however many
//! clients wait. Here one writer takes every write that is pending when it is free (at most
//! [`MAX_BATCH`]; it never waits for more to arrive), runs them in one transaction, each inside
//! its own savepoint, and commits once:
//!
//! - a write that fails (a constraint, a decode error) is rolled back to its savepoint and
//!   answered with its error; its batch-mates are unaffected;
//! - a write that succeeds is answered only after the batch's commit returned: every 201 still
//!   means "on disk"; if the commit fails, every write of the batch gets that error and none was
//!   written;
//! - each write is the same statements, in the same order, as the one-transaction-per-request
//!   path PostgreSQL keeps (idempotency completion, version check and outbox event in the
//!   write's savepoint), so a write is all-or-nothing on its own.
//!
//! A write waits at most for the batch being committed when it arrived plus its own batch: no
//! timer, no minimum batch size. A single client sees one commit per request, as before.
//!
//! On a database file the writer is a thread of its own with a direct SQLite connection
//! (`store/sqlite_direct.rs`): a batch's statements run in place rather than each being a round
//! trip to a pool connection's worker thread, and the commit's fsync blocks only that thread.
//! An in-memory database (tests) is written by a task through the pool.
//!
//! PostgreSQL does not go through here: its server already shares WAL flushes between
//! concurrent commits (`docs/benchmarks.md` has both stores' figures).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{claim_in, insert_stream_in, release_in, update_stream_in, IdempotencyCompletion};
use crate::idempotency::IdempotencyKey;
use crate::store::sqlite_direct::DirectSqlite;
use crate::store::{Database, Query, StoreError, Tx};
use crate::streams::Stream;
use crate::webhooks::OutboxEvent;

/// Most writes in one transaction. Bounds how long the last write of a batch waits for the
/// first (a batch's statements run one after another on SQLite's single writer).
pub const MAX_BATCH: usize = 256;

/// Writes waiting for the writer before submitters wait for room (back-pressure, not a limit
/// on clients: a submitter blocks asynchronously until its write is queued).
const QUEUE_CAPACITY: usize = 4 * MAX_BATCH;

/// One stream write, owned so it can wait in the queue.
#[derive(Debug)]
pub(super) enum Write {
    /// A new stream with its idempotency completion and outbox event
    /// ([`insert_stream_in`]); answers 1.
    Insert {
        stream: Box<Stream>,
        completion: Option<IdempotencyCompletion>,
        event: Option<OutboxEvent>,
    },
    /// A stream's new state if still at `expected_version`, with its outbox event
    /// ([`update_stream_in`]); answers 1 when written, 0 when another change won.
    Update {
        stream: Box<Stream>,
        expected_version: i64,
        event: Option<OutboxEvent>,
    },
    /// An idempotency claim ([`claim_in`]); answers 1 when claimed.
    Claim {
        key: IdempotencyKey,
        request_hash: Vec<u8>,
        now: i64,
        lock_until: i64,
        expires_at: i64,
    },
    /// Dropping an in-flight idempotency claim ([`release_in`]); answers the rows deleted.
    Release { key: IdempotencyKey },
}

impl Write {
    /// Runs the write's statements in `tx`; the count it answers (see each variant).
    async fn apply(&self, tx: &mut Tx) -> Result<u64, StoreError> {
        match self {
            Write::Insert {
                stream,
                completion,
                event,
            } => insert_stream_in(tx, stream, completion.as_ref(), event.as_ref())
                .await
                .map(|()| 1),
            Write::Update {
                stream,
                expected_version,
                event,
            } => update_stream_in(tx, stream, *expected_version, event.as_ref())
                .await
                .map(u64::from),
            Write::Claim {
                key,
                request_hash,
                now,
                lock_until,
                expires_at,
            } => claim_in(&mut *tx, key, request_hash, *now, *lock_until, *expires_at).await,
            Write::Release { key } => release_in(&mut *tx, key).await,
        }
    }
}

/// A queued write and where its answer goes.
struct Job {
    write: Write,
    reply: oneshot::Sender<Result<u64, StoreError>>,
}

impl Job {
    fn answer(self, result: Result<u64, StoreError>) {
        // The submitter may have gone (its client disconnected): the write stands or not
        // regardless, exactly as if the client had disconnected after a commit.
        let _ = self.reply.send(result);
    }
}

/// The queue in front of the writer task (see the module documentation).
#[derive(Debug, Clone)]
pub(super) struct GroupCommit {
    queue: mpsc::Sender<Job>,
    /// The writer runs on its own thread with a direct connection (not a pool task).
    direct: bool,
    /// Writes submitted and not yet answered (queued or in the batch being written).
    unanswered: Arc<AtomicUsize>,
}

/// Counts a submitted write as unanswered until dropped (answered, or its submitter gone).
struct Unanswered<'a>(&'a AtomicUsize);

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("write", &self.write).finish()
    }
}

/// The connection the writer commits its batches on.
enum WriteConnection {
    /// A direct SQLite connection on the writer's own thread (`store/sqlite_direct.rs`): the
    /// statements run in place, the commit's fsync blocks only that thread.
    Direct(DirectSqlite),
    /// A transaction from the pool, written by a task on the async runtime: an in-memory
    /// database (which exists only inside the pool's one connection), or a file whose direct
    /// connection could not be opened.
    Pool(Database),
}

impl WriteConnection {
    async fn begin(&self) -> Result<Tx, StoreError> {
        match self {
            WriteConnection::Direct(direct) => direct.begin().map(Tx::SqliteDirect),
            WriteConnection::Pool(db) => db.begin().await,
        }
    }
}

impl GroupCommit {
    /// Starts the writer over `db` (a SQLite database): on a database file, on a thread of its
    /// own with a direct connection; otherwise (in memory, or the direct connection could not
    /// be opened: logged) as a task using the pool. It ends when every clone of the returned
    /// handle is dropped, after answering what was queued.
    pub(super) async fn start(db: Database) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
        let jobs = match open_direct(&db).await {
            Some(direct) => spawn_writer_thread(direct, jobs).err(),
            None => Some(jobs),
        };
        let direct = jobs.is_none();
        if let Some(jobs) = jobs {
            tokio::spawn(run_writer(WriteConnection::Pool(db), jobs));
        }
        Self {
            queue,
            direct,
            unanswered: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Queues `write` and waits until its batch is committed; its count (see [`Write`]).
    ///
    /// Errors: the write's own [`StoreError`] (nothing of it written), or the batch's commit
    /// error (nothing of the batch written); [`StoreError::Unavailable`] if the writer task is
    /// gone (shutting down).
    pub(super) async fn submit(&self, write: Write) -> Result<u64, StoreError> {
        self.unanswered.fetch_add(1, Ordering::AcqRel);
        let _unanswered = Unanswered(&self.unanswered);
        let (reply, answer) = oneshot::channel();
        if self.queue.send(Job { write, reply }).await.is_err() {
            return Err(writer_gone());
        }
        answer.await.unwrap_or_else(|_| Err(writer_gone()))
    }

    /// Whether the writer runs on its own thread with a direct connection.
    pub(super) fn is_direct(&self) -> bool {
        self.direct
    }

    /// Writes queued and not yet taken by the writer (for tests and diagnostics).
    pub(super) fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Writes submitted and not yet answered: queued, or in the batch being written (for tests
    /// and diagnostics).
    pub(super) fn unanswered(&self) -> usize {
        self.unanswered.load(Ordering::Acquire)
    }
}

fn writer_gone() -> StoreError {
    StoreError::Unavailable(sqlx::Error::PoolClosed)
}

/// The direct connection to `db`'s file, or `None` (in memory, or it could not be opened:
/// logged, and the pool is used instead).
async fn open_direct(db: &Database) -> Option<DirectSqlite> {
    let Database::Sqlite(sqlite) = db else {
        return None;
    };
    let path = sqlite.file()?.to_path_buf();
    let opened = tokio::task::spawn_blocking(move || DirectSqlite::open(&path))
        .await
        .map_err(|joined| joined.to_string())
        .and_then(|open| open.map_err(|error| error.to_string()));
    opened
        .inspect_err(|error| {
            tracing::warn!(%error, "the SQLite writer's direct connection was not opened; stream writes go through the pool");
        })
        .ok()
}

/// Runs the writer on a thread of its own over `direct`; gives `jobs` back if the thread (or
/// its single-threaded runtime, which only waits for the queue) could not be started (logged).
fn spawn_writer_thread(
    direct: DirectSqlite,
    jobs: mpsc::Receiver<Job>,
) -> Result<(), mpsc::Receiver<Job>> {
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::warn!(%error, "the SQLite writer thread was not started; stream writes go through the pool");
            return Err(jobs);
        }
    };
    // The receiver comes back through this slot if the thread never ran.
    let slot = Arc::new(std::sync::Mutex::new(Some(jobs)));
    let taken = Arc::clone(&slot);
    let spawned = std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || {
            let jobs = taken
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(jobs) = jobs {
                runtime.block_on(run_writer(WriteConnection::Direct(direct), jobs));
            }
        });
    match spawned {
        Ok(_) => Ok(()),
        Err(error) => {
            tracing::warn!(%error, "the SQLite writer thread was not started; stream writes go through the pool");
            let jobs = slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            // The closure never ran (the spawn failed), so the receiver is still in the slot.
            match jobs {
                Some(jobs) => Err(jobs),
                None => Ok(()),
            }
        }
    }
}

/// The writer: one batch at a time, each made of everything queued (up to [`MAX_BATCH`]).
async fn run_writer(connection: WriteConnection, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        crate::telemetry::metrics::record_group_commit(batch.len());
        commit_batch(&connection, batch.drain(..)).await;
    }
}

/// Runs `jobs` in one transaction, each in its own savepoint, commits, and answers each.
async fn commit_batch(connection: &WriteConnection, jobs: impl Iterator<Item = Job>) {
    let mut tx = match connection.begin().await {
        Ok(tx) => tx,
        Err(error) => return fail_all(jobs, error),
    };
    let mut written: Vec<(Job, u64)> = Vec::new();
    let mut jobs = jobs;
    while let Some(job) = jobs.next() {
        match run_in_savepoint(&mut tx, &job.write).await {
            Ok(Ok(count)) => written.push((job, count)),
            // The savepoint was rolled back: only this write failed.
            Ok(Err(error)) => job.answer(Err(error)),
            // The transaction itself is in doubt: nothing of the batch is committed.
            Err(error) => {
                drop(tx);
                let error = Arc::new(error);
                job.answer(Err(StoreError::Shared(Arc::clone(&error))));
                let rest = written.into_iter().map(|(job, _)| job).chain(jobs);
                return fail_all(rest, StoreError::Shared(error));
            }
        }
    }
    match tx.commit().await {
        Ok(()) => {
            for (job, count) in written {
                job.answer(Ok(count));
            }
        }
        Err(error) => fail_all(written.into_iter().map(|(job, _)| job), error),
    }
}

/// Runs `write` inside a savepoint of `tx`: `Ok(result)` once the savepoint is released
/// (the write's statements kept) or rolled back (the write's error), `Err` when the savepoint
/// statements themselves failed.
async fn run_in_savepoint(
    tx: &mut Tx,
    write: &Write,
) -> Result<Result<u64, StoreError>, StoreError> {
    Query::new("SAVEPOINT stream_write")
        .execute(&mut *tx)
        .await?;
    let result = write.apply(tx).await;
    if result.is_err() {
        Query::new("ROLLBACK TO stream_write")
            .execute(&mut *tx)
            .await?;
    }
    Query::new("RELEASE stream_write").execute(&mut *tx).await?;
    Ok(result)
}

/// Answers every job of `jobs` with `error` (shared: one cause, many requests).
fn fail_all(jobs: impl Iterator<Item = Job>, error: StoreError) {
    let error = match error {
        StoreError::Shared(shared) => shared,
        other => Arc::new(other),
    };
    for job in jobs {
        job.answer(Err(StoreError::Shared(Arc::clone(&error))));
    }
}
