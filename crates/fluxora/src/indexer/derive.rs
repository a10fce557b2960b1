//! Chain stream state derived from contract events (the rules, for operators: `docs/indexer.md`,
//! "How chain streams are derived").
//!
//! [`apply`] is a pure fold step: the state of a chain stream is exactly the fold of its stored
//! events in chain order, so re-indexing (or a reorg rollback followed by a replay) gives the same
//! result to the stroop. Timestamps come from ledger close times, never from the wall clock, so a
//! replay is byte-for-byte identical.

use crate::address::StellarAddress;
use crate::amount::Amount;
use crate::indexer::decode::ContractEvent;
use crate::streams::{ChainRef, Stream, StreamSource, StreamStatus};

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

/// What an event did to its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The stream's new state.
    Applied(Box<Stream>),
    /// Nothing changed; the reason is logged at WARN and stored with the event.
    Skipped(String),
}

/// The public id of a chain stream: `{contract id}-{on-chain stream id}`, stable across
/// re-indexing.
pub fn chain_stream_id(contract_id: &str, stream_id: u64) -> String {
    format!("{contract_id}-{stream_id}")
}

fn skipped(reason: impl Into<String>) -> Effect {
    Effect::Skipped(reason.into())
}

/// Applies one decoded event to the current state of its stream (`None` if not indexed yet).
/// Returns the new state, or why the event changes nothing we model.
///
/// Rules: `created` → active with checkpoint (0, start); `withdrew`/`wdraw_to` add to
/// `withdrawnAmount`; `paused`/`resumed`; `cancelled` at the ledger's close time; `completed`;
/// `closed` keeps the record, marked closed; `top_up` sets the deposit; `rate_upd` checkpoints
/// at its effective time with the old rate (the contract's `update_rate_per_second`); `rate_dec`
/// takes the contract's checkpoint and refund; `end_ext`/`end_shrt` move the end (the latter
/// refunds); `kp_cncl` cancels and counts the recipient's payout as withdrawn; `recp_upd` changes
/// the recipient. Events that change no stream state ([`ContractEvent::changes_state`] is
/// false) are skipped with their reason: `ac_trig` because the `wdraw_to` that follows carries the
/// same money, `del_share` because delegated child streams are not modelled yet.
pub fn apply(current: Option<&Stream>, event: &ContractEvent, ctx: &EventContext<'_>) -> Effect {
    let at_ms = i64::try_from(ctx.ledger_closed_at)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    if let ContractEvent::Created(created) = event {
        if current.is_some() {
            return skipped("stream already indexed");
        }
        let (Ok(sender), Ok(recipient)) = (
            StellarAddress::parse(&created.sender),
            StellarAddress::parse(&created.recipient),
        ) else {
            return skipped("created: sender or recipient is not a G… or C… address");
        };
        let times_ok = created.start_time < created.end_time
            && created.start_time <= created.cliff_time
            && created.cliff_time <= created.end_time
            && created.end_time <= crate::streams::MAX_UNIX_TIME;
        if !times_ok {
            return skipped("created: times break start ≤ cliff ≤ end, start < end");
        }
        return Effect::Applied(Box::new(Stream {
            id: chain_stream_id(ctx.contract_id, created.stream_id),
            sender,
            recipient,
            deposit_amount: Amount::from_stroops(created.deposit_amount),
            rate_per_second: Amount::from_stroops(created.rate_per_second),
            start_time: created.start_time,
            cliff_time: created.cliff_time,
            end_time: created.end_time,
            status: StreamStatus::Active,
            withdrawn_amount: Amount::ZERO,
            checkpoint_amount: Amount::ZERO,
            checkpoint_at: created.start_time,
            cancelled_at: None,
            source: StreamSource::Chain,
            chain: Some(ChainRef {
                contract_id: ctx.contract_id.to_string(),
                stream_id: created.stream_id,
                created_ledger: ctx.ledger,
                tx_hash: ctx.tx_hash.to_string(),
                closed: false,
            }),
            created_at: at_ms,
            updated_at: at_ms,
            version: 0,
        }));
    }

    let Some(current) = current else {
        return skipped(format!(
            "{}: stream {} is not indexed (created before the indexer's start ledger?)",
            event.name(),
            event.stream_id()
        ));
    };
    if !event.changes_state() {
        return skipped(match event {
            ContractEvent::AutoClaimTriggered(_) => {
                "ac_trig: counted by the wdraw_to that follows it".to_owned()
            }
            ContractEvent::ShareDelegated(_) => {
                "del_share: delegated child streams are not modelled yet".to_owned()
            }
            _ => format!("{}: no field of the stream resource changes", event.name()),
        });
    }
    let mut next = current.clone();
    let add = |amount: Amount, delta: i128| amount.checked_add(Amount::from_stroops(delta));
    let sub = |amount: Amount, delta: i128| amount.checked_sub(Amount::from_stroops(delta));
    match event {
        ContractEvent::Created(_) => return skipped("unreachable"),
        ContractEvent::Withdrew(w) => match add(next.withdrawn_amount, w.amount) {
            Some(total) => next.withdrawn_amount = total,
            None => return skipped("withdrew: withdrawn amount overflows i128"),
        },
        ContractEvent::WithdrewTo(w) => match add(next.withdrawn_amount, w.amount) {
            Some(total) => next.withdrawn_amount = total,
            None => return skipped("wdraw_to: withdrawn amount overflows i128"),
        },
        ContractEvent::Paused(_) => next.status = StreamStatus::Paused,
        ContractEvent::Resumed(_) => next.status = StreamStatus::Active,
        ContractEvent::Cancelled(_) => {
            next.status = StreamStatus::Cancelled;
            next.cancelled_at = Some(ctx.ledger_closed_at);
        }
        ContractEvent::Completed(_) => next.status = StreamStatus::Completed,
        ContractEvent::Closed(_) => match next.chain.as_mut() {
            Some(chain) => chain.closed = true,
            None => return skipped("closed: not a chain stream"),
        },
        ContractEvent::ToppedUp(t) => {
            next.deposit_amount = Amount::from_stroops(t.new_deposit_amount);
        }
        ContractEvent::RateUpdated(r) => {
            let schedule = current
                .schedule()
                .with_rate_change(r.effective_time, r.new_rate_per_second);
            next.rate_per_second = Amount::from_stroops(schedule.rate_per_second);
            next.checkpoint_amount = Amount::from_stroops(schedule.checkpoint_amount);
            next.checkpoint_at = schedule.checkpoint_at;
        }
        ContractEvent::RateDecreased(r) => {
            let Some(deposit) = sub(next.deposit_amount, r.refund_amount) else {
                return skipped("rate_dec: refund exceeds the deposit range");
            };
            next.deposit_amount = deposit;
            next.rate_per_second = Amount::from_stroops(r.new_rate_per_second);
            next.checkpoint_amount = Amount::from_stroops(r.checkpointed_amount);
            next.checkpoint_at = r.effective_time;
        }
        ContractEvent::EndExtended(e) => next.end_time = e.new_end_time,
        ContractEvent::EndShortened(e) => {
            let Some(deposit) = sub(next.deposit_amount, e.refund_amount) else {
                return skipped("end_shrt: refund exceeds the deposit range");
            };
            next.end_time = e.new_end_time;
            next.deposit_amount = deposit;
        }
        ContractEvent::KeeperCancelled(k) => {
            // The contract pays the recipient but leaves withdrawn_amount unchanged; the money
            // did leave the stream, so it is counted as withdrawn.
            next.status = StreamStatus::Cancelled;
            next.cancelled_at = Some(ctx.ledger_closed_at);
            match add(next.withdrawn_amount, k.recipient_amount) {
                Some(total) => next.withdrawn_amount = total,
                None => return skipped("kp_cncl: withdrawn amount overflows i128"),
            }
        }
        ContractEvent::RecipientUpdated(r) => match StellarAddress::parse(&r.new_recipient) {
            Ok(recipient) => next.recipient = recipient,
            Err(_) => return skipped("recp_upd: new recipient is not a G… or C… address"),
        },
        // Events whose catalogue entry says they change no state returned above.
        _ => {
            return skipped(format!(
                "{}: changes stream state but has no rule here",
                event.name()
            ))
        }
    }
    if next.end_time < next.cliff_time || next.end_time <= next.start_time {
        return skipped(format!(
            "{}: would leave end before cliff or start",
            event.name()
        ));
    }
    next.version = current.version.saturating_add(1);
    next.updated_at = at_ms;
    Effect::Applied(Box::new(next))
}

