//! Stellar RPC `getEvents` event model and its field-by-field validation (no I/O).
//!
//! [`RpcEvent`] is one event object exactly as Stellar RPC (stellar-rpc ≥ v23) returns it in
//! `getEvents` (`fixtures/chain/README.md`, "RPC shape and id rules"), plus the optional
//! `ledgerHash` that push workers add on `POST /internal/indexer/events` (`docs/indexer.md`,
//! "Push ingest"). Unknown extra fields are ignored, so new RPC versions keep deserializing.
//!
//! Validation turns an event into a [`ValidEvent`] (parsed ledger, unix close time, ordering key,
//! lowercase hashes) or returns **every** failing field at once as [`FieldError`]s, the
//! `{field, code, message}` `details` entries of the service's 400 envelope. The event's fields
//! are described once ([`RPC_EVENT`], and [`PUSHED_EVENT`] where `ledgerHash` is required) and
//! read with [`crate::fields::FieldReader`]:
//! - [`parse_event_json`] / [`parse_event_batch`] read raw JSON, where a wrong JSON type (for
//!   example `"ledger": "1216510"`) or a missing field is reported on that field instead of failing
//!   the whole batch with one opaque serde error;
//! - [`RpcEvent::validate`] applies the same rules to an event that already deserialized;
//! - [`parse_push_body`] reads a whole `POST /internal/indexer/events` body ([`PUSH_BATCH`],
//!   which the OpenAPI document renders).
//!
//! The envelope is checked here; the XDR `topic`/`value` payload is not: an undecodable payload is
//! a valid envelope whose [`super::decode::decode`] result is `Invalid` (stored and skipped), not a
//! rejected request.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::decode::{self, Decoded};
use super::entry::EntryRead;
use super::views::LookbackRead;
use crate::fields::{
    json_type, Array, BodySpec, FieldReader, FieldSpec, Format, Integer, Mismatch, Shape, Text,
    UnknownFields,
};
use crate::validation::{FieldError, ValidationErrors};

/// Stable codes of the events' [`FieldError`]s (SCREAMING_SNAKE, part of the API contract).
pub mod codes {
    /// The event is not a JSON object.
    pub const EVENT_NOT_OBJECT: &str = "EVENT_NOT_OBJECT";
    /// `type` is missing, not a string, or not `"contract"`.
    pub const EVENT_TYPE_INVALID: &str = "EVENT_TYPE_INVALID";
    /// `id` is missing, not a string, or does not match `^\d{19}-\d{10}$` (TOID and a u32 event
    /// index).
    pub const EVENT_ID_INVALID: &str = "EVENT_ID_INVALID";
    /// The ledger encoded in `id` (TOID >> 32) differs from `ledger`.
    pub const EVENT_ID_LEDGER_MISMATCH: &str = "EVENT_ID_LEDGER_MISMATCH";
    /// `ledger` is missing, not a JSON integer, zero, or above `u32::MAX`.
    pub const LEDGER_INVALID: &str = "LEDGER_INVALID";
    /// `ledgerClosedAt` is missing, not a string, not RFC 3339 in UTC (`Z`), or before the unix
    /// epoch.
    pub const LEDGER_CLOSED_AT_INVALID: &str = "LEDGER_CLOSED_AT_INVALID";
    /// `contractId` is missing, not a string, or not a canonical `C…` contract StrKey.
    pub const CONTRACT_ID_INVALID: &str = "CONTRACT_ID_INVALID";
    /// `txHash` is missing, not a string, or not 64 hex digits.
    pub const TX_HASH_INVALID: &str = "TX_HASH_INVALID";
    /// `ledgerHash` is absent where it is required (push ingest).
    pub const LEDGER_HASH_MISSING: &str = "LEDGER_HASH_MISSING";
    /// `ledgerHash` is present but not a string of 64 hex digits.
    pub const LEDGER_HASH_INVALID: &str = "LEDGER_HASH_INVALID";
    /// `topic` is an empty array.
    pub const TOPIC_EMPTY: &str = "TOPIC_EMPTY";
    /// `topic` is missing or not an array of strings.
    pub const TOPIC_INVALID: &str = "TOPIC_INVALID";
    /// `value` is missing or not a string.
    pub const VALUE_INVALID: &str = "VALUE_INVALID";
    /// `operationIndex` is not a u32, or disagrees with the operation index encoded in `id`.
    pub const OPERATION_INDEX_INVALID: &str = "OPERATION_INDEX_INVALID";
    /// `transactionIndex` is not a u32, or disagrees with the transaction index encoded in `id`.
    pub const TRANSACTION_INDEX_INVALID: &str = "TRANSACTION_INDEX_INVALID";
    /// `inSuccessfulContractCall` is present but not a boolean.
    pub const IN_SUCCESSFUL_CONTRACT_CALL_INVALID: &str = "IN_SUCCESSFUL_CONTRACT_CALL_INVALID";
    /// A push-ingest body's `events` is missing or not an array.
    pub const EVENTS_INVALID: &str = "EVENTS_INVALID";
    /// A `ledgerEntries` item's `xdr` or `key` is not a string, or (from the ingest core) not a
    /// stream storage entry.
    pub const LEDGER_ENTRY_INVALID: &str = "LEDGER_ENTRY_INVALID";
    /// A push-ingest body carries more than [`super::MAX_PUSH_BATCH`] events.
    pub const BATCH_TOO_LARGE: &str = "BATCH_TOO_LARGE";
    /// A `lookbackWindows` item's `streamId` is not a stream id (an integer from 0 to
    /// 9223372036854775807).
    pub const STREAM_ID_INVALID: &str = "STREAM_ID_INVALID";
    /// A `lookbackWindows` item's `lookbackLedgers` is neither `null` nor an integer from 0 to
    /// 4294967295.
    pub const LOOKBACK_INVALID: &str = "LOOKBACK_INVALID";
}

/// Most events one `POST /internal/indexer/events` batch may carry; [`parse_push_body`] rejects
/// larger batches before reading their events.
pub const MAX_PUSH_BATCH: usize = 100;

/// One event exactly as Stellar RPC `getEvents` returns it (`xdrFormat` `base64`), plus the
/// push-ingest `ledgerHash`. Field names are the RPC's camelCase names; unknown fields are ignored.
///
/// Deserializing this struct fails as a whole on a missing or mistyped field; use
/// [`parse_event_json`] where each bad field must be reported. Its fields are those of
/// [`RPC_EVENT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcEvent {
    /// Event type: `"contract"` for every Fluxora event (`"system"` exists in RPC but is never
    /// emitted under the stream contract's id).
    #[serde(rename = "type")]
    pub event_type: String,
    /// Ledger sequence the event was emitted in.
    pub ledger: u32,
    /// Close time of that ledger, RFC 3339 UTC with whole seconds (`2025-06-14T12:00:59Z`).
    pub ledger_closed_at: String,
    /// Emitting contract, a `C…` StrKey.
    pub contract_id: String,
    /// Unique, totally ordered event id `%019d-%010d` of (TOID, event index in the operation);
    /// see [`EventOrderKey`].
    pub id: String,
    /// Operation index within the transaction (0 for Soroban transactions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_index: Option<u32>,
    /// 1-based transaction index within the ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_index: Option<u32>,
    /// Transaction hash, 64 hex digits.
    pub tx_hash: String,
    /// Deprecated since stellar-rpc v23 (contract events now only come from successful calls),
    /// still emitted by current servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_successful_contract_call: Option<bool>,
    /// Topics, each a base64 XDR `ScVal` (`[Symbol(name), U64(stream_id)]` for stream events).
    pub topic: Vec<String>,
    /// Payload, a base64 XDR `ScVal`.
    pub value: String,
    /// Hash of the event's ledger, 64 hex digits. Required on the push-ingest path, absent from
    /// RPC `getEvents` pages (the poller takes ledger hashes from `getLedgers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_hash: Option<String>,
}

/// Position of an event in the chain's total event order, parsed from its id (or from a
/// `getEvents` cursor, which has the same format).
///
/// The id is `%019d-%010d` of (TOID, event index) with
/// `TOID = ledger << 32 | transaction_index << 12 | operation_index` (`fixtures/chain/README.md`).
/// Field order makes the derived `Ord` equal to the order of the id strings. A cursor pointing
/// at the end of a scan window has `transaction_index` 0xFFFFF, `operation_index` 0xFFF and
/// `event_index` `u32::MAX`; its `ledger` is the last ledger the page scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventOrderKey {
    /// Ledger sequence (TOID bits 63..32).
    pub ledger: u32,
    /// Transaction index in the ledger, 1-based for real transactions (TOID bits 31..12, 20 bits).
    pub transaction_index: u32,
    /// Operation index in the transaction (TOID bits 11..0, 12 bits).
    pub operation_index: u32,
    /// Index of the event among all contract events of the operation (including other
    /// contracts' events, such as the token's `transfer`).
    pub event_index: u32,
}

