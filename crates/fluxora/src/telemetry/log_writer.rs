//! The log output: lines are appended to a shared buffer by the threads that log, and written
//! out by one writer thread in large writes.
//!
//! Writing each line to stdout from the request's thread costs a `write` system call (and the
//! stdout lock) per request; handing each line to a writer thread through a channel costs a
//! wake-up of that thread per line instead (measured: either way about a quarter to a third of
//! the throughput of the cheapest routes, `docs/benchmarks.md`). Here a line costs a lock and a
//! copy into the buffer. The writer thread is woken only when the buffer goes from empty to
//! non-empty and when it fills past [`FLUSH_BYTES`]; after a wake it lets lines gather for up
//! to [`FLUSH_INTERVAL`] and writes them all at once. A line therefore reaches the output
//! within about [`FLUSH_INTERVAL`].
//!
//! Nothing is dropped: when [`MAX_PENDING_BYTES`] are waiting (the output is slower than the
//! service logs, e.g. a stuck pipe), the logging threads wait for room. [`LogWriterGuard`]
//! writes out what is pending when dropped (at exit).

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long lines may gather before they are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(10);

/// Pending bytes that wake the writer thread at once.
pub const FLUSH_BYTES: usize = 256 * 1024;

/// Pending bytes at which logging threads wait for the writer (back-pressure, never loss).
pub const MAX_PENDING_BYTES: usize = 64 * 1024 * 1024;

/// What the logging threads and the writer thread share.
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer thread: lines arrived in an empty buffer, the buffer passed
    /// [`FLUSH_BYTES`], or the guard was dropped.
    wake: Condvar,
    /// Wakes logging threads waiting for room.
    room: Condvar,
}

struct State {
    pending: Vec<u8>,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A thread that panicked while appending left at worst a partial line: keep logging.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The [`tracing_subscriber::fmt::MakeWriter`] of the log output: cheap to clone, one per
/// subscriber.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriter").finish_non_exhaustive()
    }
}

/// Stops the writer thread when dropped, after it wrote out every pending line.
#[must_use = "dropping the guard stops the log writer; keep it until the process exits"]
pub struct LogWriterGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LogWriterGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriterGuard").finish_non_exhaustive()
    }
}

/// Starts the writer thread over `output` (stdout, stderr, or any writer in tests).
///
/// Errors: the I/O error when the thread cannot be spawned.
pub fn start<W>(output: W) -> std::io::Result<(LogWriter, LogWriterGuard)>
where
    W: Write + Send + 'static,
{
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            pending: Vec::with_capacity(FLUSH_BYTES),
            closed: false,
        }),
        wake: Condvar::new(),
        room: Condvar::new(),
    });
    let thread = std::thread::Builder::new()
        .name("fluxora-log-writer".into())
        .spawn({
            let shared = Arc::clone(&shared);
            move || run_writer(&shared, output)
        })?;
    Ok((
        LogWriter {
            shared: Arc::clone(&shared),
        },
        LogWriterGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

impl Drop for LogWriterGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The writer thread: waits for lines, lets them gather, writes them, until closed and empty.
fn run_writer<W: Write>(shared: &Shared, mut output: W) {
    let mut writing: Vec<u8> = Vec::with_capacity(FLUSH_BYTES);
    loop {
        let mut state = shared.lock();
        while state.pending.is_empty() && !state.closed {
            state = shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.pending.is_empty() && state.closed {
            return;
        }
        if !state.closed && state.pending.len() < FLUSH_BYTES {
            state = shared
                .wake
                .wait_timeout(state, FLUSH_INTERVAL)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        std::mem::swap(&mut state.pending, &mut writing);
        drop(state);
        shared.room.notify_all();
        // An output that fails (a closed pipe) loses these lines: there is nowhere else to
        // report them.
        let _ = output.write_all(&writing).and_then(|()| output.flush());
        writing.clear();
        if writing.capacity() > 4 * FLUSH_BYTES {
            writing.shrink_to(FLUSH_BYTES);
        }
    }
}

impl Write for LogWriter {
    /// Appends `buf` (one formatted line) to the pending lines; waits while
    /// [`MAX_PENDING_BYTES`] are pending.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut state = self.shared.lock();
        while state.pending.len() >= MAX_PENDING_BYTES && !state.closed {
            state = self
                .shared
                .room
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let was_empty = state.pending.is_empty();
        state.pending.extend_from_slice(buf);
        let full = state.pending.len() >= FLUSH_BYTES;
        drop(state);
        if was_empty || full {
            self.shared.wake.notify_one();
        }
        Ok(buf.len())
    }

    /// Nothing to do: the writer thread flushes within [`FLUSH_INTERVAL`].
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::test_support::Captured as Sink;

    #[test]
    fn every_line_from_every_thread_is_written_whole_and_the_guard_flushes() {
        let sink = Sink::default();
        let (writer, guard) = start(sink.clone()).expect("writer thread starts");
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        writer
                            .write_all(format!("thread {t} line {i}\n").as_bytes())
                            .expect("append never fails");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("logging thread");
        }
        drop(guard);
        let written = String::from_utf8(sink.bytes()).expect("utf-8");
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(lines.len(), 20_000);
        for t in 0..4 {
            let mine: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| l.starts_with(&format!("thread {t} ")))
                .collect();
            let expected: Vec<String> =
                (0..5_000).map(|i| format!("thread {t} line {i}")).collect();
            assert_eq!(mine, expected, "thread {t}'s lines, whole and in order");
        }
    }

    #[test]
    fn a_line_is_written_without_waiting_for_more() {
        let sink = Sink::default();
        let (mut writer, _guard) = start(sink.clone()).expect("writer thread starts");
        writer.write_all(b"alone\n").expect("append");
        // The writer thread writes it within FLUSH_INTERVAL; wait on the condition, bounded.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while sink.bytes() != b"alone\n" {
            assert!(
                std::time::Instant::now() < deadline,
                "a lone line was not written"
            );
            std::thread::yield_now();
        }
    }
}
