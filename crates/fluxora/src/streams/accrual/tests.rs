use super::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `lin(start, cliff, end, rate, deposit)`: a fresh linear schedule, arguments in the order the
/// test vectors below list them.
fn lin(start: u64, cliff: u64, end: u64, rate: i128, deposit: i128) -> AccrualSchedule {
    AccrualSchedule::linear(deposit, rate, start, cliff, end)
}

// ---------------------------------------------------------------------------------------
// Test vectors V1–V19: the contract's own accrual cases (its accrual.rs, lib.rs, tests/*.rs)
// ---------------------------------------------------------------------------------------

/// `(label, start, cliff, end, rate, deposit, t, expected accrued)`.
type LinearVector = (&'static str, u64, u64, u64, i128, i128, u64, i128);

#[test]
fn linear_vectors_v1_to_v19() {
    const MAX: i128 = i128::MAX;
    let vectors: &[LinearVector] = &[
        ("V1 before cliff", 0, 500, 1000, 1, 1000, 499, 0),
        (
            "V2 at cliff, start..cliff appears",
            0,
            500,
            1000,
            1,
            1000,
            500,
            500,
        ),
        (
            "V3 capped at end and deposit",
            0,
            0,
            1000,
            2,
            1000,
            9999,
            1000,
        ),
        ("V4 start >= end", 10, 10, 10, 1, 1000, 10, 0),
        ("V5 negative rate", 0, 0, 1000, -1, 1000, 100, 0),
        (
            "V6 overflow -> deposit",
            0,
            0,
            u64::MAX,
            MAX,
            10_000,
            u64::MAX,
            10_000,
        ),
        ("V7", 1000, 1000, 2000, 1, 1000, 1999, 999),
        ("V8", 1000, 1000, 2000, 1, 1000, 1500, 500),
        ("V9", 0, 0, 1000, 10, 5000, 1000, 5000),
        (
            "V10 cliff after end, t < cliff",
            0,
            5000,
            1000,
            1,
            1000,
            2000,
            0,
        ),
        ("V11", 500, 500, 1500, 3, 2000, 11_499, 2000),
        ("V12 t before start", 500, 0, 1000, 1, 1000, 200, 0),
        ("V13", 500, 0, 1000, 1, 1000, 501, 1),
        (
            "V14 overflow -> deposit",
            0,
            0,
            10,
            MAX / 2 + 1,
            MAX / 4,
            2,
            MAX / 4,
        ),
        ("V15 overflow -> deposit", 0, 0, 100, MAX, 42, 2, 42),
        ("V16 cliff = end, before", 0, 1000, 1000, 1, 1000, 999, 0),
        ("V17 cliff = end, at", 0, 1000, 1000, 1, 1000, 1000, 1000),
        (
            "V18 excess deposit never accrues",
            0,
            0,
            1000,
            1,
            2000,
            1000,
            1000,
        ),
    ];
    for &(label, start, cliff, end, rate, deposit, t, expected) in vectors {
        assert_eq!(
            lin(start, cliff, end, rate, deposit).accrued_at(t),
            expected,
            "{label}: lin({start}, {cliff}, {end}, {rate}, {deposit}, {t})"
        );
    }
    // V19: zero deposit and zero rate accrue nothing, at any time.
    for t in [0, 1, 500, 999, 1000, 1001, u64::MAX] {
        assert_eq!(
            lin(0, 0, 1000, 1, 0).accrued_at(t),
            0,
            "V19 zero deposit, t={t}"
        );
        assert_eq!(
            lin(0, 0, 1000, 0, 1000).accrued_at(t),
            0,
            "V19 zero rate, t={t}"
        );
    }
}

#[test]
fn v20_decrease_after_withdraw() {
    let s = lin(0, 0, 100, 10, 1000);
    let mut withdrawn = 0;
    assert_eq!(s.accrued_at(10), 100);
    withdrawn += s.accrued_at(10) - withdrawn;
    assert_eq!(withdrawn, 100);

    let (s, refund) = s.with_rate_decrease(10, 5).unwrap();
    assert_eq!((s.checkpoint_amount, s.checkpoint_at), (100, 10));
    assert_eq!((s.deposit, s.rate_per_second, refund), (550, 5, 450));
    assert_eq!(s.accrued_at(10) - withdrawn, 0, "withdrawable at t=10");

    assert_eq!(s.accrued_at(80), 450);
    assert_eq!(s.accrued_at(80) - withdrawn, 350);
    withdrawn = s.accrued_at(80);

    assert_eq!(s.accrued_at(100), 550);
    assert_eq!(s.accrued_at(100) - withdrawn, 100);
    withdrawn = s.accrued_at(100);
    assert_eq!(withdrawn, s.deposit, "withdrawn == deposit -> Completed");
}

#[test]
fn v21_decrease_before_withdraw() {
    let (s, refund) = lin(0, 0, 100, 10, 1000).with_rate_decrease(10, 5).unwrap();
    assert_eq!((s.deposit, refund), (550, 450));
    assert_eq!(s.accrued_at(10), 100, "withdrawable at t=10");
    assert_eq!(s.accrued_at(11), 105, "t=11 withdraws 105");
    assert_eq!(s.accrued_at(80), 450);
    assert_eq!(s.accrued_at(80) - 105, 345, "t=80 withdraws 345");
}

#[test]
fn v22_cancel_refunds() {
    let s = lin(0, 0, 3000, 1, 3000);
    assert_eq!((s.accrued_at(1200), s.remaining_at(1200)), (1200, 1800));
    let s = lin(0, 1500, 3000, 1, 3000);
    assert_eq!((s.accrued_at(800), s.remaining_at(800)), (0, 3000));
}

#[test]
fn v23_keeper_accrual_after_end() {
    let s = lin(0, 0, 1000, 5, 10_000);
    let t = 1000 + 604_800 + 1;
    assert_eq!(s.accrued_at(t), 5000);
    assert_eq!(s.remaining_at(t), 5000, "keeper gross = deposit - accrued");
    let s = lin(0, 0, 2000, 1, 2000);
    assert_eq!(
        s.accrued_at(2000 + 604_800) - 500,
        1500,
        "recipient share after 500 withdrawn"
    );
}

#[test]
fn v24_rate_change_before_cliff_loses_the_pre_change_slice() {
    let s = lin(0, 500, 1000, 1, 2000);
    let changed = s.with_rate_change(200, 2);
    assert_eq!(
        (
            changed.checkpoint_amount,
            changed.checkpoint_at,
            changed.rate_per_second
        ),
        (0, 200, 2)
    );
    assert_eq!(changed.accrued_at(499), 0);
    assert_eq!(
        changed.accrued_at(500),
        600,
        "not 800: the 0..200 slice is lost"
    );
    assert_eq!(changed.accrued_at(1000), 1600);
    assert_eq!(s.accrued_at(500), 500, "without the change");
}

#[test]
fn v25_decrease_refund() {
    let (s, refund) = lin(0, 0, 1000, 5, 5000).with_rate_decrease(400, 2).unwrap();
    assert_eq!((s.checkpoint_amount, s.checkpoint_at), (2000, 400));
    assert_eq!((s.deposit, refund), (3200, 1800));
    assert_eq!(s.accrued_at(1000), 3200);
}

#[test]
fn v26_usdc_sizing() {
    let deposit: i128 = 10_000_000_000; // 1000 USDC
    let duration: u64 = 2_592_000; // 30 days
    let start: u64 = 1_767_225_600;
    let rate = deposit / i128::from(duration);
    assert_eq!(rate, 3858);
    let s = lin(start, start, start + duration, rate, deposit);
    assert_eq!(s.accrued_at(start + 86_400), 333_331_200, "after one day");
    assert_eq!(s.accrued_at(start + duration), 9_999_936_000, "streamable");
    assert_eq!(s.accrued_at(u64::MAX), 9_999_936_000);
    assert_eq!(
        s.remaining_at(start + duration + 1),
        64_000,
        "never accrues"
    );
    assert!(AccrualSchedule::deposit_covers_duration(
        deposit,
        rate,
        start,
        start + duration
    ));
    assert!(!AccrualSchedule::deposit_covers_duration(
        deposit,
        rate + 1,
        start,
        start + duration
    ));
    // The default end time is start + floor(deposit / rate), 16 s past the 30 days.
    assert_eq!(
        AccrualSchedule::default_end_time(start, deposit, rate),
        Some(start + 2_592_016)
    );
}

#[test]
fn withdraw_walkthrough_and_clock_vectors() {
    let s = lin(0, 0, 1000, 1, 1000);
    let mut withdrawn = 0;
    for (t, expected) in [(300, 300), (300, 0), (800, 500), (1000, 200)] {
        let w = s.accrued_at(t) - withdrawn;
        assert_eq!(w, expected, "withdraw at t={t}");
        withdrawn += w;
    }
    assert_eq!(withdrawn, s.deposit);
    assert_eq!(s.accrued_at(400), 400, "clock_monotonicity.rs: ts 400");
}

#[test]
fn cliff_only_and_cliff_slope_vectors() {
    let only = lin(1000, 1600, 2000, 0, 1000);
    assert_eq!(only.accrued_at_kind(StreamKind::CliffOnly, 1599), 0);
    assert_eq!(only.accrued_at_kind(StreamKind::CliffOnly, 1750), 1000);
    assert_eq!(
        only.accrued_at(1750),
        0,
        "the Linear rule at rate 0 accrues nothing"
    );
    let slope = lin(0, 400, 1000, 1, 600);
    assert_eq!(slope.accrued_at_kind(StreamKind::CliffSlope, 399), 0);
    assert_eq!(slope.accrued_at_kind(StreamKind::CliffSlope, 700), 300);
    assert_eq!(slope.accrued_at_kind(StreamKind::CliffSlope, 5000), 600);
    assert_eq!(
        slope.accrued_at_kind(StreamKind::Linear, 700),
        slope.accrued_at(700)
    );
    assert_eq!(slope.accrued_at(700), 600, "Linear counts from the start");
    for kind in [
        StreamKind::Linear,
        StreamKind::CliffOnly,
        StreamKind::CliffSlope,
    ] {
        assert_eq!(StreamKind::from_code(kind.code()), Some(kind));
    }
    assert_eq!(StreamKind::from_code(3), None);
}

#[test]
fn default_end_time_rules() {
    assert_eq!(AccrualSchedule::default_end_time(100, 1000, 3), Some(433));
    assert_eq!(
        AccrualSchedule::default_end_time(100, 1000, 1000),
        Some(101)
    );
    assert_eq!(AccrualSchedule::default_end_time(100, 999, 1000), Some(100));
    assert_eq!(AccrualSchedule::default_end_time(100, 0, 1), None);
    assert_eq!(AccrualSchedule::default_end_time(100, -5, 1), None);
    assert_eq!(AccrualSchedule::default_end_time(100, 1000, 0), None);
    assert_eq!(AccrualSchedule::default_end_time(100, 1000, -1), None);
    assert_eq!(AccrualSchedule::default_end_time(u64::MAX - 1, 10, 1), None);
    assert_eq!(
        AccrualSchedule::default_end_time(u64::MAX - 10, 10, 1),
        Some(u64::MAX)
    );
    assert_eq!(
        AccrualSchedule::default_end_time(0, i128::MAX, 1),
        None,
        "> u64::MAX s"
    );
    assert_eq!(
        AccrualSchedule::default_end_time(0, i128::from(u64::MAX), 1),
        Some(u64::MAX)
    );
}

#[test]
fn deposit_covers_duration_rules() {
    assert!(
        AccrualSchedule::deposit_covers_duration(1000, 1, 0, 1000),
        "exactly covered"
    );
    assert!(
        AccrualSchedule::deposit_covers_duration(2000, 1, 0, 1000),
        "excess allowed"
    );
    assert!(!AccrualSchedule::deposit_covers_duration(999, 1, 0, 1000));
    assert!(
        !AccrualSchedule::deposit_covers_duration(i128::MAX, i128::MAX, 0, 2),
        "overflow"
    );
    assert!(AccrualSchedule::deposit_covers_duration(
        i128::MAX,
        i128::MAX,
        0,
        1
    ));
    assert!(!AccrualSchedule::deposit_covers_duration(
        i128::MAX,
        i128::MAX / 2 + 1,
        0,
        2
    ));
    assert!(AccrualSchedule::deposit_covers_duration(
        i128::MAX,
        1,
        0,
        u64::MAX
    ));
}

#[test]
fn rate_change_touches_only_rate_and_checkpoint() {
    let s = lin(100, 150, 1100, 3, 5000);
    let changed = s.with_rate_change(600, 4);
    assert_eq!(
        changed,
        AccrualSchedule {
            rate_per_second: 4,
            checkpoint_amount: 1500,
            checkpoint_at: 600,
            ..s
        }
    );
    assert_eq!(
        changed.accrued_at(600),
        s.accrued_at(600),
        "continuous at the change"
    );
    assert_eq!(changed.accrued_at(1100), 1500 + 4 * 500);
    // A change at or after the end freezes the accrual at its end value.
    let late = s.with_rate_change(2000, 9);
    assert_eq!(late.accrued_at(u64::MAX), s.accrued_at(1100));
}

#[test]
fn rate_decrease_refuses_what_the_contract_refuses() {
    let s = lin(0, 0, 100, 10, 1000);
    assert!(s.with_rate_decrease(100, 5).is_none(), "t >= end");
    assert!(s.with_rate_decrease(10, 10).is_none(), "not a decrease");
    assert!(
        s.with_rate_decrease(10, 0).is_none(),
        "rate must stay positive"
    );
    // A deposit that cannot cover the new ceiling (possible only for odd states).
    let thin = AccrualSchedule { deposit: 50, ..s };
    assert!(
        thin.with_rate_decrease(1, 9).is_none(),
        "new deposit above the old"
    );
    let huge = lin(0, 0, u64::MAX, i128::MAX, i128::MAX);
    assert!(
        huge.with_rate_decrease(1, i128::MAX - 1).is_none(),
        "overflow"
    );
}

// ---------------------------------------------------------------------------------------
// The contract's own numbers: fixtures/chain/fluxora-scenario.decoded.json
// ---------------------------------------------------------------------------------------

/// The checkpoint the contract reported for stream 0 after its `rate_upd`.
const STREAM0_CHECKPOINT: (i128, u64) = (1_149_298_200, 1_749_912_449);

/// The chain fixtures: `fixtures/chain/` at the repository root (a verbatim copy of
/// `shared/fixtures/chain`, see `vendored_fixtures_are_the_shared_originals`), or
/// `FLUXORA_FIXTURES_DIR`.
fn fixtures_dir() -> PathBuf {
    match std::env::var_os("FLUXORA_FIXTURES_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/chain")),
    }
}

