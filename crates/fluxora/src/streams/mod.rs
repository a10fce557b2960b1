//! The stream domain: the model, its lifecycle and its accrual (the resource as clients see it:
//! `docs/api.md`).
//!
//! Nothing here knows about HTTP or SQL: handlers call [`service::StreamService`], which applies
//! the rules of this module and persists through [`repo::StreamRepository`].

pub mod accrual;
pub mod create;
pub mod json;
pub mod query;
pub mod repo;
pub mod service;

use std::fmt;

use serde::Serialize;

use crate::address::StellarAddress;
use crate::amount::Amount;
use crate::clock::format_millis;
use accrual::AccrualSchedule;
pub use accrual::StreamKind;

/// Largest unix time (seconds) the service accepts or stores: `i64::MAX`, so times fit the
/// databases' signed 64-bit integer columns. The contract's own type is `u64`.
pub const MAX_UNIX_TIME: u64 = i64::MAX as u64;

/// A stream's lifecycle status as the API reports it.
///
/// Transitions: active → paused | cancelled, paused → active | cancelled; completed and cancelled
/// are terminal. An API stream that is active or paused at or after its end time reads as
/// completed (see [`Stream::status_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StreamStatus {
    /// Accruing; may be paused or cancelled.
    Active,
    /// Withdrawals blocked (accrual continues, as in the contract); may be resumed or cancelled.
    Paused,
    /// Terminal: the end time has passed (API streams) or the contract reported completion.
    Completed,
    /// Terminal: cancelled at `cancelledAt`; accrual is frozen at that instant.
    Cancelled,
}

impl StreamStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [StreamStatus; 4] = [
        StreamStatus::Active,
        StreamStatus::Paused,
        StreamStatus::Completed,
        StreamStatus::Cancelled,
    ];

    /// The lowercase wire and storage name (`active`, `paused`, `completed`, `cancelled`).
    pub fn as_str(self) -> &'static str {
        match self {
            StreamStatus::Active => "active",
            StreamStatus::Paused => "paused",
            StreamStatus::Completed => "completed",
            StreamStatus::Cancelled => "cancelled",
        }
    }

    /// Parses the wire name; `None` for anything else (exact, lowercase).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

impl fmt::Display for StreamStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a stream's state comes from: created through this API, or indexed from the contract's
/// events (then it changes only through events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StreamSource {
    /// Created with `POST /api/streams`; lifecycle driven by the API.
    Api,
    /// Indexed from the Fluxora contract; read-only through the API.
    Chain,
}

impl StreamSource {
    /// Every source.
    pub const ALL: [StreamSource; 2] = [StreamSource::Api, StreamSource::Chain];

    /// The lowercase wire and storage name (`api`, `chain`).
    pub fn as_str(self) -> &'static str {
        match self {
            StreamSource::Api => "api",
            StreamSource::Chain => "chain",
        }
    }

    /// Parses the wire name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|source| source.as_str() == s)
    }
}

/// On-chain identity of a chain-indexed stream (the resource's `chain` field; `null` for streams
/// created through the API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainRef {
    /// The Fluxora contract (C… StrKey).
    #[schema(pattern = "^C[A-Z2-7]{55}$")]
    pub contract_id: String,
    /// The contract's u64 stream id.
    pub stream_id: u64,
    /// Ledger sequence of the `created` event.
    pub created_ledger: u32,
    /// Hash (64 hex) of the creating transaction.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub tx_hash: String,
    /// Whether the contract closed (deleted) the stream; the record is kept.
    pub closed: bool,
    /// The SEP-41 token the contract streams (C… StrKey), once the indexer has read the
    /// contract's configuration (`get_config`); null before.
    #[schema(pattern = "^C[A-Z2-7]{55}$")]
    pub token_contract_id: Option<String>,
    /// Whether the contract's storage entry should be read: something the events cannot tell
    /// may differ (`docs/indexer.md`, "Reading the contract's storage"). Not part of the
    /// resource.
    #[serde(skip)]
    pub entry_pending: bool,
    /// What the contract's events say beyond the schedule (claim owner, delegation links,
    /// memo, money paid, flags).
    #[serde(flatten)]
    pub details: ChainDetails,
}

