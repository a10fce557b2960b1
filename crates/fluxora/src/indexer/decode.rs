//! Decoder for the Fluxora stream contract's events: base64 XDR `ScVal` topics and payload →
//! typed [`ContractEvent`] (pure, no I/O, never panics on any input).
//!
//! Source of the schema: `reference/chain.md` §A3 and `fixtures/chain/README.md` ("Event
//! schema"), i.e. the contract at `Fluxora-Org/Fluxora-Contracts@75b15ca` (soroban-sdk 21):
//! - topics are `[Symbol(name), U64(stream_id)]` (names are `symbol_short!`, 1–9 characters);
//! - a `#[contracttype]` struct payload is an `ScVal::Map` with `Symbol` keys (sorted by the SDK,
//!   but decoded **by key**, never by position; unknown extra keys are ignored so that fields
//!   appended by a later contract version do not break decoding);
//! - a tuple-enum payload is `ScVal::Vec([Symbol(variant), U64(id)])`, and the variant is checked;
//! - `i128` is `ScVal::I128 {hi, lo}` decoded exactly; `u64` is `U64`; `Option::None` is `Void`;
//!   `Address` is `ScVal::Address`, rendered as a `G…`/`C…` StrKey.
//!
//! Amounts are `i128` raw token units (stroops for a 7-decimal token); times are `u64` unix
//! seconds (ledger close time). The payload's stream id must equal the topic's.
//!
//! [`decode`] answers [`Decoded::Event`] for a handled event, [`Decoded::Unknown`] for an event
//! name this module does not handle (the indexer stores it and skips it with a WARN), and
//! [`Decoded::Invalid`] with a [`DecodeError`] (stable code, event and field named) for input it
//! cannot decode.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde::{Serialize, Serializer};
use serde_json::{json, Value};
use stellar_xdr::{
    AccountId, ContractId, Hash, Limits, PublicKey, ReadXdr, ScAddress, ScVal, Uint256,
};

/// Maximum XDR nesting depth accepted for one topic or payload (`stellar_xdr::Limits::depth`).
pub const MAX_XDR_DEPTH: u32 = 64;
/// Maximum decoded size in bytes of one topic or payload (`stellar_xdr::Limits::len`); Soroban's
/// own per-transaction event size limit is far below this.
pub const MAX_XDR_BYTES: usize = 64 * 1024;
/// Longest base64 text accepted for one topic or payload (the encoding of [`MAX_XDR_BYTES`]).
const MAX_BASE64_CHARS: usize = MAX_XDR_BYTES.div_ceil(3) * 4;

/// Event names (first topic) that [`decode`] turns into a [`ContractEvent`]; any other name is
/// [`Decoded::Unknown`].
pub const HANDLED_EVENT_NAMES: [&str; 20] = [
    "created",
    "withdrew",
    "wdraw_to",
    "paused",
    "resumed",
    "cancelled",
    "completed",
    "closed",
    "top_up",
    "rate_upd",
    "rate_dec",
    "end_ext",
    "end_shrt",
    "kp_cncl",
    "recp_upd",
    "claim_own",
    "del_share",
    "ac_trig",
    "health",
    "decomm",
];

/// Result of decoding one event's topics and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A handled stream event, fully typed.
    Event(ContractEvent),
    /// A well-formed first topic naming an event this decoder does not handle (e.g. `frozen`,
    /// global events such as `gl_pause`, offers); the payload was not examined.
    Unknown {
        /// The event name (the first topic's Symbol).
        name: String,
    },
    /// Undecodable input; the indexer stores the raw event and skips it.
    Invalid(DecodeError),
}

/// Stable machine-readable decode failure codes (serialized in SCREAMING_SNAKE form, see
/// [`DecodeErrorCode::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DecodeErrorCode {
    /// No topics at all.
    TopicEmpty,
    /// A topic is not valid standard base64.
    TopicBase64Invalid,
    /// A topic is not one complete XDR `ScVal` (truncated, trailing bytes, bad discriminant,
    /// depth or length limit).
    TopicXdrInvalid,
    /// The first topic is not an `ScVal::Symbol`.
    TopicNameNotSymbol,
    /// The first topic is a Symbol with characters outside `[A-Za-z0-9_]` or empty.
    TopicNameInvalid,
    /// A handled event does not have exactly two topics.
    TopicCountInvalid,
    /// The second topic of a handled event is not an `ScVal::U64` stream id.
    TopicStreamIdInvalid,
    /// The payload is not valid standard base64.
    ValueBase64Invalid,
    /// The payload is not one complete XDR `ScVal` (truncated, trailing bytes, bad discriminant,
    /// depth or length limit).
    ValueXdrInvalid,
    /// A topic or the payload is longer than [`MAX_XDR_BYTES`] once decoded.
    XdrTooLarge,
    /// The payload has the wrong shape: not a Map (struct) / Vec (enum) as the event requires,
    /// or a map key that is not a Symbol.
    PayloadTypeInvalid,
    /// A struct field is absent from the payload map.
    FieldMissing,
    /// A struct field appears twice in the payload map.
    FieldDuplicate,
    /// A field has the wrong `ScVal` type (e.g. `amount` as `U64` instead of `I128`).
    FieldTypeInvalid,
    /// A field has the right type but an unusable value (non-UTF-8 string, unsupported address
    /// kind such as a muxed account).
    FieldValueInvalid,
    /// An enum payload has the wrong variant Symbol or the wrong number of elements.
    VariantInvalid,
    /// The payload's stream id differs from the topic's.
    StreamIdMismatch,
}

impl DecodeErrorCode {
    /// The code as a stable SCREAMING_SNAKE string (e.g. `"VALUE_XDR_INVALID"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TopicEmpty => "TOPIC_EMPTY",
            Self::TopicBase64Invalid => "TOPIC_BASE64_INVALID",
            Self::TopicXdrInvalid => "TOPIC_XDR_INVALID",
            Self::TopicNameNotSymbol => "TOPIC_NAME_NOT_SYMBOL",
            Self::TopicNameInvalid => "TOPIC_NAME_INVALID",
            Self::TopicCountInvalid => "TOPIC_COUNT_INVALID",
            Self::TopicStreamIdInvalid => "TOPIC_STREAM_ID_INVALID",
            Self::ValueBase64Invalid => "VALUE_BASE64_INVALID",
            Self::ValueXdrInvalid => "VALUE_XDR_INVALID",
            Self::XdrTooLarge => "XDR_TOO_LARGE",
            Self::PayloadTypeInvalid => "PAYLOAD_TYPE_INVALID",
            Self::FieldMissing => "FIELD_MISSING",
            Self::FieldDuplicate => "FIELD_DUPLICATE",
            Self::FieldTypeInvalid => "FIELD_TYPE_INVALID",
            Self::FieldValueInvalid => "FIELD_VALUE_INVALID",
            Self::VariantInvalid => "VARIANT_INVALID",
            Self::StreamIdMismatch => "STREAM_ID_MISMATCH",
        }
    }
}

impl fmt::Display for DecodeErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an event could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct DecodeError {
    /// Stable code.
    pub code: DecodeErrorCode,
    /// The event name when the first topic could be read (`"withdrew"`).
    pub event: Option<String>,
    /// The offending part: `topic[i]`, `value`, or a payload field name such as `amount`.
    pub field: Option<String>,
    /// Human-readable explanation naming the event and the field.
    pub message: String,
}

impl DecodeError {
    fn new(
        code: DecodeErrorCode,
        event: Option<&str>,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code,
            event: event.map(str::to_owned),
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }

    fn field(code: DecodeErrorCode, event: &str, field: &str, detail: impl fmt::Display) -> Self {
        Self::new(
            code,
            Some(event),
            Some(field),
            format!("{event}: field `{field}` {detail}"),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Typed events
// ---------------------------------------------------------------------------------------------

/// One `metadata` entry of `created` (`Map<Bytes, Bytes>`, at most 8 keys); serialized as
/// `{"key": hex, "val": hex}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetadataEntry {
    /// Raw key bytes.
    #[serde(serialize_with = "ser_hex")]
    pub key: Vec<u8>,
    /// Raw value bytes.
    #[serde(serialize_with = "ser_hex")]
    pub val: Vec<u8>,
}

/// `created` (`StreamCreated`): a stream was created. Carries no kind, irrevocable flag,
/// witness or claim owner (chain.md §A3 trap: `rate_per_second == 0` means CliffOnly; Linear
/// vs CliffSlope needs a state read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamCreated {
    /// On-chain stream id.
    pub stream_id: u64,
    /// Funder (`G…`/`C…`).
    pub sender: String,
    /// Payee (`G…`/`C…`); equals `sender` for pooled streams.
    pub recipient: String,
    /// Escrowed total, raw token units.
    #[serde(serialize_with = "ser_i128")]
    pub deposit_amount: i128,
    /// Raw token units per second (0 for CliffOnly).
    #[serde(serialize_with = "ser_i128")]
    pub rate_per_second: i128,
    /// Accrual start, unix seconds.
    pub start_time: u64,
    /// Cliff, unix seconds (nothing withdrawable before it).
    pub cliff_time: u64,
    /// Accrual end, unix seconds.
    pub end_time: u64,
    /// Minimum non-final payout, raw token units.
    #[serde(serialize_with = "ser_i128")]
    pub withdraw_dust_threshold: i128,
    /// Optional memo (≤ 256 bytes), raw bytes; serialized as hex.
    #[serde(serialize_with = "ser_opt_hex")]
    pub memo: Option<Vec<u8>>,
    /// Optional metadata map, in on-chain order.
    pub metadata: Option<Vec<MetadataEntry>>,
}

/// `withdrew` (`Withdrawal`): a payout to the recipient. For `delegated_withdraw` the amount is
/// NET of the relayer fee (chain.md §A3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Withdrawal {
    /// On-chain stream id.
    pub stream_id: u64,
    /// Recipient (`G…`/`C…`).
    pub recipient: String,
    /// Amount paid, raw token units.
    #[serde(serialize_with = "ser_i128")]
    pub amount: i128,
}

