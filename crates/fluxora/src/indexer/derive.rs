//! Chain stream state derived from contract events (the rules, for operators: `docs/indexer.md`,
//! "How chain streams are derived").
//!
//! [`apply`] is a pure fold step: the state of a chain stream is exactly the fold of its stored
//! events in chain order, so re-indexing (or a reorg rollback followed by a replay) gives the same
//! result to the stroop. Timestamps come from ledger close times, never from the wall clock, so a
//! replay is byte-for-byte identical.

use std::collections::BTreeMap;

use crate::address::StellarAddress;
use crate::amount::Amount;
use crate::indexer::decode::ContractEvent;
use crate::indexer::entry::StreamEntry;
use crate::streams::{
    ChainDetails, ChainRef, ContractBytes, MetadataItem, Stream, StreamKind, StreamSource,
    StreamStatus,
};

/// Where an event happened.
#[derive(Debug, Clone, Copy)]
pub struct EventContext<'a> {
    /// The emitting contract (C… StrKey).
    pub contract_id: &'a str,
    /// Ledger sequence.
    pub ledger: u32,
    /// Ledger close time, unix seconds (the contract's `env.ledger().timestamp()`).
    pub ledger_closed_at: u64,
    /// Transaction hash (64 hex).
    pub tx_hash: &'a str,
}

/// What an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The new state of the event's stream, and of the second stream it changes, if any (the
    /// child a `del_share` creates, the successor a `renewed` links).
    Applied {
        /// The event's own stream ([`ContractEvent::stream_id`]).
        stream: Box<Stream>,
        /// The related stream ([`ContractEvent::related_stream_id`]).
        related: Option<Box<Stream>>,
    },
    /// Nothing changed; the reason is logged at WARN and stored with the event.
    Skipped(String),
}

impl Effect {
    fn one(stream: Stream) -> Self {
        Effect::Applied {
            stream: Box::new(stream),
            related: None,
        }
    }
}

/// The public id of a chain stream: `{contract id}-{on-chain stream id}`, stable across
/// re-indexing.
pub fn chain_stream_id(contract_id: &str, stream_id: u64) -> String {
    format!("{contract_id}-{stream_id}")
}

fn skipped(reason: impl Into<String>) -> Effect {
    Effect::Skipped(reason.into())
}

/// Unix ms of a ledger close time (the record's `updated_at`).
fn millis(ctx: &EventContext<'_>) -> i64 {
    i64::try_from(ctx.ledger_closed_at)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000)
}

/// A new chain stream as the contract stores it at creation: active, nothing withdrawn,
/// checkpoint (0, start). The kind is CliffOnly when the rate is 0 (the contract forces it to
/// 0 for that kind only), else Linear: the `created` event does not say whether it is Linear or
/// CliffSlope (`docs/indexer.md`, "Known limits").
#[allow(clippy::too_many_arguments)]
fn new_stream(
    ctx: &EventContext<'_>,
    stream_id: u64,
    sender: StellarAddress,
    recipient: StellarAddress,
    deposit: i128,
    rate: i128,
    (start_time, cliff_time, end_time): (u64, u64, u64),
    details: ChainDetails,
) -> Stream {
    let at_ms = millis(ctx);
    Stream {
        id: chain_stream_id(ctx.contract_id, stream_id),
        sender,
        recipient,
        deposit_amount: Amount::from_stroops(deposit),
        rate_per_second: Amount::from_stroops(rate),
        kind: if rate == 0 {
            StreamKind::CliffOnly
        } else {
            StreamKind::Linear
        },
        start_time,
        cliff_time,
        end_time,
        status: StreamStatus::Active,
        withdrawn_amount: Amount::ZERO,
        checkpoint_amount: Amount::ZERO,
        checkpoint_at: start_time,
        cancelled_at: None,
        source: StreamSource::Chain,
        chain: Some(ChainRef {
            contract_id: ctx.contract_id.to_string(),
            stream_id,
            created_ledger: ctx.ledger,
            tx_hash: ctx.tx_hash.to_string(),
            closed: false,
            entry_pending: true,
            token_contract_id: None,
            details,
        }),
        created_at: at_ms,
        updated_at: at_ms,
        version: 0,
    }
}