/// Bytes from the contract (a memo, a metadata key or value), as text when they are UTF-8 and
/// as base64 otherwise.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContractBytes {
    /// `text` (the bytes are UTF-8) or `base64`.
    #[schema(pattern = "^(text|base64)$")]
    pub encoding: String,
    /// The bytes in that encoding.
    pub value: String,
}

impl ContractBytes {
    /// `bytes` as text when they are UTF-8 without control characters, else as base64.
    pub fn of(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) if !text.chars().any(char::is_control) => ContractBytes {
                encoding: "text".to_owned(),
                value: text.to_owned(),
            },
            _ => {
                use base64::Engine as _;
                ContractBytes {
                    encoding: "base64".to_owned(),
                    value: base64::engine::general_purpose::STANDARD.encode(bytes),
                }
            }
        }
    }
}

/// One entry of a stream's on-chain metadata map.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetadataItem {
    /// The key.
    pub key: ContractBytes,
    /// The value.
    pub value: ContractBytes,
}

/// The contract's facts about a chain stream beyond its schedule, derived from its events (the
/// rules: `docs/indexer.md`, "How chain streams are derived"). Stored as one JSON document per
/// chain stream: nothing filters on these fields.
///
/// Amounts are [`Amount`]s (i128 stroops); stream ids are the contract's u64 ids.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "camelCase", default)]
pub struct ChainDetails {
    /// Who may withdraw instead of the recipient (`claim_own`), when someone does.
    #[schema(value_type = Option<StellarAddress>)]
    pub claim_owner: Option<String>,
    /// The stream this one was split from by a delegation (`del_share`), if any.
    pub parent_stream_id: Option<u64>,
    /// Streams split off this one by delegations, in order.
    pub child_stream_ids: Vec<u64>,
    /// 0 for a root stream, the parent's depth + 1 for a delegated child (the contract allows 3).
    pub delegation_depth: u32,
    /// The stream this one was cloned from (`cloned`), if any.
    pub cloned_from: Option<u64>,
    /// The completed stream this one renews (`renewed`), if any.
    pub renewed_from: Option<u64>,
    /// The stream that renews this one, if any.
    pub renewed_by: Option<u64>,
    /// The creation memo, if any.
    pub memo: Option<ContractBytes>,
    /// The creation metadata, in on-chain order.
    pub metadata: Vec<MetadataItem>,
    /// The smallest non-final payout the contract makes.
    pub withdraw_dust_threshold: Amount,
    /// Everything the contract paid out of the stream towards the recipient, as its events
    /// report it: withdrawals (net of a relayer's fee), and the recipient's share of a keeper
    /// cancel, which the contract pays without counting it in `withdrawnAmount`.
    pub paid_out_amount: Amount,
    /// The sender's refund when the stream was cancelled (`deposit − accrued(cancelledAt)`; for a
    /// keeper cancel, what the keeper's event says the sender got).
    pub refund_amount: Option<Amount>,
    /// The keeper's fee, for a keeper cancel.
    pub keeper_fee: Option<Amount>,
    /// Where anyone may push the stream's accrual once it ends (`ac_set`), while set.
    #[schema(value_type = Option<StellarAddress>)]
    pub auto_claim_destination: Option<String>,
    /// Set by the sender (`decomm`): no rate changes, extensions or top-ups.
    pub decommissioned: bool,
    /// The funding flag of the contract's `health` event, once one was emitted.
    pub underfunded: Option<bool>,
    /// Whether cancels are refused; known once the contract's storage was read (null before).
    pub irrevocable: Option<bool>,
    /// Who may cancel with a signed attestation, if anyone; known once the storage was read.
    #[schema(value_type = Option<StellarAddress>)]
    pub witness: Option<String>,
    /// Whether this is a pooled multi-recipient stream; known once the storage was read.
    pub pooled: Option<bool>,
    /// The ledger of the contract's storage entry this state was last made equal to (its
    /// `lastModifiedLedgerSeq`), null while only events made it.
    pub state_checked_ledger: Option<u32>,
    /// The stream's lookback window in ledgers of 5 s (the contract's `get_lookback_window`):
    /// a withdrawal pays at most what accrued in the last `lookbackLedgers × 5` seconds before
    /// `min(now, endTime)`, and `withdrawableAmount` is capped the same way. Null when the
    /// stream has none, or before it was read (`lookbackReadLedger` null).
    pub lookback_ledgers: Option<u32>,
    /// The ledger at which the lookback window was last read, null before the first read.
    pub lookback_read_ledger: Option<u32>,
}