fn load_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|err| {
        panic!(
            "chain fixture not found or unreadable at {} ({err}); set FLUXORA_FIXTURES_DIR to \
             the directory that holds the chain fixtures",
            path.display()
        )
    });
    serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("chain fixture {} is not JSON: {err}", path.display()))
}

fn load_fixture(name: &str) -> Value {
    load_json(&fixtures_dir().join(name))
}

fn get<'a>(value: &'a Value, key: &str, context: &str) -> &'a Value {
    value
        .get(key)
        .unwrap_or_else(|| panic!("{context}: missing field `{key}`"))
}

/// An integer rendered either as a JSON number or a decimal string (i128 in the fixtures).
fn int(value: &Value, context: &str) -> i128 {
    match value {
        Value::String(s) => s.parse(),
        Value::Number(n) => n.to_string().parse(),
        _ => panic!("{context}: not an integer: {value}"),
    }
    .unwrap_or_else(|err| panic!("{context}: not an integer: {value} ({err})"))
}

fn i128_field(value: &Value, key: &str, context: &str) -> i128 {
    int(get(value, key, context), &format!("{context}.{key}"))
}

fn u64_field(value: &Value, key: &str, context: &str) -> u64 {
    let n = i128_field(value, key, context);
    u64::try_from(n).unwrap_or_else(|_| panic!("{context}.{key}: {n} is not a u64"))
}