fn address(text: &str, what: &str) -> Result<StellarAddress, String> {
    StellarAddress::parse(text).map_err(|_| format!("{what} is not a G… or C… address"))
}

/// Applies one decoded event to the streams it concerns: `current` is the state of its stream
/// ([`ContractEvent::stream_id`]) and `related` that of its second stream
/// ([`ContractEvent::related_stream_id`]), each `None` when not indexed (yet). Returns the new
/// states, or why the event changes nothing we model.
///
/// The rules are the contract's (`docs/indexer.md`, "How chain streams are derived"): `created`
/// makes an active stream with checkpoint (0, start); `withdrew`/`wdraw_to` add to
/// `withdrawnAmount` and to `paidOutAmount`; `paused`/`resumed`; `cancelled` at the ledger's
/// close time, refunding `deposit − accrued`; `completed`; `closed` keeps the record, marked
/// closed; `top_up` sets the deposit and end; `rate_upd` checkpoints at its effective time (the
/// contract's `update_rate_per_second`); `rate_dec` takes the contract's checkpoint and refund;
/// `end_ext`/`end_shrt` move the end (the latter refunds); `kp_cncl` cancels, pays the
/// recipient without counting it as withdrawn (as the contract does) and records the keeper's
/// fee and the refund; `recp_upd` changes the recipient, `claim_own` the claim owner;
/// `del_share` re-plans the parent from its accrual now and creates the child; `cloned` and
/// `renewed` link streams; `ac_set`/`ac_revoke`, `decomm` and `health` set their flags.
/// `ac_trig` changes nothing: the `wdraw_to` that follows carries the same money.
pub fn apply(
    current: Option<&Stream>,
    related: Option<&Stream>,
    event: &ContractEvent,
    ctx: &EventContext<'_>,
) -> Effect {
    match apply_inner(current, related, event, ctx) {
        Ok(effect) => effect,
        Err(reason) => Effect::Skipped(reason),
    }
}

