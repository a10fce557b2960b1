//! Stellar RPC `getEvents` event model and its field-by-field validation (no I/O).
//!
//! [`RpcEvent`] is one event object exactly as Stellar RPC (stellar-rpc ≥ v23) returns it in
//! `getEvents` (`fixtures/chain/README.md`, "RPC shape and id rules"), plus the optional
//! `ledgerHash` that push workers add on `POST /internal/indexer/events` (`docs/indexer.md`,
//! "Push ingest"). Unknown extra fields are ignored, so new RPC versions keep deserializing.
//!
//! Validation turns an event into a [`ValidEvent`] (parsed ledger, unix close time, ordering key,
//! lowercase hashes) or returns **every** failing field at once as [`FieldProblem`]s, whose
//! `{field, code, message}` shape is the `details` entry of the service's 400 envelope. Two entry
//! points share the same rules:
//! - [`RpcEvent::validate`] for events that already deserialized into the typed struct;
//! - [`parse_event_json`] / [`parse_event_batch`] for raw JSON, where a wrong JSON type (for
//!   example `"ledger": "1216510"`) or a missing field is reported on that field instead of failing
//!   the whole batch with one opaque serde error.
//!
//! The envelope is checked here; the XDR `topic`/`value` payload is not: an undecodable payload is
//! a valid envelope whose [`super::decode::decode`] result is `Invalid` (stored and skipped), not a
//! rejected request.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::decode::{self, Decoded};

/// Stable problem codes of [`FieldProblem::code`] (SCREAMING_SNAKE, part of the API contract).
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
    /// `ledgerClosedAt` is missing, not a string, not RFC 3339, or before the unix epoch.
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
}

/// Most events one `POST /internal/indexer/events` batch may carry; the handler rejects larger
/// batches (400) before calling [`parse_event_batch`].
pub const MAX_PUSH_BATCH: usize = 100;

/// One event exactly as Stellar RPC `getEvents` returns it (`xdrFormat` `base64`), plus the
/// push-ingest `ledgerHash`. Field names are the RPC's camelCase names; unknown fields are ignored.
///
/// Deserializing this struct fails as a whole on a missing or mistyped field; use
/// [`parse_event_json`] where each bad field must be reported.
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

/// One failing field of an event: the `details` entry of a 400 response
/// (`{"field":"events[2].ledger","code":"LEDGER_INVALID","message":"…"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    /// The field's JSON name (`ledger`, `topic[1]`, …); [`parse_event_batch`] prefixes it with
    /// `events[i].`.
    pub field: String,
    /// Stable machine-readable code, one of [`codes`].
    pub code: &'static str,
    /// Human-readable explanation; never echoes the submitted value.
    pub message: String,
}

impl FieldProblem {
    /// Builds a problem.
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }

    /// The same problem located in a batch: the field becomes `events[{index}].{field}`.
    #[must_use]
    pub fn in_batch(self, index: usize) -> Self {
        let field = if self.field.is_empty() {
            format!("events[{index}]")
        } else {
            format!("events[{index}].{}", self.field)
        };
        Self { field, ..self }
    }
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.field, self.code, self.message)
    }
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

impl RpcEvent {
    /// Checks every field and returns the parsed event, or all problems found (not just the
    /// first). `require_ledger_hash` is true on the push-ingest path, where a missing `ledgerHash`
    /// is [`codes::LEDGER_HASH_MISSING`].
    ///
    /// # Errors
    /// Every failing field, in field order.
    pub fn validate(&self, require_ledger_hash: bool) -> Result<ValidEvent, Vec<FieldProblem>> {
        let draft = Draft {
            event_type: Slot::Ok(self.event_type.as_str()),
            ledger: Slot::Ok(self.ledger),
            ledger_closed_at: Slot::Ok(self.ledger_closed_at.as_str()),
            contract_id: Slot::Ok(self.contract_id.as_str()),
            id: Slot::Ok(self.id.as_str()),
            operation_index: opt_slot(self.operation_index),
            transaction_index: opt_slot(self.transaction_index),
            tx_hash: Slot::Ok(self.tx_hash.as_str()),
            in_successful_contract_call: opt_slot(self.in_successful_contract_call),
            topic: Slot::Ok(self.topic.iter().map(String::as_str).collect()),
            value: Slot::Ok(self.value.as_str()),
            ledger_hash: opt_slot(self.ledger_hash.as_deref()),
        };
        draft.finish(require_ledger_hash, Vec::new())
    }
}