impl EventOrderKey {
    /// Parses an event id or cursor `^\d{19}-\d{10}$`. The event index must fit a u32.
    ///
    /// # Errors
    /// A human-readable reason when the format does not match.
    pub fn parse(id: &str) -> Result<Self, String> {
        let bytes = id.as_bytes();
        let well_formed = bytes.len() == 30
            && bytes[19] == b'-'
            && bytes[..19].iter().all(u8::is_ascii_digit)
            && bytes[20..].iter().all(u8::is_ascii_digit);
        if !well_formed {
            return Err(
                "must match ^\\d{19}-\\d{10}$ (zero-padded TOID, '-', zero-padded event index)"
                    .to_owned(),
            );
        }
        let toid: u64 = id[..19]
            .parse()
            .map_err(|_| "the TOID part is not a u64".to_owned())?;
        let event_index: u32 = id[20..]
            .parse()
            .map_err(|_| "the event index part exceeds u32::MAX".to_owned())?;
        let split = |shift: u32, mask: u64| {
            u32::try_from((toid >> shift) & mask).map_err(|_| "TOID field overflow".to_owned())
        };
        Ok(Self {
            ledger: split(32, u64::from(u32::MAX))?,
            transaction_index: split(12, 0xF_FFFF)?,
            operation_index: split(0, 0xFFF)?,
            event_index,
        })
    }

    /// The TOID (`ledger << 32 | transaction_index << 12 | operation_index`), with the
    /// transaction and operation indices masked to their 20 and 12 bits.
    pub fn toid(&self) -> u64 {
        (u64::from(self.ledger) << 32)
            | ((u64::from(self.transaction_index) & 0xF_FFFF) << 12)
            | (u64::from(self.operation_index) & 0xFFF)
    }
}

impl fmt::Display for EventOrderKey {
    /// Formats the key back into its id form `%019d-%010d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:019}-{:010}", self.toid(), self.event_index)
    }
}

/// An event whose envelope passed validation, with every field parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidEvent {
    /// The unique event id as received (`%019d-%010d`); the dedup key.
    pub id: String,
    /// Ordering key parsed from `id`; its `ledger` equals [`ValidEvent::ledger`].
    pub order: EventOrderKey,
    /// Ledger sequence.
    pub ledger: u32,
    /// Ledger close time in unix seconds (fractional seconds truncated). This is the contract's
    /// `env.ledger().timestamp()` for the event, e.g. a `cancelled` stream's `cancelled_at`.
    pub ledger_closed_at: u64,
    /// Emitting contract `C…` StrKey (the ingest core compares it with the configured contract).
    pub contract_id: String,
    /// Transaction hash, lowercase hex.
    pub tx_hash: String,
    /// Ledger hash, lowercase hex, when one was sent.
    pub ledger_hash: Option<String>,
    /// `inSuccessfulContractCall` as sent (deprecated RPC field), `None` when absent.
    pub in_successful_contract_call: Option<bool>,
    /// Topics, base64 XDR `ScVal`s (non-empty), undecoded.
    pub topic: Vec<String>,
    /// Payload, base64 XDR `ScVal`, undecoded.
    pub value: String,
}

impl ValidEvent {
    /// Decodes the topics and payload into a typed Fluxora event; see [`decode::decode`].
    pub fn decode(&self) -> Decoded {
        decode::decode(&self.topic, &self.value)
    }
}

const HEX_64: &str = "^[0-9a-fA-F]{64}$";
/// What `date-time` cannot say of a ledger close time: UTC (`Z`, as RPC writes it) and a year from
/// 1970, so that the time is never before the unix epoch.
const CLOSE_TIME_PATTERN: &str = "^(?:19[7-9][0-9]|[2-9][0-9]{3})-.*[Zz]$";
/// An event id: a 19-digit TOID, `-`, and a 10-digit event index of at most `u32::MAX`
/// (4294967295), written digit by digit.
const EVENT_ID_PATTERN: &str = concat!(
    "^[0-9]{19}-(?:[0-3][0-9]{9}|4[01][0-9]{8}|42[0-8][0-9]{7}|429[0-3][0-9]{6}",
    "|4294[0-8][0-9]{5}|42949[0-5][0-9]{4}|429496[0-6][0-9]{3}|4294967[01][0-9]{2}",
    "|42949672[0-8][0-9]|429496729[0-5])$"
);
/// An unsigned 32-bit integer field; ledgers start at 1.
const LEDGER_SEQUENCE: Shape = Shape::Integer(Integer::range(1, u32::MAX as i64, Format::Int32));
const INDEX: Shape = Shape::Integer(Integer::range(0, u32::MAX as i64, Format::Int32));

const TYPE_FIELD: FieldSpec = FieldSpec::required(
    "type",
    Shape::String(Text::ANY.one_of(&["contract"])),
    "Event type: `contract`.",
)
.example("\"contract\"");
const LEDGER_FIELD: FieldSpec = FieldSpec::required(
    "ledger",
    LEDGER_SEQUENCE,
    "Ledger sequence (Stellar ledgers start at 1).",
)
.example("1204012");
const LEDGER_CLOSED_AT_FIELD: FieldSpec = FieldSpec::required(
    "ledgerClosedAt",
    Shape::String(
        Text::ANY
            .format(Format::DateTime)
            .pattern(CLOSE_TIME_PATTERN),
    ),
    "Ledger close time, RFC 3339 in UTC (`Z`), from 1970 on.",
)
.example("\"2025-06-14T12:00:59Z\"");
const CONTRACT_ID_FIELD: FieldSpec = FieldSpec::required(
    "contractId",
    Shape::String(Text::ANY.pattern("^C[A-Z2-7]{55}$")),
    "The emitting contract (`FLUXORA_CONTRACT_ID`), a C… StrKey (the checksum is checked too).",
)
.example("\"CD2BJ2TNXVV3KY6VMQ4PTUN2BXE7IUKMI3KR7XVMRBWUL2DZ7MGNICV4\"");
const ID_FIELD: FieldSpec = FieldSpec::required(
    "id",
    Shape::String(Text::ANY.pattern(EVENT_ID_PATTERN)),
    "Event id, `%019d-%010d` (TOID, event index); the TOID encodes `ledger`.",
)
.example("\"0005171192164024320-0000000001\"");
const OPERATION_INDEX_FIELD: FieldSpec = FieldSpec::optional(
    "operationIndex",
    INDEX,
    "Operation index within the transaction (as encoded in `id`).",
)
.nullable()
.example("0");
const TRANSACTION_INDEX_FIELD: FieldSpec = FieldSpec::optional(
    "transactionIndex",
    INDEX,
    "1-based transaction index within the ledger (as encoded in `id`).",
)
.nullable()
.example("8");
const TX_HASH_FIELD: FieldSpec = FieldSpec::required(
    "txHash",
    Shape::String(Text::ANY.pattern(HEX_64)),
    "Transaction hash, 64 hex digits.",
)
.example("\"99c71a85e2170e33bb8d9b6a74686b1ab51b4732c88925859eeef80f111b1a70\"");
const IN_SUCCESSFUL_CONTRACT_CALL_FIELD: FieldSpec = FieldSpec::optional(
    "inSuccessfulContractCall",
    Shape::Boolean,
    "Deprecated by stellar-rpc v23; a boolean when present.",
)
.nullable()
.example("true");
const TOPIC_FIELD: FieldSpec = FieldSpec::required(
    "topic",
    Shape::Array(Array::of(&Shape::String(Text::ANY)).count(Some(1), None)),
    "Topics, each a base64 XDR `ScVal`; at least one (the event name).",
)
.example("[\"AAAADwAAAAdjcmVhdGVkAA==\", \"AAAABQAAAAAAAAAA\"]");
const VALUE_FIELD: FieldSpec = FieldSpec::required(
    "value",
    Shape::String(Text::ANY),
    "Payload, a base64 XDR `ScVal`.",
)
.example("\"AAAAAAAAAAE=\"");
const LEDGER_HASH_EXAMPLE: &str =
    "\"be580d4b234ca811ebdd177a0e632b5ee9266b932584be91478782f68e4b0a22\"";

/// Events are objects whose undeclared fields are ignored: new RPC versions add fields.
const EVENT_UNKNOWN_FIELDS: UnknownFields = UnknownFields::Ignore;
/// The [`crate::fields::INVALID_BODY`] message of an event (events use
/// [`codes::EVENT_NOT_OBJECT`] instead; see [`parse_event_json`]).
const EVENT_NOT_OBJECT: &str = "each event must be a JSON object";

/// An event as Stellar RPC `getEvents` returns it: [`parse_event_json`] without `ledgerHash`
/// required.
pub const RPC_EVENT: BodySpec = BodySpec {
    name: "RpcEvent",
    description: "One event object as Stellar RPC `getEvents` returns it (`xdrFormat` `base64`); \
                  other fields are ignored.",
    fields: &[
        TYPE_FIELD,
        LEDGER_FIELD,
        LEDGER_CLOSED_AT_FIELD,
        CONTRACT_ID_FIELD,
        ID_FIELD,
        OPERATION_INDEX_FIELD,
        TRANSACTION_INDEX_FIELD,
        TX_HASH_FIELD,
        IN_SUCCESSFUL_CONTRACT_CALL_FIELD,
        TOPIC_FIELD,
        VALUE_FIELD,
        FieldSpec::optional(
            "ledgerHash",
            Shape::String(Text::ANY.pattern(HEX_64)),
            "Hash of the event's ledger, 64 hex digits (absent from RPC pages).",
        )
        .nullable()
        .example(LEDGER_HASH_EXAMPLE),
    ],
    unknown: EVENT_UNKNOWN_FIELDS,
    not_object: EVENT_NOT_OBJECT,
};

