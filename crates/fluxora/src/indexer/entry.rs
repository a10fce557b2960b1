//! The contract's own storage of a stream: the persistent `ContractData` entry under the key
//! `[Symbol("Stream"), U64(id)]`, as Stellar RPC's `getLedgerEntries` returns it (the rules for
//! operators: `docs/indexer.md`, "Reading the contract's storage").
//!
//! Events cannot tell everything: `created` does not carry the kind (Linear or CliffSlope), the
//! irrevocable flag, the witness or the claim owner; `rate_upd` comes from two entry points, one of
//! which does not checkpoint; a delegated withdrawal reports the net amount while the contract
//! adds the gross. The entry is the contract's state itself. [`StreamEntry::decode`] reads one
//! (pure, never panics), [`stream_key`] builds the key to ask for, and [`StreamEntry::apply`]
//! makes a chain stream equal to it.
//!
//! An entry is the stream's state as of `lastModifiedLedgerSeq` and unchanged since: applied once
//! the indexer has ingested that ledger, it agrees with every event up to there, and later events
//! fold on top of it. Entries are stored with the events so that a rollback replays both.

use base64::Engine as _;
use stellar_xdr::{
    ContractDataDurability, ContractId, Hash, LedgerEntryData, LedgerKey, LedgerKeyContractData,
    Limits, ReadXdr, ScAddress, ScSymbol, ScVal, ScVec, WriteXdr,
};

use crate::address::StellarAddress;
use crate::amount::Amount;
use crate::indexer::decode::{
    DecodeError, DecodeErrorCode, Fields, MetadataEntry, MAX_XDR_BYTES, MAX_XDR_DEPTH,
};
use crate::streams::{ContractBytes, MetadataItem, Stream, StreamKind, StreamStatus};

/// The storage key symbol of a stream (`DataKey::Stream(u64)`).
const STREAM_KEY: &str = "Stream";
/// The "event" name decode errors of an entry carry.
const ENTRY: &str = "Stream entry";

/// One stream entry as read, with where it stands in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRead {
    /// The `LedgerEntryData` XDR, base64 (`getLedgerEntries`' `xdr`).
    pub xdr: String,
    /// The ledger of the last change to the entry's value (`lastModifiedLedgerSeq`).
    pub last_modified_ledger: u32,
    /// Until which ledger the entry is live (`liveUntilLedgerSeq`), when known.
    pub live_until_ledger: Option<u32>,
}

/// The contract's `Stream` struct, decoded from its storage entry. Amounts are i128 raw token
/// units (stroops), times u64 unix seconds, ledgers u32 sequences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// The contract holding the entry (C… StrKey).
    pub contract_id: String,
    /// The stream id of the key.
    pub stream_id: u64,
    /// Funder.
    pub sender: StellarAddress,
    /// Payee.
    pub recipient: StellarAddress,
    /// Withdraw authority instead of the recipient, if set.
    pub claim_owner: Option<String>,
    /// Escrowed total.
    pub deposit_amount: i128,
    /// Units per second (0 for CliffOnly).
    pub rate_per_second: i128,
    /// Accrual start.
    pub start_time: u64,
    /// Cliff.
    pub cliff_time: u64,
    /// End.
    pub end_time: u64,
    /// Cumulative withdrawn (gross).
    pub withdrawn_amount: i128,
    /// Lifecycle status.
    pub status: StreamStatus,
    /// Cancel time.
    pub cancelled_at: Option<u64>,
    /// Accrual locked at the last checkpoint.
    pub checkpointed_amount: i128,
    /// Start of the current rate epoch.
    pub checkpointed_at: u64,
    /// Smallest non-final payout.
    pub withdraw_dust_threshold: i128,
    /// Memo bytes.
    pub memo: Option<Vec<u8>>,
    /// Kind.
    pub kind: StreamKind,
    /// Metadata, in on-chain order.
    pub metadata: Option<Vec<MetadataEntry>>,
    /// Cancels are refused when set.
    pub irrevocable: Option<bool>,
    /// May cancel with a signed attestation.
    pub witness: Option<String>,
    /// A pooled multi-recipient stream.
    pub is_pooled: Option<bool>,
    /// 0 for a root stream.
    pub delegation_depth: u32,
    /// The parent of a delegated child.
    pub parent_stream_id: Option<u64>,
    /// Rate changes, extensions and top-ups refused when set.
    pub decommissioned: Option<bool>,
}