/// Seconds per ledger in the contract's lookback arithmetic (its `SECONDS_PER_LEDGER`).
pub const LOOKBACK_SECONDS_PER_LEDGER: u64 = 5;

/// A stream as stored: the contract's parameters plus lifecycle state and bookkeeping.
///
/// Amounts are [`Amount`]s (i128 stroops); times are unix seconds; `created_at`/`updated_at` are
/// unix milliseconds. `version` increases with every stored change and guards concurrent updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// Stable public id (a UUID v7 for API streams).
    pub id: String,
    /// The funding treasury (G… or C…).
    pub sender: StellarAddress,
    /// The payee (G… or C…), different from the sender.
    pub recipient: StellarAddress,
    /// Total escrowed amount.
    pub deposit_amount: Amount,
    /// Accrual per second.
    pub rate_per_second: Amount,
    /// How the deposit accrues (API streams: linear).
    pub kind: StreamKind,
    /// Accrual start (unix seconds).
    pub start_time: u64,
    /// Nothing is visible before the cliff (unix seconds; start ≤ cliff ≤ end).
    pub cliff_time: u64,
    /// Accrual stops here (unix seconds; after start).
    pub end_time: u64,
    /// Status as last stored (API streams read as completed past their end, see [`Stream::status_at`]).
    pub status: StreamStatus,
    /// Total withdrawn (chain streams; always zero for API streams).
    pub withdrawn_amount: Amount,
    /// Accrual locked in at the last rate change (zero at creation).
    pub checkpoint_amount: Amount,
    /// Start of the current rate epoch (unix seconds; the start time at creation).
    pub checkpoint_at: u64,
    /// When the stream was cancelled (unix seconds), if it was.
    pub cancelled_at: Option<u64>,
    /// API or chain.
    pub source: StreamSource,
    /// Chain identity for chain-indexed streams.
    pub chain: Option<ChainRef>,
    /// Record creation time (unix milliseconds).
    pub created_at: i64,
    /// Last change (unix milliseconds).
    pub updated_at: i64,
    /// Optimistic-concurrency version, starting at 0.
    pub version: i64,
}

/// A lifecycle action requested through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamAction {
    /// active → paused.
    Pause,
    /// paused → active.
    Resume,
    /// active | paused → cancelled.
    Cancel,
}

impl StreamAction {
    fn verb(self) -> &'static str {
        match self {
            StreamAction::Pause => "paused",
            StreamAction::Resume => "resumed",
            StreamAction::Cancel => "cancelled",
        }
    }
}

/// Why a lifecycle action was refused (answered with 409 `CONFLICT`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The stream's current status does not allow the action.
    #[error("Stream '{id}' is {}", describe_refusal(*.status, .verb))]
    NotAllowed {
        /// The stream id.
        id: String,
        /// Its status at the time of the request.
        status: StreamStatus,
        /// Past participle of the action (`paused`, `resumed`, `cancelled`).
        verb: &'static str,
    },
    /// Chain streams change only through contract events: every lifecycle action is refused.
    #[error("Stream '{id}' is indexed from the chain: its state comes only from contract events and cannot be changed through the API")]
    ChainManaged {
        /// The stream id.
        id: String,
    },
}

/// "already paused" when the action targets the current status, else "<status> and cannot be <verb>".
fn describe_refusal(status: StreamStatus, verb: &str) -> String {
    match (status, verb) {
        (StreamStatus::Paused, "paused") | (StreamStatus::Cancelled, "cancelled") => {
            format!("already {status}")
        }
        (StreamStatus::Active, "resumed") => "already active".to_string(),
        _ => format!("{status} and cannot be {verb}"),
    }
}