/// A pushed event: exactly [`RPC_EVENT`] with `ledgerHash` required (`docs/indexer.md`, "Push
/// ingest"); the `PushedEvent` schema of the OpenAPI document.
pub const PUSHED_EVENT: BodySpec = BodySpec {
    name: "PushedEvent",
    description: "One pushed event: exactly an event object as Stellar RPC `getEvents` returns \
                  it (`xdrFormat` `base64`), plus `ledgerHash`. Other `getEvents` fields are \
                  ignored.",
    fields: &[
        TYPE_FIELD,
        LEDGER_FIELD,
        LEDGER_CLOSED_AT_FIELD,
        CONTRACT_ID_FIELD,
        ID_FIELD,
        OPERATION_INDEX_FIELD,
        TRANSACTION_INDEX_FIELD,
        TX_HASH_FIELD,
        IN_SUCCESSFUL_CONTRACT_CALL_FIELD,
        TOPIC_FIELD,
        VALUE_FIELD,
        FieldSpec::required(
            "ledgerHash",
            Shape::String(Text::ANY.pattern(HEX_64)),
            "Hash of the event's ledger, 64 hex digits (required on this path).",
        )
        .example(LEDGER_HASH_EXAMPLE),
    ],
    unknown: EVENT_UNKNOWN_FIELDS,
    not_object: EVENT_NOT_OBJECT,
};

/// The `POST /internal/indexer/events` body: what [`parse_push_body`] reads and the OpenAPI
/// document shows.
pub const PUSH_BATCH: BodySpec = BodySpec {
    name: "IngestBatchRequest",
    description: "The push-ingest body: at most 100 events, and the contract's storage entries \
                  of streams the worker read, ingested in one transaction. Every failing field \
                  is reported; nothing is applied then.",
    fields: &[
        FieldSpec::required(
            "events",
            Shape::Array(
                Array::of(&Shape::Object(&PUSHED_EVENT)).count(None, Some(MAX_PUSH_BATCH)),
            ),
            "At most 100 events.",
        ),
        FieldSpec::optional(
            "ledgerEntries",
            Shape::Array(
                Array::of(&Shape::Object(&PUSHED_ENTRY)).count(None, Some(MAX_PUSH_ENTRIES)),
            ),
            "At most 200 stream storage entries, each as `getLedgerEntries` returns it (its \
             `key` may be left out). An entry is applied once the ledger it was last modified \
             in is ingested, after that ledger's events (`docs/indexer.md`, \"Reading the \
             contract's storage\").",
        )
        .nullable(),
        FieldSpec::optional(
            "lookbackWindows",
            Shape::Array(
                Array::of(&Shape::Object(&PUSHED_LOOKBACK)).count(None, Some(MAX_PUSH_ENTRIES)),
            ),
            "At most 200 lookback windows, each what the contract's `get_lookback_window` view \
             returned for a stream (`docs/indexer.md`, \"Reading the contract's views\"). \
             Applied at once to streams already indexed.",
        )
        .nullable(),
    ],
    unknown: UnknownFields::Refuse {
        message: "unknown field; the body is {\"events\":[…], \"ledgerEntries\":[…], \
                  \"lookbackWindows\":[…]}",
        list_names: false,
        mark_cut: false,
    },
    not_object: "expected a JSON object",
};

/// Most storage entries one push batch may carry (`getLedgerEntries` answers at most 200 keys).
pub const MAX_PUSH_ENTRIES: usize = 200;

/// Standard base64 with padding, at least one group (what XDR in RPC answers is).
const BASE64_PATTERN: &str =
    "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)$";
/// A stream's entry (stream 2 of `fixtures/chain/full-contract/ledgerEntries.json`).
const ENTRY_XDR_EXAMPLE: &str = "\"AAAABgAAAAAAAAABb/1gS/w4H6C2e1Ftclm8UCmgKOd8P6dcCBmIvmUvarcAAAAQAAAAAQAAAAIAAAAPAAAABlN0cmVhbQAAAAAABQAAAAAAAAACAAAAAQAAABEAAAABAAAAHQAAAA8AAAAMY2FuY2VsbGVkX2F0AAAAAQAAAA8AAAATY2hlY2twb2ludGVkX2Ftb3VudAAAAAAKAAAAAAAAAAAAAAAAAAAAAAAAAA8AAAAPY2hlY2twb2ludGVkX2F0AAAAAAUAAAAAaFTX9AAAAA8AAAALY2xhaW1fb3duZXIAAAAAAQAAAA8AAAAKY2xpZmZfdGltZQAAAAAABQAAAABoVNf0AAAADwAAABpjdW11bGF0aXZlX3BhdXNlZF9kdXJhdGlvbgAAAAAABQAAAAAAAAnOAAAADwAAAA5kZWNvbW1pc3Npb25lZAAAAAAAAQAAAA8AAAAQZGVsZWdhdGlvbl9kZXB0aAAAAAMAAAAAAAAADwAAAA5kZXBvc2l0X2Ftb3VudAAAAAAACgAAAAAAAAAAAAAAAAeLfpgAAAAPAAAACGVuZF90aW1lAAAABQAAAABoVOdVAAAADwAAAAtpcnJldm9jYWJsZQAAAAABAAAADwAAAAlpc19wb29sZWQAAAAAAAABAAAADwAAAARraW5kAAAAAwAAAAAAAAAPAAAAGGxhc3RfcGF1c2VfdG9nZ2xlX2xlZGdlcgAAAAMAE9tYAAAADwAAABdsYXN0X3JhdGVfY2hhbmdlX2xlZGdlcgAAAAADAAAAAAAAAA8AAAAUbGFzdF93aXRoZHJhd19sZWRnZXIAAAADABPqLgAAAA8AAAAEbWVtbwAAAAEAAAAPAAAACG1ldGFkYXRhAAAAAQAAAA8AAAAQcGFyZW50X3N0cmVhbV9pZAAAAAEAAAAPAAAAE3BhdXNlZF9hdF90aW1lc3RhbXAAAAAABQAAAAAAAAAAAAAADwAAAA9yYXRlX3Blcl9zZWNvbmQAAAAACgAAAAAAAAAAAAAAAAAAfZgAAAAPAAAACXJlY2lwaWVudAAAAAAAABIAAAAAAAAAAIMatq2cbk644F6xifIVfM5TpBg+TidEVQf2d0xT5rYpAAAADwAAAAZzZW5kZXIAAAAAABIAAAAAAAAAAG5H30ae9iJC30xUZk/Ad4PeBUYq+TPX2QxUDThmmHotAAAADwAAAApzdGFydF90aW1lAAAAAAAFAAAAAGhU1/QAAAAPAAAABnN0YXR1cwAAAAAAAwAAAAIAAAAPAAAACXN0cmVhbV9pZAAAAAAAAAUAAAAAAAAAAgAAAA8AAAAXd2l0aGRyYXdfZHVzdF90aHJlc2hvbGQAAAAACgAAAAAAAAAAAAAAAANTrsAAAAAPAAAAEHdpdGhkcmF3bl9hbW91bnQAAAAKAAAAAAAAAAAAAAAAB4t+mAAAAA8AAAAHd2l0bmVzcwAAAAASAAAAAAAAAADVIzOVV+ljUSAH1psjQ7Xw4aFgk965i9TDBFv4YEuDIA==\"";
/// Its key.
const ENTRY_KEY_EXAMPLE: &str = "\"AAAABgAAAAFv/WBL/DgfoLZ7UW1yWbxQKaAo53w/p1wIGYi+ZS9qtwAAABAAAAABAAAAAgAAAA8AAAAGU3RyZWFtAAAAAAAFAAAAAAAAAAIAAAAB\"";

/// One `ledgerEntries` item of a push batch: a `getLedgerEntries` entry.
pub const PUSHED_ENTRY: BodySpec = BodySpec {
    name: "PushedLedgerEntry",
    description: "A stream's storage entry as Stellar RPC `getLedgerEntries` returns it.",
    fields: &[
        FieldSpec::required(
            "xdr",
            Shape::String(Text::ANY.pattern(BASE64_PATTERN)),
            "Base64 XDR `LedgerEntryData`: the contract's persistent `ContractData` entry under \
             `[Symbol(\"Stream\"), U64(id)]`.",
        )
        .example(ENTRY_XDR_EXAMPLE),
        FieldSpec::required(
            "lastModifiedLedgerSeq",
            LEDGER_SEQUENCE,
            "The ledger of the entry's last change.",
        )
        .example("1417830"),
        FieldSpec::optional(
            "liveUntilLedgerSeq",
            Shape::Integer(Integer::range(0, u32::MAX as i64, Format::Int32)),
            "Until which ledger the entry lives.",
        )
        .nullable()
        .example("1538794"),
        FieldSpec::optional(
            "key",
            Shape::String(Text::ANY.pattern(BASE64_PATTERN)),
            "The base64 `LedgerKey` (not needed: the entry names its stream).",
        )
        .nullable()
        .example(ENTRY_KEY_EXAMPLE),
    ],
    unknown: UnknownFields::Ignore,
    not_object: "each ledger entry must be a JSON object",
};