fn apply_inner(
    current: Option<&Stream>,
    related: Option<&Stream>,
    event: &ContractEvent,
    ctx: &EventContext<'_>,
) -> Result<Effect, String> {
    let name = event.name();
    if let ContractEvent::Created(created) = event {
        if current.is_some() {
            return Ok(skipped("stream already indexed"));
        }
        let details = ChainDetails {
            memo: created.memo.as_deref().map(ContractBytes::of),
            metadata: created
                .metadata
                .iter()
                .flatten()
                .map(|entry| MetadataItem {
                    key: ContractBytes::of(&entry.key),
                    value: ContractBytes::of(&entry.val),
                })
                .collect(),
            withdraw_dust_threshold: Amount::from_stroops(created.withdraw_dust_threshold),
            ..ChainDetails::default()
        };
        return Ok(Effect::one(new_stream(
            ctx,
            created.stream_id,
            address(&created.sender, "created: sender")?,
            address(&created.recipient, "created: recipient")?,
            created.deposit_amount,
            created.rate_per_second,
            (created.start_time, created.cliff_time, created.end_time),
            details,
        )));
    }

    let Some(current) = current else {
        return Err(format!(
            "{name}: stream {} is not indexed (created before the indexer's start ledger?)",
            event.stream_id()
        ));
    };
    if !event.changes_state() {
        return Err(match event {
            ContractEvent::AutoClaimTriggered(_) => {
                "ac_trig: counted by the wdraw_to that follows it".to_owned()
            }
            _ => format!("{name}: no field of the stream resource changes"),
        });
    }
    let mut next = current.clone();
    let mut related_next: Option<Stream> = None;
    let overflow = || format!("{name}: an amount overflows i128");
    let add = |amount: Amount, delta: i128| {
        amount
            .checked_add(Amount::from_stroops(delta))
            .ok_or_else(overflow)
    };
    let sub = |amount: Amount, delta: i128| {
        amount
            .checked_sub(Amount::from_stroops(delta))
            .filter(|left| !left.is_negative())
            .ok_or_else(|| format!("{name}: an amount would go below zero"))
    };
    let Some(chain) = next.chain.as_mut() else {
        return Err(format!("{name}: not a chain stream"));
    };
    let details = &mut chain.details;
    match event {
        ContractEvent::Created(_) => return Err("unreachable".to_owned()),
        ContractEvent::Withdrew(w) => {
            next.withdrawn_amount = add(next.withdrawn_amount, w.amount)?;
            details.paid_out_amount = add(details.paid_out_amount, w.amount)?;
            // A delegated withdrawal reports the net amount; the state has the gross.
            chain.entry_pending = true;
        }
        ContractEvent::WithdrewTo(w) => {
            next.withdrawn_amount = add(next.withdrawn_amount, w.amount)?;
            details.paid_out_amount = add(details.paid_out_amount, w.amount)?;
        }
        ContractEvent::Paused(_) => next.status = StreamStatus::Paused,
        ContractEvent::Resumed(_) => next.status = StreamStatus::Active,
        ContractEvent::Cancelled(_) => {
            let accrued = current.streamed_at(ctx.ledger_closed_at);
            details.refund_amount = Some(sub(current.deposit_amount, accrued.stroops())?);
            next.status = StreamStatus::Cancelled;
            next.cancelled_at = Some(ctx.ledger_closed_at);
        }
        ContractEvent::Completed(_) => next.status = StreamStatus::Completed,
        ContractEvent::Closed(_) => {
            // The contract deleted the entry: there is nothing left to read.
            chain.closed = true;
            chain.entry_pending = false;
        }
        ContractEvent::ToppedUp(t) => {
            next.deposit_amount = Amount::from_stroops(t.new_deposit_amount);
            next.end_time = t.new_end_time;
        }
        ContractEvent::RateUpdated(r) => {
            let schedule = current
                .schedule()
                .with_rate_change(r.effective_time, r.new_rate_per_second);
            next.rate_per_second = Amount::from_stroops(schedule.rate_per_second);
            next.checkpoint_amount = Amount::from_stroops(schedule.checkpoint_amount);
            next.checkpoint_at = schedule.checkpoint_at;
            // `update_rate` emits the same event without checkpointing: the state tells.
            chain.entry_pending = true;
        }
        ContractEvent::RateDecreased(r) => {
            next.deposit_amount = sub(next.deposit_amount, r.refund_amount)?;
            next.rate_per_second = Amount::from_stroops(r.new_rate_per_second);
            next.checkpoint_amount = Amount::from_stroops(r.checkpointed_amount);
            next.checkpoint_at = r.effective_time;
        }
        ContractEvent::EndExtended(e) => next.end_time = e.new_end_time,
        ContractEvent::EndShortened(e) => {
            next.deposit_amount = sub(next.deposit_amount, e.refund_amount)?;
            next.end_time = e.new_end_time;
        }
        ContractEvent::KeeperCancelled(k) => {
            // The contract pays the recipient's share but leaves withdrawn_amount unchanged:
            // the resource follows its state, and shows the money in paidOutAmount.
            next.status = StreamStatus::Cancelled;
            next.cancelled_at = Some(ctx.ledger_closed_at);
            details.paid_out_amount = add(details.paid_out_amount, k.recipient_amount)?;
            details.refund_amount = Some(Amount::from_stroops(k.sender_refund));
            details.keeper_fee = Some(Amount::from_stroops(k.keeper_fee));
        }
        ContractEvent::RecipientUpdated(r) => {
            next.recipient = address(&r.new_recipient, "recp_upd: new_recipient")?;
        }
        ContractEvent::ClaimOwnershipTransferred(c) => {
            address(&c.new_owner, "claim_own: new_owner")?;
            details.claim_owner = Some(c.new_owner.clone());
        }
        ContractEvent::AutoClaimSet(a) => {
            address(&a.destination, "ac_set: destination")?;
            details.auto_claim_destination = Some(a.destination.clone());
        }
        ContractEvent::AutoClaimRevoked(_) => details.auto_claim_destination = None,
        ContractEvent::Decommissioned(d) => details.decommissioned = d.decommissioned,
        ContractEvent::HealthChanged(h) => details.underfunded = Some(h.is_underfunded),
        ContractEvent::Cloned(c) => details.cloned_from = Some(c.source_stream_id),
        ContractEvent::Renewed(r) => {
            details.renewed_by = Some(r.new_stream_id);
            let Some(successor) = related else {
                return Err(format!(
                    "renewed: the new stream {} is not indexed",
                    r.new_stream_id
                ));
            };
            let mut successor = successor.clone();
            if let Some(chain) = successor.chain.as_mut() {
                chain.details.renewed_from = Some(r.old_stream_id);
            }
            related_next = Some(successor);
        }
        ContractEvent::ShareDelegated(d) => {
            if related.is_some() {
                return Err(format!(
                    "del_share: the child stream {} is already indexed",
                    d.child_stream_id
                ));
            }
            // The contract's delegate_recipient_share, at the ledger's close time `now`:
            // the parent keeps a = accrued(now) and continues at the new rate until its end,
            // with deposit a + new_rate × (end − now); the child gets the rest of the deposit,
            // at the child rate from now, cliff max(cliff, now), same end and sender.
            let now = ctx.ledger_closed_at;
            if now >= current.end_time {
                return Err("del_share: after the parent's end".to_owned());
            }
            let accrued = current.streamed_at(now).stroops();
            let remaining = i128::from(current.end_time - now);
            let parent_deposit = d
                .new_parent_rate
                .checked_mul(remaining)
                .and_then(|future| future.checked_add(accrued))
                .ok_or_else(overflow)?;
            let child_deposit = current
                .deposit_amount
                .stroops()
                .checked_sub(parent_deposit)
                .filter(|deposit| *deposit > 0)
                .ok_or_else(|| "del_share: the child's deposit would not be positive".to_owned())?;
            next.deposit_amount = Amount::from_stroops(parent_deposit);
            next.rate_per_second = Amount::from_stroops(d.new_parent_rate);
            next.checkpoint_amount = Amount::from_stroops(accrued);
            next.checkpoint_at = now;
            details.child_stream_ids.push(d.child_stream_id);
            chain.entry_pending = true;
            let child_details = ChainDetails {
                parent_stream_id: Some(d.parent_stream_id),
                delegation_depth: details.delegation_depth.saturating_add(1),
                withdraw_dust_threshold: details.withdraw_dust_threshold,
                ..ChainDetails::default()
            };
            let child = new_stream(
                ctx,
                d.child_stream_id,
                current.sender.clone(),
                address(&d.delegatee, "del_share: delegatee")?,
                child_deposit,
                d.child_rate,
                (now, current.cliff_time.max(now), current.end_time),
                child_details,
            );
            related_next = Some(child);
        }
        // Events whose catalogue entry says they change no state returned above.
        ContractEvent::AutoClaimTriggered(_) => {
            return Err(format!("{name}: changes stream state but has no rule here"))
        }
    }
    if next.end_time < next.cliff_time || next.end_time <= next.start_time {
        return Err(format!("{name}: would leave end before cliff or start"));
    }
    next.version = current.version.saturating_add(1);
    // Never backwards: a storage read may have stamped a later time.
    next.updated_at = millis(ctx).max(current.updated_at);
    Ok(Effect::Applied {
        stream: Box::new(next),
        related: related_next.map(Box::new),
    })
}

