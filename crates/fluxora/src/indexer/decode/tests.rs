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
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
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
            ContractEvent::Withdrew(w) => *withdrawn.entry(w.stream_id).or_default() += w.amount,
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
        let value = ScVal::from_xdr_base64(raw["value"].as_str().unwrap(), Limits::none()).unwrap();
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
                ("amount", i128v(1)),
                ("destination", account(SENDER)),
                ("stream_id", ScVal::U64(5)),
            ]),
            ContractEvent::AutoClaimTriggered(AutoClaimTriggered {
                stream_id: 5,
                destination: SENDER.into(),
                amount: 1,
            }),
        ),
        (
            "health",
            6,
            sdk_map(vec![
                ("is_underfunded", ScVal::Bool(true)),
                ("remaining_balance", i128v(i128::MAX)),
                ("seconds_remaining", ScVal::U64(0)),
                ("stream_id", ScVal::U64(6)),
            ]),
            ContractEvent::HealthChanged(StreamHealthChanged {
                stream_id: 6,
                is_underfunded: true,
                remaining_balance: i128::MAX,
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
    // Together with the scenario and the full-contract corpus, every handled name has a
    // decoding test.
    for raw in page_events("fluxora-scenario.getEvents.json")
        .into_iter()
        .chain(page_events("full-contract/events.getEvents.json"))
    {
        if let Decoded::Event(event) = decode_rpc(&raw) {
            seen.push(event.name());
        }
    }
    seen.sort_unstable();
    seen.dedup();
    let mut handled: Vec<_> = CATALOGUE.iter().map(|spec| spec.name).collect();
    handled.sort_unstable();
    assert_eq!(seen, handled);
    // The topic symbols encode to the base64 XDR the contract's events carry.
    assert_eq!(b64(&sym("wdraw_to")), "AAAADwAAAAh3ZHJhd190bw==");
    assert_eq!(b64(&sym("rate_dec")), "AAAADwAAAAhyYXRlX2RlYw==");
    assert_eq!(b64(&sym("end_shrt")), "AAAADwAAAAhlbmRfc2hydA==");
    assert_eq!(b64(&sym("kp_cncl")), "AAAADwAAAAdrcF9jbmNsAA==");
}

/// Every event of the full-contract corpus (the contract's own code over every stream path)
/// decodes: stream events field by field as `decoded.json` renders them, the others as
/// contract-level events; none is unknown or invalid.
#[test]
fn the_full_contract_corpus_decodes_entirely() {
    let decoded = fixture("full-contract/decoded.json");
    let expected: std::collections::HashMap<&str, &Value> = decoded["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].as_str().unwrap(), e))
        .collect();
    let (mut stream_events, mut contract_level) = (0, 0);
    for raw in page_events("full-contract/events.getEvents.json") {
        let id = raw["id"].as_str().unwrap();
        match decode_rpc(&raw) {
            Decoded::Event(event) => {
                assert_matches_expected(id, &event, expected[id]);
                stream_events += 1;
            }
            Decoded::ContractLevel { name } => {
                assert_eq!(expected[id]["name"], name, "{id}");
                assert_ne!(expected[id]["category"], "stream", "{id}");
                contract_level += 1;
            }
            other => panic!("{id}: {other:?}"),
        }
    }
    assert_eq!((stream_events, contract_level), (1540, 30));
}

/// Catalogue names are Symbols as `symbol_short!` makes them (1–9 characters of `[A-Za-z0-9_]`)
/// and unique, so no entry hides another.
#[test]
fn catalogue_names_are_unique_short_symbols() {
    let mut names: Vec<_> = CATALOGUE.iter().map(|spec| spec.name).collect();
    for name in &names {
        assert!(name.len() <= 9, "{name}");
        assert_eq!(symbol_text(name.as_bytes()).as_deref(), Some(*name));
        assert_eq!(event_spec(name).map(|spec| spec.name), Some(*name));
    }
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), CATALOGUE.len());
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
    // Names we do not know are Unknown, the contract's own events about no stream are
    // ContractLevel, whatever their topic count or payload.
    for (name, extra) in [("frozen", 1), ("sndr_xfr", 1)] {
        let mut topic = vec![b64(&sym(name))];
        topic.extend(std::iter::repeat_n(b64(&ScVal::U64(1)), extra));
        assert_eq!(
            decode(&topic, "not even base64!"),
            Decoded::Unknown { name: name.into() }
        );
    }
    for (name, extra) in [("gl_pause", 0), ("offr_crt", 1), ("AdminUpd", 0)] {
        let mut topic = vec![b64(&sym(name))];
        topic.extend(std::iter::repeat_n(b64(&ScVal::U64(1)), extra));
        assert!(matches!(
            decode(&topic, "not even base64!"),
            Decoded::ContractLevel { name: known } if known == name
        ));
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
    let mut samples: Vec<(Vec<String>, String)> = page_events("fluxora-scenario.getEvents.json")
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
    // I128 parts decode exactly at the extremes; a negative amount is refused as impossible,
    // naming the event and the field.
    for n in [i128::MIN, i128::MIN + 1, -1] {
        let payload = sdk_map(vec![
            ("amount", i128v(n)),
            ("recipient", account(R1)),
            ("stream_id", ScVal::U64(0)),
        ]);
        let error = invalid_of(decode(&topic("withdrew", 0), &b64(&payload)));
        assert_eq!(error.code, DecodeErrorCode::FieldValueOutOfRange);
        assert_eq!(
            (error.event.as_deref(), error.field.as_deref()),
            (Some("withdrew"), Some("amount"))
        );
    }
    for n in [0, 1, i128::from(u64::MAX), i128::MAX] {
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
