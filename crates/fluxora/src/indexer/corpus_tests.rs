//! The derivation rules against the contract's own code: the full-contract corpus
//! (`fixtures/chain/full-contract/`, every stream path the contract has) replayed through
//! [`derive::replay`], compared with the contract's final states and its `get_withdrawable` /
//! `calculate_accrued` at several instants.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::indexer::decode::{ContractEvent, Decoded};
use crate::indexer::derive::{self, EventContext, ReplayStep};
use crate::indexer::entry::StreamEntry;
use crate::indexer::event::{parse_event_json, ValidEvent};
use crate::streams::{Stream, StreamKind, StreamStatus};

fn fixture(name: &str) -> Value {
    let dir = std::env::var_os("FLUXORA_FIXTURES_DIR").map_or_else(
        || std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/chain")),
        std::path::PathBuf::from,
    );
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

struct Corpus {
    events: Vec<(ValidEvent, ContractEvent)>,
    entries: Vec<(StreamEntry, u32)>,
    decoded: Value,
}

fn corpus() -> Corpus {
    let pages = fixture("full-contract/events.getEvents.json");
    let mut events = Vec::new();
    for page in pages["pages"].as_array().unwrap() {
        for raw in page["result"]["events"].as_array().unwrap() {
            let valid = parse_event_json(raw, false).unwrap();
            if let Decoded::Event(event) = valid.decode() {
                events.push((valid, event));
            }
        }
    }
    let entries = fixture("full-contract/ledgerEntries.json")["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                StreamEntry::decode(item["xdr"].as_str().unwrap()).unwrap(),
                u32::try_from(item["lastModifiedLedgerSeq"].as_u64().unwrap()).unwrap(),
            )
        })
        .collect();
    Corpus {
        events,
        entries,
        decoded: fixture("full-contract/decoded.json"),
    }
}

fn replay(corpus: &Corpus, with_entries: bool) -> BTreeMap<u64, Stream> {
    let mut steps: Vec<ReplayStep<'_>> = corpus
        .events
        .iter()
        .map(|(valid, event)| {
            ReplayStep::Event(
                event,
                EventContext {
                    contract_id: &valid.contract_id,
                    ledger: valid.ledger,
                    ledger_closed_at: valid.ledger_closed_at,
                    tx_hash: &valid.tx_hash,
                },
            )
        })
        .collect();
    if with_entries {
        // Read at the tip: after every event.
        steps.extend(
            corpus
                .entries
                .iter()
                .map(|(entry, ledger)| ReplayStep::Entry(entry, *ledger, 0)),
        );
    }
    derive::replay(steps)
}

/// The fields of the contract's state that differ from a derived stream's, by name.
fn drift(stream: &Stream, want: &Value) -> Vec<&'static str> {
    let int = |field: &str| want[field].as_str().unwrap().parse::<i128>().unwrap();
    let status = match want["status"].as_u64().unwrap() {
        0 => StreamStatus::Active,
        1 => StreamStatus::Paused,
        2 => StreamStatus::Completed,
        _ => StreamStatus::Cancelled,
    };
    let details = &stream.chain.as_ref().unwrap().details;
    let checks: [(&'static str, bool); 16] = [
        ("sender", stream.sender.as_str() == want["sender"]),
        ("recipient", stream.recipient.as_str() == want["recipient"]),
        (
            "deposit_amount",
            stream.deposit_amount.stroops() == int("deposit_amount"),
        ),
        (
            "rate_per_second",
            stream.rate_per_second.stroops() == int("rate_per_second"),
        ),
        (
            "start_time",
            Some(stream.start_time) == want["start_time"].as_u64(),
        ),
        (
            "cliff_time",
            Some(stream.cliff_time) == want["cliff_time"].as_u64(),
        ),
        (
            "end_time",
            Some(stream.end_time) == want["end_time"].as_u64(),
        ),
        (
            "withdrawn_amount",
            stream.withdrawn_amount.stroops() == int("withdrawn_amount"),
        ),
        ("status", stream.status == status),
        (
            "cancelled_at",
            stream.cancelled_at == want["cancelled_at"].as_u64(),
        ),
        (
            "checkpointed_amount",
            stream.checkpoint_amount.stroops() == int("checkpointed_amount"),
        ),
        (
            "checkpointed_at",
            Some(stream.checkpoint_at) == want["checkpointed_at"].as_u64(),
        ),
        (
            "kind",
            u64::from(stream.kind.code()) == want["kind"].as_u64().unwrap(),
        ),
        (
            "claim_owner",
            details.claim_owner.as_deref() == want["claim_owner"].as_str(),
        ),
        (
            "parent_stream_id",
            details.parent_stream_id == want["parent_stream_id"].as_u64(),
        ),
        (
            "delegation_depth",
            u64::from(details.delegation_depth) == want["delegation_depth"].as_u64().unwrap(),
        ),
    ];
    checks
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| name)
        .collect()
}