/// `wdraw_to` (`WithdrawalTo`): a payout to a destination other than the recipient
/// (`withdraw_to`, `batch_withdraw[_to]`, `trigger_auto_claim`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WithdrawalTo {
    /// On-chain stream id.
    pub stream_id: u64,
    /// Recipient (`G…`/`C…`).
    pub recipient: String,
    /// Where the tokens went (`G…`/`C…`).
    pub destination: String,
    /// Amount paid, raw token units.
    #[serde(serialize_with = "ser_i128")]
    pub amount: i128,
}

/// `paused` (`StreamPaused`). Pausing does not stop accrual.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamPaused {
    /// On-chain stream id.
    pub stream_id: u64,
    /// `Operational`, `Administrative`, `Emergency` or `Compliance` (kept as sent).
    pub reason: String,
}

/// Payload of the enum events `resumed`, `cancelled`, `completed` and `closed`
/// (`["Resumed" | "StreamCancelled" | "StreamCompleted" | "StreamClosed", U64]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamRef {
    /// On-chain stream id.
    pub stream_id: u64,
}

/// `top_up` (`StreamToppedUp`): deposit increased; the end time is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamToppedUp {
    /// On-chain stream id.
    pub stream_id: u64,
    /// Amount added, raw token units.
    #[serde(serialize_with = "ser_i128")]
    pub top_up_amount: i128,
    /// Deposit after the top-up, raw token units.
    #[serde(serialize_with = "ser_i128")]
    pub new_deposit_amount: i128,
    /// End time after the top-up (unchanged), unix seconds.
    pub new_end_time: u64,
}

/// `rate_upd` (`RateUpdated`): emitted by `update_rate_per_second` (checkpoints) and by
/// `update_rate` (does not); the two are indistinguishable (chain.md §A3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateUpdated {
    /// On-chain stream id.
    pub stream_id: u64,
    /// Previous rate, raw token units per second.
    #[serde(serialize_with = "ser_i128")]
    pub old_rate_per_second: i128,
    /// New rate, raw token units per second.
    #[serde(serialize_with = "ser_i128")]
    pub new_rate_per_second: i128,
    /// When the new rate applies, unix seconds.
    pub effective_time: u64,
}

/// `rate_dec` (`RateDecreased`): rate lowered with a refund; the stream checkpoints at
/// `effective_time` and its deposit becomes `deposit - refund_amount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateDecreased {
    /// On-chain stream id.
    pub stream_id: u64,
    /// Previous rate, raw token units per second.
    #[serde(serialize_with = "ser_i128")]
    pub old_rate_per_second: i128,
    /// New rate, raw token units per second.
    #[serde(serialize_with = "ser_i128")]
    pub new_rate_per_second: i128,
    /// Accrued amount locked at the checkpoint, raw token units.
    #[serde(serialize_with = "ser_i128")]
    pub checkpointed_amount: i128,
    /// Refund to the sender, raw token units.
    #[serde(serialize_with = "ser_i128")]
    pub refund_amount: i128,
    /// Checkpoint time, unix seconds.
    pub effective_time: u64,
}

/// `end_ext` (`StreamEndExtended`): end time moved later; deposit unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamEndExtended {
    /// On-chain stream id.
    pub stream_id: u64,
    /// Previous end, unix seconds.
    pub old_end_time: u64,
    /// New end, unix seconds.
    pub new_end_time: u64,
}

/// `end_shrt` (`StreamEndShortened`): end time moved earlier with a refund; deposit becomes
/// `deposit - refund_amount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamEndShortened {
    /// On-chain stream id.
    pub stream_id: u64,
    /// Previous end, unix seconds.
    pub old_end_time: u64,
    /// New end, unix seconds.
    pub new_end_time: u64,
    /// Refund to the sender, raw token units.
    #[serde(serialize_with = "ser_i128")]
    pub refund_amount: i128,
}

/// `kp_cncl` (`KeeperCancelled`): a keeper cancelled an expired stream; this is itself the
/// cancellation (no `cancelled` follows). The contract does NOT add `recipient_amount` to
/// `withdrawn_amount` (chain.md §A2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeeperCancelled {
    /// On-chain stream id.
    pub stream_id: u64,
    /// The keeper (`G…`/`C…`).
    pub keeper: String,
    /// Fee paid to the keeper, raw token units.
    #[serde(serialize_with = "ser_i128")]
    pub keeper_fee: i128,
    /// Paid to the recipient, raw token units.
    #[serde(serialize_with = "ser_i128")]
    pub recipient_amount: i128,
    /// Refunded to the sender, raw token units.
    #[serde(serialize_with = "ser_i128")]
    pub sender_refund: i128,
}

/// `recp_upd` (`RecipientUpdated`): the recipient changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientUpdated {
    /// On-chain stream id.
    pub stream_id: u64,
    /// Previous recipient (`G…`/`C…`).
    pub old_recipient: String,
    /// New recipient (`G…`/`C…`).
    pub new_recipient: String,
}

/// `claim_own` (`ClaimOwnershipTransferred`): the withdraw authority changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClaimOwnershipTransferred {
    /// On-chain stream id.
    pub stream_id: u64,
    /// Previous claim owner, `None` when the recipient held it.
    pub old_owner: Option<String>,
    /// New claim owner (`G…`/`C…`).
    pub new_owner: String,
}

/// `del_share` (`RecipientShareDelegated`): a child stream was split off the parent (the only
/// signal that the child exists; it gets no `created`). The topic's stream id is the parent's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientShareDelegated {
    /// Parent stream id (the topic's id).
    pub parent_stream_id: u64,
    /// New child stream id.
    pub child_stream_id: u64,
    /// Delegating recipient (`G…`/`C…`).
    pub delegator: String,
    /// Recipient of the child stream (`G…`/`C…`).
    pub delegatee: String,
    /// Share in basis points (1..=10000).
    pub share_bps: u32,
    /// Child rate, raw token units per second.
    #[serde(serialize_with = "ser_i128")]
    pub child_rate: i128,
    /// Parent rate after the split, raw token units per second.
    #[serde(serialize_with = "ser_i128")]
    pub new_parent_rate: i128,
}

/// `ac_trig` (`AutoClaimTriggered`): always followed by a `wdraw_to` with the same amount;
/// count the money once (chain.md §A3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutoClaimTriggered {
    /// On-chain stream id.
    pub stream_id: u64,
    /// Destination (`G…`/`C…`).
    pub destination: String,
    /// Amount, raw token units.
    #[serde(serialize_with = "ser_i128")]
    pub amount: i128,
}

/// `health` (`StreamHealthChanged`): funding health flag changed (keeper/bulk cancel only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamHealthChanged {
    /// On-chain stream id.
    pub stream_id: u64,
    /// Whether the stream is underfunded.
    pub is_underfunded: bool,
    /// Remaining balance, raw token units.
    #[serde(serialize_with = "ser_i128")]
    pub remaining_balance: i128,
    /// Seconds of funding left.
    pub seconds_remaining: u64,
}

/// `decomm` (`StreamDecommissioned`): the decommissioned flag changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamDecommissioned {
    /// On-chain stream id.
    pub stream_id: u64,
    /// New flag value.
    pub decommissioned: bool,
}

/// A decoded Fluxora stream event, one variant per handled event name
/// ([`HANDLED_EVENT_NAMES`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContractEvent {
    /// `created`.
    Created(StreamCreated),
    /// `withdrew`.
    Withdrew(Withdrawal),
    /// `wdraw_to`.
    WithdrewTo(WithdrawalTo),
    /// `paused`.
    Paused(StreamPaused),
    /// `resumed` (`["Resumed", id]`).
    Resumed(StreamRef),
    /// `cancelled` (`["StreamCancelled", id]`): no amounts; `cancelled_at` is the event's ledger
    /// close time and refund = deposit − accrued(cancelled_at).
    Cancelled(StreamRef),
    /// `completed` (`["StreamCompleted", id]`), right after the final withdrawal.
    Completed(StreamRef),
    /// `closed` (`["StreamClosed", id]`): contract storage deleted.
    Closed(StreamRef),
    /// `top_up`.
    ToppedUp(StreamToppedUp),
    /// `rate_upd`.
    RateUpdated(RateUpdated),
    /// `rate_dec`.
    RateDecreased(RateDecreased),
    /// `end_ext`.
    EndExtended(StreamEndExtended),
    /// `end_shrt`.
    EndShortened(StreamEndShortened),
    /// `kp_cncl`.
    KeeperCancelled(KeeperCancelled),
    /// `recp_upd`.
    RecipientUpdated(RecipientUpdated),
    /// `claim_own`.
    ClaimOwnershipTransferred(ClaimOwnershipTransferred),
    /// `del_share`.
    ShareDelegated(RecipientShareDelegated),
    /// `ac_trig`.
    AutoClaimTriggered(AutoClaimTriggered),
    /// `health`.
    HealthChanged(StreamHealthChanged),
    /// `decomm`.
    Decommissioned(StreamDecommissioned),
}