impl Stream {
    /// The accrual inputs of this stream, for the contract's accrual rule ([`accrual`]).
    pub fn schedule(&self) -> AccrualSchedule {
        AccrualSchedule {
            deposit: self.deposit_amount.stroops(),
            rate_per_second: self.rate_per_second.stroops(),
            start_time: self.start_time,
            cliff_time: self.cliff_time,
            end_time: self.end_time,
            checkpoint_amount: self.checkpoint_amount.stroops(),
            checkpoint_at: self.checkpoint_at,
        }
    }

    /// The status the API reports at unix time `now`: an API stream that is active or paused at
    /// or after its end time reads as completed. Chain streams report what the contract's events
    /// said.
    pub fn status_at(&self, now: u64) -> StreamStatus {
        match (self.source, self.status) {
            (StreamSource::Api, StreamStatus::Active | StreamStatus::Paused)
                if now >= self.end_time =>
            {
                StreamStatus::Completed
            }
            (_, status) => status,
        }
    }

    /// Amount accrued at unix time `t` with the contract's rule; a cancelled stream is evaluated at
    /// `min(t, cancelled_at)`, a completed chain stream has accrued its whole deposit (as the
    /// contract computes it).
    pub fn streamed_at(&self, t: u64) -> Amount {
        // The contract reports a completed stream's accrual as the whole deposit.
        if self.source == StreamSource::Chain && self.status == StreamStatus::Completed {
            return self.deposit_amount;
        }
        let t = match self.cancelled_at {
            Some(cancelled_at) if self.status == StreamStatus::Cancelled => t.min(cancelled_at),
            _ => t,
        };
        Amount::from_stroops(self.schedule().accrued_at_kind(self.kind, t))
    }

    /// What the recipient could withdraw at unix time `t`, as the contract's `get_withdrawable`
    /// computes it: `streamed_at(t) − withdrawn`, never below zero; 0 for a paused stream (even
    /// past its end, although the contract's `withdraw` would pay then) and for a completed one;
    /// a cancelled stream keeps what accrued until its cancel time. With a lookback window of
    /// `L` ledgers the result is at most `accrued(u) − accrued(u − 5·L)` where
    /// `u = min(t', end)` and `t'` is `t` or the cancel time (a CliffOnly stream that has
    /// accrued is not capped). Not modelled: the contract's token balance, which lowers the
    /// figure only when the contract holds less than one stream's due.
    pub fn withdrawable_at(&self, t: u64) -> Amount {
        if matches!(self.status, StreamStatus::Paused | StreamStatus::Completed) {
            return Amount::ZERO;
        }
        let accrued = self.streamed_at(t);
        let mut due = accrued
            .checked_sub(self.withdrawn_amount)
            .filter(|left| !left.is_negative())
            .unwrap_or(Amount::ZERO);
        let lookback = self.chain.as_ref().and_then(|c| c.details.lookback_ledgers);
        if let Some(ledgers) = lookback {
            let bypass = self.kind == StreamKind::CliffOnly && accrued.stroops() > 0;
            if !bypass {
                let t = match self.cancelled_at {
                    Some(cancelled_at) if self.status == StreamStatus::Cancelled => cancelled_at,
                    _ => t,
                };
                let until = t.min(self.end_time);
                let window = u64::from(ledgers).saturating_mul(LOOKBACK_SECONDS_PER_LEDGER);
                let schedule = self.schedule();
                let cap = schedule
                    .accrued_at_kind(self.kind, until)
                    .saturating_sub(
                        schedule.accrued_at_kind(self.kind, until.saturating_sub(window)),
                    )
                    .max(0);
                due = Amount::from_stroops(due.stroops().min(cap));
            }
        }
        due
    }

    /// The sender's refund of a cancelled stream: what the contract's events reported for a chain
    /// stream, else `deposit − accrued(cancelledAt)` (the contract's rule); `None` unless
    /// cancelled.
    pub fn refund(&self) -> Option<Amount> {
        let cancelled_at = self
            .cancelled_at
            .filter(|_| self.status == StreamStatus::Cancelled)?;
        if let Some(refund) = self.chain.as_ref().and_then(|c| c.details.refund_amount) {
            return Some(refund);
        }
        self.deposit_amount
            .checked_sub(self.streamed_at(cancelled_at))
            .filter(|left| !left.is_negative())
    }