/// One step of a replay: an event, or the contract's storage entry of a stream as of the ledger
/// it was last modified in (it goes after every event of that ledger).
#[derive(Debug, Clone, Copy)]
pub enum ReplayStep<'a> {
    /// A decoded event and where it happened.
    Event(&'a ContractEvent, EventContext<'a>),
    /// A storage entry, its `lastModifiedLedgerSeq`, and the unix ms to stamp a change with.
    Entry(&'a StreamEntry, u32, i64),
}

/// Keeps on `state`, rebuilt by a replay, what was read from the contract's views rather than
/// derived from its events and entries (the token, the lookback window), as `stored` holds it:
/// a replay does not know them. `updatedAt` never goes back (a view read stamps it too).
pub fn keep_view_reads(stored: Option<&Stream>, state: Option<&mut Stream>) {
    let (Some(stored), Some(state)) = (stored, state) else {
        return;
    };
    let (Some(stored_chain), Some(chain)) = (stored.chain.as_ref(), state.chain.as_mut()) else {
        return;
    };
    chain
        .token_contract_id
        .clone_from(&stored_chain.token_contract_id);
    chain.details.lookback_ledgers = stored_chain.details.lookback_ledgers;
    chain.details.lookback_read_ledger = stored_chain.details.lookback_read_ledger;
    state.updated_at = state.updated_at.max(stored.updated_at);
}