fn str_field<'a>(value: &'a Value, key: &str, context: &str) -> &'a str {
    get(value, key, context)
        .as_str()
        .unwrap_or_else(|| panic!("{context}.{key}: not a string"))
}

/// A stream as rebuilt from the contract's events alone.
#[derive(Debug)]
struct Replayed {
    schedule: AccrualSchedule,
    withdrawn: i128,
    paused: bool,
    completed: bool,
    closed: bool,
    cancelled_at: Option<u64>,
    /// `deposit - accrued(cancelled_at)`, paid to the sender at cancel.
    refund: i128,
    cancel_tx: Option<String>,
}

impl Replayed {
    /// The contract's status code: Active 0, Paused 1, Completed 2, Cancelled 3.
    fn status(&self) -> u64 {
        if self.cancelled_at.is_some() {
            3
        } else if self.completed {
            2
        } else if self.paused {
            1
        } else {
            0
        }
    }
}

/// Walks the decoded events in order, dispatching on the name. Every `withdrew` must equal
/// everything accrued and not yet withdrawn at the ledger's close time (a cancelled stream:
/// at its cancel time).
fn replay<'a>(events: impl IntoIterator<Item = &'a Value>) -> BTreeMap<u64, Replayed> {
    let mut streams: BTreeMap<u64, Replayed> = BTreeMap::new();
    for event in events {
        let name = str_field(event, "name", "event");
        let id = u64_field(event, "streamId", "event");
        let ctx = format!("event {name} of stream {id} in ledger {}", event["ledger"]);
        let t = u64_field(event, "closeTimeUnix", &ctx);
        let data = get(event, "data", &ctx);
        if name == "created" {
            assert_eq!(u64_field(data, "stream_id", &ctx), id, "{ctx}: stream id");
            let rate = i128_field(data, "rate_per_second", &ctx);
            assert!(
                rate > 0,
                "{ctx}: rate 0 is a CliffOnly stream, not modelled here"
            );
            let schedule = AccrualSchedule::linear(
                i128_field(data, "deposit_amount", &ctx),
                rate,
                u64_field(data, "start_time", &ctx),
                u64_field(data, "cliff_time", &ctx),
                u64_field(data, "end_time", &ctx),
            );
            let fresh = Replayed {
                schedule,
                withdrawn: 0,
                paused: false,
                completed: false,
                closed: false,
                cancelled_at: None,
                refund: 0,
                cancel_tx: None,
            };
            assert!(streams.insert(id, fresh).is_none(), "{ctx}: created twice");
            continue;
        }
        let stream = streams
            .get_mut(&id)
            .unwrap_or_else(|| panic!("{ctx}: stream was never created"));
        assert!(!stream.closed, "{ctx}: event after `closed`");
        let s = &mut stream.schedule;
        match name {
            "withdrew" => {
                let at = stream.cancelled_at.unwrap_or(t);
                let amount = i128_field(data, "amount", &ctx);
                assert_eq!(
                    s.accrued_at(at) - stream.withdrawn,
                    amount,
                    "{ctx}: accrued({at}) - earlier withdrawals"
                );
                stream.withdrawn += amount;
            }
            "cancelled" => {
                stream.cancelled_at = Some(t);
                stream.refund = s.remaining_at(t);
                stream.cancel_tx = Some(str_field(event, "txHash", &ctx).to_owned());
            }
            "top_up" => {
                let new_deposit = i128_field(data, "new_deposit_amount", &ctx);
                let amount = i128_field(data, "top_up_amount", &ctx);
                assert_eq!(s.deposit + amount, new_deposit, "{ctx}: deposit + top-up");
                assert_eq!(
                    u64_field(data, "new_end_time", &ctx),
                    s.end_time,
                    "{ctx}: a top-up leaves the end time unchanged"
                );
                s.deposit = new_deposit;
            }
            "rate_upd" => {
                let effective = u64_field(data, "effective_time", &ctx);
                assert_eq!(effective, t, "{ctx}: effective time = ledger close time");
                assert_eq!(
                    i128_field(data, "old_rate_per_second", &ctx),
                    s.rate_per_second,
                    "{ctx}: old rate"
                );
                *s = s.with_rate_change(effective, i128_field(data, "new_rate_per_second", &ctx));
            }
            "end_ext" => {
                assert_eq!(
                    u64_field(data, "old_end_time", &ctx),
                    s.end_time,
                    "{ctx}: old end"
                );
                s.end_time = u64_field(data, "new_end_time", &ctx);
            }
            "paused" => stream.paused = true,
            "resumed" => stream.paused = false,
            "completed" => {
                assert_eq!(
                    stream.withdrawn, s.deposit,
                    "{ctx}: Completed iff withdrawn == deposit"
                );
                stream.completed = true;
            }
            "closed" => stream.closed = true,
            other => panic!("{ctx}: the replay does not model event `{other}`"),
        }
    }
    streams
}