    /// Applies a lifecycle action at unix time `now` and returns the new state, or why it is
    /// refused. `now_millis` stamps `updated_at`; the version is bumped.
    ///
    /// Errors: [`TransitionError::ChainManaged`] for chain streams;
    /// [`TransitionError::NotAllowed`] when the status at `now` does not allow the action
    /// (e.g. cancelling a completed stream, resuming an active one).
    pub fn apply(
        &self,
        action: StreamAction,
        now: u64,
        now_millis: i64,
    ) -> Result<Stream, TransitionError> {
        if self.source == StreamSource::Chain {
            return Err(TransitionError::ChainManaged {
                id: self.id.clone(),
            });
        }
        let current = self.status_at(now);
        let next = match (current, action) {
            (StreamStatus::Active, StreamAction::Pause) => StreamStatus::Paused,
            (StreamStatus::Paused, StreamAction::Resume) => StreamStatus::Active,
            (StreamStatus::Active | StreamStatus::Paused, StreamAction::Cancel) => {
                StreamStatus::Cancelled
            }
            (status, action) => {
                return Err(TransitionError::NotAllowed {
                    id: self.id.clone(),
                    status,
                    verb: action.verb(),
                })
            }
        };
        let mut updated = self.clone();
        updated.status = next;
        if next == StreamStatus::Cancelled {
            updated.cancelled_at = Some(now);
        }
        updated.updated_at = now_millis;
        updated.version = self.version.saturating_add(1);
        Ok(updated)
    }

    /// What accrued by unix time `t` and the deposit's rest (never negative): the resource's
    /// `streamedAmount` and `remainingAmount`.
    pub fn streamed_and_remaining_at(&self, t: u64) -> (Amount, Amount) {
        let streamed = self.streamed_at(t);
        let remaining = self
            .deposit_amount
            .checked_sub(streamed)
            .unwrap_or(Amount::ZERO);
        (streamed, remaining)
    }

    /// The API representation at unix time `now`, with amounts computed at `at` (defaults to
    /// `now`; the `?at=` query of the read routes).
    pub fn view(&self, now: u64, at: Option<u64>) -> StreamView {
        let t = at.unwrap_or(now);
        let (streamed, remaining) = self.streamed_and_remaining_at(t);
        StreamView {
            id: self.id.clone(),
            sender: self.sender.to_string(),
            recipient: self.recipient.to_string(),
            deposit_amount: self.deposit_amount,
            rate_per_second: self.rate_per_second,
            kind: self.kind,
            start_time: self.start_time,
            cliff_time: self.cliff_time,
            end_time: self.end_time,
            status: self.status_at(now),
            withdrawn_amount: self.withdrawn_amount,
            streamed_amount: streamed,
            remaining_amount: remaining,
            withdrawable_amount: self.withdrawable_at(t),
            refund_amount: self.refund(),
            cancelled_at: self.cancelled_at,
            source: self.source,
            chain: self.chain.clone(),
            created_at: format_millis(self.created_at),
            updated_at: format_millis(self.updated_at),
        }
    }
}

