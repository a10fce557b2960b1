//! The stream resource's JSON written straight into a response buffer, for the read routes:
//! `GET /api/streams/{id}` and those that answer with many streams (`GET /api/streams`, and
//! any later route listing streams).
//!
//! [`Stream::write_json`] writes, byte for byte, what `serde_json` writes for
//! [`Stream::view`] (the [`StreamView`](super::StreamView) schema: same field order, amounts as
//! strings with exactly 7 fractional digits, RFC 3339 millisecond times, `null`s), but in one pass
//! over the stored stream: no [`StreamView`](super::StreamView) with its copies of every string,
//! no time formatted into a `String` of its own, no serializer state per field. The `chain`
//! object (chain streams only) still goes through `serde_json`: it is rare and has nested
//! documents. The unit tests below hold the two serializations equal.

use super::Stream;
use crate::clock::write_millis;

/// Room for one API stream's JSON (about 650 bytes), to size page buffers up front.
pub const STREAM_JSON_BYTES: usize = 700;

impl Stream {
    /// Appends this stream's resource at unix time `now`, amounts at `at` (default `now`), as
    /// JSON to `out`: the bytes `serde_json::to_writer(out, &self.view(now, at))` writes.
    ///
    /// Errors: `serde_json`'s, from the `chain` object (none occurs for the types it holds);
    /// `out` then holds a partial document and must be discarded.
    pub fn write_json(
        &self,
        now: u64,
        at: Option<u64>,
        out: &mut Vec<u8>,
    ) -> Result<(), serde_json::Error> {
        let t = at.unwrap_or(now);
        let (streamed, remaining) = self.streamed_and_remaining_at(t);
        out.extend_from_slice(b"{\"id\":");
        write_json_str(&self.id, out);
        out.extend_from_slice(b",\"sender\":");
        write_json_str(self.sender.as_str(), out);
        out.extend_from_slice(b",\"recipient\":");
        write_json_str(self.recipient.as_str(), out);
        out.extend_from_slice(b",\"depositAmount\":");
        self.deposit_amount.write_json(out);
        out.extend_from_slice(b",\"ratePerSecond\":");
        self.rate_per_second.write_json(out);
        out.extend_from_slice(b",\"kind\":\"");
        out.extend_from_slice(self.kind.as_str().as_bytes());
        out.extend_from_slice(b"\",\"startTime\":");
        write_u64(self.start_time, out);
        out.extend_from_slice(b",\"cliffTime\":");
        write_u64(self.cliff_time, out);
        out.extend_from_slice(b",\"endTime\":");
        write_u64(self.end_time, out);
        out.extend_from_slice(b",\"status\":\"");
        out.extend_from_slice(self.status_at(now).as_str().as_bytes());
        out.extend_from_slice(b"\",\"withdrawnAmount\":");
        self.withdrawn_amount.write_json(out);
        out.extend_from_slice(b",\"streamedAmount\":");
        streamed.write_json(out);
        out.extend_from_slice(b",\"remainingAmount\":");
        remaining.write_json(out);
        out.extend_from_slice(b",\"withdrawableAmount\":");
        self.withdrawable_at(t).write_json(out);
        out.extend_from_slice(b",\"refundAmount\":");
        match self.refund() {
            Some(refund) => refund.write_json(out),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"cancelledAt\":");
        match self.cancelled_at {
            Some(cancelled_at) => write_u64(cancelled_at, out),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"source\":\"");
        out.extend_from_slice(self.source.as_str().as_bytes());
        out.extend_from_slice(b"\",\"chain\":");
        match &self.chain {
            Some(chain) => serde_json::to_writer(&mut *out, chain)?,
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"createdAt\":\"");
        write_millis(self.created_at, out);
        out.extend_from_slice(b"\",\"updatedAt\":\"");
        write_millis(self.updated_at, out);
        out.extend_from_slice(b"\"}");
        Ok(())
    }
}

/// Appends `streams` as a JSON array of their resources ([`Stream::write_json`]).
///
/// Errors: as [`Stream::write_json`].
pub fn write_stream_array(
    streams: &[Stream],
    now: u64,
    at: Option<u64>,
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    out.push(b'[');
    for (i, stream) in streams.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        stream.write_json(now, at, out)?;
    }
    out.push(b']');
    Ok(())
}

