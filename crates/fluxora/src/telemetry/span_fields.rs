//! The JSON object a span's fields are kept as (`LOG_FORMAT=json`).
//!
//! `tracing_subscriber`'s JSON format keeps each span's fields as a JSON object text, formatted
//! when the span is created, and copies them into every line logged inside the span (the request
//! span's `request_id`, `method` and `path`: every log line of a request carries them). Its default
//! field formatter builds a map of `serde_json::Value`s for that; [`JsonSpanFields`] writes the
//! same object straight into one buffer, with the same escaping (serde_json's) and the same rules
//! (`r#` prefixes dropped, `Debug`/`Display` values as strings). Every request creates a span, so
//! this is on the hot path even when nothing is logged at INFO.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FormatFields, FormattedFields};

/// A [`FormatFields`] writing span fields as one JSON object, `{"name":value,…}` (`{}` when
/// there are none). Values recorded later (`Span::record`) are appended to the object.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonSpanFields;

impl<'writer> FormatFields<'writer> for JsonSpanFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut members = Members::new(Vec::new());
        fields.record(&mut members);
        writer.write_str("{")?;
        writer.write_str(&members_text(members))?;
        writer.write_str("}")
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut members = Members::new(Vec::new());
        fields.record(&mut members);
        if members.is_empty() {
            return Ok(());
        }
        let text = &mut current.fields;
        match text.strip_suffix('}') {
            // An object with members: insert before its closing brace.
            Some(open) if open.len() > 1 => {
                text.pop();
                text.push(',');
            }
            // `{}` or nothing yet.
            _ => {
                text.clear();
                text.push('{');
            }
        }
        text.push_str(&members_text(members));
        text.push('}');
        Ok(())
    }
}

/// An object's members, `"name":value` separated by commas, as serde_json writes them, into
/// `out` (the span's text, or straight into a log line: [`crate::telemetry::json_line`]).
pub(crate) struct Members<W> {
    out: W,
    empty: bool,
}

impl<W: std::io::Write> Members<W> {
    /// Members written to `out`, none yet.
    pub(crate) fn new(out: W) -> Self {
        Self { out, empty: true }
    }

    /// Continues an object that already has members: the first member written starts with a
    /// comma.
    pub(crate) fn continue_object(&mut self) {
        self.empty = false;
    }

    /// Whether no member was written.
    pub(crate) fn is_empty(&self) -> bool {
        self.empty
    }

    /// The sink.
    pub(crate) fn into_inner(self) -> W {
        self.out
    }

    /// Appends `"name":value`: the field's name without an `r#` prefix, the value as serde_json
    /// writes it.
    fn member<T: serde::Serialize + ?Sized>(&mut self, field: &Field, value: &T) {
        self.name(field);
        // Writing plain values cannot fail on our sinks; a failure would leave the value out.
        let _ = serde_json::to_writer(&mut self.out, value);
    }

    /// Appends `"name":` (with the separating comma).
    fn name(&mut self, field: &Field) {
        let _ = self.out.write_all(if self.empty { b"\"" } else { b",\"" });
        self.empty = false;
        let name = field.name();
        let _ = self
            .out
            .write_all(name.strip_prefix("r#").unwrap_or(name).as_bytes());
        let _ = self.out.write_all(b"\":");
    }
}

/// Each type `tracing` records, written as its JSON value (`Debug` values as strings, escaped
/// as they are formatted: no intermediate `String`).
impl<W: std::io::Write> Visit for Members<W> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.name(field);
        let mut serializer = serde_json::Serializer::new(&mut self.out);
        let _ = serde::Serializer::collect_str(&mut serializer, &DebugAsDisplay(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, &value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, &value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.member(field, &value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, &value);
    }
}

/// A `Debug` value shown through `Display` (what `collect_str` takes).
struct DebugAsDisplay<'a>(&'a dyn fmt::Debug);

impl fmt::Display for DebugAsDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Members as object text: serde_json writes UTF-8 only (the fallback is unreachable).
fn members_text(members: Members<Vec<u8>>) -> String {
    String::from_utf8(members.into_inner()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::test_support::Captured;

    /// The JSON line logged inside a span built by `make_span`, as the service's JSON format
    /// writes it.
    fn line_inside(make_span: impl FnOnce() -> tracing::Span) -> serde_json::Value {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .fmt_fields(JsonSpanFields)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            make_span().in_scope(|| tracing::info!("inside"));
        });
        serde_json::from_slice(&captured.bytes()).unwrap()
    }

    #[test]
    fn span_fields_are_a_json_object_with_their_values_escaped() {
        let line = line_inside(|| {
            tracing::info_span!(
                "request",
                request_id = "id-\"1\"",
                method = %"GET",
                path = %"/a\\b\nc",
                attempt = 3_u64,
                offset = -2_i64,
                ratio = 0.5_f64,
                replayed = true,
                r#type = "x",
            )
        });
        let span = &line["span"];
        assert_eq!(span["name"], "request");
        assert_eq!(span["request_id"], "id-\"1\"");
        assert_eq!(span["method"], "GET");
        assert_eq!(span["path"], "/a\\b\nc");
        assert_eq!(span["attempt"], 3);
        assert_eq!(span["offset"], -2);
        assert_eq!(span["ratio"], 0.5);
        assert_eq!(span["replayed"], true);
        assert_eq!(span["type"], "x");
        assert_eq!(line["message"], "inside");
    }

    #[test]
    fn fields_recorded_later_join_the_object() {
        let line = line_inside(|| {
            let span =
                tracing::info_span!("request", request_id = "a", status = tracing::field::Empty);
            span.record("status", 200_u64);
            span
        });
        assert_eq!(line["span"]["request_id"], "a");
        assert_eq!(line["span"]["status"], 200);
        // A span with no fields at creation.
        let line = line_inside(|| {
            let span = tracing::info_span!("job", ledger = tracing::field::Empty);
            span.record("ledger", 7_u64);
            span
        });
        assert_eq!(line["span"]["ledger"], 7);
        let line = line_inside(|| tracing::info_span!("bare"));
        assert_eq!(line["span"]["name"], "bare");
    }
}