/// One `lookbackWindows` item of a push batch.
pub const PUSHED_LOOKBACK: BodySpec = BodySpec {
    name: "PushedLookbackWindow",
    description: "A stream's lookback window as the contract's `get_lookback_window` view \
                  returned it, simulated at `readLedger`.",
    fields: &[
        CONTRACT_ID_FIELD,
        FieldSpec::required(
            "streamId",
            Shape::Integer(Integer::range(0, i64::MAX, Format::Int64)),
            "The contract's stream id.",
        )
        .example("101"),
        FieldSpec::required(
            "lookbackLedgers",
            Shape::Integer(Integer::range(0, u32::MAX as i64, Format::Int32)),
            "The window in ledgers of 5 s; `null`: the stream has none.",
        )
        .nullable()
        .example("720"),
        FieldSpec::required(
            "readLedger",
            LEDGER_SEQUENCE,
            "The ledger the view was simulated at (`simulateTransaction`'s `latestLedger`); \
             a read older than the one a stream holds is ignored.",
        )
        .example("1417830"),
    ],
    unknown: UnknownFields::Ignore,
    not_object: "each lookback window must be a JSON object",
};

/// Reads one `lookbackWindows` item.
fn parse_pushed_lookback(item: &Value) -> Result<LookbackRead, Vec<FieldError>> {
    let mut fields = FieldReader::body(&PUSHED_LOOKBACK, item).map_err(|errors| errors.0)?;
    let contract_id = fields
        .string("contractId", |_| {
            FieldError::new(
                "contractId",
                codes::CONTRACT_ID_INVALID,
                "must be a C… contract StrKey",
            )
        })
        .flatten();
    if contract_id.is_some_and(|id| stellar_strkey::Contract::from_string(id).is_err()) {
        fields.push(FieldError::new(
            "contractId",
            codes::CONTRACT_ID_INVALID,
            "must be a C… contract StrKey",
        ));
    }
    // i64: the stores keep stream ids in signed 64-bit columns.
    let stream_id = fields
        .unsigned::<i64>("streamId", |_| {
            FieldError::new(
                "streamId",
                codes::STREAM_ID_INVALID,
                "must be a stream id (0 to 9223372036854775807)",
            )
        })
        .flatten()
        .and_then(|id| u64::try_from(id).ok());
    let ledgers = fields.unsigned::<u32>("lookbackLedgers", |_| {
        FieldError::new(
            "lookbackLedgers",
            codes::LOOKBACK_INVALID,
            "must be null or a number of ledgers (0 to 4294967295)",
        )
    });
    let read_ledger = fields
        .unsigned::<u32>("readLedger", |_| {
            FieldError::new(
                "readLedger",
                codes::LEDGER_INVALID,
                "must be a ledger sequence (1 to 4294967295)",
            )
        })
        .flatten();
    if read_ledger == Some(0) {
        fields.push(FieldError::new(
            "readLedger",
            codes::LEDGER_INVALID,
            "must be a ledger sequence ≥ 1",
        ));
    }
    let errors = fields.into_errors().0;
    match (contract_id, stream_id, ledgers, read_ledger) {
        (Some(contract_id), Some(stream_id), Some(ledgers), Some(read_ledger))
            if errors.is_empty() =>
        {
            Ok(LookbackRead {
                contract_id: contract_id.to_owned(),
                stream_id,
                ledgers,
                read_ledger,
            })
        }
        _ => Err(errors),
    }
}

/// Reads one `ledgerEntries` item.
fn parse_pushed_entry(item: &Value) -> Result<EntryRead, Vec<FieldError>> {
    let mut fields = FieldReader::body(&PUSHED_ENTRY, item).map_err(|errors| errors.0)?;
    let xdr = fields
        .string("xdr", |_| {
            FieldError::new("xdr", codes::LEDGER_ENTRY_INVALID, "must be base64 XDR")
        })
        .flatten();
    let last_modified = fields
        .unsigned::<u32>("lastModifiedLedgerSeq", |_| {
            FieldError::new(
                "lastModifiedLedgerSeq",
                codes::LEDGER_INVALID,
                "must be a ledger sequence (1 to 4294967295)",
            )
        })
        .flatten();
    let live_until = fields
        .unsigned::<u32>("liveUntilLedgerSeq", |_| {
            FieldError::new(
                "liveUntilLedgerSeq",
                codes::LEDGER_INVALID,
                "must be a ledger sequence (0 to 4294967295)",
            )
        })
        .flatten();
    let key = fields
        .string("key", |_| {
            FieldError::new("key", codes::LEDGER_ENTRY_INVALID, "must be base64 XDR")
        })
        .flatten();
    // Not used (the entry names its stream), but never accepted malformed.
    if key.is_some_and(|key| !is_base64(key)) {
        fields.push(FieldError::new(
            "key",
            codes::LEDGER_ENTRY_INVALID,
            "must be base64 XDR",
        ));
    }
    let errors = fields.into_errors().0;
    match (xdr, last_modified) {
        (Some(xdr), Some(last_modified)) if errors.is_empty() && last_modified > 0 => {
            Ok(EntryRead {
                xdr: xdr.to_owned(),
                last_modified_ledger: last_modified,
                live_until_ledger: live_until,
            })
        }
        (_, Some(0)) if errors.is_empty() => Err(vec![FieldError::new(
            "lastModifiedLedgerSeq",
            codes::LEDGER_INVALID,
            "must be a ledger sequence ≥ 1",
        )]),
        _ => Err(errors),
    }
}

/// Whether `text` is non-empty standard base64 with padding ([`BASE64_PATTERN`]).
fn is_base64(text: &str) -> bool {
    use base64::Engine as _;
    !text.is_empty()
        && base64::engine::general_purpose::STANDARD
            .decode(text)
            .is_ok()
}

/// A valid push-ingest body.
#[derive(Debug, Clone, Default)]
pub struct PushBatch {
    /// The events.
    pub events: Vec<ValidEvent>,
    /// The storage entries (decoded and checked by the ingest core).
    pub entries: Vec<EntryRead>,
    /// The lookback windows (their contract is checked by the ingest core).
    pub lookbacks: Vec<LookbackRead>,
}

impl RpcEvent {
    /// Checks every field and returns the parsed event, or all problems found (not just the
    /// first), by the rules of [`parse_event_json`]. `require_ledger_hash` is true on the
    /// push-ingest path, where a missing `ledgerHash` is [`codes::LEDGER_HASH_MISSING`].
    ///
    /// # Errors
    /// Every failing field, in field order.
    pub fn validate(&self, require_ledger_hash: bool) -> Result<ValidEvent, Vec<FieldError>> {
        match serde_json::to_value(self) {
            Ok(event) => parse_event_json(&event, require_ledger_hash),
            Err(error) => Err(vec![FieldError::new(
                "",
                codes::EVENT_NOT_OBJECT,
                format!("the event does not serialize: {error}"),
            )]),
        }
    }
}

/// Validates one raw JSON event (an element of `getEvents`' `events` or of a push batch),
/// reporting JSON type errors per field (`"ledger": "1"` → [`codes::LEDGER_INVALID`]) together
/// with the rules of each field; `null` counts as absent. Unknown fields are ignored. The fields
/// are those of [`PUSHED_EVENT`] when `require_ledger_hash`, else of [`RPC_EVENT`].
///
/// # Errors
/// Every failing field, in field order; a value that is not an object is one
/// [`codes::EVENT_NOT_OBJECT`] error on the empty field name.
pub fn parse_event_json(
    event: &Value,
    require_ledger_hash: bool,
) -> Result<ValidEvent, Vec<FieldError>> {
    let Some(object) = event.as_object() else {
        return Err(vec![FieldError::new(
            "",
            codes::EVENT_NOT_OBJECT,
            format!("{EVENT_NOT_OBJECT}, got {}", json_type(event)),
        )]);
    };
    let spec = if require_ledger_hash {
        &PUSHED_EVENT
    } else {
        &RPC_EVENT
    };
    let mut fields = FieldReader::object(spec, object);

    let event_type = fields
        .string(
            "type",
            expected("type", codes::EVENT_TYPE_INVALID, "a string"),
        )
        .flatten();
    if event_type.is_some_and(|t| t != "contract") {
        fields.push(FieldError::new(
            "type",
            codes::EVENT_TYPE_INVALID,
            "must be \"contract\"",
        ));
    }
    let ledger = fields
        .unsigned::<u32>("ledger", unsigned_32("ledger", codes::LEDGER_INVALID))
        .flatten()
        .and_then(|ledger| {
            fields.take(if ledger == 0 {
                Err(FieldError::new(
                    "ledger",
                    codes::LEDGER_INVALID,
                    "must be a ledger sequence ≥ 1",
                ))
            } else {
                Ok(ledger)
            })
        });
    let ledger_closed_at = rule(
        &mut fields,
        "ledgerClosedAt",
        codes::LEDGER_CLOSED_AT_INVALID,
        parse_close_time,
    );
    let contract_id = rule(
        &mut fields,
        "contractId",
        codes::CONTRACT_ID_INVALID,
        parse_contract_id,
    );
    let id = rule(&mut fields, "id", codes::EVENT_ID_INVALID, |id| {
        EventOrderKey::parse(id).map(|key| (id.to_owned(), key))
    });
    if let (Some((_, key)), Some(ledger)) = (&id, ledger) {
        if key.ledger != ledger {
            fields.push(FieldError::new(
                "id",
                codes::EVENT_ID_LEDGER_MISMATCH,
                format!(
                    "encodes ledger {} but the event's ledger is {ledger}",
                    key.ledger
                ),
            ));
        }
    }
    let key = id.as_ref().map(|(_, key)| *key);
    check_index(
        &mut fields,
        "operationIndex",
        codes::OPERATION_INDEX_INVALID,
        key.map(|k| k.operation_index),
    );
    check_index(
        &mut fields,
        "transactionIndex",
        codes::TRANSACTION_INDEX_INVALID,
        key.map(|k| k.transaction_index),
    );
    let tx_hash = rule(&mut fields, "txHash", codes::TX_HASH_INVALID, parse_hash);
    let in_successful_contract_call = fields
        .boolean(
            "inSuccessfulContractCall",
            expected(
                "inSuccessfulContractCall",
                codes::IN_SUCCESSFUL_CONTRACT_CALL_INVALID,
                "a boolean",
            ),
        )
        .flatten();
    let topic = read_topic(&mut fields);
    let value = fields
        .string("value", expected("value", codes::VALUE_INVALID, "a string"))
        .flatten();
    let ledger_hash = fields
        .string("ledgerHash", |mismatch| match mismatch {
            Mismatch::Absent | Mismatch::Null => FieldError::new(
                "ledgerHash",
                codes::LEDGER_HASH_MISSING,
                "is required on push ingest (64 hex digits, the hash of the event's ledger)",
            ),
            Mismatch::Invalid(value) | Mismatch::InvalidItem { value, .. } => FieldError::new(
                "ledgerHash",
                codes::LEDGER_HASH_INVALID,
                format!("must be a string, got {}", json_type(value)),
            ),
        })
        .flatten()
        .and_then(|hash| {
            fields.take(
                parse_hash(hash)
                    .map_err(|m| FieldError::new("ledgerHash", codes::LEDGER_HASH_INVALID, m)),
            )
        });

    let errors = fields.into_errors().0;
    match (
        ledger,
        ledger_closed_at,
        contract_id,
        id,
        tx_hash,
        topic,
        value,
    ) {
        (
            Some(ledger),
            Some(ledger_closed_at),
            Some(contract_id),
            Some((id, order)),
            Some(tx_hash),
            Some(topic),
            Some(value),
        ) if errors.is_empty() => Ok(ValidEvent {
            id,
            order,
            ledger,
            ledger_closed_at,
            contract_id,
            tx_hash,
            ledger_hash,
            in_successful_contract_call,
            topic,
            value: value.to_owned(),
        }),
        _ => Err(errors),
    }
}

