//! Decoder for the Fluxora stream contract's events: base64 XDR `ScVal` topics and payload →
//! typed [`ContractEvent`] (pure, no I/O, never panics on any input).
//!
//! Source of the schema: `fixtures/chain/README.md` ("Event schema"), i.e. the contract at
//! `Fluxora-Org/Fluxora-Contracts@75b15ca` (soroban-sdk 21):
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
//! name not in [`CATALOGUE`] (the indexer stores it and skips it with a WARN), and
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

use ContractEvent as E;
use Payload::{Struct, Variant};

/// Maximum XDR nesting depth accepted for one topic or payload (`stellar_xdr::Limits::depth`).
pub const MAX_XDR_DEPTH: u32 = 64;
/// Maximum decoded size in bytes of one topic or payload (`stellar_xdr::Limits::len`); Soroban's
/// own per-transaction event size limit is far below this.
pub const MAX_XDR_BYTES: usize = 64 * 1024;
/// Longest base64 text accepted for one topic or payload (the encoding of [`MAX_XDR_BYTES`]).
const MAX_BASE64_CHARS: usize = MAX_XDR_BYTES.div_ceil(3) * 4;

/// One contract event that [`decode`] handles: its name, how its payload decodes, and whether it
/// changes stream state. [`CATALOGUE`] holds one per event.
#[derive(Debug, Clone, Copy)]
pub struct EventSpec {
    /// The event name: the first topic's Symbol (`symbol_short!`, 1–9 characters).
    pub name: &'static str,
    /// Whether the event can change the stream resource ([`derive::apply`] has a rule for it);
    /// events that do not are stored and skipped with their reason.
    ///
    /// [`derive::apply`]: crate::indexer::derive::apply
    pub changes_state: bool,
    /// How many topics the event has: 2 (`[Symbol(name), U64(stream id)]`), or 3 for
    /// `renewed` (`[Symbol, U64(old id), U64(new id)]`).
    pub topics: usize,
    payload: Payload,
}