/// Compares a replayed stream with the contract's `get_stream_state` fields.
fn assert_state(id: u64, stream: &Replayed, fields: &Value, label: &str) {
    let ctx = format!("{label} of stream {id}");
    let s = &stream.schedule;
    assert_eq!(u64_field(fields, "stream_id", &ctx), id, "{ctx}: stream_id");
    let expected_i128 = [
        ("deposit_amount", s.deposit),
        ("rate_per_second", s.rate_per_second),
        ("checkpointed_amount", s.checkpoint_amount),
        ("withdrawn_amount", stream.withdrawn),
    ];
    for (key, ours) in expected_i128 {
        assert_eq!(ours, i128_field(fields, key, &ctx), "{ctx}: {key}");
    }
    let expected_u64 = [
        ("start_time", s.start_time),
        ("cliff_time", s.cliff_time),
        ("end_time", s.end_time),
        ("checkpointed_at", s.checkpoint_at),
        ("status", stream.status()),
    ];
    for (key, ours) in expected_u64 {
        assert_eq!(ours, u64_field(fields, key, &ctx), "{ctx}: {key}");
    }
    let contract_cancelled_at = match get(fields, "cancelled_at", &ctx) {
        Value::Null => None,
        _ => Some(u64_field(fields, "cancelled_at", &ctx)),
    };
    assert_eq!(
        stream.cancelled_at, contract_cancelled_at,
        "{ctx}: cancelled_at"
    );
    assert_eq!(
        u64_field(fields, "kind", &ctx),
        0,
        "{ctx}: only Linear is replayed"
    );
}