/// Replays stored events and storage entries of one contract from nothing, in chain order,
/// returning the final state of every stream they create or change, by on-chain stream id. The
/// steps of a stream and of its relatives (delegation parents and children, renewals) must all
/// be given: a child is derived from its parent's state at the split.
pub fn replay<'a>(steps: impl IntoIterator<Item = ReplayStep<'a>>) -> BTreeMap<u64, Stream> {
    let mut states: BTreeMap<u64, Stream> = BTreeMap::new();
    for step in steps {
        match step {
            ReplayStep::Event(event, ctx) => {
                let id = event.stream_id();
                let related_id = event.related_stream_id();
                let effect = apply(
                    states.get(&id),
                    related_id.and_then(|related| states.get(&related)),
                    event,
                    &ctx,
                );
                if let Effect::Applied { stream, related } = effect {
                    states.insert(id, *stream);
                    if let (Some(related_id), Some(related)) = (related_id, related) {
                        states.insert(related_id, *related);
                    }
                }
            }
            ReplayStep::Entry(entry, ledger, at_ms) => {
                if let Some(current) = states.get(&entry.stream_id) {
                    let mut next = entry.apply(current, ledger, at_ms);
                    next.version = current.version.saturating_add(1);
                    states.insert(entry.stream_id, next);
                }
            }
        }
    }
    states
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indexer::decode::{
        AutoClaimTriggered, ClaimOwnershipTransferred, KeeperCancelled, RateDecreased,
        RecipientShareDelegated, StreamCreated, StreamDecommissioned, StreamEndShortened,
        StreamHealthChanged, StreamRef, Withdrawal, WithdrawalTo,
    };

    const G1: &str = "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5";
    const G2: &str = "GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZ";
    const CONTRACT: &str = "CD2BJ2TNXVV3KY6VMQ4PTUN2BXE7IUKMI3KR7XVMRBWUL2DZ7MGNICV4";

    fn ctx(closed_at: u64) -> EventContext<'static> {
        EventContext {
            contract_id: CONTRACT,
            ledger: 100,
            ledger_closed_at: closed_at,
            tx_hash: "ab",
        }
    }

    fn applied(effect: Effect) -> Stream {
        match effect {
            Effect::Applied { stream, .. } => *stream,
            Effect::Skipped(reason) => panic!("skipped: {reason}"),
        }
    }

    /// The stream of the contract repository's rate-decrease test
    /// (`tests/rate_decrease_after_withdraw.rs`): deposit 1000, rate 10, 0..100.
    fn created() -> Stream {
        applied(apply(
            None,
            None,
            &ContractEvent::Created(StreamCreated {
                stream_id: 7,
                sender: G1.into(),
                recipient: G2.into(),
                deposit_amount: 1000,
                rate_per_second: 10,
                start_time: 0,
                cliff_time: 0,
                end_time: 100,
                withdraw_dust_threshold: 0,
                memo: None,
                metadata: None,
            }),
            &ctx(0),
        ))
    }

    #[test]
    fn created_is_active_with_a_fresh_checkpoint() {
        let stream = created();
        assert_eq!(stream.id, format!("{CONTRACT}-7"));
        assert_eq!(stream.status, StreamStatus::Active);
        assert_eq!(stream.checkpoint_at, 0);
        assert_eq!(stream.chain.as_ref().map(|c| c.created_ledger), Some(100));
        assert_eq!(stream.version, 0);
    }

    #[test]
    fn rate_decrease_takes_the_contracts_checkpoint_and_refund() {
        // The contract's numbers: at t=10 accrued 100; decrease to 5 → ck (100, 10), deposit
        // 550, refund 450.
        let next = applied(apply(
            Some(&created()),
            None,
            &ContractEvent::RateDecreased(RateDecreased {
                stream_id: 7,
                old_rate_per_second: 10,
                new_rate_per_second: 5,
                checkpointed_amount: 100,
                refund_amount: 450,
                effective_time: 10,
            }),
            &ctx(10),
        ));
        assert_eq!(next.deposit_amount.stroops(), 550);
        assert_eq!(next.streamed_at(80).stroops(), 450);
        assert_eq!(next.streamed_at(100).stroops(), 550);
        assert_eq!(next.version, 1);
    }

    #[test]
    fn withdrawals_shortening_and_keeper_cancel() {
        let mut stream = created();
        for event in [
            ContractEvent::Withdrew(Withdrawal {
                stream_id: 7,
                recipient: G2.into(),
                amount: 300,
            }),
            ContractEvent::WithdrewTo(WithdrawalTo {
                stream_id: 7,
                recipient: G2.into(),
                destination: G1.into(),
                amount: 200,
            }),
        ] {
            stream = applied(apply(Some(&stream), None, &event, &ctx(50)));
        }
        assert_eq!(stream.withdrawn_amount.stroops(), 500);
        let shortened = applied(apply(
            Some(&stream),
            None,
            &ContractEvent::EndShortened(StreamEndShortened {
                stream_id: 7,
                old_end_time: 100,
                new_end_time: 80,
                refund_amount: 200,
            }),
            &ctx(60),
        ));
        assert_eq!(
            (shortened.end_time, shortened.deposit_amount.stroops()),
            (80, 800)
        );
        let cancelled = applied(apply(
            Some(&shortened),
            None,
            &ContractEvent::KeeperCancelled(KeeperCancelled {
                stream_id: 7,
                keeper: G1.into(),
                keeper_fee: 0,
                recipient_amount: 300,
                sender_refund: 0,
            }),
            &ctx(700_000),
        ));
        assert_eq!(cancelled.status, StreamStatus::Cancelled);
        assert_eq!(cancelled.cancelled_at, Some(700_000));
        assert_eq!(
            cancelled.withdrawn_amount.stroops(),
            500,
            "as in the contract's state: the keeper payout is not counted as withdrawn"
        );
        let details = &cancelled.chain.as_ref().unwrap().details;
        assert_eq!(
            details.paid_out_amount.stroops(),
            800,
            "but it was paid out"
        );
        assert_eq!(cancelled.refund().map(Amount::stroops), Some(0));
    }

    #[test]
    fn events_for_unknown_streams_and_duplicates_are_skipped() {
        let orphan = apply(
            None,
            None,
            &ContractEvent::Cancelled(StreamRef { stream_id: 9 }),
            &ctx(1),
        );
        assert!(matches!(orphan, Effect::Skipped(reason) if reason.contains("not indexed")));
        let stream = created();
        let again = apply(
            Some(&stream),
            None,
            &ContractEvent::Completed(StreamRef { stream_id: 7 }),
            &ctx(1),
        );
        assert_eq!(applied(again).status, StreamStatus::Completed);
        let cancelled_at_close = applied(apply(
            Some(&stream),
            None,
            &ContractEvent::Cancelled(StreamRef { stream_id: 7 }),
            &ctx(42),
        ));
        assert_eq!(
            cancelled_at_close.cancelled_at,
            Some(42),
            "the ledger's close time"
        );
        assert_eq!(cancelled_at_close.updated_at, 42_000);
    }

    #[test]
    fn auto_claim_triggers_are_counted_by_their_withdrawal() {
        let stream = created();
        let event = ContractEvent::AutoClaimTriggered(AutoClaimTriggered {
            stream_id: 7,
            destination: G1.into(),
            amount: 5,
        });
        assert!(!event.changes_state());
        assert_eq!(
            apply(Some(&stream), None, &event, &ctx(5)),
            Effect::Skipped("ac_trig: counted by the wdraw_to that follows it".to_owned())
        );
    }

    #[test]
    fn flags_and_owners_follow_their_events() {
        let mut stream = created();
        for event in [
            ContractEvent::ClaimOwnershipTransferred(ClaimOwnershipTransferred {
                stream_id: 7,
                old_owner: None,
                new_owner: G1.into(),
            }),
            ContractEvent::HealthChanged(StreamHealthChanged {
                stream_id: 7,
                is_underfunded: true,
                remaining_balance: 0,
                seconds_remaining: 0,
            }),
            ContractEvent::Decommissioned(StreamDecommissioned {
                stream_id: 7,
                decommissioned: true,
            }),
        ] {
            stream = applied(apply(Some(&stream), None, &event, &ctx(5)));
        }
        let details = &stream.chain.as_ref().unwrap().details;
        assert_eq!(details.claim_owner.as_deref(), Some(G1));
        assert_eq!(details.underfunded, Some(true));
        assert!(details.decommissioned);
        assert_eq!(stream.version, 3);
    }

    /// The contract's delegate_recipient_share (its test vector: 2 500 bps of rate 3 858 gives
    /// the child 964 and leaves the parent 2 894).
    #[test]
    fn a_delegation_replans_the_parent_and_creates_the_child() {
        let parent = created(); // deposit 1000, rate 10, 0..100
        let event = ContractEvent::ShareDelegated(RecipientShareDelegated {
            parent_stream_id: 7,
            child_stream_id: 8,
            delegator: G2.into(),
            delegatee: G1.into(),
            share_bps: 3000,
            child_rate: 3,
            new_parent_rate: 7,
        });
        let Effect::Applied { stream, related } = apply(Some(&parent), None, &event, &ctx(40))
        else {
            panic!("skipped")
        };
        // Parent at t = 40: accrued 400, then 7/s for 60 s: deposit 820, checkpoint (400, 40).
        assert_eq!(stream.deposit_amount.stroops(), 820);
        assert_eq!(stream.rate_per_second.stroops(), 7);
        assert_eq!(
            (stream.checkpoint_amount.stroops(), stream.checkpoint_at),
            (400, 40)
        );
        assert_eq!(stream.streamed_at(100).stroops(), 820);
        let child = related.expect("the child");
        assert_eq!(child.id, format!("{CONTRACT}-8"));
        assert_eq!(child.deposit_amount.stroops(), 180);
        assert_eq!(child.rate_per_second.stroops(), 3);
        assert_eq!(
            (child.start_time, child.cliff_time, child.end_time),
            (40, 40, 100)
        );
        assert_eq!(child.streamed_at(100).stroops(), 180);
        assert_eq!(child.recipient.as_str(), G1);
        let details = &child.chain.as_ref().unwrap().details;
        assert_eq!(
            (details.parent_stream_id, details.delegation_depth),
            (Some(7), 1)
        );
        assert_eq!(stream.chain.as_ref().unwrap().details.child_stream_ids, [8]);
        // A second delegation to the same child id is refused.
        assert!(matches!(
            apply(Some(&stream), Some(&child), &event, &ctx(41)),
            Effect::Skipped(_)
        ));
    }
}