/// Validates a push-ingest batch (`{"events":[…]}`'s array) with [`parse_event_json`]; every
/// problem of every event is returned, its field prefixed `events[i].`. The batch size limit
/// ([`MAX_PUSH_BATCH`]) is the caller's check.
///
/// # Errors
/// Every failing field of every event; nothing is returned for the valid ones in that case.
pub fn parse_event_batch(
    events: &[Value],
    require_ledger_hash: bool,
) -> Result<Vec<ValidEvent>, Vec<FieldError>> {
    let mut valid = Vec::with_capacity(events.len());
    let mut problems = Vec::new();
    for (index, event) in events.iter().enumerate() {
        match parse_event_json(event, require_ledger_hash) {
            Ok(event) => valid.push(event),
            Err(found) => {
                let parent = format!("events[{index}]");
                problems.extend(found.into_iter().map(|p| p.within(&parent)));
            }
        }
    }
    if problems.is_empty() {
        Ok(valid)
    } else {
        Err(problems)
    }
}

/// Why a push-ingest body was refused; each variant's text is the envelope's message and its
/// errors are the `details`. Nothing is applied in every case.
#[derive(Debug, thiserror::Error)]
pub enum PushBodyError {
    /// The body is not an object (`INVALID_BODY`).
    #[error("the body must be {{\"events\":[…]}}")]
    NotObject(ValidationErrors),
    /// Unknown fields, or `events` missing, not an array or longer than [`MAX_PUSH_BATCH`].
    #[error("invalid ingest batch")]
    Body(ValidationErrors),
    /// Events that failed [`parse_event_json`], fields prefixed `events[i].`.
    #[error("invalid ingest batch: nothing was applied")]
    Events(ValidationErrors),
}

impl PushBodyError {
    /// The failing fields.
    pub fn into_details(self) -> Vec<FieldError> {
        match self {
            PushBodyError::NotObject(errors)
            | PushBodyError::Body(errors)
            | PushBodyError::Events(errors) => errors.0,
        }
    }
}

/// Reads a `POST /internal/indexer/events` body ([`PUSH_BATCH`]): the body's own fields first
/// (unknown fields, `events` an array of at most [`MAX_PUSH_BATCH`]), then every event with
/// `ledgerHash` required ([`parse_event_batch`]).
///
/// # Errors
/// [`PushBodyError`]: the first stage that failed, with every failing field of that stage.
pub fn parse_push_body(body: &Value) -> Result<PushBatch, PushBodyError> {
    let mut fields = FieldReader::body(&PUSH_BATCH, body).map_err(PushBodyError::NotObject)?;
    let events = fields
        .array("events", |_| {
            FieldError::new(
                "events",
                codes::EVENTS_INVALID,
                "events must be an array of getEvents event objects",
            )
        })
        .flatten();
    let Some(events) = events else {
        return Err(PushBodyError::Body(fields.into_errors()));
    };
    if events.len() > MAX_PUSH_BATCH {
        fields.push(FieldError::new(
            "events",
            codes::BATCH_TOO_LARGE,
            format!(
                "at most {MAX_PUSH_BATCH} events per batch, got {}",
                events.len()
            ),
        ));
    }
    let entries = fields
        .array("ledgerEntries", |_| {
            FieldError::new(
                "ledgerEntries",
                codes::LEDGER_ENTRY_INVALID,
                "ledgerEntries must be an array of getLedgerEntries entries",
            )
        })
        .flatten()
        .unwrap_or_default();
    if entries.len() > MAX_PUSH_ENTRIES {
        fields.push(FieldError::new(
            "ledgerEntries",
            codes::BATCH_TOO_LARGE,
            format!(
                "at most {MAX_PUSH_ENTRIES} ledger entries per batch, got {}",
                entries.len()
            ),
        ));
    }
    let lookbacks = fields
        .array("lookbackWindows", |_| {
            FieldError::new(
                "lookbackWindows",
                codes::LOOKBACK_INVALID,
                "lookbackWindows must be an array of lookback windows",
            )
        })
        .flatten()
        .unwrap_or_default();
    if lookbacks.len() > MAX_PUSH_ENTRIES {
        fields.push(FieldError::new(
            "lookbackWindows",
            codes::BATCH_TOO_LARGE,
            format!(
                "at most {MAX_PUSH_ENTRIES} lookback windows per batch, got {}",
                lookbacks.len()
            ),
        ));
    }
    fields.finish().map_err(PushBodyError::Body)?;
    let mut problems = Vec::new();
    let events = match parse_event_batch(events, true) {
        Ok(events) => events,
        Err(found) => {
            problems.extend(found);
            Vec::new()
        }
    };
    let mut reads = Vec::with_capacity(entries.len());
    for (index, item) in entries.iter().enumerate() {
        match parse_pushed_entry(item) {
            Ok(read) => reads.push(read),
            Err(found) => {
                let parent = format!("ledgerEntries[{index}]");
                problems.extend(found.into_iter().map(|p| p.within(&parent)));
            }
        }
    }
    let mut windows = Vec::with_capacity(lookbacks.len());
    for (index, item) in lookbacks.iter().enumerate() {
        match parse_pushed_lookback(item) {
            Ok(read) => windows.push(read),
            Err(found) => {
                let parent = format!("lookbackWindows[{index}]");
                problems.extend(found.into_iter().map(|p| p.within(&parent)));
            }
        }
    }
    if !problems.is_empty() {
        return Err(PushBodyError::Events(ValidationErrors(problems)));
    }
    Ok(PushBatch {
        events,
        entries: reads,
        lookbacks: windows,
    })
}

/// The `result` of a Stellar RPC `getEvents` call (stellar-rpc ≥ v23).
///
/// `events` stays raw JSON so one malformed event cannot make the whole page undecodable: the
/// poller validates each with [`GetEventsPage::parse_events`] and stores/skips the bad ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetEventsPage {
    /// The page's events in chain order (`null` is read as empty).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub events: Vec<Value>,
    /// Opaque position to resume from: the last event's id when the page is full, else the end
    /// of the scanned window (see [`EventOrderKey`]). A short or empty page is not the end: keep
    /// paging while the cursor's ledger is below `latest_ledger`.
    pub cursor: String,
    /// Latest ledger the RPC node has ingested.
    pub latest_ledger: u32,
    /// Oldest ledger still within the node's retention window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_ledger: Option<u32>,
    /// Close time of `latest_ledger`, unix seconds as a decimal string (a JSON number is
    /// accepted too).
    #[serde(
        default,
        deserialize_with = "string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub latest_ledger_close_time: Option<String>,
    /// Close time of `oldest_ledger`, unix seconds as a decimal string (a JSON number is
    /// accepted too).
    #[serde(
        default,
        deserialize_with = "string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub oldest_ledger_close_time: Option<String>,
}

impl GetEventsPage {
    /// Validates every event of the page (no `ledgerHash` required), one result per event, in
    /// page order.
    pub fn parse_events(&self) -> Vec<Result<ValidEvent, Vec<FieldError>>> {
        self.events
            .iter()
            .map(|event| parse_event_json(event, false))
            .collect()
    }