/// The stream resource, as serialized in responses and webhook payloads.
/// Amounts are decimal strings with exactly 7 fractional digits; times are unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Stream)]
pub struct StreamView {
    /// Stream id.
    pub id: String,
    /// Sender StrKey.
    #[schema(value_type = StellarAddress)]
    pub sender: String,
    /// Recipient StrKey.
    #[schema(value_type = StellarAddress)]
    pub recipient: String,
    /// Total deposit.
    pub deposit_amount: Amount,
    /// Accrual per second.
    pub rate_per_second: Amount,
    /// How the deposit accrues: `linear` (from the start, or the last rate change), `cliffOnly`
    /// (all of it at the cliff) or `cliffSlope` (linearly from the cliff).
    pub kind: StreamKind,
    /// Accrual start (unix seconds).
    pub start_time: u64,
    /// Cliff (unix seconds).
    pub cliff_time: u64,
    /// End (unix seconds).
    pub end_time: u64,
    /// Status at response time.
    pub status: StreamStatus,
    /// Total withdrawn.
    pub withdrawn_amount: Amount,
    /// Accrued at the evaluation instant.
    pub streamed_amount: Amount,
    /// Deposit minus accrued at the evaluation instant.
    pub remaining_amount: Amount,
    /// What the recipient could withdraw at the evaluation instant, as the contract's
    /// `get_withdrawable`: accrued − withdrawn; 0 while paused and once completed; a cancelled
    /// stream keeps what accrued until its cancel time (`docs/api.md`, "Status and accrual").
    pub withdrawable_amount: Amount,
    /// The sender's refund of a cancelled stream (deposit − accrued at the cancel time; for a
    /// keeper cancel, what the contract refunded), else null.
    pub refund_amount: Option<Amount>,
    /// Cancel time (unix seconds) or null.
    pub cancelled_at: Option<u64>,
    /// `api` or `chain`.
    pub source: StreamSource,
    /// Chain identity or null.
    pub chain: Option<ChainRef>,
    /// RFC 3339 UTC, millisecond precision.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339 UTC, millisecond precision.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(status: StreamStatus, source: StreamSource) -> Stream {
        Stream {
            id: "s".into(),
            sender: StellarAddress::parse(
                "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5",
            )
            .unwrap(),
            recipient: StellarAddress::parse(
                "GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZ",
            )
            .unwrap(),
            deposit_amount: Amount::from_stroops(1000),
            rate_per_second: Amount::from_stroops(1),
            kind: StreamKind::Linear,
            start_time: 0,
            cliff_time: 0,
            end_time: 1000,
            status,
            withdrawn_amount: Amount::ZERO,
            checkpoint_amount: Amount::ZERO,
            checkpoint_at: 0,
            cancelled_at: None,
            source,
            chain: None,
            created_at: 0,
            updated_at: 0,
            version: 0,
        }
    }

    #[test]
    fn api_streams_read_completed_from_their_end_time() {
        for status in [StreamStatus::Active, StreamStatus::Paused] {
            let s = stream(status, StreamSource::Api);
            assert_eq!(s.status_at(999), status);
            assert_eq!(s.status_at(1000), StreamStatus::Completed, "now ≥ end");
            assert!(matches!(
                s.apply(StreamAction::Cancel, 1000, 0),
                Err(TransitionError::NotAllowed {
                    status: StreamStatus::Completed,
                    ..
                })
            ));
        }
        // Chain streams complete only through contract events.
        assert_eq!(
            stream(StreamStatus::Active, StreamSource::Chain).status_at(5000),
            StreamStatus::Active
        );
    }

    #[test]
    fn transition_table() {
        use StreamAction::*;
        use StreamStatus::*;
        let cases = [
            (Active, Pause, Some(Paused)),
            (Active, Resume, None),
            (Active, Cancel, Some(Cancelled)),
            (Paused, Pause, None),
            (Paused, Resume, Some(Active)),
            (Paused, Cancel, Some(Cancelled)),
            (Cancelled, Pause, None),
            (Cancelled, Resume, None),
            (Cancelled, Cancel, None),
            (Completed, Pause, None),
            (Completed, Resume, None),
            (Completed, Cancel, None),
        ];
        for (from, action, to) in cases {
            let result = stream(from, StreamSource::Api).apply(action, 10, 77);
            match to {
                Some(to) => {
                    let next = result.unwrap();
                    assert_eq!(next.status, to, "{from:?} {action:?}");
                    assert_eq!(next.version, 1);
                    assert_eq!(next.updated_at, 77);
                    assert_eq!(next.cancelled_at, (to == Cancelled).then_some(10));
                }
                None => assert!(result.is_err(), "{from:?} {action:?}"),
            }
        }
        assert!(matches!(
            stream(Active, StreamSource::Chain).apply(Pause, 10, 0),
            Err(TransitionError::ChainManaged { .. })
        ));
    }

    #[test]
    fn cancelled_streams_freeze_at_cancel_time() {
        let mut s = stream(StreamStatus::Cancelled, StreamSource::Api);
        s.cancelled_at = Some(300);
        assert_eq!(s.streamed_at(200).stroops(), 200);
        assert_eq!(s.streamed_at(900).stroops(), 300);
        let view = s.view(5000, Some(900));
        assert_eq!(view.remaining_amount.stroops(), 700);
    }
}
