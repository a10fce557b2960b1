//! Telemetry: metrics ([`metrics`]) and structured logging: JSON lines on stdout by default
//! (`LOG_FORMAT=json`), each with `timestamp`, `level`, `message` and the fields of the current
//! request span (`request_id`, `method`, `path`); `pretty` for humans. Panics are logged through
//! tracing too.

pub mod metrics;
pub mod refusals;
pub mod span_fields;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. Call once, before anything logs. `filter` is a `tracing`
/// directive such as `info` or `fluxora=debug,sqlx=warn` (validated by [`crate::config`]).
/// Returns quietly if a subscriber is already installed (tests).
pub fn init(filter: &str, format: LogFormat) {
    init_with(filter, format, std::io::stdout, || {
        std::io::IsTerminal::is_terminal(&std::io::stdout())
    });
}

/// [`init`], writing to stderr: for one-shot commands whose stdout is their result
/// (`fluxora index` prints its summary there, `fluxora keys create` the key).
pub fn init_stderr(filter: &str, format: LogFormat) {
    init_with(filter, format, std::io::stderr, || {
        std::io::IsTerminal::is_terminal(&std::io::stderr())
    });
}

fn init_with<W>(filter: &str, format: LogFormat, writer: W, is_terminal: fn() -> bool)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let result = match format {
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .with_target(true)
            .fmt_fields(span_fields::JsonSpanFields)
            .with_writer(writer)
            .try_init(),
        LogFormat::Pretty => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false)
            .with_ansi(is_terminal())
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