fn write_u64(value: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends `text` as a JSON string, escaped as `serde_json` escapes it: `"` and `\` and the
/// control characters below U+0020 (as `\b \t \n \f \r`, else `\u00XX` in lowercase hex);
/// everything else as is.
pub fn write_json_str(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = text.as_bytes();
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(bytes);
    } else {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for &b in bytes {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x09 => out.extend_from_slice(b"\\t"),
                0x0a => out.extend_from_slice(b"\\n"),
                0x0c => out.extend_from_slice(b"\\f"),
                0x0d => out.extend_from_slice(b"\\r"),
                0x00..=0x1f => out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ]),
                _ => out.push(b),
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::address::StellarAddress;
    use crate::amount::Amount;
    use crate::streams::{
        ChainDetails, ChainRef, ContractBytes, MetadataItem, StreamKind, StreamSource, StreamStatus,
    };

    fn api_stream() -> Stream {
        Stream {
            id: "0193a5b0-7e1f-7c3a-9d4e-2f6b8a1c0d9e".into(),
            sender: StellarAddress::parse(
                "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5",
            )
            .unwrap(),
            recipient: StellarAddress::parse(
                "CA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUWDA",
            )
            .unwrap(),
            deposit_amount: Amount::from_stroops(10_000_000_000),
            rate_per_second: Amount::from_stroops(1_234_567),
            kind: StreamKind::Linear,
            start_time: 1_000,
            cliff_time: 1_500,
            end_time: 9_000,
            status: StreamStatus::Active,
            withdrawn_amount: Amount::ZERO,
            checkpoint_amount: Amount::ZERO,
            checkpoint_at: 1_000,
            cancelled_at: None,
            source: StreamSource::Api,
            chain: None,
            created_at: 1_764_403_685_123,
            updated_at: 1_764_403_699_001,
            version: 3,
        }
    }

    fn chain_stream() -> Stream {
        let mut stream = api_stream();
        stream.id = "chain:CA3D\u{1}\"\\é".into();
        stream.source = StreamSource::Chain;
        stream.kind = StreamKind::CliffSlope;
        stream.withdrawn_amount = Amount::from_stroops(77);
        stream.chain = Some(ChainRef {
            contract_id: "CA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQGAXE".into(),
            stream_id: 42,
            created_ledger: 123_456,
            tx_hash: "ab".repeat(32),
            closed: false,
            token_contract_id: None,
            entry_pending: true,
            details: ChainDetails {
                claim_owner: Some(
                    "GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZ".into(),
                ),
                child_stream_ids: vec![43, 44],
                memo: Some(ContractBytes::of(b"rent \n")),
                metadata: vec![MetadataItem {
                    key: ContractBytes::of(b"k"),
                    value: ContractBytes::of(&[0, 159, 146, 150]),
                }],
                refund_amount: Some(Amount::from_stroops(5)),
                lookback_ledgers: Some(12),
                ..ChainDetails::default()
            },
        });
        stream
    }

    /// Every variant the writer branches on (status, source, kind, cancel, refund, chain,
    /// escaped ids, extreme amounts and times), at several instants, with and without `at`:
    /// the bytes equal serde's serialization of the view.
    #[test]
    fn write_json_is_the_views_serialization() {
        let mut variants = Vec::new();
        for base in [api_stream(), chain_stream()] {
            for status in StreamStatus::ALL {
                for kind in StreamKind::ALL {
                    let mut s = base.clone();
                    s.status = status;
                    s.kind = kind;
                    if status == StreamStatus::Cancelled {
                        s.cancelled_at = Some(4_000);
                    }
                    variants.push(s);
                }
            }
        }
        let mut extreme = api_stream();
        extreme.deposit_amount = Amount::from_stroops(i128::MAX);
        extreme.rate_per_second = Amount::from_stroops(i128::MAX);
        extreme.withdrawn_amount = Amount::from_stroops(-1);
        extreme.end_time = u64::MAX;
        extreme.created_at = i64::MIN;
        extreme.updated_at = i64::MAX;
        variants.push(extreme);
        for stream in &variants {
            for (now, at) in [
                (0, None),
                (1_200, None),
                (5_000, Some(3_333)),
                (20_000, Some(0)),
            ] {
                let mut written = Vec::new();
                stream.write_json(now, at, &mut written).unwrap();
                let expected = serde_json::to_vec(&stream.view(now, at)).unwrap();
                assert_eq!(
                    String::from_utf8(written).unwrap(),
                    String::from_utf8(expected).unwrap()
                );
            }
        }
        let mut array = Vec::new();
        write_stream_array(&variants[..3], 10, None, &mut array).unwrap();
        let views: Vec<_> = variants[..3].iter().map(|s| s.view(10, None)).collect();
        assert_eq!(array, serde_json::to_vec(&views).unwrap());
        let mut empty = Vec::new();
        write_stream_array(&[], 10, None, &mut empty).unwrap();
        assert_eq!(empty, b"[]");
    }

    /// Strings are escaped as serde_json escapes them, for every ASCII byte and some non-ASCII
    /// text.
    #[test]
    fn strings_are_escaped_as_serde_json_does() {
        let mut texts: Vec<String> = (0u8..128).map(|b| format!("a{}b", b as char)).collect();
        texts.push("plain".into());
        texts.push("é \u{2028} 😀 \u{7f}".into());
        texts.push(String::new());
        for text in texts {
            let mut out = Vec::new();
            write_json_str(&text, &mut out);
            assert_eq!(out, serde_json::to_vec(&text).unwrap(), "{text:?}");
        }
    }
}