/// Validates one raw JSON event (an element of `getEvents`' `events` or of a push batch),
/// reporting JSON type errors per field (`"ledger": "1"` → [`codes::LEDGER_INVALID`]) together
/// with the rules of [`RpcEvent::validate`]. `null` counts as absent. Unknown fields are ignored.
///
/// # Errors
/// Every failing field, in field order.
pub fn parse_event_json(
    event: &Value,
    require_ledger_hash: bool,
) -> Result<ValidEvent, Vec<FieldProblem>> {
    let Some(obj) = event.as_object() else {
        return Err(vec![FieldProblem::new(
            "",
            codes::EVENT_NOT_OBJECT,
            format!("each event must be a JSON object, got {}", json_type(event)),
        )]);
    };
    let mut problems = Vec::new();
    let p = &mut problems;
    let draft = Draft {
        event_type: str_slot(obj, "type", codes::EVENT_TYPE_INVALID, p),
        ledger: u32_slot(obj, "ledger", codes::LEDGER_INVALID, p),
        ledger_closed_at: str_slot(obj, "ledgerClosedAt", codes::LEDGER_CLOSED_AT_INVALID, p),
        contract_id: str_slot(obj, "contractId", codes::CONTRACT_ID_INVALID, p),
        id: str_slot(obj, "id", codes::EVENT_ID_INVALID, p),
        operation_index: u32_slot(obj, "operationIndex", codes::OPERATION_INDEX_INVALID, p),
        transaction_index: u32_slot(obj, "transactionIndex", codes::TRANSACTION_INDEX_INVALID, p),
        tx_hash: str_slot(obj, "txHash", codes::TX_HASH_INVALID, p),
        in_successful_contract_call: bool_slot(
            obj,
            "inSuccessfulContractCall",
            codes::IN_SUCCESSFUL_CONTRACT_CALL_INVALID,
            p,
        ),
        topic: topic_slot(obj, p),
        value: str_slot(obj, "value", codes::VALUE_INVALID, p),
        ledger_hash: str_slot(obj, "ledgerHash", codes::LEDGER_HASH_INVALID, p),
    };
    draft.finish(require_ledger_hash, problems)
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
) -> Result<Vec<ValidEvent>, Vec<FieldProblem>> {
    let mut valid = Vec::with_capacity(events.len());
    let mut problems = Vec::new();
    for (index, event) in events.iter().enumerate() {
        match parse_event_json(event, require_ledger_hash) {
            Ok(event) => valid.push(event),
            Err(found) => problems.extend(found.into_iter().map(|p| p.in_batch(index))),
        }
    }
    if problems.is_empty() {
        Ok(valid)
    } else {
        Err(problems)
    }
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
    pub fn parse_events(&self) -> Vec<Result<ValidEvent, Vec<FieldProblem>>> {
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
// Shared rules
// ---------------------------------------------------------------------------------------------

/// A field as extracted: absent (or `null`), present with a wrong JSON type (already reported),
/// or present and typed.
enum Slot<T> {
    Missing,
    Bad,
    Ok(T),
}

fn opt_slot<T>(value: Option<T>) -> Slot<T> {
    value.map_or(Slot::Missing, Slot::Ok)
}

struct Draft<'a> {
    event_type: Slot<&'a str>,
    ledger: Slot<u32>,
    ledger_closed_at: Slot<&'a str>,
    contract_id: Slot<&'a str>,
    id: Slot<&'a str>,
    operation_index: Slot<u32>,
    transaction_index: Slot<u32>,
    tx_hash: Slot<&'a str>,
    in_successful_contract_call: Slot<bool>,
    topic: Slot<Vec<&'a str>>,
    value: Slot<&'a str>,
    ledger_hash: Slot<&'a str>,
}

/// Applies the per-field rule to a required field: `Missing` is reported, `Bad` was already.
fn required<T, U>(
    slot: Slot<T>,
    field: &str,
    code: &'static str,
    problems: &mut Vec<FieldProblem>,
    rule: impl FnOnce(T) -> Result<U, String>,
) -> Option<U> {
    match slot {
        Slot::Missing => {
            problems.push(FieldProblem::new(field, code, "is required"));
            None
        }
        Slot::Bad => None,
        Slot::Ok(value) => match rule(value) {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                problems.push(FieldProblem::new(field, code, message));
                None
            }
        },
    }
}

