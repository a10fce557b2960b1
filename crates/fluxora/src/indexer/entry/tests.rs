use super::*;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let dir = std::env::var_os("FLUXORA_FIXTURES_DIR").map_or_else(
        || std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/chain")),
        std::path::PathBuf::from,
    );
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn opt_text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

/// Every storage entry of the full-contract corpus decodes to the contract's own final state of
/// its stream (`finalStreamStates`, read with `get_stream_state`), field by field, and the key
/// we would ask for is the key the entry was stored under.
#[test]
fn the_corpus_entries_are_the_contracts_states() {
    let entries = fixture("full-contract/ledgerEntries.json");
    let decoded = fixture("full-contract/decoded.json");
    let contract = entries["contractId"].as_str().unwrap();
    let list = entries["entries"].as_array().unwrap();
    assert_eq!(list.len(), 157);
    for item in list {
        let id = item["streamId"].as_u64().unwrap();
        let entry = StreamEntry::decode(item["xdr"].as_str().unwrap()).unwrap();
        let want = &decoded["finalStreamStates"][id.to_string()]["fields"];
        let int = |field: &str| want[field].as_str().unwrap().parse::<i128>().unwrap();
        assert_eq!(entry.contract_id, contract);
        assert_eq!(entry.stream_id, id);
        assert_eq!(
            stream_key(contract, id).as_deref(),
            item["key"].as_str(),
            "{id}"
        );
        assert_eq!(entry.sender.as_str(), want["sender"], "{id}");
        assert_eq!(entry.recipient.as_str(), want["recipient"], "{id}");
        assert_eq!(entry.claim_owner, opt_text(&want["claim_owner"]), "{id}");
        assert_eq!(entry.witness, opt_text(&want["witness"]), "{id}");
        assert_eq!(entry.deposit_amount, int("deposit_amount"), "{id}");
        assert_eq!(entry.rate_per_second, int("rate_per_second"), "{id}");
        assert_eq!(entry.withdrawn_amount, int("withdrawn_amount"), "{id}");
        assert_eq!(
            entry.checkpointed_amount,
            int("checkpointed_amount"),
            "{id}"
        );
        assert_eq!(
            entry.withdraw_dust_threshold,
            int("withdraw_dust_threshold"),
            "{id}"
        );
        assert_eq!(Some(entry.start_time), want["start_time"].as_u64(), "{id}");
        assert_eq!(Some(entry.cliff_time), want["cliff_time"].as_u64(), "{id}");
        assert_eq!(Some(entry.end_time), want["end_time"].as_u64(), "{id}");
        assert_eq!(
            Some(entry.checkpointed_at),
            want["checkpointed_at"].as_u64(),
            "{id}"
        );
        assert_eq!(entry.cancelled_at, want["cancelled_at"].as_u64(), "{id}");
        assert_eq!(
            u64::from(entry.kind.code()),
            want["kind"].as_u64().unwrap(),
            "{id}"
        );
        let status = match want["status"].as_u64().unwrap() {
            0 => StreamStatus::Active,
            1 => StreamStatus::Paused,
            2 => StreamStatus::Completed,
            _ => StreamStatus::Cancelled,
        };
        assert_eq!(entry.status, status, "{id}");
        assert_eq!(entry.irrevocable, want["irrevocable"].as_bool(), "{id}");
        assert_eq!(entry.is_pooled, want["is_pooled"].as_bool(), "{id}");
        assert_eq!(
            entry.decommissioned,
            want["decommissioned"].as_bool(),
            "{id}"
        );
        assert_eq!(
            u64::from(entry.delegation_depth),
            want["delegation_depth"].as_u64().unwrap(),
            "{id}"
        );
        assert_eq!(
            entry.parent_stream_id,
            want["parent_stream_id"].as_u64(),
            "{id}"
        );
        assert_eq!(
            entry.memo.as_ref().map(hex::encode),
            opt_text(&want["memo"]),
            "{id}"
        );
    }
}

/// What is not a stream entry is refused with a reason, never a panic.
#[test]
fn other_entries_and_garbage_are_refused() {
    let entries = fixture("full-contract/ledgerEntries.json");
    let key = entries["entries"][0]["key"].as_str().unwrap();
    for (xdr, code) in [
        ("not base64!", DecodeErrorCode::ValueBase64Invalid),
        ("AAAA", DecodeErrorCode::ValueXdrInvalid),
        // A LedgerKey is not a LedgerEntryData of a stream.
        (key, DecodeErrorCode::ValueXdrInvalid),
    ] {
        let error = StreamEntry::decode(xdr).unwrap_err();
        assert_eq!(error.code, code, "{xdr}");
    }
    assert_eq!(
        stream_key(
            "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5",
            1
        ),
        None
    );
}

/// A negative amount in an entry is impossible and refused, naming the field.
#[test]
fn impossible_values_are_refused() {
    use stellar_xdr::{Int128Parts, ScMap, ScMapEntry};
    let entries = fixture("full-contract/ledgerEntries.json");
    let xdr = entries["entries"][0]["xdr"].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(xdr)
        .unwrap();
    let LedgerEntryData::ContractData(mut data) =
        LedgerEntryData::from_xdr(&bytes, Limits::none()).unwrap()
    else {
        panic!("not contract data")
    };
    let ScVal::Map(Some(map)) = &data.val else {
        panic!("not a map")
    };
    let replaced: Vec<ScMapEntry> = map
        .iter()
        .map(|entry| match &entry.key {
            ScVal::Symbol(symbol) if symbol.as_vec().as_slice() == b"withdrawn_amount" => {
                ScMapEntry {
                    key: entry.key.clone(),
                    val: ScVal::I128(Int128Parts {
                        hi: -1,
                        lo: u64::MAX,
                    }),
                }
            }
            _ => entry.clone(),
        })
        .collect();
    data.val = ScVal::Map(Some(ScMap(replaced.try_into().unwrap())));
    let tampered = LedgerEntryData::ContractData(data)
        .to_xdr_base64(Limits::none())
        .unwrap();
    let error = StreamEntry::decode(&tampered).unwrap_err();
    assert_eq!(error.code, DecodeErrorCode::FieldValueOutOfRange);
    assert_eq!(error.field.as_deref(), Some("withdrawn_amount"));
}