/// How an event's payload is laid out, and the decoder that turns it into a [`ContractEvent`].
#[derive(Debug, Clone, Copy)]
enum Payload {
    /// A `#[contracttype]` struct: an `ScVal::Map` read by field name.
    Struct(fn(&Fields<'_>) -> Result<ContractEvent, DecodeError>),
    /// A tuple-enum variant `[Symbol(variant), U64(stream_id)]`: the variant Symbol and the
    /// [`ContractEvent`] constructor.
    Variant(&'static str, fn(StreamRef) -> ContractEvent),
}

/// The contract events [`decode`] handles, one entry each; any other name is
/// [`Decoded::Unknown`]. Handling another event takes its payload type, a [`ContractEvent`]
/// variant, a decoder, an entry here and the variant's arms in [`ContractEvent::spec`] and
/// [`ContractEvent::stream_id`] (plus its rule in [`derive::apply`] if it changes stream state).
///
/// [`derive::apply`]: crate::indexer::derive::apply
pub const CATALOGUE: &[EventSpec] = &[
    CREATED, WITHDREW, WDRAW_TO, PAUSED, RESUMED, CANCELLED, COMPLETED, CLOSED, TOP_UP, RATE_UPD,
    RATE_DEC, END_EXT, END_SHRT, KP_CNCL, RECP_UPD, CLAIM_OWN, DEL_SHARE, AC_TRIG, HEALTH, DECOMM,
    CLONED, RENEWED, AC_SET, AC_REVOKE,
];

/// The contract's events that concern no single stream: global and protocol pauses, admin
/// rotation, excess sweeps, templates, ID reservations, offers (an offer's id is the stream id it
/// will take, but the stream only exists once `created` says so), upgrades, and `rate_cap` (which
/// the contract publishes only inside a call that then fails, so it never reaches `getEvents`).
/// [`decode`] answers [`Decoded::ContractLevel`] for them: they are stored and change no stream.
pub const CONTRACT_LEVEL_EVENTS: &[&str] = &[
    "gl_pause",
    "gl_resume",
    "ct_pause",
    "pr_pause",
    "pr_resume",
    "ex_swept",
    "AdminUpd",
    "tmpl_def",
    "res_rel",
    "offr_crt",
    "offr_acc",
    "offr_cxl",
    "upgraded",
    "upgrade",
    "rate_cap",
];

// name, changes stream state, payload decoder
const CREATED: EventSpec = spec("created", true, Struct(created));
const WITHDREW: EventSpec = spec("withdrew", true, Struct(withdrew));
const WDRAW_TO: EventSpec = spec("wdraw_to", true, Struct(wdraw_to));
const PAUSED: EventSpec = spec("paused", true, Struct(paused));
const RESUMED: EventSpec = spec("resumed", true, Variant("Resumed", E::Resumed));
const CANCELLED: EventSpec = spec("cancelled", true, Variant("StreamCancelled", E::Cancelled));
const COMPLETED: EventSpec = spec("completed", true, Variant("StreamCompleted", E::Completed));
const CLOSED: EventSpec = spec("closed", true, Variant("StreamClosed", E::Closed));
const TOP_UP: EventSpec = spec("top_up", true, Struct(top_up));
const RATE_UPD: EventSpec = spec("rate_upd", true, Struct(rate_upd));
const RATE_DEC: EventSpec = spec("rate_dec", true, Struct(rate_dec));
const END_EXT: EventSpec = spec("end_ext", true, Struct(end_ext));
const END_SHRT: EventSpec = spec("end_shrt", true, Struct(end_shrt));
const KP_CNCL: EventSpec = spec("kp_cncl", true, Struct(kp_cncl));
const RECP_UPD: EventSpec = spec("recp_upd", true, Struct(recp_upd));
const CLAIM_OWN: EventSpec = spec("claim_own", true, Struct(claim_own));
const DEL_SHARE: EventSpec = spec("del_share", true, Struct(del_share));
const AC_TRIG: EventSpec = spec("ac_trig", false, Struct(ac_trig));
const HEALTH: EventSpec = spec("health", true, Struct(health));
const DECOMM: EventSpec = spec("decomm", true, Struct(decomm));
const CLONED: EventSpec = spec("cloned", true, Struct(cloned));
const RENEWED: EventSpec = EventSpec {
    topics: 3,
    ..spec("renewed", true, Struct(renewed))
};
const AC_SET: EventSpec = spec("ac_set", true, Struct(ac_set));
const AC_REVOKE: EventSpec = spec("ac_revoke", true, Struct(ac_revoke));

const fn spec(name: &'static str, changes_state: bool, payload: Payload) -> EventSpec {
    EventSpec {
        name,
        changes_state,
        topics: 2,
        payload,
    }
}

/// The catalogue entry of the event named `name`, if [`decode`] handles it.
pub fn event_spec(name: &str) -> Option<&'static EventSpec> {
    CATALOGUE.iter().find(|spec| spec.name == name)
}

impl EventSpec {
    /// Decodes this event's payload (the topic's stream id is checked by the caller).
    fn decode(&self, payload: &ScVal) -> Result<ContractEvent, DecodeError> {
        match self.payload {
            Struct(decode) => decode(&Fields::parse(self.name, payload)?),
            Variant(variant, event) => enum_payload(self.name, variant, payload).map(event),
        }
    }
}

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
    /// One of [`CONTRACT_LEVEL_EVENTS`]: recognised, concerning no stream; the payload was not
    /// examined. The indexer stores it and changes nothing.
    ContractLevel {
        /// The event name.
        name: &'static str,
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
    /// A field holds a value the contract can never emit: a negative amount or rate, a zero
    /// deposit, times out of order (`start < end`, `start ≤ cliff ≤ end`), a share outside
    /// 1–10 000 basis points. The event is stored, flagged invalid and never applied.
    FieldValueOutOfRange,
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
            Self::FieldValueOutOfRange => "FIELD_VALUE_OUT_OF_RANGE",
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

    pub(in crate::indexer) fn field(
        code: DecodeErrorCode,
        event: &str,
        field: &str,
        detail: impl fmt::Display,
    ) -> Self {
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
/// witness or claim owner (a trap: `rate_per_second == 0` means CliffOnly; Linear vs CliffSlope
/// needs a state read).
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
/// NET of the relayer fee, while the contract's `withdrawn_amount` grows by the gross amount.
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
/// `update_rate` (does not); the two are indistinguishable (`docs/indexer.md`, "Known limits").
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
/// `withdrawn_amount`, although it pays it.
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
/// count the money once.
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

/// `cloned` (`StreamCloned`): the new stream (the topic's id, already announced by its
/// `created`) copies the source stream's schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamCloned {
    /// The new stream's id (the topic's id).
    pub new_stream_id: u64,
    /// The stream it was cloned from.
    pub source_stream_id: u64,
    /// Funder (`G…`/`C…`).
    pub sender: String,
    /// Payee (`G…`/`C…`).
    pub recipient: String,
    /// Escrowed total, raw token units.
    #[serde(serialize_with = "ser_i128")]
    pub deposit_amount: i128,
    /// Raw token units per second.
    #[serde(serialize_with = "ser_i128")]
    pub rate_per_second: i128,
    /// Accrual start, unix seconds.
    pub start_time: u64,
    /// Cliff, unix seconds.
    pub cliff_time: u64,
    /// Accrual end, unix seconds.
    pub end_time: u64,
    /// Minimum non-final payout, raw token units.
    #[serde(serialize_with = "ser_i128")]
    pub withdraw_dust_threshold: i128,
}

/// `renewed` (`StreamRenewed`, topics `[renewed, old id, new id]`): a completed stream was renewed
/// into a new one (announced by its own `created` just before).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamRenewed {
    /// The completed stream (the second topic).
    pub old_stream_id: u64,
    /// The new stream (the third topic).
    pub new_stream_id: u64,
}

/// `ac_set` (`AutoClaimSet`): anyone may now push the stream's accrual to `destination` once it
/// ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutoClaimSet {
    /// On-chain stream id.
    pub stream_id: u64,
    /// Where auto-claims pay (`G…`/`C…`).
    pub destination: String,
}

/// `ac_revoke` (`AutoClaimRevoked`): the auto-claim destination was removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutoClaimRevoked {
    /// On-chain stream id.
    pub stream_id: u64,
}