impl Draft<'_> {
    fn finish(
        self,
        require_ledger_hash: bool,
        mut problems: Vec<FieldProblem>,
    ) -> Result<ValidEvent, Vec<FieldProblem>> {
        let p = &mut problems;
        required(self.event_type, "type", codes::EVENT_TYPE_INVALID, p, |t| {
            if t == "contract" {
                Ok(())
            } else {
                Err("must be \"contract\"".to_owned())
            }
        });
        let ledger = required(self.ledger, "ledger", codes::LEDGER_INVALID, p, |l| {
            if l == 0 {
                Err("must be a ledger sequence ≥ 1".to_owned())
            } else {
                Ok(l)
            }
        });
        let closed_at = required(
            self.ledger_closed_at,
            "ledgerClosedAt",
            codes::LEDGER_CLOSED_AT_INVALID,
            p,
            parse_close_time,
        );
        let contract_id = required(
            self.contract_id,
            "contractId",
            codes::CONTRACT_ID_INVALID,
            p,
            parse_contract_id,
        );
        let id = required(self.id, "id", codes::EVENT_ID_INVALID, p, |id| {
            EventOrderKey::parse(id).map(|key| (id.to_owned(), key))
        });
        if let (Some((_, key)), Some(ledger)) = (&id, ledger) {
            if key.ledger != ledger {
                p.push(FieldProblem::new(
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
            self.operation_index,
            key.map(|k| k.operation_index),
            "operationIndex",
            codes::OPERATION_INDEX_INVALID,
            p,
        );
        check_index(
            self.transaction_index,
            key.map(|k| k.transaction_index),
            "transactionIndex",
            codes::TRANSACTION_INDEX_INVALID,
            p,
        );
        let tx_hash = required(self.tx_hash, "txHash", codes::TX_HASH_INVALID, p, |h| {
            parse_hash(h)
        });
        let in_successful_contract_call = match self.in_successful_contract_call {
            Slot::Ok(flag) => Some(flag),
            Slot::Missing | Slot::Bad => None,
        };
        let topic = required(self.topic, "topic", codes::TOPIC_EMPTY, p, |topic| {
            if topic.is_empty() {
                Err("must hold at least one base64 XDR ScVal (the event name)".to_owned())
            } else {
                Ok(topic.into_iter().map(str::to_owned).collect::<Vec<_>>())
            }
        });
        let value = required(self.value, "value", codes::VALUE_INVALID, p, |v| {
            Ok(v.to_owned())
        });
        let ledger_hash = match self.ledger_hash {
            Slot::Missing if require_ledger_hash => {
                p.push(FieldProblem::new(
                    "ledgerHash",
                    codes::LEDGER_HASH_MISSING,
                    "is required on push ingest (64 hex digits, the hash of the event's ledger)",
                ));
                None
            }
            Slot::Missing | Slot::Bad => None,
            Slot::Ok(hash) => match parse_hash(hash) {
                Ok(hash) => Some(hash),
                Err(message) => {
                    p.push(FieldProblem::new(
                        "ledgerHash",
                        codes::LEDGER_HASH_INVALID,
                        message,
                    ));
                    None
                }
            },
        };
        problems.sort_by_key(|problem| field_rank(&problem.field));
        match (ledger, closed_at, contract_id, id, tx_hash, topic, value) {
            (
                Some(ledger),
                Some(ledger_closed_at),
                Some(contract_id),
                Some((id, order)),
                Some(tx_hash),
                Some(topic),
                Some(value),
            ) if problems.is_empty() => Ok(ValidEvent {
                id,
                order,
                ledger,
                ledger_closed_at,
                contract_id,
                tx_hash,
                ledger_hash,
                in_successful_contract_call,
                topic,
                value,
            }),
            _ => Err(problems),
        }
    }
}

/// Position of a field in the RPC event object, so problems come out in field order.
fn field_rank(field: &str) -> usize {
    const ORDER: [&str; 12] = [
        "type",
        "ledger",
        "ledgerClosedAt",
        "contractId",
        "id",
        "operationIndex",
        "transactionIndex",
        "txHash",
        "inSuccessfulContractCall",
        "topic",
        "value",
        "ledgerHash",
    ];
    let base = field.split('[').next().unwrap_or(field);
    ORDER
        .iter()
        .position(|name| *name == base)
        .map_or(0, |i| i + 1)
}

/// Optional index fields must agree with the id's TOID when both are known.
fn check_index(
    slot: Slot<u32>,
    from_id: Option<u32>,
    field: &str,
    code: &'static str,
    problems: &mut Vec<FieldProblem>,
) {
    if let (Slot::Ok(sent), Some(encoded)) = (slot, from_id) {
        if sent != encoded {
            problems.push(FieldProblem::new(
                field,
                code,
                format!("is {sent} but the event id encodes {encoded}"),
            ));
        }
    }
}

fn parse_close_time(text: &str) -> Result<u64, String> {
    let parsed = chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|_| "must be an RFC 3339 timestamp such as 2025-06-14T12:00:59Z".to_owned())?;
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

// ---------------------------------------------------------------------------------------------
// JSON extraction
// ---------------------------------------------------------------------------------------------

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn present<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn str_slot<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    code: &'static str,
    problems: &mut Vec<FieldProblem>,
) -> Slot<&'a str> {
    match present(obj, key) {
        None => Slot::Missing,
        Some(Value::String(s)) => Slot::Ok(s.as_str()),
        Some(other) => {
            problems.push(FieldProblem::new(
                key,
                code,
                format!("must be a string, got {}", json_type(other)),
            ));
            Slot::Bad
        }
    }
}