    /// The cursor parsed as an [`EventOrderKey`]; its `ledger` is how far this page scanned.
    ///
    /// # Errors
    /// When the cursor does not have the id format.
    pub fn cursor_position(&self) -> Result<EventOrderKey, String> {
        EventOrderKey::parse(&self.cursor)
    }

    /// `latest_ledger_close_time` as unix seconds, when present and numeric.
    pub fn latest_ledger_close_unix(&self) -> Option<u64> {
        self.latest_ledger_close_time.as_deref()?.parse().ok()
    }
}

// ---------------------------------------------------------------------------------------------
// Field rules
// ---------------------------------------------------------------------------------------------

/// The error builder of a field read by a typed getter: absent or `null` → "is required",
/// another JSON type → "must be {expected}, got …".
fn expected(
    field: &'static str,
    code: &'static str,
    expected: &'static str,
) -> impl FnOnce(Mismatch<'_>) -> FieldError {
    move |mismatch| {
        let message = match mismatch {
            Mismatch::Absent | Mismatch::Null => "is required".to_owned(),
            Mismatch::Invalid(value) | Mismatch::InvalidItem { value, .. } => {
                format!("must be {expected}, got {}", json_type(value))
            }
        };
        FieldError::new(field, code, message)
    }
}

/// The error builder of an unsigned 32-bit field: like [`expected`], naming a number outside
/// the range as such.
fn unsigned_32(field: &'static str, code: &'static str) -> impl FnOnce(Mismatch<'_>) -> FieldError {
    move |mismatch| {
        let message = match mismatch {
            Mismatch::Absent | Mismatch::Null => "is required".to_owned(),
            Mismatch::Invalid(value) | Mismatch::InvalidItem { value, .. } => {
                let got = if value.is_number() {
                    "a number that is negative, fractional or above 4294967295"
                } else {
                    json_type(value)
                };
                format!("must be an unsigned 32-bit integer (JSON number), got {got}")
            }
        };
        FieldError::new(field, code, message)
    }
}

/// A required string field checked by `rule`, whose error message is reported under `code`.
fn rule<T>(
    fields: &mut FieldReader<'_>,
    field: &'static str,
    code: &'static str,
    rule: impl FnOnce(&str) -> Result<T, String>,
) -> Option<T> {
    let text = fields
        .string(field, expected(field, code, "a string"))
        .flatten()?;
    fields.take(rule(text).map_err(|message| FieldError::new(field, code, message)))
}

/// An optional index field (a u32) that must agree with the index encoded in the id, when both
/// are known.
fn check_index(
    fields: &mut FieldReader<'_>,
    field: &'static str,
    code: &'static str,
    from_id: Option<u32>,
) {
    let sent = fields
        .unsigned::<u32>(field, unsigned_32(field, code))
        .flatten();
    if let (Some(sent), Some(encoded)) = (sent, from_id) {
        if sent != encoded {
            fields.push(FieldError::new(
                field,
                code,
                format!("is {sent} but the event id encodes {encoded}"),
            ));
        }
    }
}

/// `topic`: a non-empty array of strings; every item that is not a string is reported on
/// `topic[i]`.
fn read_topic(fields: &mut FieldReader<'_>) -> Option<Vec<String>> {
    let items = fields
        .array("topic", |mismatch| {
            let message = match mismatch {
                Mismatch::Absent | Mismatch::Null => {
                    "is required (an array of base64 XDR ScVal strings)".to_owned()
                }
                Mismatch::Invalid(value) | Mismatch::InvalidItem { value, .. } => {
                    format!("must be an array of strings, got {}", json_type(value))
                }
            };
            FieldError::new("topic", codes::TOPIC_INVALID, message)
        })
        .flatten()?;
    let mut topics = Vec::with_capacity(items.len());
    let mut bad = false;
    for (index, item) in items.iter().enumerate() {
        match item {
            Value::String(topic) => topics.push(topic.clone()),
            other => {
                bad = true;
                fields.push(FieldError::new(
                    format!("topic[{index}]"),
                    codes::TOPIC_INVALID,
                    format!("must be a base64 string, got {}", json_type(other)),
                ));
            }
        }
    }
    if bad {
        return None;
    }
    if topics.is_empty() {
        fields.push(FieldError::new(
            "topic",
            codes::TOPIC_EMPTY,
            "must hold at least one base64 XDR ScVal (the event name)",
        ));
        return None;
    }
    Some(topics)
}

/// An RFC 3339 time in UTC (`…Z`), as unix seconds (fraction dropped); refused before 1970.
fn parse_close_time(text: &str) -> Result<u64, String> {
    const EXPECTED: &str = "must be an RFC 3339 UTC timestamp such as 2025-06-14T12:00:59Z";
    if !text.ends_with(['Z', 'z']) {
        return Err(EXPECTED.to_owned());
    }
    let parsed = chrono::DateTime::parse_from_rfc3339(text).map_err(|_| EXPECTED.to_owned())?;
    u64::try_from(parsed.timestamp()).map_err(|_| "must not be before 1970-01-01".to_owned())
}

fn parse_contract_id(text: &str) -> Result<String, String> {
    match stellar_strkey::Contract::from_string(text) {
        Ok(contract) if contract.to_string().as_str() == text => Ok(text.to_owned()),
        _ => Err("must be a contract StrKey (C…, 56 characters, valid checksum)".to_owned()),
    }
}

/// 64 hex digits, returned in lowercase.
fn parse_hash(text: &str) -> Result<String, String> {
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err("must be 64 hexadecimal digits".to_owned())
    }
}

fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Value>, D::Error> {
    Ok(Option::<Vec<Value>>::deserialize(deserializer)?.unwrap_or_default())
}