/// Replays stored events of one stream from nothing, in chain order, returning the final state
/// (`None` if no `created` is among them).
pub fn replay<'a>(
    events: impl IntoIterator<Item = (&'a ContractEvent, EventContext<'a>)>,
) -> Option<Stream> {
    let mut state: Option<Stream> = None;
    for (event, ctx) in events {
        if let Effect::Applied(next) = apply(state.as_ref(), event, &ctx) {
            state = Some(*next);
        }
    }
    state
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
            Effect::Applied(stream) => *stream,
            Effect::Skipped(reason) => panic!("skipped: {reason}"),
        }
    }

    /// The stream of the contract repository's rate-decrease test
    /// (`tests/rate_decrease_after_withdraw.rs`): deposit 1000, rate 10, 0..100.
    fn created() -> Stream {
        applied(apply(
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
            stream = applied(apply(Some(&stream), &event, &ctx(50)));
        }
        assert_eq!(stream.withdrawn_amount.stroops(), 500);
        let shortened = applied(apply(
            Some(&stream),
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
            800,
            "keeper payout counted"
        );
    }

    #[test]
    fn events_for_unknown_streams_and_duplicates_are_skipped() {
        let orphan = apply(
            None,
            &ContractEvent::Cancelled(StreamRef { stream_id: 9 }),
            &ctx(1),
        );
        assert!(matches!(orphan, Effect::Skipped(reason) if reason.contains("not indexed")));
        let stream = created();
        let again = apply(
            Some(&stream),
            &ContractEvent::Completed(StreamRef { stream_id: 7 }),
            &ctx(1),
        );
        assert_eq!(applied(again).status, StreamStatus::Completed);
        let cancelled_at_close = applied(apply(
            Some(&stream),
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
    fn events_that_change_no_state_are_skipped_with_their_reason() {
        let stream = created();
        let cases = [
            (
                ContractEvent::AutoClaimTriggered(AutoClaimTriggered {
                    stream_id: 7,
                    destination: G1.into(),
                    amount: 5,
                }),
                "ac_trig: counted by the wdraw_to that follows it",
            ),
            (
                ContractEvent::ShareDelegated(RecipientShareDelegated {
                    parent_stream_id: 7,
                    child_stream_id: 8,
                    delegator: G2.into(),
                    delegatee: G1.into(),
                    share_bps: 2500,
                    child_rate: 2,
                    new_parent_rate: 8,
                }),
                "del_share: delegated child streams are not modelled yet",
            ),
            (
                ContractEvent::ClaimOwnershipTransferred(ClaimOwnershipTransferred {
                    stream_id: 7,
                    old_owner: None,
                    new_owner: G1.into(),
                }),
                "claim_own: no field of the stream resource changes",
            ),
            (
                ContractEvent::HealthChanged(StreamHealthChanged {
                    stream_id: 7,
                    is_underfunded: true,
                    remaining_balance: 0,
                    seconds_remaining: 0,
                }),
                "health: no field of the stream resource changes",
            ),
            (
                ContractEvent::Decommissioned(StreamDecommissioned {
                    stream_id: 7,
                    decommissioned: true,
                }),
                "decomm: no field of the stream resource changes",
            ),
        ];
        for (event, reason) in cases {
            assert!(!event.changes_state(), "{}", event.name());
            assert_eq!(
                apply(Some(&stream), &event, &ctx(5)),
                Effect::Skipped(reason.to_owned())
            );
        }
    }
}