/// The SAC `transfer` from the stream contract to the sender in the cancel's transaction.
fn cancel_refund_transfer(decoded: &Value, tx_hash: &str) -> i128 {
    let contract = str_field(decoded, "contractId", "fixture");
    let transactions = get(decoded, "transactions", "fixture")
        .as_array()
        .expect("transactions is an array");
    let tx = transactions
        .iter()
        .find(|tx| tx["txHash"] == tx_hash)
        .unwrap_or_else(|| panic!("no transaction {tx_hash} in the fixture"));
    let transfers: Vec<i128> = get(tx, "allContractEventsInOperation", tx_hash)
        .as_array()
        .expect("events are an array")
        .iter()
        .filter(|e| e["topics"][0] == "transfer" && e["topics"][1] == contract)
        .map(|e| int(&e["data"], "transfer amount"))
        .collect();
    assert_eq!(transfers.len(), 1, "one refund transfer in {tx_hash}");
    transfers[0]
}

/// Σ (deposit − withdrawn − cancel refund): what the contract still holds for these streams.
fn liabilities(streams: &BTreeMap<u64, Replayed>) -> i128 {
    streams
        .values()
        .map(|s| s.schedule.deposit - s.withdrawn - s.refund)
        .sum()
}

#[test]
fn fixture_scenario_matches_the_contract() {
    let decoded = load_fixture("fluxora-scenario.decoded.json");
    let events = get(&decoded, "events", "fixture")
        .as_array()
        .expect("events array");
    assert!(!events.is_empty(), "the scenario has events");
    let streams = replay(events);
    assert_eq!(streams.len(), 3);

    let stream0 = &streams[&0];
    assert_eq!(
        (
            stream0.schedule.checkpoint_amount,
            stream0.schedule.checkpoint_at
        ),
        STREAM0_CHECKPOINT,
        "stream 0's checkpoint after rate_upd"
    );
    // The retroactive full-duration deposit check let the rate rise, but the old-rate slice
    // before the checkpoint means stream 0 can never accrue its whole deposit.
    assert!(stream0.schedule.accrued_at(u64::MAX) < stream0.schedule.deposit);

    let finals = get(&decoded, "finalStreamStates", "fixture")
        .as_object()
        .expect("finalStreamStates object");
    assert_eq!(finals.len(), streams.len());
    for (key, state) in finals {
        let id: u64 = key.parse().expect("stream id key");
        let stream = &streams[&id];
        if state["exists"] == true {
            assert!(!stream.closed, "stream {id} exists on chain");
            assert_state(id, stream, get(state, "fields", key), "finalStreamStates");
        } else {
            assert!(
                stream.closed,
                "stream {id} is gone on chain: it must have been closed"
            );
        }
    }
    let before_close = get(&decoded, "stream2StateJustBeforeClose", "fixture");
    let fields = get(before_close, "fields", "stream2StateJustBeforeClose");
    let id = u64_field(fields, "stream_id", "stream2StateJustBeforeClose");
    assert_state(id, &streams[&id], fields, "stream2StateJustBeforeClose");

    for (id, stream) in &streams {
        if let Some(tx) = &stream.cancel_tx {
            assert_eq!(
                stream.refund,
                cancel_refund_transfer(&decoded, tx),
                "stream {id}: refund = deposit - accrued(cancelled_at)"
            );
        }
    }
    assert!(
        streams.values().any(|s| s.cancel_tx.is_some()),
        "the scenario cancels a stream"
    );

    let views = get(&decoded, "finalContractViews", "fixture");
    let balances = get(&decoded, "finalTokenBalances", "fixture");
    assert_eq!(
        liabilities(&streams),
        i128_field(views, "get_total_liabilities", "finalContractViews")
    );
    assert_eq!(
        liabilities(&streams),
        i128_field(balances, "streamContract", "finalTokenBalances")
    );
}