/// A decoded Fluxora stream event, one variant per [`CATALOGUE`] entry.
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
    /// `cloned`.
    Cloned(StreamCloned),
    /// `renewed`.
    Renewed(StreamRenewed),
    /// `ac_set`.
    AutoClaimSet(AutoClaimSet),
    /// `ac_revoke`.
    AutoClaimRevoked(AutoClaimRevoked),
}

impl ContractEvent {
    /// This event's [`CATALOGUE`] entry.
    pub fn spec(&self) -> &'static EventSpec {
        match self {
            Self::Created(_) => &CREATED,
            Self::Withdrew(_) => &WITHDREW,
            Self::WithdrewTo(_) => &WDRAW_TO,
            Self::Paused(_) => &PAUSED,
            Self::Resumed(_) => &RESUMED,
            Self::Cancelled(_) => &CANCELLED,
            Self::Completed(_) => &COMPLETED,
            Self::Closed(_) => &CLOSED,
            Self::ToppedUp(_) => &TOP_UP,
            Self::RateUpdated(_) => &RATE_UPD,
            Self::RateDecreased(_) => &RATE_DEC,
            Self::EndExtended(_) => &END_EXT,
            Self::EndShortened(_) => &END_SHRT,
            Self::KeeperCancelled(_) => &KP_CNCL,
            Self::RecipientUpdated(_) => &RECP_UPD,
            Self::ClaimOwnershipTransferred(_) => &CLAIM_OWN,
            Self::ShareDelegated(_) => &DEL_SHARE,
            Self::AutoClaimTriggered(_) => &AC_TRIG,
            Self::HealthChanged(_) => &HEALTH,
            Self::Decommissioned(_) => &DECOMM,
            Self::Cloned(_) => &CLONED,
            Self::Renewed(_) => &RENEWED,
            Self::AutoClaimSet(_) => &AC_SET,
            Self::AutoClaimRevoked(_) => &AC_REVOKE,
        }
    }

    /// The event name (first topic Symbol), e.g. `"withdrew"`.
    pub fn name(&self) -> &'static str {
        self.spec().name
    }

    /// Whether the event can change the stream resource ([`EventSpec::changes_state`]).
    pub fn changes_state(&self) -> bool {
        self.spec().changes_state
    }

    /// The stream the event is about: the topic's stream id (for `del_share`, the parent; for
    /// `renewed`, the old stream; for `cloned`, the new one).
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
            Self::Cloned(e) => e.new_stream_id,
            Self::Renewed(e) => e.old_stream_id,
            Self::AutoClaimSet(e) => e.stream_id,
            Self::AutoClaimRevoked(e) => e.stream_id,
        }
    }

    /// The other stream the event changes, if any: the child a `del_share` creates, the new
    /// stream a `renewed` links to its predecessor.
    pub fn related_stream_id(&self) -> Option<u64> {
        match self {
            Self::ShareDelegated(e) => Some(e.child_stream_id),
            Self::Renewed(e) => Some(e.new_stream_id),
            _ => None,
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
            Self::Resumed(e) | Self::Cancelled(e) | Self::Completed(e) | Self::Closed(e) => {
                match self.spec().payload {
                    Variant(variant, _) => json!([variant, e.stream_id]),
                    Struct(_) => obj(e),
                }
            }
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
            Self::Cloned(e) => obj(e),
            Self::Renewed(e) => obj(e),
            Self::AutoClaimSet(e) => obj(e),
            Self::AutoClaimRevoked(e) => obj(e),
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
    let Some(spec) = event_spec(&name) else {
        if let Some(name) = CONTRACT_LEVEL_EVENTS.iter().find(|known| **known == name) {
            return Ok(Decoded::ContractLevel { name });
        }
        return Ok(Decoded::Unknown { name });
    };
    let event = spec.name;
    if topic.len() != spec.topics {
        return Err(DecodeError::new(
            DecodeErrorCode::TopicCountInvalid,
            Some(event),
            Some("topic"),
            format!(
                "{event}: expected {} topics [Symbol, U64(stream_id){}], got {}",
                spec.topics,
                if spec.topics == 3 {
                    ", U64(new stream id)"
                } else {
                    ""
                },
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
    let decoded = spec.decode(&payload)?;
    if let ContractEvent::Renewed(renewed) = &decoded {
        match topic
            .get(2)
            .map(|t| parse_xdr(t, Part::Topic(2), Some(event)))
        {
            Some(Ok(ScVal::U64(id))) if id == renewed.new_stream_id => {}
            Some(Err(error)) => return Err(error),
            _ => {
                return Err(DecodeError::new(
                    DecodeErrorCode::StreamIdMismatch,
                    Some(event),
                    Some("topic[2]"),
                    format!(
                        "{event}: the third topic must be U64({}), the payload's new_stream_id",
                        renewed.new_stream_id
                    ),
                ))
            }
        }
    }
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

// Payload decoders of the struct events, one per event, named after it (see [`CATALOGUE`]).

fn created(s: &Fields<'_>) -> Result<ContractEvent, DecodeError> {
    let created = StreamCreated {
        stream_id: s.u64("stream_id")?,
        sender: s.address("sender")?,
        recipient: s.address("recipient")?,
        deposit_amount: s.positive("deposit_amount")?,
        rate_per_second: s.amount("rate_per_second")?,
        start_time: s.u64("start_time")?,
        cliff_time: s.u64("cliff_time")?,
        end_time: s.u64("end_time")?,
        withdraw_dust_threshold: s.amount("withdraw_dust_threshold")?,
        memo: s.opt_bytes("memo")?,
        metadata: s.opt_bytes_map("metadata")?,
    };
    s.schedule(created.start_time, created.cliff_time, created.end_time)?;
    Ok(E::Created(created))
}

fn cloned(s: &Fields<'_>) -> Result<ContractEvent, DecodeError> {
    let cloned = StreamCloned {
        new_stream_id: s.u64("new_stream_id")?,
        source_stream_id: s.u64("source_stream_id")?,
        sender: s.address("sender")?,
        recipient: s.address("recipient")?,
        deposit_amount: s.positive("deposit_amount")?,
        rate_per_second: s.amount("rate_per_second")?,
        start_time: s.u64("start_time")?,
        cliff_time: s.u64("cliff_time")?,
        end_time: s.u64("end_time")?,
        withdraw_dust_threshold: s.amount("withdraw_dust_threshold")?,
    };
    s.schedule(cloned.start_time, cloned.cliff_time, cloned.end_time)?;
    Ok(E::Cloned(cloned))
}

fn renewed(s: &Fields<'_>) -> Result<ContractEvent, DecodeError> {
    Ok(E::Renewed(StreamRenewed {
        old_stream_id: s.u64("old_stream_id")?,
        new_stream_id: s.u64("new_stream_id")?,
    }))
}

fn ac_set(s: &Fields<'_>) -> Result<ContractEvent, DecodeError> {
    Ok(E::AutoClaimSet(AutoClaimSet {
        stream_id: s.u64("stream_id")?,
        destination: s.address("destination")?,
    }))
}

fn ac_revoke(s: &Fields<'_>) -> Result<ContractEvent, DecodeError> {
    Ok(E::AutoClaimRevoked(AutoClaimRevoked {
        stream_id: s.u64("stream_id")?,
    }))
}

fn withdrew(s: &Fields<'_>) -> Result<ContractEvent, DecodeError> {
    Ok(E::Withdrew(Withdrawal {
        stream_id: s.u64("stream_id")?,
        recipient: s.address("recipient")?,
        amount: s.amount("amount")?,
    }))
}

fn wdraw_to(s: &Fields<'_>) -> Result<ContractEvent, DecodeError> {
    Ok(E::WithdrewTo(WithdrawalTo {
        stream_id: s.u64("stream_id")?,
        recipient: s.address("recipient")?,
        destination: s.address("destination")?,
        amount: s.amount("amount")?,
    }))
}

fn paused(s: &Fields<'_>) -> Result<ContractEvent, DecodeError> {
    Ok(E::Paused(StreamPaused {
        stream_id: s.u64("stream_id")?,
        reason: s.string("reason")?,
    }))
}

fn top_up(s: &Fields<'_>) -> Result<ContractEvent, DecodeError> {
    Ok(E::ToppedUp(StreamToppedUp {
        stream_id: s.u64("stream_id")?,
        top_up_amount: s.amount("top_up_amount")?,
        new_deposit_amount: s.amount("new_deposit_amount")?,
        new_end_time: s.u64("new_end_time")?,
    }))
}

fn rate_upd(s: &Fields<'_>) -> Result<ContractEvent, DecodeError> {
    Ok(E::RateUpdated(RateUpdated {
        stream_id: s.u64("stream_id")?,
        old_rate_per_second: s.amount("old_rate_per_second")?,
        new_rate_per_second: s.amount("new_rate_per_second")?,
        effective_time: s.u64("effective_time")?,
    }))
}

fn rate_dec(s: &Fields<'_>) -> Result<ContractEvent, DecodeError> {
    Ok(E::RateDecreased(RateDecreased {
        stream_id: s.u64("stream_id")?,
        old_rate_per_second: s.amount("old_rate_per_second")?,
        new_rate_per_second: s.amount("new_rate_per_second")?,
        checkpointed_amount: s.amount("checkpointed_amount")?,
        refund_amount: s.amount("refund_amount")?,
        effective_time: s.u64("effective_time")?,
    }))
}

fn end_ext(s: &Fields<'_>) -> Result<ContractEvent, DecodeError> {
    Ok(E::EndExtended(StreamEndExtended {
        stream_id: s.u64("stream_id")?,
        old_end_time: s.u64("old_end_time")?,
        new_end_time: s.u64("new_end_time")?,
    }))
}

fn end_shrt(s: &Fields<'_>) -> Result<ContractEvent, DecodeError> {
    Ok(E::EndShortened(StreamEndShortened {
        stream_id: s.u64("stream_id")?,
        old_end_time: s.u64("old_end_time")?,
        new_end_time: s.u64("new_end_time")?,
        refund_amount: s.amount("refund_amount")?,
    }))
}

fn kp_cncl(s: &Fields<'_>) -> Result<ContractEvent, DecodeError> {
    Ok(E::KeeperCancelled(KeeperCancelled {
        stream_id: s.u64("stream_id")?,
        keeper: s.address("keeper")?,
        keeper_fee: s.amount("keeper_fee")?,
        recipient_amount: s.amount("recipient_amount")?,
        sender_refund: s.amount("sender_refund")?,
    }))
}

fn recp_upd(s: &Fields<'_>) -> Result<ContractEvent, DecodeError> {
    Ok(E::RecipientUpdated(RecipientUpdated {
        stream_id: s.u64("stream_id")?,
        old_recipient: s.address("old_recipient")?,
        new_recipient: s.address("new_recipient")?,
    }))
}

fn claim_own(s: &Fields<'_>) -> Result<ContractEvent, DecodeError> {
    Ok(E::ClaimOwnershipTransferred(ClaimOwnershipTransferred {
        stream_id: s.u64("stream_id")?,
        old_owner: s.opt_address("old_owner")?,
        new_owner: s.address("new_owner")?,
    }))
}

fn del_share(s: &Fields<'_>) -> Result<ContractEvent, DecodeError> {
    Ok(E::ShareDelegated(RecipientShareDelegated {
        parent_stream_id: s.u64("parent_stream_id")?,
        child_stream_id: s.u64("child_stream_id")?,
        delegator: s.address("delegator")?,
        delegatee: s.address("delegatee")?,
        share_bps: s.share_bps("share_bps")?,
        child_rate: s.amount("child_rate")?,
        new_parent_rate: s.amount("new_parent_rate")?,
    }))
}

fn ac_trig(s: &Fields<'_>) -> Result<ContractEvent, DecodeError> {
    Ok(E::AutoClaimTriggered(AutoClaimTriggered {
        stream_id: s.u64("stream_id")?,
        destination: s.address("destination")?,
        amount: s.amount("amount")?,
    }))
}

fn health(s: &Fields<'_>) -> Result<ContractEvent, DecodeError> {
    Ok(E::HealthChanged(StreamHealthChanged {
        stream_id: s.u64("stream_id")?,
        is_underfunded: s.bool("is_underfunded")?,
        remaining_balance: s.amount("remaining_balance")?,
        seconds_remaining: s.u64("seconds_remaining")?,
    }))
}

fn decomm(s: &Fields<'_>) -> Result<ContractEvent, DecodeError> {
    Ok(E::Decommissioned(StreamDecommissioned {
        stream_id: s.u64("stream_id")?,
        decommissioned: s.bool("decommissioned")?,
    }))
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
/// A `#[contracttype]` struct's `ScMap`, read by field name (also the stream storage entries of
/// [`crate::indexer::entry`]).
pub(in crate::indexer) struct Fields<'a> {
    event: &'static str,
    map: BTreeMap<&'a [u8], &'a ScVal>,
}

impl<'a> Fields<'a> {
    pub(in crate::indexer) fn parse(
        event: &'static str,
        v: &'a ScVal,
    ) -> Result<Self, DecodeError> {
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

    pub(in crate::indexer) fn u64(&self, field: &str) -> Result<u64, DecodeError> {
        match self.get(field)? {
            ScVal::U64(n) => Ok(*n),
            other => Err(self.wrong_type(field, "U64", other)),
        }
    }

    pub(in crate::indexer) fn u32(&self, field: &str) -> Result<u32, DecodeError> {
        match self.get(field)? {
            ScVal::U32(n) => Ok(*n),
            other => Err(self.wrong_type(field, "U32", other)),
        }
    }

    pub(in crate::indexer) fn bool(&self, field: &str) -> Result<bool, DecodeError> {
        match self.get(field)? {
            ScVal::Bool(b) => Ok(*b),
            other => Err(self.wrong_type(field, "Bool", other)),
        }
    }

    /// `I128 {hi, lo}` → exact `i128`.
    pub(in crate::indexer) fn i128(&self, field: &str) -> Result<i128, DecodeError> {
        match self.get(field)? {
            ScVal::I128(parts) => Ok((i128::from(parts.hi) << 64) | i128::from(parts.lo)),
            other => Err(self.wrong_type(field, "I128", other)),
        }
    }

    /// An `I128` amount or rate that the contract never makes negative.
    pub(in crate::indexer) fn amount(&self, field: &str) -> Result<i128, DecodeError> {
        let value = self.i128(field)?;
        if value < 0 {
            return Err(self.out_of_range(field, "must not be negative"));
        }
        Ok(value)
    }

    /// An `I128` amount the contract requires above zero (a deposit).
    fn positive(&self, field: &str) -> Result<i128, DecodeError> {
        let value = self.i128(field)?;
        if value <= 0 {
            return Err(self.out_of_range(field, "must be greater than 0"));
        }
        Ok(value)
    }

    /// A share in basis points: 1–10 000.
    fn share_bps(&self, field: &str) -> Result<u32, DecodeError> {
        let value = self.u32(field)?;
        if !(1..=10_000).contains(&value) {
            return Err(self.out_of_range(field, "must be 1–10000 basis points"));
        }
        Ok(value)
    }

    /// The contract's schedule rule: `start < end` and `start ≤ cliff ≤ end`, within the times
    /// the service stores (`crate::streams::MAX_UNIX_TIME`).
    fn schedule(&self, start: u64, cliff: u64, end: u64) -> Result<(), DecodeError> {
        if end > crate::streams::MAX_UNIX_TIME {
            return Err(self.out_of_range("end_time", "exceeds i64::MAX seconds"));
        }
        if start >= end {
            return Err(self.out_of_range("end_time", "must be after start_time"));
        }
        if cliff < start || cliff > end {
            return Err(self.out_of_range("cliff_time", "must be between start_time and end_time"));
        }
        Ok(())
    }

    fn out_of_range(&self, field: &str, rule: &str) -> DecodeError {
        DecodeError::field(
            DecodeErrorCode::FieldValueOutOfRange,
            self.event,
            field,
            rule,
        )
    }

    pub(in crate::indexer) fn string(&self, field: &str) -> Result<String, DecodeError> {
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

    pub(in crate::indexer) fn address(&self, field: &str) -> Result<String, DecodeError> {
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

    pub(in crate::indexer) fn opt_address(
        &self,
        field: &str,
    ) -> Result<Option<String>, DecodeError> {
        match self.get(field)? {
            ScVal::Void => Ok(None),
            ScVal::Address(_) => self.address(field).map(Some),
            other => Err(self.wrong_type(field, "Address or Void", other)),
        }
    }

    pub(in crate::indexer) fn opt_u64(&self, field: &str) -> Result<Option<u64>, DecodeError> {
        match self.get(field)? {
            ScVal::Void => Ok(None),
            ScVal::U64(n) => Ok(Some(*n)),
            other => Err(self.wrong_type(field, "U64 or Void", other)),
        }
    }

    pub(in crate::indexer) fn opt_bool(&self, field: &str) -> Result<Option<bool>, DecodeError> {
        match self.get(field)? {
            ScVal::Void => Ok(None),
            ScVal::Bool(b) => Ok(Some(*b)),
            other => Err(self.wrong_type(field, "Bool or Void", other)),
        }
    }

    pub(in crate::indexer) fn opt_bytes(
        &self,
        field: &str,
    ) -> Result<Option<Vec<u8>>, DecodeError> {
        match self.get(field)? {
            ScVal::Void => Ok(None),
            ScVal::Bytes(bytes) => Ok(Some(bytes.as_vec().clone())),
            other => Err(self.wrong_type(field, "Bytes or Void", other)),
        }
    }

    pub(in crate::indexer) fn opt_bytes_map(
        &self,
        field: &str,
    ) -> Result<Option<Vec<MetadataEntry>>, DecodeError> {
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
mod tests;