/// With the storage entries read at the tip, every stream still stored equals the contract's
/// state, and its accrual and withdrawable amount equal the contract's views at every instant
/// the corpus gives, to the stroop.
#[test]
fn with_its_storage_every_stream_is_the_contracts() {
    let corpus = corpus();
    let states = replay(&corpus, true);
    let finals = corpus.decoded["finalStreamStates"].as_object().unwrap();
    let mut checked = 0;
    for (id, state) in finals {
        if state["exists"] != true {
            continue;
        }
        let stream = &states[&id.parse::<u64>().unwrap()];
        assert_eq!(
            drift(stream, &state["fields"]),
            Vec::<&str>::new(),
            "stream {id}"
        );
        checked += 1;
    }
    assert_eq!(checked, 157);
    let withdrawable = &corpus.decoded["withdrawableAt"]["streams"];
    let views_per_stream = &corpus.decoded["finalPerStreamViews"];
    let (mut instants, mut capped) = (0, Vec::new());
    for (id, views) in withdrawable.as_object().unwrap() {
        let mut stream = states[&id.parse::<u64>().unwrap()].clone();
        // The lookback window, as the contract's view reports it (docs/indexer.md, "Reading the
        // contract's views"); without it such a stream would read higher than the contract.
        let lookback = views_per_stream[id]["get_lookback_window"]
            .as_u64()
            .map(|ledgers| u32::try_from(ledgers).unwrap());
        stream.chain.as_mut().unwrap().details.lookback_ledgers = lookback;
        for view in views.as_array().unwrap() {
            let t = view["timestamp"].as_u64().unwrap();
            let want = |field: &str| view[field].as_str().unwrap().parse::<i128>().unwrap();
            assert_eq!(
                stream.streamed_at(t).stroops(),
                want("calculate_accrued"),
                "{id} at {t}"
            );
            assert_eq!(
                stream.withdrawable_at(t).stroops(),
                want("get_withdrawable"),
                "{id} at {t}"
            );
            if lookback.is_some() {
                let mut uncapped = stream.clone();
                uncapped.chain.as_mut().unwrap().details.lookback_ledgers = None;
                assert!(
                    uncapped.withdrawable_at(t).stroops() > want("get_withdrawable"),
                    "the window matters for {id} at {t}"
                );
                capped.push(id.as_str());
            }
            instants += 1;
        }
    }
    assert_eq!(instants, 157 * 5);
    capped.dedup();
    assert_eq!(capped, ["101", "176", "184"]);
}

/// The lookback cap by the contract's rule, on a stream built here: a window of `L` ledgers caps
/// the due amount at what accrued in the last `5·L` seconds before `min(t, end)` (at a cancelled
/// stream's cancel time), never below 0; a CliffOnly stream that has accrued is exempt.
#[test]
fn a_lookback_window_caps_the_withdrawable_amount() {
    let corpus = corpus();
    let states = replay(&corpus, true);
    let mut stream = states[&184].clone();
    // Linear, rate 3290/s from 1750825312 to 1750965997, 82908000 withdrawn.
    let set = |stream: &mut Stream, ledgers: Option<u32>| {
        stream.chain.as_mut().unwrap().details.lookback_ledgers = ledgers;
    };
    let t = stream.start_time + 100_000;
    set(&mut stream, None);
    let due = stream.withdrawable_at(t).stroops();
    assert_eq!(due, 100_000 * 3290 - 82_908_000);
    set(&mut stream, Some(720));
    assert_eq!(stream.withdrawable_at(t).stroops(), 3600 * 3290);
    // A window wider than the time accrued so far caps nothing.
    set(&mut stream, Some(1_000_000));
    assert_eq!(stream.withdrawable_at(t).stroops(), due);
    // Past the end the window ends at the end.
    set(&mut stream, Some(1));
    assert_eq!(
        stream.withdrawable_at(stream.end_time + 500).stroops(),
        5 * 3290
    );
    // Paused: 0 whatever the window.
    stream.status = StreamStatus::Paused;
    assert_eq!(stream.withdrawable_at(t).stroops(), 0);
    // A cancelled stream: the window ends at its cancel time.
    stream.status = StreamStatus::Cancelled;
    stream.cancelled_at = Some(t);
    assert_eq!(stream.withdrawable_at(t + 9_999).stroops(), 5 * 3290);
    // CliffOnly with something accrued is not capped.
    stream.status = StreamStatus::Active;
    stream.cancelled_at = None;
    stream.kind = StreamKind::CliffOnly;
    assert_eq!(
        stream.withdrawable_at(t).stroops(),
        stream.deposit_amount.stroops() - 82_908_000
    );
}

/// From events alone, every stream the corpus creates exists (delegation children included),
/// and the fields events can tell match the contract's state everywhere except where the
/// contract's events do not say it: the kind of a CliffSlope stream, the gross amount of a
/// delegated withdrawal, and a non-checkpointing `update_rate`. Every stream that differs is
/// one of those, and is marked as waiting for its storage entry.
#[test]
fn from_events_alone_only_what_events_cannot_tell_differs() {
    let corpus = corpus();
    let states = replay(&corpus, false);
    let origins = corpus.decoded["streamOrigins"].as_object().unwrap();
    for id in origins.keys() {
        assert!(
            states.contains_key(&id.parse::<u64>().unwrap()),
            "stream {id} missing"
        );
    }
    assert_eq!(states.len(), origins.len());
    let finals = corpus.decoded["finalStreamStates"].as_object().unwrap();
    let mut by_field: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    for (id, state) in finals {
        if state["exists"] != true {
            continue;
        }
        let stream = &states[&id.parse::<u64>().unwrap()];
        for field in drift(stream, &state["fields"]) {
            by_field.entry(field).or_default().push(id);
        }
    }
    let summary: BTreeMap<&str, usize> = by_field.iter().map(|(k, v)| (*k, v.len())).collect();
    println!("fields that differ from events alone: {summary:?}");
    for field in by_field.keys() {
        assert!(
            [
                "kind",
                "withdrawn_amount",
                "checkpointed_amount",
                "checkpointed_at",
                "deposit_amount"
            ]
            .contains(field),
            "{field} differs for {:?}",
            by_field[field]
        );
    }
}