#[test]
fn fixture_reorg_branch_matches_the_contract() {
    let decoded = load_fixture("fluxora-scenario.decoded.json");
    let reorg = load_fixture("reorg-variant.getEvents.json");
    let diverges = u64_field(&reorg, "divergesAtLedger", "reorg fixture");
    let main_events = get(&decoded, "events", "fixture")
        .as_array()
        .expect("events array");
    let branch = get(&reorg, "decodedBranchEvents", "reorg fixture")
        .as_array()
        .expect("branch events array");
    assert!(!branch.is_empty());
    let events = main_events
        .iter()
        .filter(|e| u64_field(e, "ledger", "event") < diverges)
        .chain(branch.iter());
    let streams = replay(events);

    let expected = get(&reorg, "expectedFinalStreamStates", "reorg fixture")
        .as_object()
        .expect("expectedFinalStreamStates object");
    assert_eq!(expected.len(), streams.len());
    for (key, state) in expected {
        let id: u64 = key.parse().expect("stream id key");
        assert_eq!(
            state["exists"], true,
            "every stream survives on the reorg branch"
        );
        let fields = get(state, "fields", key);
        assert_state(id, &streams[&id], fields, "expectedFinalStreamStates");
    }
    let stream0 = &streams[&0].schedule;
    assert_eq!(
        (stream0.checkpoint_amount, stream0.checkpoint_at),
        STREAM0_CHECKPOINT
    );
    let balances = get(&reorg, "expectedFinalTokenBalances", "reorg fixture");
    assert_eq!(
        liabilities(&streams),
        i128_field(balances, "streamContract", "expectedFinalTokenBalances")
    );
}

