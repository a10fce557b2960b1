//! Telemetry: metrics ([`metrics`]) and structured logging: JSON lines on stdout by default
//! (`LOG_FORMAT=json`), each with `timestamp`, `level`, `message` and the fields of the current
//! request span (`request_id`, `method`, `path`); `pretty` for humans. Panics are logged through
//! tracing too.

pub mod json_line;
pub mod log_writer;
pub mod metrics;
pub mod refusals;
pub mod span_fields;

/// Test support shared by the telemetry modules' unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::{Arc, Mutex, PoisonError};

    /// An `io::Write` keeping every byte written, readable by the test ([`Captured::bytes`]);
    /// clones share the bytes.
    #[derive(Clone, Default)]
    pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        /// Everything written so far.
        pub(crate) fn bytes(&self) -> Vec<u8> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }
    }

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Keeps the log writer thread alive ([`log_writer`]); dropping it writes out every pending
/// line and stops the thread. Hold it until the process exits (the `fluxora` binary keeps it in
/// `main`).
#[must_use = "dropping the guard stops the log writer; keep it until the process exits"]
#[derive(Debug)]
pub struct LogGuard {
    _writer: Option<log_writer::LogWriterGuard>,
}

/// Installs the global subscriber. Call once, before anything logs. `filter` is a `tracing`
/// directive such as `info` or `fluxora=debug,sqlx=warn` (validated by [`crate::config`]).
/// Returns quietly if a subscriber is already installed (tests).
///
/// Lines go to stdout through a writer thread ([`log_writer`]): a request's thread formats its
/// line and appends it to a buffer (no system call); the writer thread writes what gathered
/// every few milliseconds. Nothing is dropped: when too much is pending, logging waits. If the
/// thread cannot be started, lines are written directly.
pub fn init(filter: &str, format: LogFormat) -> LogGuard {
    let is_terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    init_buffered(
        filter,
        format,
        std::io::stdout(),
        std::io::stdout,
        is_terminal,
    )
}

/// [`init`], writing to stderr: for one-shot commands whose stdout is their result
/// (`fluxora index` prints its summary there, `fluxora keys create` the key).
pub fn init_stderr(filter: &str, format: LogFormat) -> LogGuard {
    let is_terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    init_buffered(
        filter,
        format,
        std::io::stderr(),
        std::io::stderr,
        is_terminal,
    )
}

/// [`init_with`] through a [`log_writer`] over `output`, or writing directly with `direct` if the
/// writer thread cannot be started.
fn init_buffered<W, D>(
    filter: &str,
    format: LogFormat,
    output: W,
    direct: D,
    is_terminal: bool,
) -> LogGuard
where
    W: std::io::Write + Send + 'static,
    D: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    match log_writer::start(output) {
        Ok((writer, guard)) => {
            init_with(filter, format, writer, is_terminal);
            LogGuard {
                _writer: Some(guard),
            }
        }
        Err(error) => {
            init_with(filter, format, direct, is_terminal);
            tracing::warn!(%error, "the log writer thread did not start; lines are written unbuffered");
            LogGuard { _writer: None }
        }
    }
}

fn init_with<W>(filter: &str, format: LogFormat, writer: W, is_terminal: bool)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let result = match format {
        LogFormat::Json => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .fmt_fields(span_fields::JsonSpanFields)
            .event_format(json_line::JsonLine)
            .with_writer(writer)
            .try_init(),
        LogFormat::Pretty => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false)
            .with_ansi(is_terminal)
            .with_writer(writer)
            .try_init(),
    };
    if result.is_ok() {
        install_panic_hook();
    }
}

/// Routes panic reports through tracing so they are structured like every other line. The
/// payload is logged; with `RUST_BACKTRACE` set a backtrace is captured too.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".into());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let backtrace = std::backtrace::Backtrace::capture();
        tracing::error!(panic = %payload, location = %location, backtrace = %backtrace, "panic");
    }));
}