fn string_or_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Null) | None => None,
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected a string or number, got {}",
                json_type(&other)
            )))
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;

    fn fixtures_dir() -> PathBuf {
        std::env::var_os("FLUXORA_FIXTURES_DIR").map_or_else(
            || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/chain")),
            PathBuf::from,
        )
    }

    fn fixture(name: &str) -> Value {
        let path = fixtures_dir().join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    }

    fn pages(file: &str) -> Vec<GetEventsPage> {
        fixture(file)["pages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|page| serde_json::from_value(page["result"].clone()).unwrap())
            .collect()
    }

    fn malformed_events() -> Vec<Value> {
        fixture("malformed.getEvents.json")["response"]["result"]["events"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// A valid event in RPC shape (the first scenario event), as JSON.
    fn good_json() -> Value {
        fixture("fluxora-scenario.getEvents.json")["pages"][0]["result"]["events"][0].clone()
    }

    fn codes_of(problems: &[FieldError]) -> Vec<(&str, &str)> {
        problems
            .iter()
            .map(|p| (p.field.as_str(), p.code))
            .collect()
    }

    fn problems_for(event: &Value, require_hash: bool) -> Vec<(String, &'static str)> {
        match parse_event_json(event, require_hash) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.into_iter().map(|p| (p.field, p.code)).collect(),
        }
    }

    fn with(mut event: Value, key: &str, value: Value) -> Value {
        event.as_object_mut().unwrap().insert(key.to_owned(), value);
        event
    }

    fn without(mut event: Value, key: &str) -> Value {
        event.as_object_mut().unwrap().remove(key);
        event
    }

    #[test]
    fn every_fixture_page_and_event_parses_and_validates() {
        let decoded = fixture("fluxora-scenario.decoded.json");
        let close_times: std::collections::HashMap<&str, u64> = decoded["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["id"].as_str().unwrap(),
                    e["closeTimeUnix"].as_u64().unwrap(),
                )
            })
            .collect();
        for file in [
            "fluxora-scenario.getEvents.json",
            "reorg-variant.getEvents.json",
        ] {
            let pages = pages(file);
            assert_eq!(
                pages.iter().map(|p| p.events.len()).collect::<Vec<_>>(),
                [5, 5, 4, 4],
                "{file}"
            );
            let mut previous: Option<EventOrderKey> = None;
            // The last page's cursor reaches the latest ledger: paging is done.
            let last = pages.last().unwrap();
            assert_eq!(last.cursor_position().unwrap().ledger, last.latest_ledger);
            for page in &pages {
                assert_eq!(page.latest_ledger, 1_216_504);
                assert!(page.latest_ledger_close_unix().is_some());
                let cursor = page.cursor_position().unwrap();
                assert_eq!(cursor.to_string(), page.cursor);
                for (raw, parsed) in page.events.iter().zip(page.parse_events()) {
                    let valid = parsed.unwrap();
                    // The typed serde path agrees with the per-field JSON path.
                    let typed: RpcEvent = serde_json::from_value(raw.clone()).unwrap();
                    assert_eq!(typed.validate(false).unwrap(), valid);
                    assert_eq!(valid.order.ledger, valid.ledger);
                    assert_eq!(Some(valid.order.transaction_index), typed.transaction_index);
                    assert_eq!(Some(valid.order.operation_index), typed.operation_index);
                    assert_eq!(valid.order.to_string(), valid.id);
                    assert!(valid.order <= cursor, "cursor is past the page's events");
                    if let Some(prev) = previous {
                        assert!(prev < valid.order, "events are in id order");
                        assert!(prev.to_string() < valid.id);
                    }
                    previous = Some(valid.order);
                    if file.starts_with("fluxora") {
                        assert_eq!(valid.ledger_closed_at, close_times[valid.id.as_str()]);
                    }
                    assert!(matches!(valid.decode(), Decoded::Event(_)), "{}", valid.id);
                }
            }
        }
    }

    #[test]
    fn scan_window_cursor_points_at_the_window_end() {
        let page = &pages("fluxora-scenario.getEvents.json")[2];
        let cursor = page.cursor_position().unwrap();
        assert_eq!(page.cursor, "0005222680231935999-4294967295");
        assert_eq!(
            cursor,
            EventOrderKey {
                ledger: 1_215_999,
                transaction_index: 0xF_FFFF,
                operation_index: 0xFFF,
                event_index: u32::MAX,
            }
        );
        assert!(cursor.ledger < page.latest_ledger, "keep paging");
    }

    #[test]
    fn malformed_case_2_missing_ledger_is_ledger_invalid() {
        let events = malformed_events();
        let missing = &events[2];
        assert!(missing.get("ledger").is_none());
        // The typed serde path can only fail opaquely...
        assert!(serde_json::from_value::<RpcEvent>(missing.clone()).is_err());
        // ...the per-field path names the field.
        let problems = parse_event_json(missing, false).unwrap_err();
        assert_eq!(codes_of(&problems), [("ledger", codes::LEDGER_INVALID)]);
        assert!(problems[0].message.contains("required"));
        // The page as a whole still deserializes, and only that event fails.
        let page: GetEventsPage = serde_json::from_value(
            fixture("malformed.getEvents.json")["response"]["result"].clone(),
        )
        .unwrap();
        let results = page.parse_events();
        assert_eq!(
            results.iter().map(Result::is_ok).collect::<Vec<_>>(),
            [true, true, false, true, true],
            "cases 0, 1, 3, 4 are payload defects, not envelope defects"
        );
    }

    #[test]
    fn ledger_as_string_is_ledger_invalid() {
        let event = with(good_json(), "ledger", json!("1204012"));
        let problems = parse_event_json(&event, false).unwrap_err();
        assert_eq!(codes_of(&problems), [("ledger", codes::LEDGER_INVALID)]);
        assert!(
            problems[0].message.contains("got a string"),
            "{}",
            problems[0]
        );
        for bad in [
            json!(-1),
            json!(1.5),
            json!(4_294_967_296_u64),
            json!(0),
            json!(true),
        ] {
            let event = with(good_json(), "ledger", bad.clone());
            let found = problems_for(&event, false);
            assert!(
                found.contains(&("ledger".to_owned(), codes::LEDGER_INVALID)),
                "{bad}: {found:?}"
            );
        }
    }

    #[test]
    fn every_field_problem_is_reported_at_once() {
        let event = json!({
            "type": 7,
            "ledger": "12",
            "ledgerClosedAt": "yesterday",
            "contractId": "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5",
            "id": "12-34",
            "operationIndex": "0",
            "transactionIndex": -1,
            "txHash": "abc",
            "inSuccessfulContractCall": "yes",
            "topic": [],
            "value": 5,
            "ledgerHash": "zz"
        });
        let problems = parse_event_json(&event, true).unwrap_err();
        assert_eq!(
            codes_of(&problems),
            [
                ("type", codes::EVENT_TYPE_INVALID),
                ("ledger", codes::LEDGER_INVALID),
                ("ledgerClosedAt", codes::LEDGER_CLOSED_AT_INVALID),
                ("contractId", codes::CONTRACT_ID_INVALID),
                ("id", codes::EVENT_ID_INVALID),
                ("operationIndex", codes::OPERATION_INDEX_INVALID),
                ("transactionIndex", codes::TRANSACTION_INDEX_INVALID),
                ("txHash", codes::TX_HASH_INVALID),
                (
                    "inSuccessfulContractCall",
                    codes::IN_SUCCESSFUL_CONTRACT_CALL_INVALID
                ),
                ("topic", codes::TOPIC_EMPTY),
                ("value", codes::VALUE_INVALID),
                ("ledgerHash", codes::LEDGER_HASH_INVALID),
            ]
        );
        // The typed path reports every rule failure too.
        let typed = RpcEvent {
            event_type: "system".into(),
            ledger: 0,
            ledger_closed_at: "2025-13-01T00:00:00Z".into(),
            contract_id: "CA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQGAXF".into(),
            id: "0005171192164024320-00000000001".into(),
            operation_index: Some(0),
            transaction_index: Some(8),
            tx_hash: "g".repeat(64),
            in_successful_contract_call: None,
            topic: vec![],
            value: String::new(),
            ledger_hash: None,
        };
        let problems = typed.validate(true).unwrap_err();
        assert_eq!(
            codes_of(&problems),
            [
                ("type", codes::EVENT_TYPE_INVALID),
                ("ledger", codes::LEDGER_INVALID),
                ("ledgerClosedAt", codes::LEDGER_CLOSED_AT_INVALID),
                ("contractId", codes::CONTRACT_ID_INVALID),
                ("id", codes::EVENT_ID_INVALID),
                ("txHash", codes::TX_HASH_INVALID),
                ("topic", codes::TOPIC_EMPTY),
                ("ledgerHash", codes::LEDGER_HASH_MISSING),
            ]
        );
    }

    /// The documented patterns of `id` and `ledgerClosedAt` accept exactly what the parser
    /// accepts, at the edges (the event index at u32::MAX, the epoch, offsets).
    #[test]
    fn the_documented_patterns_are_the_parsers() {
        let id = jsonschema::validator_for(&json!({"type": "string", "pattern": EVENT_ID_PATTERN}))
            .unwrap();
        for index in [
            0_u64,
            9,
            999_999_999,
            1_000_000_000,
            3_999_999_999,
            4_099_999_999,
            4_289_999_999,
            4_294_899_999,
            4_294_959_999,
            4_294_966_999,
            4_294_967_199,
            4_294_967_289,
            4_294_967_295,
            4_294_967_296,
            4_294_967_299,
            4_294_967_300,
            4_294_968_000,
            4_295_000_000,
            4_300_000_000,
            5_000_000_000,
            9_999_999_999,
        ] {
            let text = format!("0005171192164024320-{index:010}");
            assert_eq!(
                id.is_valid(&json!(text)),
                EventOrderKey::parse(&text).is_ok(),
                "{text}"
            );
        }
        let time =
            jsonschema::validator_for(&json!({"type": "string", "pattern": CLOSE_TIME_PATTERN}))
                .unwrap();
        for text in [
            "2025-06-14T12:00:59Z",
            "2025-06-14T12:00:59.5z",
            "1970-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:00:00+01:00",
            "2025-06-14T12:00:59+00:00",
            "2025-06-14T12:00:59-05:00",
            "0001-01-01T00:00:00Z",
        ] {
            assert_eq!(
                time.is_valid(&json!(text)),
                parse_close_time(text).is_ok(),
                "{text}"
            );
        }
    }

    /// A number whose value is an integer is one, as in JSON Schema: `81.0` reads as 81.
    #[test]
    fn integral_numbers_are_integers() {
        let ledger = good_json()["ledger"].as_u64().unwrap() as f64;
        let event = with(good_json(), "ledger", json!(ledger));
        assert!(event["ledger"].is_f64());
        assert!(problems_for(&event, false).is_empty());
        let event = with(good_json(), "ledger", json!(ledger + 0.5));
        assert_eq!(
            problems_for(&event, false),
            [("ledger".to_owned(), codes::LEDGER_INVALID)]
        );
    }

    #[test]
    fn every_required_field_reports_missing() {
        for (key, code) in [
            ("type", codes::EVENT_TYPE_INVALID),
            ("ledger", codes::LEDGER_INVALID),
            ("ledgerClosedAt", codes::LEDGER_CLOSED_AT_INVALID),
            ("contractId", codes::CONTRACT_ID_INVALID),
            ("id", codes::EVENT_ID_INVALID),
            ("txHash", codes::TX_HASH_INVALID),
            ("topic", codes::TOPIC_INVALID),
            ("value", codes::VALUE_INVALID),
        ] {
            let absent = without(good_json(), key);
            assert_eq!(
                problems_for(&absent, false),
                [(key.to_owned(), code)],
                "{key}"
            );
            let null = with(good_json(), key, Value::Null);
            assert_eq!(
                problems_for(&null, false),
                [(key.to_owned(), code)],
                "{key}"
            );
        }
        // The optional RPC fields may be absent or null.
        for key in [
            "operationIndex",
            "transactionIndex",
            "inSuccessfulContractCall",
        ] {
            assert!(parse_event_json(&without(good_json(), key), false).is_ok());
            assert!(parse_event_json(&with(good_json(), key, Value::Null), false).is_ok());
        }
        assert_eq!(
            problems_for(&json!([1, 2]), false),
            [(String::new(), codes::EVENT_NOT_OBJECT)]
        );
    }

    #[test]
    fn event_id_rules() {
        let base = good_json();
        for bad in [
            "0005171192164024320-000000001",   // 9-digit index
            "005171192164024320-0000000001",   // 18-digit TOID
            "0005171192164024320_0000000001",  // wrong separator
            "0005171192164024320-000000000a",  // letter
            "+005171192164024320-0000000001",  // sign
            " 0005171192164024320-0000000001", // padding
            "0005171192164024320-4294967296",  // index > u32::MAX
            "",
        ] {
            let event = with(base.clone(), "id", json!(bad));
            assert_eq!(
                problems_for(&event, false),
                [("id".to_owned(), codes::EVENT_ID_INVALID)],
                "{bad:?}"
            );
        }
        // A well-formed id of another ledger.
        let other = EventOrderKey {
            ledger: 1_204_013,
            transaction_index: 8,
            operation_index: 0,
            event_index: 1,
        };
        let event = with(base.clone(), "id", json!(other.to_string()));
        assert_eq!(
            problems_for(&event, false),
            [("id".to_owned(), codes::EVENT_ID_LEDGER_MISMATCH)]
        );
        // Indices disagreeing with the TOID.
        let event = with(base.clone(), "transactionIndex", json!(9));
        assert_eq!(
            problems_for(&event, false),
            [(
                "transactionIndex".to_owned(),
                codes::TRANSACTION_INDEX_INVALID
            )]
        );
        let event = with(base, "operationIndex", json!(1));
        assert_eq!(
            problems_for(&event, false),
            [("operationIndex".to_owned(), codes::OPERATION_INDEX_INVALID)]
        );
    }

    #[test]
    fn order_key_round_trips_and_orders_like_the_id_strings() {
        let max = EventOrderKey::parse("9999999999999999999-4294967295").unwrap();
        assert_eq!(max.to_string(), "9999999999999999999-4294967295");
        let mut ids = Vec::new();
        for file in [
            "fluxora-scenario.getEvents.json",
            "reorg-variant.getEvents.json",
        ] {
            for page in pages(file) {
                ids.push(page.cursor.clone());
                for event in &page.events {
                    ids.push(event["id"].as_str().unwrap().to_owned());
                }
            }
        }
        ids.sort();
        ids.dedup();
        let keys: Vec<_> = ids
            .iter()
            .map(|id| EventOrderKey::parse(id).unwrap())
            .collect();
        for (id, key) in ids.iter().zip(&keys) {
            assert_eq!(&key.to_string(), id);
        }
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        let first = EventOrderKey::parse("0005171192164024320-0000000001").unwrap();
        assert_eq!(
            first,
            EventOrderKey {
                ledger: 1_204_012,
                transaction_index: 8,
                operation_index: 0,
                event_index: 1
            }
        );
    }

    #[test]
    fn close_time_contract_id_and_hash_rules() {
        let base = good_json();
        let ok = parse_event_json(&base, false).unwrap();
        assert_eq!(ok.ledger_closed_at, 1_749_902_459);
        let offset = with(
            base.clone(),
            "ledgerClosedAt",
            json!("2025-06-14T14:00:59+02:00"),
        );
        assert_eq!(
            problems_for(&offset, false),
            [("ledgerClosedAt".to_owned(), codes::LEDGER_CLOSED_AT_INVALID)],
            "RPC writes UTC; another offset is refused"
        );
        for bad in ["2025-06-14 12:00", "1969-12-31T23:59:59Z", "1749902459", ""] {
            let event = with(base.clone(), "ledgerClosedAt", json!(bad));
            assert_eq!(
                problems_for(&event, false),
                [("ledgerClosedAt".to_owned(), codes::LEDGER_CLOSED_AT_INVALID)],
                "{bad:?}"
            );
        }
        for bad in [
            "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5", // account, not contract
            "CA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQGAXF", // checksum
            "ca3d5krym6cb7owq6twyrr3z4t7gnzlkerynzgga5soaopify6yqgaxe", // lowercase
            "CA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJV72WFI", // too long
        ] {
            let event = with(base.clone(), "contractId", json!(bad));
            assert_eq!(
                problems_for(&event, false),
                [("contractId".to_owned(), codes::CONTRACT_ID_INVALID)],
                "{bad}"
            );
        }
        let upper = base["txHash"].as_str().unwrap().to_ascii_uppercase();
        let event = with(base.clone(), "txHash", json!(upper));
        assert_eq!(
            parse_event_json(&event, false).unwrap().tx_hash,
            base["txHash"].as_str().unwrap()
        );
        for bad in ["ab".repeat(31) + "a", "ab".repeat(33), "x".repeat(64)] {
            let event = with(base.clone(), "txHash", json!(bad));
            assert_eq!(
                problems_for(&event, false),
                [("txHash".to_owned(), codes::TX_HASH_INVALID)]
            );
        }
    }

    #[test]
    fn ledger_hash_is_required_only_on_push_and_normalized() {
        let base = good_json();
        assert!(parse_event_json(&base, false)
            .unwrap()
            .ledger_hash
            .is_none());
        assert_eq!(
            problems_for(&base, true),
            [("ledgerHash".to_owned(), codes::LEDGER_HASH_MISSING)]
        );
        let hash = "BE580D4B234CA811EBDD177A0E632B5EE9266B932584BE91478782F68E4B0A22";
        let event = with(base.clone(), "ledgerHash", json!(hash));
        assert_eq!(
            parse_event_json(&event, true)
                .unwrap()
                .ledger_hash
                .as_deref(),
            Some(hash.to_ascii_lowercase().as_str())
        );
        for bad in [json!("be58"), json!(42), json!(hash.replace('B', "G"))] {
            let event = with(base.clone(), "ledgerHash", bad);
            assert_eq!(
                problems_for(&event, true),
                [("ledgerHash".to_owned(), codes::LEDGER_HASH_INVALID)]
            );
        }
        // Typed path.
        let mut typed: RpcEvent = serde_json::from_value(base).unwrap();
        assert_eq!(
            codes_of(&typed.validate(true).unwrap_err()),
            [("ledgerHash", codes::LEDGER_HASH_MISSING)]
        );
        typed.ledger_hash = Some(hash.to_owned());
        assert!(typed.validate(true).is_ok());
    }

    #[test]
    fn topic_type_and_value_rules() {
        let base = good_json();
        let event = with(base.clone(), "topic", json!([]));
        assert_eq!(
            problems_for(&event, false),
            [("topic".to_owned(), codes::TOPIC_EMPTY)]
        );
        let event = with(
            base.clone(),
            "topic",
            json!(["AAAADwAAAAdjcmVhdGVkAA==", 5, null]),
        );
        assert_eq!(
            problems_for(&event, false),
            [
                ("topic[1]".to_owned(), codes::TOPIC_INVALID),
                ("topic[2]".to_owned(), codes::TOPIC_INVALID)
            ]
        );
        let event = with(base.clone(), "topic", json!("AAAADwAAAAdjcmVhdGVkAA=="));
        assert_eq!(
            problems_for(&event, false),
            [("topic".to_owned(), codes::TOPIC_INVALID)]
        );
        let event = with(base.clone(), "type", json!("system"));
        assert_eq!(
            problems_for(&event, false),
            [("type".to_owned(), codes::EVENT_TYPE_INVALID)]
        );
        let event = with(base, "value", json!({"map": []}));
        assert_eq!(
            problems_for(&event, false),
            [("value".to_owned(), codes::VALUE_INVALID)]
        );
    }

    #[test]
    fn unknown_fields_are_tolerated_on_both_paths() {
        let event = with(good_json(), "pagingToken", json!("legacy"));
        let event = with(event, "topicJson", json!([{"symbol": "created"}]));
        let typed: RpcEvent = serde_json::from_value(event.clone()).unwrap();
        assert_eq!(
            typed.validate(false).unwrap(),
            parse_event_json(&event, false).unwrap()
        );
        // Serializing gives back the RPC field names (minus the unknown ones).
        let back = serde_json::to_value(&typed).unwrap();
        assert_eq!(back, good_json());
    }

    #[test]
    fn batch_problems_name_the_event_index() {
        let mut events = vec![good_json(); 3];
        events[1] = with(events[1].clone(), "ledger", json!("x"));
        events[2] = without(events[2].clone(), "txHash");
        let problems = parse_event_batch(&events, false).unwrap_err();
        assert_eq!(
            codes_of(&problems),
            [
                ("events[1].ledger", codes::LEDGER_INVALID),
                ("events[2].txHash", codes::TX_HASH_INVALID)
            ]
        );
        let hashed: Vec<Value> = vec![good_json(); 2]
            .into_iter()
            .map(|e| with(e, "ledgerHash", json!("0".repeat(64))))
            .collect();
        assert_eq!(parse_event_batch(&hashed, true).unwrap().len(), 2);
        let problems = parse_event_batch(&[json!("nope")], true).unwrap_err();
        assert_eq!(
            codes_of(&problems),
            [("events[0]", codes::EVENT_NOT_OBJECT)]
        );
        assert_eq!(
            serde_json::to_value(&problems[0]).unwrap()["code"],
            "EVENT_NOT_OBJECT"
        );
    }

    #[test]
    fn page_shape_tolerates_null_events_and_numeric_close_times() {
        let page: GetEventsPage = serde_json::from_value(json!({
            "events": null,
            "cursor": "0005224849190420479-4294967295",
            "latestLedger": 1216504,
            "latestLedgerCloseTime": 1749964919,
            "somethingNew": true
        }))
        .unwrap();
        assert!(page.events.is_empty());
        assert_eq!(page.oldest_ledger, None);
        assert_eq!(page.latest_ledger_close_unix(), Some(1_749_964_919));
        assert_eq!(page.cursor_position().unwrap().ledger, 1_216_504);
        assert!(serde_json::from_value::<GetEventsPage>(json!({
            "events": [], "cursor": "x", "latestLedger": 1, "latestLedgerCloseTime": [1]
        }))
        .is_err());
    }
}