impl ContractEvent {
    /// The event name (first topic Symbol), e.g. `"withdrew"`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Created(_) => "created",
            Self::Withdrew(_) => "withdrew",
            Self::WithdrewTo(_) => "wdraw_to",
            Self::Paused(_) => "paused",
            Self::Resumed(_) => "resumed",
            Self::Cancelled(_) => "cancelled",
            Self::Completed(_) => "completed",
            Self::Closed(_) => "closed",
            Self::ToppedUp(_) => "top_up",
            Self::RateUpdated(_) => "rate_upd",
            Self::RateDecreased(_) => "rate_dec",
            Self::EndExtended(_) => "end_ext",
            Self::EndShortened(_) => "end_shrt",
            Self::KeeperCancelled(_) => "kp_cncl",
            Self::RecipientUpdated(_) => "recp_upd",
            Self::ClaimOwnershipTransferred(_) => "claim_own",
            Self::ShareDelegated(_) => "del_share",
            Self::AutoClaimTriggered(_) => "ac_trig",
            Self::HealthChanged(_) => "health",
            Self::Decommissioned(_) => "decomm",
        }
    }

    /// The stream the event is about: the topic's stream id (for `del_share`, the parent).
    pub fn stream_id(&self) -> u64 {
        match self {
            Self::Created(e) => e.stream_id,
            Self::Withdrew(e) => e.stream_id,
            Self::WithdrewTo(e) => e.stream_id,
            Self::Paused(e) => e.stream_id,
            Self::Resumed(e) | Self::Cancelled(e) | Self::Completed(e) | Self::Closed(e) => {
                e.stream_id
            }
            Self::ToppedUp(e) => e.stream_id,
            Self::RateUpdated(e) => e.stream_id,
            Self::RateDecreased(e) => e.stream_id,
            Self::EndExtended(e) => e.stream_id,
            Self::EndShortened(e) => e.stream_id,
            Self::KeeperCancelled(e) => e.stream_id,
            Self::RecipientUpdated(e) => e.stream_id,
            Self::ClaimOwnershipTransferred(e) => e.stream_id,
            Self::ShareDelegated(e) => e.parent_stream_id,
            Self::AutoClaimTriggered(e) => e.stream_id,
            Self::HealthChanged(e) => e.stream_id,
            Self::Decommissioned(e) => e.stream_id,
        }
    }

    /// The payload in the "plain" JSON rendering of `fluxora-scenario.decoded.json` (`data`):
    /// struct payloads as objects keyed by contract field name, `u32`/`u64` as numbers, `i128`
    /// as decimal strings, bytes as lowercase hex, `None` as `null`; enum payloads as
    /// `["Variant", id]`.
    pub fn payload_json(&self) -> Value {
        fn obj<T: Serialize>(payload: &T) -> Value {
            serde_json::to_value(payload).unwrap_or(Value::Null)
        }
        match self {
            Self::Created(e) => obj(e),
            Self::Withdrew(e) => obj(e),
            Self::WithdrewTo(e) => obj(e),
            Self::Paused(e) => obj(e),
            Self::Resumed(e) => json!(["Resumed", e.stream_id]),
            Self::Cancelled(e) => json!(["StreamCancelled", e.stream_id]),
            Self::Completed(e) => json!(["StreamCompleted", e.stream_id]),
            Self::Closed(e) => json!(["StreamClosed", e.stream_id]),
            Self::ToppedUp(e) => obj(e),
            Self::RateUpdated(e) => obj(e),
            Self::RateDecreased(e) => obj(e),
            Self::EndExtended(e) => obj(e),
            Self::EndShortened(e) => obj(e),
            Self::KeeperCancelled(e) => obj(e),
            Self::RecipientUpdated(e) => obj(e),
            Self::ClaimOwnershipTransferred(e) => obj(e),
            Self::ShareDelegated(e) => obj(e),
            Self::AutoClaimTriggered(e) => obj(e),
            Self::HealthChanged(e) => obj(e),
            Self::Decommissioned(e) => obj(e),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// Decodes one event from its `topic` (base64 XDR `ScVal`s) and `value` (base64 XDR `ScVal`), as
/// in a `getEvents` event. Never panics; input sizes and nesting are bounded by
/// [`MAX_XDR_BYTES`] and [`MAX_XDR_DEPTH`].
///
/// Order of checks: first topic (a valid Symbol) → unknown names are [`Decoded::Unknown`]
/// without looking further → exactly two topics, the second a `U64` → payload XDR → payload
/// shape and fields by key → payload stream id equals topic stream id.
pub fn decode(topic: &[String], value: &str) -> Decoded {
    match decode_inner(topic, value) {
        Ok(decoded) => decoded,
        Err(error) => Decoded::Invalid(error),
    }
}

fn decode_inner(topic: &[String], value: &str) -> Result<Decoded, DecodeError> {
    let Some(first) = topic.first() else {
        return Err(DecodeError::new(
            DecodeErrorCode::TopicEmpty,
            None,
            Some("topic"),
            "event has no topics (expected [Symbol(name), U64(stream_id)])",
        ));
    };
    let name_val = parse_xdr(first, Part::Topic(0), None)?;
    let name = match &name_val {
        ScVal::Symbol(symbol) => symbol_text(symbol.as_vec()).ok_or_else(|| {
            DecodeError::new(
                DecodeErrorCode::TopicNameInvalid,
                None,
                Some("topic[0]"),
                "the event name Symbol is empty or has characters outside [A-Za-z0-9_]",
            )
        })?,
        other => {
            return Err(DecodeError::new(
                DecodeErrorCode::TopicNameNotSymbol,
                None,
                Some("topic[0]"),
                format!(
                    "the first topic must be a Symbol (event name), got {}",
                    other.name()
                ),
            ))
        }
    };
    let Some(event) = HANDLED_EVENT_NAMES.iter().copied().find(|n| *n == name) else {
        return Ok(Decoded::Unknown { name });
    };
    if topic.len() != 2 {
        return Err(DecodeError::new(
            DecodeErrorCode::TopicCountInvalid,
            Some(event),
            Some("topic"),
            format!(
                "{event}: expected 2 topics [Symbol, U64(stream_id)], got {}",
                topic.len()
            ),
        ));
    }
    let topic_id = match topic
        .get(1)
        .map(|t| parse_xdr(t, Part::Topic(1), Some(event)))
    {
        Some(Ok(ScVal::U64(id))) => id,
        Some(Ok(other)) => {
            return Err(DecodeError::new(
                DecodeErrorCode::TopicStreamIdInvalid,
                Some(event),
                Some("topic[1]"),
                format!(
                    "{event}: the second topic must be U64 (stream id), got {}",
                    other.name()
                ),
            ))
        }
        Some(Err(error)) => return Err(error),
        None => {
            return Err(DecodeError::new(
                DecodeErrorCode::TopicCountInvalid,
                Some(event),
                Some("topic"),
                format!("{event}: the stream id topic is missing"),
            ))
        }
    };
    let payload = parse_xdr(value, Part::Value, Some(event))?;
    let decoded = decode_payload(event, &payload)?;
    if decoded.stream_id() != topic_id {
        let field = if matches!(decoded, ContractEvent::ShareDelegated(_)) {
            "parent_stream_id"
        } else {
            "stream_id"
        };
        return Err(DecodeError::field(
            DecodeErrorCode::StreamIdMismatch,
            event,
            field,
            format_args!(
                "is {} but the topic's stream id is {topic_id}",
                decoded.stream_id()
            ),
        ));
    }
    Ok(Decoded::Event(decoded))
}

#[derive(Clone, Copy)]
enum Part {
    Topic(usize),
    Value,
}

impl Part {
    fn label(self) -> String {
        match self {
            Self::Topic(i) => format!("topic[{i}]"),
            Self::Value => "value".to_owned(),
        }
    }
}

/// base64 → bytes → exactly one `ScVal`, within the size and depth limits.
fn parse_xdr(text: &str, part: Part, event: Option<&str>) -> Result<ScVal, DecodeError> {
    // The label and prefix are built only on failure: this runs twice per ingested event.
    let fail = |code, message: String| {
        let label = part.label();
        let prefix = event.map(|e| format!("{e}: ")).unwrap_or_default();
        DecodeError::new(
            code,
            event,
            Some(&label),
            format!("{prefix}{label} {message}"),
        )
    };
    if text.len() > MAX_BASE64_CHARS {
        return Err(fail(
            DecodeErrorCode::XdrTooLarge,
            format!("exceeds {MAX_XDR_BYTES} bytes of XDR"),
        ));
    }
    let (base64_code, xdr_code) = match part {
        Part::Topic(_) => (
            DecodeErrorCode::TopicBase64Invalid,
            DecodeErrorCode::TopicXdrInvalid,
        ),
        Part::Value => (
            DecodeErrorCode::ValueBase64Invalid,
            DecodeErrorCode::ValueXdrInvalid,
        ),
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| fail(base64_code, format!("is not valid base64 ({e})")))?;
    let limits = Limits {
        depth: MAX_XDR_DEPTH,
        len: MAX_XDR_BYTES,
    };
    ScVal::from_xdr(&bytes, limits).map_err(|e| {
        fail(
            xdr_code,
            format!("is not one complete XDR ScVal ({e}; {} bytes)", bytes.len()),
        )
    })
}

/// A Soroban Symbol's text when it is non-empty and only `[A-Za-z0-9_]`.
fn symbol_text(bytes: &[u8]) -> Option<String> {
    let valid = !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_');
    if valid {
        String::from_utf8(bytes.to_vec()).ok()
    } else {
        None
    }
}

fn decode_payload(event: &'static str, v: &ScVal) -> Result<ContractEvent, DecodeError> {
    use ContractEvent as E;
    Ok(match event {
        "created" => {
            let s = Fields::parse(event, v)?;
            E::Created(StreamCreated {
                stream_id: s.u64("stream_id")?,
                sender: s.address("sender")?,
                recipient: s.address("recipient")?,
                deposit_amount: s.i128("deposit_amount")?,
                rate_per_second: s.i128("rate_per_second")?,
                start_time: s.u64("start_time")?,
                cliff_time: s.u64("cliff_time")?,
                end_time: s.u64("end_time")?,
                withdraw_dust_threshold: s.i128("withdraw_dust_threshold")?,
                memo: s.opt_bytes("memo")?,
                metadata: s.opt_bytes_map("metadata")?,
            })
        }
        "withdrew" => {
            let s = Fields::parse(event, v)?;
            E::Withdrew(Withdrawal {
                stream_id: s.u64("stream_id")?,
                recipient: s.address("recipient")?,
                amount: s.i128("amount")?,
            })
        }
        "wdraw_to" => {
            let s = Fields::parse(event, v)?;
            E::WithdrewTo(WithdrawalTo {
                stream_id: s.u64("stream_id")?,
                recipient: s.address("recipient")?,
                destination: s.address("destination")?,
                amount: s.i128("amount")?,
            })
        }
        "paused" => {
            let s = Fields::parse(event, v)?;
            E::Paused(StreamPaused {
                stream_id: s.u64("stream_id")?,
                reason: s.string("reason")?,
            })
        }
        "resumed" => E::Resumed(enum_payload(event, "Resumed", v)?),
        "cancelled" => E::Cancelled(enum_payload(event, "StreamCancelled", v)?),
        "completed" => E::Completed(enum_payload(event, "StreamCompleted", v)?),
        "closed" => E::Closed(enum_payload(event, "StreamClosed", v)?),
        "top_up" => {
            let s = Fields::parse(event, v)?;
            E::ToppedUp(StreamToppedUp {
                stream_id: s.u64("stream_id")?,
                top_up_amount: s.i128("top_up_amount")?,
                new_deposit_amount: s.i128("new_deposit_amount")?,
                new_end_time: s.u64("new_end_time")?,
            })
        }
        "rate_upd" => {
            let s = Fields::parse(event, v)?;
            E::RateUpdated(RateUpdated {
                stream_id: s.u64("stream_id")?,
                old_rate_per_second: s.i128("old_rate_per_second")?,
                new_rate_per_second: s.i128("new_rate_per_second")?,
                effective_time: s.u64("effective_time")?,
            })
        }
        "rate_dec" => {
            let s = Fields::parse(event, v)?;
            E::RateDecreased(RateDecreased {
                stream_id: s.u64("stream_id")?,
                old_rate_per_second: s.i128("old_rate_per_second")?,
                new_rate_per_second: s.i128("new_rate_per_second")?,
                checkpointed_amount: s.i128("checkpointed_amount")?,
                refund_amount: s.i128("refund_amount")?,
                effective_time: s.u64("effective_time")?,
            })
        }
        "end_ext" => {
            let s = Fields::parse(event, v)?;
            E::EndExtended(StreamEndExtended {
                stream_id: s.u64("stream_id")?,
                old_end_time: s.u64("old_end_time")?,
                new_end_time: s.u64("new_end_time")?,
            })
        }
        "end_shrt" => {
            let s = Fields::parse(event, v)?;
            E::EndShortened(StreamEndShortened {
                stream_id: s.u64("stream_id")?,
                old_end_time: s.u64("old_end_time")?,
                new_end_time: s.u64("new_end_time")?,
                refund_amount: s.i128("refund_amount")?,
            })
        }
        "kp_cncl" => {
            let s = Fields::parse(event, v)?;
            E::KeeperCancelled(KeeperCancelled {
                stream_id: s.u64("stream_id")?,
                keeper: s.address("keeper")?,
                keeper_fee: s.i128("keeper_fee")?,
                recipient_amount: s.i128("recipient_amount")?,
                sender_refund: s.i128("sender_refund")?,
            })
        }
        "recp_upd" => {
            let s = Fields::parse(event, v)?;
            E::RecipientUpdated(RecipientUpdated {
                stream_id: s.u64("stream_id")?,
                old_recipient: s.address("old_recipient")?,
                new_recipient: s.address("new_recipient")?,
            })
        }
        "claim_own" => {
            let s = Fields::parse(event, v)?;
            E::ClaimOwnershipTransferred(ClaimOwnershipTransferred {
                stream_id: s.u64("stream_id")?,
                old_owner: s.opt_address("old_owner")?,
                new_owner: s.address("new_owner")?,
            })
        }
        "del_share" => {
            let s = Fields::parse(event, v)?;
            E::ShareDelegated(RecipientShareDelegated {
                parent_stream_id: s.u64("parent_stream_id")?,
                child_stream_id: s.u64("child_stream_id")?,
                delegator: s.address("delegator")?,
                delegatee: s.address("delegatee")?,
                share_bps: s.u32("share_bps")?,
                child_rate: s.i128("child_rate")?,
                new_parent_rate: s.i128("new_parent_rate")?,
            })
        }
        "ac_trig" => {
            let s = Fields::parse(event, v)?;
            E::AutoClaimTriggered(AutoClaimTriggered {
                stream_id: s.u64("stream_id")?,
                destination: s.address("destination")?,
                amount: s.i128("amount")?,
            })
        }
        "health" => {
            let s = Fields::parse(event, v)?;
            E::HealthChanged(StreamHealthChanged {
                stream_id: s.u64("stream_id")?,
                is_underfunded: s.bool("is_underfunded")?,
                remaining_balance: s.i128("remaining_balance")?,
                seconds_remaining: s.u64("seconds_remaining")?,
            })
        }
        "decomm" => {
            let s = Fields::parse(event, v)?;
            E::Decommissioned(StreamDecommissioned {
                stream_id: s.u64("stream_id")?,
                decommissioned: s.bool("decommissioned")?,
            })
        }
        other => {
            // Unreachable: `event` comes from HANDLED_EVENT_NAMES; kept as an error, not a panic.
            return Err(DecodeError::new(
                DecodeErrorCode::PayloadTypeInvalid,
                Some(other),
                None,
                format!("{other}: no payload decoder"),
            ));
        }
    })
}

/// `ScVal::Vec([Symbol(variant), U64(id)])`.
fn enum_payload(event: &str, variant: &str, v: &ScVal) -> Result<StreamRef, DecodeError> {
    let shape = format!("[Symbol(\"{variant}\"), U64]");
    let items = match v {
        ScVal::Vec(Some(items)) => items,
        other => {
            return Err(DecodeError::new(
                DecodeErrorCode::PayloadTypeInvalid,
                Some(event),
                Some("value"),
                format!(
                    "{event}: payload must be a Vec {shape}, got {}",
                    other.name()
                ),
            ))
        }
    };
    let variant_error = |detail: String| {
        DecodeError::new(
            DecodeErrorCode::VariantInvalid,
            Some(event),
            Some("value"),
            format!("{event}: payload must be {shape}; {detail}"),
        )
    };
    let (Some(head), Some(id), 2) = (items.first(), items.get(1), items.len()) else {
        return Err(variant_error(format!("it has {} elements", items.len())));
    };
    match head {
        ScVal::Symbol(symbol) if symbol.as_vec().as_slice() == variant.as_bytes() => {}
        ScVal::Symbol(symbol) => {
            return Err(variant_error(format!(
                "the variant is {:?}",
                String::from_utf8_lossy(symbol.as_vec())
            )))
        }
        other => {
            return Err(variant_error(format!(
                "the first element is {}",
                other.name()
            )))
        }
    }
    match id {
        ScVal::U64(stream_id) => Ok(StreamRef {
            stream_id: *stream_id,
        }),
        other => Err(DecodeError::field(
            DecodeErrorCode::FieldTypeInvalid,
            event,
            "stream_id",
            format_args!("must be U64, got {}", other.name()),
        )),
    }
}

/// A `#[contracttype]` struct payload indexed by field name.
struct Fields<'a> {
    event: &'static str,
    map: BTreeMap<&'a [u8], &'a ScVal>,
}

impl<'a> Fields<'a> {
    fn parse(event: &'static str, v: &'a ScVal) -> Result<Self, DecodeError> {
        let ScVal::Map(Some(entries)) = v else {
            return Err(DecodeError::new(
                DecodeErrorCode::PayloadTypeInvalid,
                Some(event),
                Some("value"),
                format!(
                    "{event}: payload must be a Map with Symbol keys (a struct), got {}",
                    v.name()
                ),
            ));
        };
        let mut map = BTreeMap::new();
        for entry in entries.iter() {
            let ScVal::Symbol(key) = &entry.key else {
                return Err(DecodeError::new(
                    DecodeErrorCode::PayloadTypeInvalid,
                    Some(event),
                    Some("value"),
                    format!(
                        "{event}: struct map keys must be Symbols, found a {} key",
                        entry.key.name()
                    ),
                ));
            };
            let key = key.as_vec().as_slice();
            if map.insert(key, &entry.val).is_some() {
                return Err(DecodeError::field(
                    DecodeErrorCode::FieldDuplicate,
                    event,
                    &String::from_utf8_lossy(key),
                    "appears more than once",
                ));
            }
        }
        Ok(Self { event, map })
    }

    fn get(&self, field: &str) -> Result<&'a ScVal, DecodeError> {
        self.map.get(field.as_bytes()).copied().ok_or_else(|| {
            DecodeError::field(
                DecodeErrorCode::FieldMissing,
                self.event,
                field,
                "is missing",
            )
        })
    }

    fn wrong_type(&self, field: &str, expected: &str, got: &ScVal) -> DecodeError {
        DecodeError::field(
            DecodeErrorCode::FieldTypeInvalid,
            self.event,
            field,
            format_args!("must be {expected}, got {}", got.name()),
        )
    }

    fn u64(&self, field: &str) -> Result<u64, DecodeError> {
        match self.get(field)? {
            ScVal::U64(n) => Ok(*n),
            other => Err(self.wrong_type(field, "U64", other)),
        }
    }

    fn u32(&self, field: &str) -> Result<u32, DecodeError> {
        match self.get(field)? {
            ScVal::U32(n) => Ok(*n),
            other => Err(self.wrong_type(field, "U32", other)),
        }
    }

    fn bool(&self, field: &str) -> Result<bool, DecodeError> {
        match self.get(field)? {
            ScVal::Bool(b) => Ok(*b),
            other => Err(self.wrong_type(field, "Bool", other)),
        }
    }

    /// `I128 {hi, lo}` → exact `i128`.
    fn i128(&self, field: &str) -> Result<i128, DecodeError> {
        match self.get(field)? {
            ScVal::I128(parts) => Ok((i128::from(parts.hi) << 64) | i128::from(parts.lo)),
            other => Err(self.wrong_type(field, "I128", other)),
        }
    }

    fn string(&self, field: &str) -> Result<String, DecodeError> {
        match self.get(field)? {
            ScVal::String(s) => String::from_utf8(s.as_vec().clone()).map_err(|_| {
                DecodeError::field(
                    DecodeErrorCode::FieldValueInvalid,
                    self.event,
                    field,
                    "is not valid UTF-8",
                )
            }),
            other => Err(self.wrong_type(field, "String", other)),
        }
    }

    fn address(&self, field: &str) -> Result<String, DecodeError> {
        match self.get(field)? {
            ScVal::Address(address) => strkey(address).map_err(|kind| {
                DecodeError::field(
                    DecodeErrorCode::FieldValueInvalid,
                    self.event,
                    field,
                    format_args!(
                        "is a {kind} address; only accounts (G…) and contracts (C…) are expected"
                    ),
                )
            }),
            other => Err(self.wrong_type(field, "Address", other)),
        }
    }

    fn opt_address(&self, field: &str) -> Result<Option<String>, DecodeError> {
        match self.get(field)? {
            ScVal::Void => Ok(None),
            ScVal::Address(_) => self.address(field).map(Some),
            other => Err(self.wrong_type(field, "Address or Void", other)),
        }
    }

    fn opt_bytes(&self, field: &str) -> Result<Option<Vec<u8>>, DecodeError> {
        match self.get(field)? {
            ScVal::Void => Ok(None),
            ScVal::Bytes(bytes) => Ok(Some(bytes.as_vec().clone())),
            other => Err(self.wrong_type(field, "Bytes or Void", other)),
        }
    }

    fn opt_bytes_map(&self, field: &str) -> Result<Option<Vec<MetadataEntry>>, DecodeError> {
        match self.get(field)? {
            ScVal::Void => Ok(None),
            ScVal::Map(Some(entries)) => entries
                .iter()
                .map(|entry| match (&entry.key, &entry.val) {
                    (ScVal::Bytes(key), ScVal::Bytes(val)) => Ok(MetadataEntry {
                        key: key.as_vec().clone(),
                        val: val.as_vec().clone(),
                    }),
                    (key, val) => Err(DecodeError::field(
                        DecodeErrorCode::FieldTypeInvalid,
                        self.event,
                        field,
                        format_args!(
                            "must be Map<Bytes, Bytes>, found a {} => {} entry",
                            key.name(),
                            val.name()
                        ),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            other => Err(self.wrong_type(field, "Map<Bytes, Bytes> or Void", other)),
        }
    }
}

/// `ScAddress` → StrKey for accounts (`G…`) and contracts (`C…`); other kinds return their XDR
/// name as the error.
fn strkey(address: &ScAddress) -> Result<String, &'static str> {
    match address {
        ScAddress::Account(AccountId(PublicKey::PublicKeyTypeEd25519(Uint256(key)))) => {
            Ok(stellar_strkey::ed25519::PublicKey(*key)
                .to_string()
                .as_str()
                .to_owned())
        }
        ScAddress::Contract(ContractId(Hash(hash))) => Ok(stellar_strkey::Contract(*hash)
            .to_string()
            .as_str()
            .to_owned()),
        other => Err(other.name()),
    }
}

fn ser_i128<S: Serializer>(value: &i128, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

fn ser_hex<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex::encode(bytes))
}

fn ser_opt_hex<S: Serializer>(bytes: &Option<Vec<u8>>, serializer: S) -> Result<S::Ok, S::Error> {
    match bytes {
        Some(bytes) => serializer.serialize_str(&hex::encode(bytes)),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::PathBuf;
    use stellar_xdr::{
        Int128Parts, MuxedEd25519Account, ScBytes, ScMap, ScMapEntry, ScString, ScSymbol, ScVec,
        WriteXdr,
    };

    const SENDER: &str = "GDZRFKVP6KLHXBBGN2V2CTIXMXHDO4CXSNACORM74XZZ426OVU4YFLBV";
    const R1: &str = "GBLXWU5HZZ3JZKPYES2C3EWY2ZRIGII6XJP3FCWXDWF5AP55JWVFTKWA";
    const R2: &str = "GDBWJWNG5BAUOESFVWEUHEWHOTF7F5JPST5I7O2PZDG2IRUSGTDBQ4RC";
    const TOKEN: &str = "CBWLJK3P6ECN2KZZPKGUIIJ6BCJPXNQTMHMJJGJPZ2ITUJFHPXHUQGBS";

    // ----- fixtures ------------------------------------------------------------------------

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

    /// Every event of every page of a getEvents fixture, in order.
    fn page_events(file: &str) -> Vec<Value> {
        fixture(file)["pages"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|page| page["result"]["events"].as_array().unwrap().clone())
            .collect()
    }

    fn topics_of(event: &Value) -> Vec<String> {
        event["topic"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect()
    }

    fn decode_rpc(event: &Value) -> Decoded {
        decode(&topics_of(event), event["value"].as_str().unwrap())
    }

    fn event_of(decoded: Decoded) -> ContractEvent {
        match decoded {
            Decoded::Event(event) => event,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    fn invalid_of(decoded: Decoded) -> DecodeError {
        match decoded {
            Decoded::Invalid(error) => error,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    /// Field-by-field comparison with a decoded.json entry (`name`, `streamId`, plain `data`).
    fn assert_matches_expected(id: &str, event: &ContractEvent, expected: &Value) {
        assert_eq!(
            event.name(),
            expected["name"].as_str().unwrap(),
            "{id} name"
        );
        assert_eq!(
            event.stream_id(),
            expected["streamId"].as_u64().unwrap(),
            "{id} stream id"
        );
        let actual = event.payload_json();
        match &expected["data"] {
            Value::Object(fields) => {
                let got = actual.as_object().unwrap();
                for (key, want) in fields {
                    assert_eq!(got.get(key), Some(want), "{id} {}.{key}", event.name());
                }
                let mut extra: Vec<_> = got.keys().filter(|k| !fields.contains_key(*k)).collect();
                extra.sort();
                assert!(
                    extra.is_empty(),
                    "{id}: fields not in the fixture: {extra:?}"
                );
            }
            other => assert_eq!(&actual, other, "{id} {}", event.name()),
        }
    }

    fn malformed_case(case: &str) -> Value {
        let file = fixture("malformed.getEvents.json");
        let index = file["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["case"] == case)
            .unwrap_or_else(|| panic!("no case {case}"))["eventIndex"]
            .as_u64()
            .unwrap();
        file["response"]["result"]["events"][usize::try_from(index).unwrap()].clone()
    }

    // ----- ScVal builders --------------------------------------------------------------------

    fn sym(s: &str) -> ScVal {
        ScVal::Symbol(ScSymbol(s.try_into().unwrap()))
    }

    fn i128v(n: i128) -> ScVal {
        ScVal::from(n)
    }

    fn account(strkey: &str) -> ScVal {
        let key = stellar_strkey::ed25519::PublicKey::from_string(strkey).unwrap();
        ScVal::Address(ScAddress::Account(AccountId(
            PublicKey::PublicKeyTypeEd25519(Uint256(key.0)),
        )))
    }

    fn contract(strkey: &str) -> ScVal {
        let c = stellar_strkey::Contract::from_string(strkey).unwrap();
        ScVal::Address(ScAddress::Contract(ContractId(Hash(c.0))))
    }

    fn map_in_order(entries: Vec<(&str, ScVal)>) -> ScVal {
        let entries: Vec<ScMapEntry> = entries
            .into_iter()
            .map(|(k, val)| ScMapEntry { key: sym(k), val })
            .collect();
        ScVal::Map(Some(ScMap(entries.try_into().unwrap())))
    }

    /// A struct map as the SDK encodes it: Symbol keys sorted.
    fn sdk_map(mut entries: Vec<(&str, ScVal)>) -> ScVal {
        entries.sort_by(|a, b| a.0.cmp(b.0));
        map_in_order(entries)
    }

    fn b64(v: &ScVal) -> String {
        v.to_xdr_base64(Limits::none()).unwrap()
    }

    fn topic(name: &str, id: u64) -> Vec<String> {
        vec![b64(&sym(name)), b64(&ScVal::U64(id))]
    }

    /// Every rotation and the reverse of a map's entries (same content, other positions).
    fn reorderings(v: &ScVal) -> Vec<ScVal> {
        let ScVal::Map(Some(map)) = v else {
            return vec![];
        };
        let entries: Vec<ScMapEntry> = map.to_vec();
        let mut out = Vec::new();
        for k in 1..entries.len() {
            let mut rotated = entries.clone();
            rotated.rotate_left(k);
            out.push(ScVal::Map(Some(ScMap(rotated.try_into().unwrap()))));
        }
        let mut reversed = entries;
        reversed.reverse();
        out.push(ScVal::Map(Some(ScMap(reversed.try_into().unwrap()))));
        out
    }

    fn entries_of(v: &ScVal) -> Vec<ScMapEntry> {
        let ScVal::Map(Some(map)) = v else {
            panic!("not a map")
        };
        map.to_vec()
    }

    fn map_from_entries(entries: Vec<ScMapEntry>) -> ScVal {
        ScVal::Map(Some(ScMap(entries.try_into().unwrap())))
    }

    // ----- scenario fixtures -----------------------------------------------------------------

    #[test]
    fn all_18_scenario_events_decode_to_the_expected_payloads() {
        let decoded_file = fixture("fluxora-scenario.decoded.json");
        let expected: HashMap<&str, &Value> = decoded_file["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["id"].as_str().unwrap(), e))
            .collect();
        let events = page_events("fluxora-scenario.getEvents.json");
        assert_eq!(events.len(), 18);
        assert_eq!(expected.len(), 18);
        let mut names = Vec::new();
        for raw in &events {
            let id = raw["id"].as_str().unwrap();
            let event = event_of(decode_rpc(raw));
            assert_matches_expected(id, &event, expected[id]);
            names.push(event.name());
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names,
            [
                "cancelled",
                "closed",
                "completed",
                "created",
                "end_ext",
                "paused",
                "rate_upd",
                "resumed",
                "top_up",
                "withdrew"
            ]
        );
    }

    #[test]
    fn scenario_typed_amounts_add_up_to_the_final_states() {
        let decoded_file = fixture("fluxora-scenario.decoded.json");
        let finals = &decoded_file["finalStreamStates"];
        let mut withdrawn: HashMap<u64, i128> = HashMap::new();
        let mut deposits: HashMap<u64, i128> = HashMap::new();
        let mut memo = None;
        for raw in page_events("fluxora-scenario.getEvents.json") {
            match event_of(decode_rpc(&raw)) {
                ContractEvent::Withdrew(w) => {
                    *withdrawn.entry(w.stream_id).or_default() += w.amount
                }
                ContractEvent::Created(c) => {
                    deposits.insert(c.stream_id, c.deposit_amount);
                    if c.stream_id == 1 {
                        memo = c.memo;
                    }
                    if c.stream_id == 2 {
                        let metadata = c.metadata.unwrap();
                        assert_eq!(metadata[0].key, b"purpose");
                        assert_eq!(metadata[1].val, b"FLX-42");
                    }
                }
                ContractEvent::ToppedUp(t) => {
                    let deposit = deposits.get_mut(&t.stream_id).unwrap();
                    *deposit += t.top_up_amount;
                    assert_eq!(*deposit, t.new_deposit_amount);
                }
                _ => {}
            }
        }
        assert_eq!(memo.as_deref(), Some(&b"payroll-2025-06/batch-7"[..]));
        for id in [0_u64, 1] {
            let state = &finals[id.to_string()]["fields"];
            let parse = |k: &str| state[k].as_str().unwrap().parse::<i128>().unwrap();
            assert_eq!(withdrawn[&id], parse("withdrawn_amount"), "stream {id}");
            assert_eq!(deposits[&id], parse("deposit_amount"), "stream {id}");
        }
        assert_eq!(withdrawn[&0], 9_017_548_200);
    }

    #[test]
    fn reorg_variant_events_decode_including_emergency_pause() {
        let reorg = fixture("reorg-variant.getEvents.json");
        let main = fixture("fluxora-scenario.decoded.json");
        let mut expected: HashMap<&str, &Value> = main["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["id"].as_str().unwrap(), e))
            .collect();
        for e in reorg["decodedBranchEvents"].as_array().unwrap() {
            expected.insert(e["id"].as_str().unwrap(), e);
        }
        let events = page_events("reorg-variant.getEvents.json");
        assert_eq!(events.len(), 18);
        let mut pauses = Vec::new();
        for raw in &events {
            let id = raw["id"].as_str().unwrap();
            let event = event_of(decode_rpc(raw));
            let want = expected
                .get(id)
                .unwrap_or_else(|| panic!("{id} has no expected decoding"));
            assert_matches_expected(id, &event, want);
            if let ContractEvent::Paused(p) = event {
                pauses.push(p);
            }
        }
        assert_eq!(
            pauses,
            [
                StreamPaused {
                    stream_id: 1,
                    reason: "Operational".into()
                },
                StreamPaused {
                    stream_id: 0,
                    reason: "Emergency".into()
                }
            ]
        );
    }

    #[test]
    fn struct_payloads_decode_by_key_whatever_the_entry_order() {
        let mut checked = 0;
        for raw in page_events("fluxora-scenario.getEvents.json") {
            let topics = topics_of(&raw);
            let original = decode_rpc(&raw);
            let value =
                ScVal::from_xdr_base64(raw["value"].as_str().unwrap(), Limits::none()).unwrap();
            for shuffled in reorderings(&value) {
                assert_ne!(b64(&shuffled), raw["value"].as_str().unwrap());
                assert_eq!(decode(&topics, &b64(&shuffled)), original, "{}", raw["id"]);
                checked += 1;
            }
        }
        assert!(checked > 50, "{checked}");
    }

    // ----- malformed.getEvents.json, one test per case ---------------------------------------

    #[test]
    fn malformed_case_0_bad_base64_is_invalid() {
        let error = invalid_of(decode_rpc(&malformed_case("bad-base64")));
        assert_eq!(error.code, DecodeErrorCode::ValueBase64Invalid);
        assert_eq!(error.event.as_deref(), Some("withdrew"));
        assert_eq!(error.field.as_deref(), Some("value"));
    }

    #[test]
    fn malformed_case_1_amount_as_u64_is_invalid_naming_the_field() {
        let error = invalid_of(decode_rpc(&malformed_case("wrong-scval-type-for-amount")));
        assert_eq!(error.code, DecodeErrorCode::FieldTypeInvalid);
        assert_eq!(error.event.as_deref(), Some("withdrew"));
        assert_eq!(error.field.as_deref(), Some("amount"));
        assert!(error.message.contains("withdrew"), "{error}");
        assert!(error.message.contains("`amount`"), "{error}");
        assert!(
            error.message.contains("I128") && error.message.contains("U64"),
            "{error}"
        );
    }

    #[test]
    fn malformed_case_2_missing_ledger_still_has_a_decodable_payload() {
        // The defect is in the envelope (see event.rs: LEDGER_INVALID); the payload is real.
        let raw = malformed_case("missing-ledger");
        assert!(raw.get("ledger").is_none());
        let problems = super::super::event::parse_event_json(&raw, false).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "ledger");
        assert_eq!(problems[0].code, super::super::event::codes::LEDGER_INVALID);
        assert!(matches!(
            decode_rpc(&raw),
            Decoded::Event(ContractEvent::Withdrew(Withdrawal {
                amount: 427_080_600,
                ..
            }))
        ));
    }

    #[test]
    fn malformed_case_3_unknown_name_is_unknown() {
        assert_eq!(
            decode_rpc(&malformed_case("unknown-event-name")),
            Decoded::Unknown {
                name: "frozen".into()
            }
        );
    }

    #[test]
    fn malformed_case_4_truncated_xdr_is_invalid() {
        let raw = malformed_case("truncated-xdr");
        let error = invalid_of(decode_rpc(&raw));
        assert_eq!(error.code, DecodeErrorCode::ValueXdrInvalid);
        assert_eq!(error.event.as_deref(), Some("created"));
        assert_eq!(error.field.as_deref(), Some("value"));
        assert!(error.message.contains("218 bytes"), "{error}");
    }

    // ----- events the scenario does not exercise ---------------------------------------------

    /// (name, topic id, sorted payload, expected event) for every handled event outside the
    /// scenario.
    fn built_events() -> Vec<(&'static str, u64, ScVal, ContractEvent)> {
        vec![
            (
                "wdraw_to",
                7,
                sdk_map(vec![
                    ("amount", i128v(1_234_567)),
                    ("destination", contract(TOKEN)),
                    ("recipient", account(R1)),
                    ("stream_id", ScVal::U64(7)),
                ]),
                ContractEvent::WithdrewTo(WithdrawalTo {
                    stream_id: 7,
                    recipient: R1.into(),
                    destination: TOKEN.into(),
                    amount: 1_234_567,
                }),
            ),
            (
                "rate_dec",
                3,
                sdk_map(vec![
                    ("checkpointed_amount", i128v(1_149_298_200)),
                    ("effective_time", ScVal::U64(1_749_912_449)),
                    ("new_rate_per_second", i128v(100_000)),
                    ("old_rate_per_second", i128v(150_000)),
                    ("refund_amount", i128v(i128::from(u64::MAX) + 1)),
                    ("stream_id", ScVal::U64(3)),
                ]),
                ContractEvent::RateDecreased(RateDecreased {
                    stream_id: 3,
                    old_rate_per_second: 150_000,
                    new_rate_per_second: 100_000,
                    checkpointed_amount: 1_149_298_200,
                    refund_amount: 18_446_744_073_709_551_616,
                    effective_time: 1_749_912_449,
                }),
            ),
            (
                "end_shrt",
                u64::MAX,
                sdk_map(vec![
                    ("new_end_time", ScVal::U64(1_750_000_000)),
                    ("old_end_time", ScVal::U64(1_750_002_519)),
                    ("refund_amount", i128v(i128::MAX)),
                    ("stream_id", ScVal::U64(u64::MAX)),
                ]),
                ContractEvent::EndShortened(StreamEndShortened {
                    stream_id: u64::MAX,
                    old_end_time: 1_750_002_519,
                    new_end_time: 1_750_000_000,
                    refund_amount: i128::MAX,
                }),
            ),
            (
                "kp_cncl",
                0,
                sdk_map(vec![
                    ("keeper", account(R2)),
                    ("keeper_fee", i128v(24_271)),
                    ("recipient_amount", i128v(0)),
                    ("sender_refund", i128v(4_829_929)),
                    ("stream_id", ScVal::U64(0)),
                ]),
                ContractEvent::KeeperCancelled(KeeperCancelled {
                    stream_id: 0,
                    keeper: R2.into(),
                    keeper_fee: 24_271,
                    recipient_amount: 0,
                    sender_refund: 4_829_929,
                }),
            ),
            (
                "recp_upd",
                2,
                sdk_map(vec![
                    ("new_recipient", account(R2)),
                    ("old_recipient", account(R1)),
                    ("stream_id", ScVal::U64(2)),
                ]),
                ContractEvent::RecipientUpdated(RecipientUpdated {
                    stream_id: 2,
                    old_recipient: R1.into(),
                    new_recipient: R2.into(),
                }),
            ),
            (
                "claim_own",
                2,
                sdk_map(vec![
                    ("new_owner", contract(TOKEN)),
                    ("old_owner", ScVal::Void),
                    ("stream_id", ScVal::U64(2)),
                ]),
                ContractEvent::ClaimOwnershipTransferred(ClaimOwnershipTransferred {
                    stream_id: 2,
                    old_owner: None,
                    new_owner: TOKEN.into(),
                }),
            ),
            (
                "claim_own",
                2,
                sdk_map(vec![
                    ("new_owner", account(R1)),
                    ("old_owner", contract(TOKEN)),
                    ("stream_id", ScVal::U64(2)),
                ]),
                ContractEvent::ClaimOwnershipTransferred(ClaimOwnershipTransferred {
                    stream_id: 2,
                    old_owner: Some(TOKEN.into()),
                    new_owner: R1.into(),
                }),
            ),
            (
                "del_share",
                4,
                sdk_map(vec![
                    ("child_rate", i128v(37_500)),
                    ("child_stream_id", ScVal::U64(9)),
                    ("delegatee", account(R2)),
                    ("delegator", account(R1)),
                    ("new_parent_rate", i128v(112_500)),
                    ("parent_stream_id", ScVal::U64(4)),
                    ("share_bps", ScVal::U32(2_500)),
                ]),
                ContractEvent::ShareDelegated(RecipientShareDelegated {
                    parent_stream_id: 4,
                    child_stream_id: 9,
                    delegator: R1.into(),
                    delegatee: R2.into(),
                    share_bps: 2_500,
                    child_rate: 37_500,
                    new_parent_rate: 112_500,
                }),
            ),
            (
                "ac_trig",
                5,
                sdk_map(vec![
                    ("amount", i128v(-1)),
                    ("destination", account(SENDER)),
                    ("stream_id", ScVal::U64(5)),
                ]),
                ContractEvent::AutoClaimTriggered(AutoClaimTriggered {
                    stream_id: 5,
                    destination: SENDER.into(),
                    amount: -1,
                }),
            ),
            (
                "health",
                6,
                sdk_map(vec![
                    ("is_underfunded", ScVal::Bool(true)),
                    ("remaining_balance", i128v(i128::MIN)),
                    ("seconds_remaining", ScVal::U64(0)),
                    ("stream_id", ScVal::U64(6)),
                ]),
                ContractEvent::HealthChanged(StreamHealthChanged {
                    stream_id: 6,
                    is_underfunded: true,
                    remaining_balance: i128::MIN,
                    seconds_remaining: 0,
                }),
            ),
            (
                "decomm",
                6,
                sdk_map(vec![
                    ("decommissioned", ScVal::Bool(false)),
                    ("stream_id", ScVal::U64(6)),
                ]),
                ContractEvent::Decommissioned(StreamDecommissioned {
                    stream_id: 6,
                    decommissioned: false,
                }),
            ),
        ]
    }

    #[test]
    fn unexercised_events_decode_sorted_and_shuffled() {
        let mut seen = Vec::new();
        for (name, id, payload, expected) in built_events() {
            assert_eq!(expected.name(), name);
            let topics = topic(name, id);
            assert_eq!(
                decode(&topics, &b64(&payload)),
                Decoded::Event(expected.clone()),
                "{name} sorted"
            );
            for shuffled in reorderings(&payload) {
                assert_eq!(
                    decode(&topics, &b64(&shuffled)),
                    Decoded::Event(expected.clone()),
                    "{name} shuffled"
                );
            }
            // An extra (future) field is ignored.
            let mut entries = entries_of(&payload);
            entries.push(ScMapEntry {
                key: sym("zz_added_later"),
                val: ScVal::U32(1),
            });
            assert_eq!(
                decode(&topics, &b64(&map_from_entries(entries))),
                Decoded::Event(expected.clone()),
                "{name} with an extra field"
            );
            seen.push(name);
        }
        for required in ["wdraw_to", "rate_dec", "end_shrt", "kp_cncl"] {
            assert!(seen.contains(&required), "{required}");
        }
        // Together with the scenario, every handled name has a decoding test.
        for raw in page_events("fluxora-scenario.getEvents.json") {
            seen.push(event_of(decode_rpc(&raw)).name());
        }
        seen.sort_unstable();
        seen.dedup();
        let mut handled = HANDLED_EVENT_NAMES.to_vec();
        handled.sort_unstable();
        assert_eq!(seen, handled);
        // The topic symbols are the ones chain.md §A3 lists.
        assert_eq!(b64(&sym("wdraw_to")), "AAAADwAAAAh3ZHJhd190bw==");
        assert_eq!(b64(&sym("rate_dec")), "AAAADwAAAAhyYXRlX2RlYw==");
        assert_eq!(b64(&sym("end_shrt")), "AAAADwAAAAhlbmRfc2hydA==");
        assert_eq!(b64(&sym("kp_cncl")), "AAAADwAAAAdrcF9jbmNsAA==");
    }

    #[test]
    fn chain_md_examples_decode() {
        let withdrew = "AAAAEQAAAAEAAAADAAAADwAAAAZhbW91bnQAAAAAAAoAAAAAAAAAAAAAAAAAEtaHAAAADwAAAAlyZWNpcGllbnQAAAAAAAASAAAAAAAAAAA/DDS/k60NmXHQTMyQ9wVRHIOKrZc0pKL7DXoD/H/omgAAAA8AAAAJc3RyZWFtX2lkAAAAAAAABQAAAAAAAAAA";
        let topics = vec![
            "AAAADwAAAAh3aXRoZHJldw==".to_owned(),
            "AAAABQAAAAAAAAAA".to_owned(),
        ];
        assert_eq!(
            decode(&topics, withdrew),
            Decoded::Event(ContractEvent::Withdrew(Withdrawal {
                stream_id: 0,
                recipient: "GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZ".into(),
                amount: 1_234_567,
            }))
        );
        let cancelled = "AAAAEAAAAAEAAAACAAAADwAAAA9TdHJlYW1DYW5jZWxsZWQAAAAABQAAAAAAAAAA";
        let topics = vec![
            "AAAADwAAAAljYW5jZWxsZWQAAAA=".to_owned(),
            "AAAABQAAAAAAAAAA".to_owned(),
        ];
        assert_eq!(
            decode(&topics, cancelled),
            Decoded::Event(ContractEvent::Cancelled(StreamRef { stream_id: 0 }))
        );
    }

    // ----- invalid shapes --------------------------------------------------------------------

    fn scenario_withdrew() -> (Vec<String>, String) {
        let raw = page_events("fluxora-scenario.getEvents.json")
            .into_iter()
            .find(|e| e["topic"][0] == "AAAADwAAAAh3aXRoZHJldw==")
            .unwrap();
        (topics_of(&raw), raw["value"].as_str().unwrap().to_owned())
    }

    #[test]
    fn topic_and_payload_stream_id_must_agree() {
        let (mut topics, value) = scenario_withdrew();
        assert!(matches!(decode(&topics, &value), Decoded::Event(_)));
        topics[1] = b64(&ScVal::U64(1));
        let error = invalid_of(decode(&topics, &value));
        assert_eq!(error.code, DecodeErrorCode::StreamIdMismatch);
        assert_eq!(error.field.as_deref(), Some("stream_id"));
        // Enum payloads too.
        let cancelled = ScVal::Vec(Some(ScVec(
            vec![sym("StreamCancelled"), ScVal::U64(2)]
                .try_into()
                .unwrap(),
        )));
        let error = invalid_of(decode(&topic("cancelled", 3), &b64(&cancelled)));
        assert_eq!(error.code, DecodeErrorCode::StreamIdMismatch);
        // del_share compares the parent id.
        let (_, _, payload, _) = built_events()
            .into_iter()
            .find(|e| e.0 == "del_share")
            .unwrap();
        let error = invalid_of(decode(&topic("del_share", 9), &b64(&payload)));
        assert_eq!(error.code, DecodeErrorCode::StreamIdMismatch);
        assert_eq!(error.field.as_deref(), Some("parent_stream_id"));
    }

    #[test]
    fn enum_payloads_check_the_variant_and_shape() {
        let vec_of = |items: Vec<ScVal>| ScVal::Vec(Some(ScVec(items.try_into().unwrap())));
        let cases = [
            (
                vec_of(vec![sym("StreamCompleted"), ScVal::U64(2)]),
                DecodeErrorCode::VariantInvalid,
            ),
            (
                vec_of(vec![sym("StreamCancelled")]),
                DecodeErrorCode::VariantInvalid,
            ),
            (
                vec_of(vec![sym("StreamCancelled"), ScVal::U64(2), ScVal::U64(2)]),
                DecodeErrorCode::VariantInvalid,
            ),
            (
                vec_of(vec![ScVal::U64(2), ScVal::U64(2)]),
                DecodeErrorCode::VariantInvalid,
            ),
            (
                vec_of(vec![sym("StreamCancelled"), ScVal::U32(2)]),
                DecodeErrorCode::FieldTypeInvalid,
            ),
            (ScVal::U64(2), DecodeErrorCode::PayloadTypeInvalid),
            (ScVal::Vec(None), DecodeErrorCode::PayloadTypeInvalid),
        ];
        for (payload, code) in cases {
            let error = invalid_of(decode(&topic("cancelled", 2), &b64(&payload)));
            assert_eq!(error.code, code, "{payload:?}");
            assert_eq!(error.event.as_deref(), Some("cancelled"));
        }
    }

    #[test]
    fn struct_field_errors_name_the_event_and_field() {
        let (topics, value) = scenario_withdrew();
        let parsed = ScVal::from_xdr_base64(&value, Limits::none()).unwrap();
        let entries = entries_of(&parsed);

        // Missing field.
        let without_amount: Vec<_> = entries
            .iter()
            .filter(|e| e.key != sym("amount"))
            .cloned()
            .collect();
        let error = invalid_of(decode(&topics, &b64(&map_from_entries(without_amount))));
        assert_eq!(error.code, DecodeErrorCode::FieldMissing);
        assert_eq!(error.field.as_deref(), Some("amount"));
        assert!(
            error.message.starts_with("withdrew: field `amount`"),
            "{error}"
        );

        // Duplicate field.
        let mut duplicated = entries.clone();
        duplicated.push(entries[0].clone());
        let error = invalid_of(decode(&topics, &b64(&map_from_entries(duplicated))));
        assert_eq!(error.code, DecodeErrorCode::FieldDuplicate);

        // Wrong types for each kind of field.
        for (field, bad) in [
            ("amount", ScVal::U64(5)),
            (
                "amount",
                ScVal::U128(stellar_xdr::UInt128Parts { hi: 0, lo: 5 }),
            ),
            (
                "recipient",
                ScVal::String(ScString("G…".try_into().unwrap())),
            ),
            ("stream_id", i128v(0)),
            ("stream_id", ScVal::Void),
        ] {
            let replaced: Vec<_> = entries
                .iter()
                .map(|e| {
                    if e.key == sym(field) {
                        ScMapEntry {
                            key: e.key.clone(),
                            val: bad.clone(),
                        }
                    } else {
                        e.clone()
                    }
                })
                .collect();
            let error = invalid_of(decode(&topics, &b64(&map_from_entries(replaced))));
            assert_eq!(error.code, DecodeErrorCode::FieldTypeInvalid, "{field}");
            assert_eq!(error.field.as_deref(), Some(field));
        }

        // Non-symbol key, and a payload that is not a map.
        let mut odd_key = entries;
        odd_key.push(ScMapEntry {
            key: ScVal::U32(1),
            val: ScVal::Void,
        });
        let error = invalid_of(decode(&topics, &b64(&map_from_entries(odd_key))));
        assert_eq!(error.code, DecodeErrorCode::PayloadTypeInvalid);
        let error = invalid_of(decode(&topics, &b64(&ScVal::Void)));
        assert_eq!(error.code, DecodeErrorCode::PayloadTypeInvalid);

        // A muxed account is not an address the contract stores.
        let muxed = ScVal::Address(ScAddress::MuxedAccount(MuxedEd25519Account {
            id: 1,
            ed25519: Uint256([7; 32]),
        }));
        let payload = sdk_map(vec![
            ("amount", i128v(1)),
            ("recipient", muxed),
            ("stream_id", ScVal::U64(0)),
        ]);
        let error = invalid_of(decode(&topic("withdrew", 0), &b64(&payload)));
        assert_eq!(error.code, DecodeErrorCode::FieldValueInvalid);
        assert_eq!(error.field.as_deref(), Some("recipient"));

        // created: memo must be Bytes or Void; metadata Map<Bytes, Bytes>.
        let created = page_events("fluxora-scenario.getEvents.json").remove(0);
        let parsed =
            ScVal::from_xdr_base64(created["value"].as_str().unwrap(), Limits::none()).unwrap();
        for (field, bad) in [
            ("memo", ScVal::String(ScString("memo".try_into().unwrap()))),
            (
                "metadata",
                sdk_map(vec![(
                    "purpose",
                    ScVal::Bytes(ScBytes(b"x".to_vec().try_into().unwrap())),
                )]),
            ),
        ] {
            let replaced: Vec<_> = entries_of(&parsed)
                .into_iter()
                .map(|mut e| {
                    if e.key == sym(field) {
                        e.val = bad.clone();
                    }
                    e
                })
                .collect();
            let error = invalid_of(decode(
                &topics_of(&created),
                &b64(&map_from_entries(replaced)),
            ));
            assert_eq!(error.code, DecodeErrorCode::FieldTypeInvalid, "{field}");
            assert_eq!(error.field.as_deref(), Some(field));
        }
    }

    #[test]
    fn topic_errors() {
        let (topics, value) = scenario_withdrew();
        let cases: Vec<(Vec<String>, DecodeErrorCode)> = vec![
            (vec![], DecodeErrorCode::TopicEmpty),
            (
                vec![b64(&ScVal::U64(0))],
                DecodeErrorCode::TopicNameNotSymbol,
            ),
            (
                vec![b64(&ScVal::String(ScString(
                    "withdrew".try_into().unwrap(),
                )))],
                DecodeErrorCode::TopicNameNotSymbol,
            ),
            (
                vec![b64(&sym("with-drew"))],
                DecodeErrorCode::TopicNameInvalid,
            ),
            (vec![b64(&sym(""))], DecodeErrorCode::TopicNameInvalid),
            (vec!["%%%".into()], DecodeErrorCode::TopicBase64Invalid),
            (vec!["AAAADw==".into()], DecodeErrorCode::TopicXdrInvalid),
            (vec![topics[0].clone()], DecodeErrorCode::TopicCountInvalid),
            (
                vec![topics[0].clone(), topics[1].clone(), topics[1].clone()],
                DecodeErrorCode::TopicCountInvalid,
            ),
            (
                vec![topics[0].clone(), b64(&account(R1))],
                DecodeErrorCode::TopicStreamIdInvalid,
            ),
            (
                vec![topics[0].clone(), b64(&ScVal::U32(0))],
                DecodeErrorCode::TopicStreamIdInvalid,
            ),
            (
                vec![topics[0].clone(), "AAAABQAAAAAAAAA".into()],
                DecodeErrorCode::TopicBase64Invalid,
            ),
            (
                vec![topics[0].clone(), "AAAABQAAAAAAAA==".into()],
                DecodeErrorCode::TopicXdrInvalid,
            ),
        ];
        for (topic, code) in cases {
            let error = invalid_of(decode(&topic, &value));
            assert_eq!(error.code, code, "{topic:?}");
            assert!(
                error.field.as_deref().unwrap_or("").starts_with("topic"),
                "{error}"
            );
        }
        // Names we do not handle are Unknown whatever their topic count or payload.
        for (name, extra) in [
            ("gl_pause", 0),
            ("offr_crt", 1),
            ("renewed", 2),
            ("frozen", 1),
        ] {
            let mut topic = vec![b64(&sym(name))];
            topic.extend(std::iter::repeat_n(b64(&ScVal::U64(1)), extra));
            assert_eq!(
                decode(&topic, "not even base64!"),
                Decoded::Unknown { name: name.into() }
            );
        }
    }

    #[test]
    fn error_codes_serialize_as_their_stable_strings() {
        for code in [
            DecodeErrorCode::TopicEmpty,
            DecodeErrorCode::TopicBase64Invalid,
            DecodeErrorCode::TopicXdrInvalid,
            DecodeErrorCode::TopicNameNotSymbol,
            DecodeErrorCode::TopicNameInvalid,
            DecodeErrorCode::TopicCountInvalid,
            DecodeErrorCode::TopicStreamIdInvalid,
            DecodeErrorCode::ValueBase64Invalid,
            DecodeErrorCode::ValueXdrInvalid,
            DecodeErrorCode::XdrTooLarge,
            DecodeErrorCode::PayloadTypeInvalid,
            DecodeErrorCode::FieldMissing,
            DecodeErrorCode::FieldDuplicate,
            DecodeErrorCode::FieldTypeInvalid,
            DecodeErrorCode::FieldValueInvalid,
            DecodeErrorCode::VariantInvalid,
            DecodeErrorCode::StreamIdMismatch,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert_eq!(code.to_string(), code.as_str());
        }
    }

    // ----- robustness ------------------------------------------------------------------------

    /// Deterministic xorshift64* generator (no extra dependency).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
        }
    }

    fn raw_b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn decode_never_panics_on_mutated_inputs() {
        let mut samples: Vec<(Vec<String>, String)> =
            page_events("fluxora-scenario.getEvents.json")
                .iter()
                .chain(&page_events("reorg-variant.getEvents.json"))
                .map(|e| (topics_of(e), e["value"].as_str().unwrap().to_owned()))
                .collect();
        for (name, id, payload, _) in built_events() {
            samples.push((topic(name, id), b64(&payload)));
        }
        let all_topics: Vec<String> = samples.iter().flat_map(|s| s.0.clone()).collect();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut runs = 0_usize;
        for (topics, value) in &samples {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value)
                .unwrap();
            // Every truncation is undecodable (never a different event).
            for len in 0..bytes.len() {
                let decoded = decode(topics, &raw_b64(&bytes[..len]));
                assert!(matches!(decoded, Decoded::Invalid(_)), "len {len}");
                runs += 1;
            }
            // Every byte position, several replacement values.
            for pos in 0..bytes.len() {
                for replacement in [bytes[pos] ^ 0xFF, 0x00, 0x7F, bytes[pos].wrapping_add(1)] {
                    let mut mutated = bytes.clone();
                    mutated[pos] = replacement;
                    let _ = decode(topics, &raw_b64(&mutated));
                    runs += 1;
                }
            }
            // Mutated topic bytes.
            for (t, text) in topics.iter().enumerate() {
                let topic_bytes = base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .unwrap();
                for pos in 0..topic_bytes.len() {
                    let mut mutated_topics = topics.clone();
                    let mut mutated = topic_bytes.clone();
                    mutated[pos] ^= 0xFF;
                    mutated_topics[t] = raw_b64(&mutated);
                    let _ = decode(&mutated_topics, value);
                    runs += 1;
                }
            }
            // Mutated base64 text.
            let text = value.as_bytes();
            for _ in 0..200 {
                let mut mutated = text.to_vec();
                let pos = rng.below(mutated.len());
                mutated[pos] = b"A/+=%\n \x00\xff"[rng.below(9)];
                let _ = decode(topics, &String::from_utf8_lossy(&mutated));
                runs += 1;
            }
        }
        // Random topics (0..=4 picked from real ones or random bytes) with random values.
        for _ in 0..5_000 {
            let count = rng.below(5);
            let topics: Vec<String> = (0..count)
                .map(|_| {
                    if rng.below(3) == 0 {
                        let len = rng.below(24);
                        raw_b64(
                            &(0..len)
                                .map(|_| rng.next().to_le_bytes()[0])
                                .collect::<Vec<_>>(),
                        )
                    } else {
                        all_topics[rng.below(all_topics.len())].clone()
                    }
                })
                .collect();
            let len = rng.below(512);
            let value: Vec<u8> = (0..len).map(|_| rng.next().to_le_bytes()[0]).collect();
            let _ = decode(&topics, &raw_b64(&value));
            let (_, real) = &samples[rng.below(samples.len())];
            let _ = decode(&topics, real);
            runs += 2;
        }
        assert!(runs > 50_000, "{runs}");
    }

    #[test]
    fn nesting_and_size_limits_are_enforced() {
        let topics = topic("withdrew", 0);
        // 5000 nested single-element Vecs: within the byte limit, far beyond the depth limit.
        let mut nested = Vec::new();
        for _ in 0..5_000 {
            nested.extend_from_slice(&[0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0, 1]);
        }
        nested.extend_from_slice(&[0, 0, 0, 1]);
        assert!(nested.len() < MAX_XDR_BYTES);
        let error = invalid_of(decode(&topics, &raw_b64(&nested)));
        assert_eq!(error.code, DecodeErrorCode::ValueXdrInvalid);
        // A map claiming u32::MAX entries.
        let error = invalid_of(decode(
            &topics,
            &raw_b64(&[0, 0, 0, 17, 0, 0, 0, 1, 255, 255, 255, 255]),
        ));
        assert_eq!(error.code, DecodeErrorCode::ValueXdrInvalid);
        // Oversized input is refused before decoding.
        let big = ScVal::Bytes(ScBytes(vec![0; MAX_XDR_BYTES].try_into().unwrap()));
        let error = invalid_of(decode(&topics, &b64(&big)));
        assert_eq!(error.code, DecodeErrorCode::XdrTooLarge);
        // Just under the byte limit but within the base64 cap: the XDR length limit answers.
        let near = ScVal::Bytes(ScBytes(vec![0; MAX_XDR_BYTES - 8].try_into().unwrap()));
        assert_eq!(
            invalid_of(decode(&topics, &b64(&near))).code,
            DecodeErrorCode::PayloadTypeInvalid
        );
        // Trailing bytes after a complete ScVal.
        let (topics, value) = scenario_withdrew();
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(value)
            .unwrap();
        bytes.extend_from_slice(&[0, 0, 0, 1]);
        assert_eq!(
            invalid_of(decode(&topics, &raw_b64(&bytes))).code,
            DecodeErrorCode::ValueXdrInvalid
        );
        // I128 parts decode exactly at the extremes.
        for n in [
            i128::MIN,
            i128::MIN + 1,
            -1,
            0,
            1,
            i128::from(u64::MAX),
            i128::MAX,
        ] {
            let ScVal::I128(Int128Parts { hi, lo }) = i128v(n) else {
                unreachable!()
            };
            let payload = sdk_map(vec![
                ("amount", ScVal::I128(Int128Parts { hi, lo })),
                ("recipient", account(R1)),
                ("stream_id", ScVal::U64(0)),
            ]);
            let event = event_of(decode(&topic("withdrew", 0), &b64(&payload)));
            let ContractEvent::Withdrew(w) = &event else {
                unreachable!()
            };
            assert_eq!(w.amount, n);
            assert_eq!(event.payload_json()["amount"], n.to_string());
        }
    }
}