/// The repository carries a copy of the shared fixtures so a fresh clone tests on its own;
/// where the originals sit beside the checkout (every developer and CI machine), the copy
/// must be byte-identical to them.
#[test]
fn vendored_fixtures_are_the_shared_originals() {
    let shared = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/chain"
    ));
    let Ok(entries) = std::fs::read_dir(&shared) else {
        eprintln!(
            "no {} beside the checkout: nothing to compare",
            shared.display()
        );
        return;
    };
    drop(entries);
    let mut compared = 0;
    let mut folders = vec![PathBuf::new()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(shared.join(&folder)).unwrap() {
            let path = entry.unwrap().path();
            let name = folder.join(path.file_name().unwrap());
            if path.is_dir() {
                folders.push(name);
                continue;
            }
            let original = std::fs::read(&path).unwrap();
            let copy = std::fs::read(fixtures_dir().join(&name))
                .unwrap_or_else(|e| panic!("fixtures/chain/{} missing: {e}", name.display()));
            assert!(
                original == copy,
                "fixtures/chain/{} differs from shared",
                name.display()
            );
            compared += 1;
        }
    }
    assert!(
        compared >= 6,
        "expected the six chain fixture files, found {compared}"
    );
}

#[test]
#[should_panic(expected = "set FLUXORA_FIXTURES_DIR")]
fn missing_fixture_panics_with_a_clear_message() {
    load_json(Path::new("/nonexistent/fluxora/fixtures/chain/none.json"));
}

// ---------------------------------------------------------------------------------------
// Property-style loops over pseudo-random schedules (no extra crates)
// ---------------------------------------------------------------------------------------

/// Knuth's MMIX linear congruential generator; the high bits are the useful ones.
struct Lcg(u64);

impl Lcg {
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0
    }

    /// Roughly uniform in `0..=max`.
    fn upto(&mut self, max: u64) -> u64 {
        let x = ((self.next_u64() >> 32) << 32) | (self.next_u64() >> 32);
        match max.checked_add(1) {
            Some(n) => x % n,
            None => x,
        }
    }

    fn i128_upto(&mut self, max: i128) -> i128 {
        let hi =
            (u128::from(self.next_u64() >> 32) << 96) | (u128::from(self.next_u64() >> 32) << 64);
        let lo = (u128::from(self.next_u64() >> 32) << 32) | u128::from(self.next_u64() >> 32);
        let x = (hi | lo) >> 1; // < 2^127
        let x = i128::try_from(x).unwrap();
        match max.checked_add(1) {
            Some(n) if n > 0 => x % n,
            _ => x,
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[usize::try_from(self.upto(items.len() as u64 - 1)).unwrap()]
    }
}

/// A schedule at one of three scales: small numbers, realistic Stellar numbers, or anything
/// (including values that overflow every product).
fn random_valid_schedule(rng: &mut Lcg) -> AccrualSchedule {
    let (time_base, time_span, rate_max, deposit_max) = match rng.upto(2) {
        0 => (0, 10_000, 1_000, 10_000_000),
        1 => (
            1_700_000_000,
            100_000_000,
            10_000_000,
            10_000_000_000_000_000,
        ),
        _ => (0, u64::MAX, i128::MAX, i128::MAX),
    };
    let span = time_span.min(u64::MAX - time_base);
    let a = time_base + rng.upto(span);
    let b = time_base + rng.upto(span);
    let (start, end) = match a.cmp(&b) {
        std::cmp::Ordering::Less => (a, b),
        std::cmp::Ordering::Greater => (b, a),
        std::cmp::Ordering::Equal => (a.saturating_sub(1), a.max(1)),
    };
    let cliff = start + rng.upto(end - start);
    let rate = 1 + rng.i128_upto(rate_max - 1);
    let deposit = match rng.upto(2) {
        // Exactly covered, as create_stream produces with a default end time.
        0 => rate
            .checked_mul(i128::from(end - start))
            .unwrap_or(deposit_max)
            .max(1),
        _ => 1 + rng.i128_upto(deposit_max - 1),
    };
    AccrualSchedule::linear(deposit, rate, start, cliff, end)
}

/// Any inputs at all, except a negative checkpoint (which no contract state has).
fn random_any_schedule(rng: &mut Lcg) -> AccrualSchedule {
    let mut s = random_valid_schedule(rng);
    let odd_i128 = [i128::MIN, -1, 0, 1, i128::MAX];
    let odd_u64 = [0, 1, u64::MAX - 1, u64::MAX];
    match rng.upto(5) {
        0 => s.deposit = rng.pick(&odd_i128),
        1 => s.rate_per_second = rng.pick(&odd_i128),
        2 => s.cliff_time = rng.pick(&odd_u64),
        3 => s.end_time = rng.pick(&odd_u64),
        _ => {}
    }
    if rng.upto(1) == 0 {
        s.checkpoint_at = rng.upto(u64::MAX);
        s.checkpoint_amount = rng.i128_upto(i128::MAX);
    }
    s
}