/// The base64 `LedgerKey` of stream `stream_id` of contract `contract_id` (a C… StrKey): what
/// `getLedgerEntries` takes. `None` when `contract_id` is not a contract StrKey.
pub fn stream_key(contract_id: &str, stream_id: u64) -> Option<String> {
    let contract = stellar_strkey::Contract::from_string(contract_id).ok()?;
    let symbol = ScSymbol(STREAM_KEY.as_bytes().to_vec().try_into().ok()?);
    let key = ScVal::Vec(Some(ScVec(
        vec![ScVal::Symbol(symbol), ScVal::U64(stream_id)]
            .try_into()
            .ok()?,
    )));
    LedgerKey::ContractData(LedgerKeyContractData {
        contract: ScAddress::Contract(ContractId(Hash(contract.0))),
        key,
        durability: ContractDataDurability::Persistent,
    })
    .to_xdr_base64(Limits::none())
    .ok()
}

fn invalid(code: DecodeErrorCode, message: impl Into<String>) -> DecodeError {
    DecodeError {
        code,
        event: Some(ENTRY.to_owned()),
        field: None,
        message: message.into(),
    }
}

impl StreamEntry {
    /// Decodes a base64 `LedgerEntryData` holding a stream: a persistent `ContractData` entry of a
    /// contract, key `[Symbol("Stream"), U64(id)]`, value the `Stream` map (read by field name).
    ///
    /// # Errors
    /// A [`DecodeError`] naming the problem: not base64 or not one XDR value
    /// (`VALUE_BASE64_INVALID`, `VALUE_XDR_INVALID`), not a stream entry
    /// (`PAYLOAD_TYPE_INVALID`), a field missing or of the wrong type, or an impossible value
    /// (`FIELD_VALUE_OUT_OF_RANGE`: a negative amount, times out of order, an unknown status
    /// or kind).
    pub fn decode(xdr: &str) -> Result<Self, DecodeError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(xdr)
            .map_err(|e| {
                invalid(
                    DecodeErrorCode::ValueBase64Invalid,
                    format!("not base64: {e}"),
                )
            })?;
        let limits = Limits {
            depth: MAX_XDR_DEPTH,
            len: MAX_XDR_BYTES,
        };
        let data = LedgerEntryData::from_xdr(&bytes, limits).map_err(|e| {
            invalid(
                DecodeErrorCode::ValueXdrInvalid,
                format!("not one XDR LedgerEntryData: {e}"),
            )
        })?;
        let LedgerEntryData::ContractData(entry) = data else {
            return Err(invalid(
                DecodeErrorCode::PayloadTypeInvalid,
                "not a ContractData entry",
            ));
        };
        let ScAddress::Contract(ContractId(Hash(contract))) = &entry.contract else {
            return Err(invalid(
                DecodeErrorCode::PayloadTypeInvalid,
                "the entry does not belong to a contract",
            ));
        };
        let stream_id = match &entry.key {
            ScVal::Vec(Some(items)) => match items.as_slice() {
                [ScVal::Symbol(symbol), ScVal::U64(id)]
                    if symbol.as_vec().as_slice() == STREAM_KEY.as_bytes() =>
                {
                    *id
                }
                _ => {
                    return Err(invalid(
                        DecodeErrorCode::PayloadTypeInvalid,
                        "the key is not [Symbol(\"Stream\"), U64(id)]",
                    ))
                }
            },
            _ => {
                return Err(invalid(
                    DecodeErrorCode::PayloadTypeInvalid,
                    "the key is not [Symbol(\"Stream\"), U64(id)]",
                ))
            }
        };
        if entry.durability != ContractDataDurability::Persistent {
            return Err(invalid(
                DecodeErrorCode::PayloadTypeInvalid,
                "a stream entry is persistent",
            ));
        }
        let s = Fields::parse(ENTRY, &entry.val)?;
        let out_of_range = |field: &str, rule: &str| {
            DecodeError::field(DecodeErrorCode::FieldValueOutOfRange, ENTRY, field, rule)
        };
        let address = |field: &str| {
            s.address(field).and_then(|text| {
                StellarAddress::parse(&text)
                    .map_err(|_| out_of_range(field, "is not a G… or C… address"))
            })
        };
        let status = match s.u32("status")? {
            0 => StreamStatus::Active,
            1 => StreamStatus::Paused,
            2 => StreamStatus::Completed,
            3 => StreamStatus::Cancelled,
            _ => return Err(out_of_range("status", "is not 0–3")),
        };
        let kind = StreamKind::from_code(s.u32("kind")?)
            .ok_or_else(|| out_of_range("kind", "is not 0–2"))?;
        let entry = StreamEntry {
            contract_id: stellar_strkey::Contract(*contract)
                .to_string()
                .as_str()
                .to_owned(),
            stream_id,
            sender: address("sender")?,
            recipient: address("recipient")?,
            claim_owner: s.opt_address("claim_owner")?,
            deposit_amount: s.amount("deposit_amount")?,
            rate_per_second: s.amount("rate_per_second")?,
            start_time: s.u64("start_time")?,
            cliff_time: s.u64("cliff_time")?,
            end_time: s.u64("end_time")?,
            withdrawn_amount: s.amount("withdrawn_amount")?,
            status,
            cancelled_at: s.opt_u64("cancelled_at")?,
            checkpointed_amount: s.amount("checkpointed_amount")?,
            checkpointed_at: s.u64("checkpointed_at")?,
            withdraw_dust_threshold: s.amount("withdraw_dust_threshold")?,
            memo: s.opt_bytes("memo")?,
            kind,
            metadata: s.opt_bytes_map("metadata")?,
            irrevocable: s.opt_bool("irrevocable")?,
            witness: s.opt_address("witness")?,
            is_pooled: s.opt_bool("is_pooled")?,
            delegation_depth: s.u32("delegation_depth")?,
            parent_stream_id: s.opt_u64("parent_stream_id")?,
            decommissioned: s.opt_bool("decommissioned")?,
        };
        if entry.end_time > crate::streams::MAX_UNIX_TIME || entry.start_time >= entry.end_time {
            return Err(out_of_range("end_time", "must be after start_time"));
        }
        if entry.cliff_time < entry.start_time || entry.cliff_time > entry.end_time {
            return Err(out_of_range(
                "cliff_time",
                "must be between start_time and end_time",
            ));
        }
        Ok(entry)
    }

    /// `current` made equal to this entry: every field the contract stores replaces ours; what
    /// only events tell (the money paid out, refunds, links between streams, the creating
    /// ledger) is kept. `last_modified_ledger` is recorded as the ledger the state was checked
    /// at; `at_ms` stamps `updatedAt` when something changed. The version is the caller's.
    pub fn apply(&self, current: &Stream, last_modified_ledger: u32, at_ms: i64) -> Stream {
        let mut next = current.clone();
        next.sender = self.sender.clone();
        next.recipient = self.recipient.clone();
        next.deposit_amount = Amount::from_stroops(self.deposit_amount);
        next.rate_per_second = Amount::from_stroops(self.rate_per_second);
        next.kind = self.kind;
        next.start_time = self.start_time;
        next.cliff_time = self.cliff_time;
        next.end_time = self.end_time;
        next.withdrawn_amount = Amount::from_stroops(self.withdrawn_amount);
        next.status = self.status;
        next.cancelled_at = self.cancelled_at;
        next.checkpoint_amount = Amount::from_stroops(self.checkpointed_amount);
        next.checkpoint_at = self.checkpointed_at;
        if let Some(chain) = next.chain.as_mut() {
            let details = &mut chain.details;
            details.claim_owner = self.claim_owner.clone();
            details.withdraw_dust_threshold = Amount::from_stroops(self.withdraw_dust_threshold);
            details.memo = self.memo.as_deref().map(ContractBytes::of);
            details.metadata = self
                .metadata
                .iter()
                .flatten()
                .map(|entry| MetadataItem {
                    key: ContractBytes::of(&entry.key),
                    value: ContractBytes::of(&entry.val),
                })
                .collect();
            details.irrevocable = Some(self.irrevocable.unwrap_or(false));
            details.witness = self.witness.clone();
            details.pooled = Some(self.is_pooled.unwrap_or(false));
            details.delegation_depth = self.delegation_depth;
            details.parent_stream_id = self.parent_stream_id;
            details.decommissioned = self.decommissioned.unwrap_or(false);
            details.state_checked_ledger = Some(last_modified_ledger);
            chain.entry_pending = false;
        }
        if changes_resource(current, &next) {
            next.updated_at = at_ms.max(current.updated_at);
        }
        next
    }
}

/// Whether `next` differs from `current` in what the stream resource shows, beyond the
/// bookkeeping of a storage or view read (the ledger it was checked or read at, the pending flag,
/// the version and `updatedAt`): such a read is announced like an event's change.
pub fn changes_resource(current: &Stream, next: &Stream) -> bool {
    fn normalized(stream: &Stream) -> Stream {
        let mut stream = stream.clone();
        stream.updated_at = 0;
        stream.version = 0;
        if let Some(chain) = stream.chain.as_mut() {
            chain.entry_pending = false;
            chain.details.state_checked_ledger = None;
            chain.details.lookback_read_ledger = None;
        }
        stream
    }
    normalized(current) != normalized(next)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