fn u32_slot(
    obj: &Map<String, Value>,
    key: &str,
    code: &'static str,
    problems: &mut Vec<FieldProblem>,
) -> Slot<u32> {
    match present(obj, key) {
        None => Slot::Missing,
        Some(value) => match value.as_u64().map(u32::try_from) {
            Some(Ok(n)) => Slot::Ok(n),
            _ => {
                let got = if value.is_number() {
                    "a number that is negative, fractional or above 4294967295"
                } else {
                    json_type(value)
                };
                problems.push(FieldProblem::new(
                    key,
                    code,
                    format!("must be an unsigned 32-bit integer (JSON number), got {got}"),
                ));
                Slot::Bad
            }
        },
    }
}

fn bool_slot(
    obj: &Map<String, Value>,
    key: &str,
    code: &'static str,
    problems: &mut Vec<FieldProblem>,
) -> Slot<bool> {
    match present(obj, key) {
        None => Slot::Missing,
        Some(Value::Bool(b)) => Slot::Ok(*b),
        Some(other) => {
            problems.push(FieldProblem::new(
                key,
                code,
                format!("must be a boolean, got {}", json_type(other)),
            ));
            Slot::Bad
        }
    }
}

fn topic_slot<'a>(
    obj: &'a Map<String, Value>,
    problems: &mut Vec<FieldProblem>,
) -> Slot<Vec<&'a str>> {
    match present(obj, "topic") {
        None => {
            problems.push(FieldProblem::new(
                "topic",
                codes::TOPIC_INVALID,
                "is required (an array of base64 XDR ScVal strings)",
            ));
            Slot::Bad
        }
        Some(Value::Array(items)) => {
            let mut topics = Vec::with_capacity(items.len());
            let mut bad = false;
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => topics.push(s.as_str()),
                    other => {
                        bad = true;
                        problems.push(FieldProblem::new(
                            format!("topic[{i}]"),
                            codes::TOPIC_INVALID,
                            format!("must be a base64 string, got {}", json_type(other)),
                        ));
                    }
                }
            }
            if bad {
                Slot::Bad
            } else {
                Slot::Ok(topics)
            }
        }
        Some(other) => {
            problems.push(FieldProblem::new(
                "topic",
                codes::TOPIC_INVALID,
                format!("must be an array of strings, got {}", json_type(other)),
            ));
            Slot::Bad
        }
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

    fn codes_of(problems: &[FieldProblem]) -> Vec<(&str, &str)> {
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
            parse_event_json(&offset, false).unwrap().ledger_closed_at,
            1_749_902_459
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