/// Sorted sample times around every boundary of `s`, plus random ones.
fn sample_times(rng: &mut Lcg, s: &AccrualSchedule) -> Vec<u64> {
    let mut times = vec![0, 1, u64::MAX - 1, u64::MAX];
    for anchor in [s.start_time, s.cliff_time, s.end_time, s.checkpoint_at] {
        times.extend([anchor.saturating_sub(1), anchor, anchor.saturating_add(1)]);
    }
    let lo = s.start_time.min(s.cliff_time);
    let hi = s.end_time.max(s.cliff_time).saturating_add(10);
    for _ in 0..20 {
        times.push(lo + rng.upto(hi.saturating_sub(lo)));
        times.push(rng.upto(u64::MAX));
    }
    times.sort_unstable();
    times
}

#[test]
fn prop_accrued_is_bounded_and_monotone() {
    let mut rng = Lcg(0x5EED_F10A);
    for case in 0..600 {
        let s = if case % 2 == 0 {
            random_valid_schedule(&mut rng)
        } else {
            random_any_schedule(&mut rng)
        };
        let mut previous = 0;
        for t in sample_times(&mut rng, &s) {
            let accrued = s.accrued_at(t);
            assert!(
                (0..=s.deposit.max(0)).contains(&accrued),
                "out of [0, deposit]: {s:?} at t={t} -> {accrued}"
            );
            assert!(
                accrued >= previous,
                "decreased: {s:?} at t={t}: {previous} -> {accrued}"
            );
            previous = accrued;
            assert_eq!(s.remaining_at(t), s.deposit - accrued);
        }
    }
}

#[test]
fn prop_fresh_schedule_settles_at_min_of_deposit_and_rate_times_duration() {
    let mut rng = Lcg(0x0ACC_02A1);
    for _ in 0..600 {
        let s = random_valid_schedule(&mut rng);
        let duration = i128::from(s.end_time - s.start_time);
        let expected = s
            .rate_per_second
            .checked_mul(duration)
            .map_or(s.deposit, |streamable| streamable.min(s.deposit));
        let after = s.end_time.saturating_add(rng.upto(u64::MAX - s.end_time));
        for t in [s.end_time, s.end_time.saturating_add(1), after, u64::MAX] {
            assert_eq!(s.accrued_at(t), expected, "{s:?} at t={t}");
        }
    }
}

#[test]
fn prop_rate_change_is_continuous_and_a_same_rate_checkpoint_is_neutral() {
    let mut rng = Lcg(0xC4EC_4901);
    for _ in 0..400 {
        let s = random_valid_schedule(&mut rng);
        // A checkpoint at or after the cliff (possibly after the end).
        let t_change = s
            .cliff_time
            .saturating_add(rng.upto((s.end_time - s.cliff_time).saturating_add(5)));
        let same = s.with_rate_change(t_change, s.rate_per_second);
        let new_rate = rng.i128_upto(s.rate_per_second.saturating_mul(2));
        let other = s.with_rate_change(t_change, new_rate);
        assert_eq!(
            other.accrued_at(t_change),
            s.accrued_at(t_change),
            "{s:?} at {t_change}"
        );
        let mut previous = 0;
        for t in sample_times(&mut rng, &s) {
            if t >= t_change {
                assert_eq!(
                    same.accrued_at(t),
                    s.accrued_at(t),
                    "{s:?}, checkpoint {t_change}, t={t}"
                );
            }
            let accrued = other.accrued_at(t);
            assert!(
                accrued >= previous && accrued <= other.deposit,
                "{other:?} at t={t}"
            );
            previous = accrued;
        }
    }
}

#[test]
fn never_panics_on_extreme_inputs() {
    let amounts = [i128::MIN, -1, 0, 1, i128::MAX];
    let times = [0, 1, u64::MAX / 2, u64::MAX - 1, u64::MAX];
    for deposit in amounts {
        for rate in amounts {
            for checkpoint_amount in amounts {
                for cliff_time in times {
                    for end_time in times {
                        for checkpoint_at in times {
                            let s = AccrualSchedule {
                                deposit,
                                rate_per_second: rate,
                                start_time: checkpoint_at,
                                cliff_time,
                                end_time,
                                checkpoint_amount,
                                checkpoint_at,
                            };
                            for t in times {
                                let accrued = s.accrued_at(t);
                                assert!((0..=deposit.max(0)).contains(&accrued));
                                let _ = s.remaining_at(t);
                                let _ = s.with_rate_change(t, rate).accrued_at(t);
                                let _ = s.with_rate_decrease(t, rate / 2);
                                for kind in [StreamKind::CliffOnly, StreamKind::CliffSlope] {
                                    let other = s.accrued_at_kind(kind, t);
                                    assert!((0..=deposit.max(0)).contains(&other));
                                }
                            }
                            let _ = AccrualSchedule::default_end_time(end_time, deposit, rate);
                            let _ = AccrualSchedule::deposit_covers_duration(
                                deposit, rate, cliff_time, end_time,
                            );
                        }
                    }
                }
            }
        }
    }
}
