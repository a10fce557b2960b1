//! The JSON log line (`LOG_FORMAT=json`), written in one pass.
//!
//! Shape, one object per line:
//! `{"timestamp":"2026-12-07T18:16:54.205229Z","level":"INFO","message":"…",<the event's fields>,"target":"fluxora::…","span":{<the current span's fields>,"name":"request"}}`
//! (`span` only inside a span). This is the shape of `tracing_subscriber`'s JSON format with
//! flattened events and the current span, which operators' queries rely on; that format parses
//! the span's stored fields back into a map of JSON values for every line (allocations that were
//! a measurable share of a request's cost), whereas here the span's fields, kept as JSON object
//! text by [`JsonSpanFields`], are copied in as they are and the event's fields are escaped
//! straight into the line.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use super::span_fields::{JsonSpanFields, Members};

/// The [`FormatEvent`] of `LOG_FORMAT=json` (see the module documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLine;

impl<S> FormatEvent<S, JsonSpanFields> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonSpanFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        SystemTime.format_time(&mut writer)?;
        writer.write_str("\",\"level\":\"")?;
        writer.write_str(metadata.level().as_str())?;
        writer.write_str("\"")?;
        let mut fields = Members::new(FmtIo(&mut writer));
        // The object is open: the members follow a comma.
        fields.continue_object();
        event.record(&mut fields);
        writer.write_str(",\"target\":")?;
        write_json_str(&mut writer, metadata.target())?;
        let span = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current());
        if let Some(span) = span {
            writer.write_str(",\"span\":")?;
            let extensions = span.extensions();
            let stored = extensions
                .get::<FormattedFields<JsonSpanFields>>()
                .map(|fields| fields.fields.as_str())
                .unwrap_or_default();
            // `{…}` with members: keep them and add the name; `{}` or nothing: the name alone.
            match stored.strip_suffix('}') {
                Some(open) if open.len() > 1 => {
                    writer.write_str(open)?;
                    writer.write_str(",\"name\":")?;
                }
                _ => writer.write_str("{\"name\":")?,
            }
            write_json_str(&mut writer, span.name())?;
            writer.write_str("}")?;
        }
        writer.write_str("}\n")
    }
}

/// Writes `value` as a JSON string.
fn write_json_str(writer: &mut Writer<'_>, value: &str) -> fmt::Result {
    serde_json::to_writer(FmtIo(writer), value).map_err(|_| fmt::Error)
}

/// The line's `fmt::Write` seen as an `io::Write`, for serde_json. serde_json hands it whole
/// UTF-8 fragments (it splits only around ASCII escapes).
struct FmtIo<'a, 'w>(&'a mut Writer<'w>);

impl std::io::Write for FmtIo<'_, '_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let text = std::str::from_utf8(bytes)
            .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidData, error))?;
        self.0.write_str(text).map_err(std::io::Error::other)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::test_support::Captured;

    /// Logs the same events through `tracing_subscriber`'s JSON format and through
    /// [`JsonLine`]; returns both outputs' lines, parsed.
    fn both(log: impl Fn()) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
        let theirs = Captured::default();
        let writer = theirs.clone();
        let reference = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .with_target(true)
            .fmt_fields(JsonSpanFields)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(reference, &log);
        let ours = Captured::default();
        let writer = ours.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(JsonSpanFields)
            .event_format(JsonLine)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, &log);
        let parse = |captured: Captured| -> Vec<serde_json::Value> {
            String::from_utf8(captured.bytes())
                .expect("utf-8")
                .lines()
                .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
                .collect()
        };
        (parse(theirs), parse(ours))
    }

    /// The same JSON as tracing_subscriber's format, but for the timestamp (the instant differs).
    fn without_timestamp(mut lines: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
        for line in &mut lines {
            let timestamp = line
                .as_object_mut()
                .and_then(|o| o.remove("timestamp"))
                .expect("every line has a timestamp");
            let text = timestamp.as_str().expect("a string");
            assert!(
                text.len() == 27 && text.ends_with('Z') && &text[10..11] == "T",
                "RFC 3339 UTC with microseconds: {text}"
            );
        }
        lines
    }

    #[test]
    fn lines_are_the_json_of_tracing_subscribers_format() {
        let (theirs, ours) = both(|| {
            tracing::warn!("no span, \"quoted\" and a\nnewline");
            let span = tracing::info_span!(
                "request",
                request_id = "id-1",
                method = %"GET",
                status = tracing::field::Empty
            );
            span.record("status", 200_u64);
            span.in_scope(|| {
                tracing::info!(status = 200_u64, latency_ms = 0.5_f64, ok = true, offset = -3_i64, r#type = "x", reason = ?Some("debug"), "request completed");
                tracing::error!(error = %"disk \u{1F4A5} full", "storage error");
            });
            tracing::info_span!("bare").in_scope(|| tracing::debug!("filtered out"));
            tracing::info_span!("bare").in_scope(|| tracing::info!("in a span without fields"));
        });
        assert_eq!(ours.len(), 4, "{ours:?}");
        assert_eq!(without_timestamp(ours), without_timestamp(theirs));
    }
}
