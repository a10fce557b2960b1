//! Reconciliation: every open chain stream compared with the contract's storage entry, field by
//! field, and with its lookback window (`docs/indexer.md`, "Reconciliation"). `fluxora chain verify` prints the drift;
//! the poller runs the same check at `INDEXER_VERIFY_INTERVAL_MS`, reports it on `/health` and
//! as a metric, and repairs it by ingesting the entries it read.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::indexer::derive::chain_stream_id;
use crate::indexer::entry::{stream_key, EntryRead, StreamEntry};
use crate::indexer::ingest::{IngestBatch, IngestCore, IngestError};
use crate::indexer::rpc::{RpcClient, RpcError, MAX_LEDGER_ENTRY_KEYS};
use crate::indexer::views::VIEW_CONCURRENCY;
use crate::store::StoreError;
use crate::streams::Stream;

/// One field whose indexed value differs from the contract's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDrift {
    /// The contract's field name (`withdrawn_amount`, `kind`, …).
    pub field: &'static str,
    /// Our value, as text (amounts in stroops).
    pub indexed: String,
    /// The contract's value, as text.
    pub contract: String,
}

/// A stream whose indexed state differs from the contract's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamDrift {
    /// The contract's stream id.
    pub stream_id: u64,
    /// The public id, `{contract id}-{stream id}`.
    pub id: String,
    /// The fields that differ; empty when the entry is `missing`.
    pub fields: Vec<FieldDrift>,
    /// The contract has no entry for a stream we hold open (archived, or closed without our
    /// seeing the event).
    pub missing: bool,
}

/// What a reconciliation found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// Open chain streams compared.
    pub checked: usize,
    /// Streams whose entry changed after the last ingested ledger: their events are not ingested
    /// yet, so they are not compared.
    pub ahead: usize,
    /// Streams that differ.
    pub drifted: Vec<StreamDrift>,
    /// Drifted streams made equal to the contract's storage (a repairing run only, which applies
    /// the entry of every stream compared).
    pub repaired: usize,
    /// `getLedgerEntries` calls made.
    pub calls: u32,
    /// `simulateTransaction` calls made (each stream's lookback window).
    pub view_calls: u32,
}

/// Why a reconciliation failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The RPC failed.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// Ingesting the repairing entries failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The RPC answered an entry that is not a stream entry.
    #[error("getLedgerEntries answered an entry that is not a stream entry: {0}")]
    Entry(String),
}

/// The fields of `stream` that differ from the contract's `entry` (empty: in agreement).
pub fn drift(stream: &Stream, entry: &StreamEntry) -> Vec<FieldDrift> {
    let mut fields = Vec::new();
    let mut check = |field: &'static str, indexed: String, contract: String| {
        if indexed != contract {
            fields.push(FieldDrift {
                field,
                indexed,
                contract,
            });
        }
    };
    let text = |value: Option<&str>| value.unwrap_or("none").to_owned();
    check(
        "sender",
        stream.sender.to_string(),
        entry.sender.to_string(),
    );
    check(
        "recipient",
        stream.recipient.to_string(),
        entry.recipient.to_string(),
    );
    check(
        "deposit_amount",
        stream.deposit_amount.stroops().to_string(),
        entry.deposit_amount.to_string(),
    );
    check(
        "rate_per_second",
        stream.rate_per_second.stroops().to_string(),
        entry.rate_per_second.to_string(),
    );
    check(
        "kind",
        stream.kind.as_str().to_owned(),
        entry.kind.as_str().to_owned(),
    );
    check(
        "start_time",
        stream.start_time.to_string(),
        entry.start_time.to_string(),
    );
    check(
        "cliff_time",
        stream.cliff_time.to_string(),
        entry.cliff_time.to_string(),
    );
    check(
        "end_time",
        stream.end_time.to_string(),
        entry.end_time.to_string(),
    );
    check(
        "withdrawn_amount",
        stream.withdrawn_amount.stroops().to_string(),
        entry.withdrawn_amount.to_string(),
    );
    check(
        "status",
        stream.status.as_str().to_owned(),
        entry.status.as_str().to_owned(),
    );
    check(
        "cancelled_at",
        format!("{:?}", stream.cancelled_at),
        format!("{:?}", entry.cancelled_at),
    );
    check(
        "checkpointed_amount",
        stream.checkpoint_amount.stroops().to_string(),
        entry.checkpointed_amount.to_string(),
    );
    check(
        "checkpointed_at",
        stream.checkpoint_at.to_string(),
        entry.checkpointed_at.to_string(),
    );
    if let Some(chain) = &stream.chain {
        let details = &chain.details;
        check(
            "claim_owner",
            text(details.claim_owner.as_deref()),
            text(entry.claim_owner.as_deref()),
        );
        check(
            "parent_stream_id",
            format!("{:?}", details.parent_stream_id),
            format!("{:?}", entry.parent_stream_id),
        );
        check(
            "delegation_depth",
            details.delegation_depth.to_string(),
            entry.delegation_depth.to_string(),
        );
        check(
            "decommissioned",
            details.decommissioned.to_string(),
            entry.decommissioned.unwrap_or(false).to_string(),
        );
        check(
            "withdraw_dust_threshold",
            details.withdraw_dust_threshold.stroops().to_string(),
            entry.withdraw_dust_threshold.to_string(),
        );
        // Known only from storage: a difference once they are known.
        if let Some(irrevocable) = details.irrevocable {
            check(
                "irrevocable",
                irrevocable.to_string(),
                entry.irrevocable.unwrap_or(false).to_string(),
            );
        }
        if details.state_checked_ledger.is_some() {
            check(
                "witness",
                text(details.witness.as_deref()),
                text(entry.witness.as_deref()),
            );
        }
    }
    fields
}

/// Compares every open chain stream of `contract_id` with its storage entry, read with
/// `getLedgerEntries` ([`MAX_LEDGER_ENTRY_KEYS`] a call), and with its lookback window (the
/// `get_lookback_window` view, [`VIEW_CONCURRENCY`] simulations at a time). With `repair`, what
/// was read is ingested (the streams then equal the contract's state, and a change is
/// announced), and the contract's configuration is read if it is not known yet (its token).
///
/// Errors: [`VerifyError`].
pub async fn verify(
    core: &IngestCore,
    rpc: &RpcClient,
    contract_id: &str,
    repair: bool,
) -> Result<VerifyReport, VerifyError> {
    let mut report = VerifyReport::default();
    if repair && core.token_of(contract_id).await?.is_none() {
        report.view_calls += 1;
        match crate::indexer::views::config(rpc, contract_id).await {
            Ok(config) => core.record_config(contract_id, &config).await?,
            Err(crate::indexer::views::ViewError::Rpc(error)) => return Err(error.into()),
            Err(error) => {
                tracing::warn!(error = %error, "could not read the contract's configuration; its token stays unknown");
            }
        }
    }
    let last_ingested = core.chain().checkpoint().await?.last_ingested_ledger;
    let mut after = None;
    loop {
        let ids = core
            .chain()
            .open_chain_streams(contract_id, after, MAX_LEDGER_ENTRY_KEYS as u32)
            .await?;
        let Some(last) = ids.last().copied() else {
            break;
        };
        after = Some(last);
        let public: Vec<String> = ids
            .iter()
            .map(|id| chain_stream_id(contract_id, *id))
            .collect();
        let streams: HashMap<u64, Stream> = core
            .streams()
            .get_many(&public)
            .await?
            .into_iter()
            .filter_map(|s| s.chain.as_ref().map(|c| c.stream_id).map(|id| (id, s)))
            .collect();
        let mut by_key = HashMap::with_capacity(ids.len());
        for id in &ids {
            if let Some(key) = stream_key(contract_id, *id) {
                by_key.insert(key, *id);
            }
        }
        let keys: Vec<String> = by_key.keys().cloned().collect();
        let page = rpc.get_ledger_entries(&keys).await?;
        report.calls += 1;
        let mut found = BTreeSet::new();
        let mut repairs = Vec::new();
        let mut drifted_here = 0;
        for item in page.entries {
            let Some(stream_id) = by_key.get(&item.key).copied() else {
                continue;
            };
            found.insert(stream_id);
            let entry = StreamEntry::decode(&item.xdr)
                .map_err(|error| VerifyError::Entry(error.to_string()))?;
            let Some(stream) = streams.get(&stream_id) else {
                continue;
            };
            if last_ingested.is_none_or(|ingested| item.last_modified_ledger_seq > ingested) {
                report.ahead += 1;
                continue;
            }
            report.checked += 1;
            let fields = drift(stream, &entry);
            if !fields.is_empty() {
                report.drifted.push(StreamDrift {
                    stream_id,
                    id: stream.id.clone(),
                    fields,
                    missing: false,
                });
                drifted_here += 1;
            }
            // Every entry compared is applied when repairing: what only storage tells
            // (irrevocable, witness) becomes known too, and the check is recorded.
            repairs.push(EntryRead {
                xdr: item.xdr,
                last_modified_ledger: item.last_modified_ledger_seq,
                live_until_ledger: item.live_until_ledger_seq,
            });
        }
        for id in &ids {
            if !found.contains(id) {
                report.checked += 1;
                report.drifted.push(StreamDrift {
                    stream_id: *id,
                    id: chain_stream_id(contract_id, *id),
                    fields: Vec::new(),
                    missing: true,
                });
            }
        }
        if repair && !repairs.is_empty() {
            core.ingest(&IngestBatch {
                entries: repairs,
                ..IngestBatch::default()
            })
            .await?;
            report.repaired += drifted_here;
        }
        // The lookback window lives outside the entry and no event reports a change of it.
        let present: Vec<u64> = found.iter().copied().collect();
        report.view_calls += u32::try_from(present.len()).unwrap_or(u32::MAX);
        let lookbacks =
            crate::indexer::views::lookback_windows(rpc, contract_id, &present, VIEW_CONCURRENCY)
                .await?;
        let mut lookback_repairs = Vec::new();
        for read in lookbacks {
            let Some(stream) = streams.get(&read.stream_id) else {
                continue;
            };
            let indexed = stream
                .chain
                .as_ref()
                .and_then(|chain| chain.details.lookback_ledgers);
            if indexed != read.ledgers {
                let field = FieldDrift {
                    field: "lookback_ledgers",
                    indexed: format!("{indexed:?}"),
                    contract: format!("{:?}", read.ledgers),
                };
                match report
                    .drifted
                    .iter_mut()
                    .find(|d| d.stream_id == read.stream_id)
                {
                    Some(drifted) => drifted.fields.push(field),
                    None => {
                        report.drifted.push(StreamDrift {
                            stream_id: read.stream_id,
                            id: stream.id.clone(),
                            fields: vec![field],
                            missing: false,
                        });
                        if repair {
                            report.repaired += 1;
                        }
                    }
                }
            }
            lookback_repairs.push(read);
        }
        if repair && !lookback_repairs.is_empty() {
            core.ingest(&IngestBatch {
                lookbacks: lookback_repairs,
                ..IngestBatch::default()
            })
            .await?;
        }
        if ids.len() < MAX_LEDGER_ENTRY_KEYS {
            break;
        }
    }
    report.drifted.sort_by_key(|d| d.stream_id);
    Ok(report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::amount::Amount;
    use crate::indexer::derive::{replay, EventContext, ReplayStep};

    /// A stream made from its `created` event alone differs from the contract's entry exactly in
    /// what the events had not told yet, and not at all once the entry is applied.
    #[test]
    fn drift_names_each_differing_field() {
        let dir = std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/chain/full-contract"
        ));
        let entries: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("ledgerEntries.json")).unwrap())
                .unwrap();
        let item = &entries["entries"][0];
        let entry = StreamEntry::decode(item["xdr"].as_str().unwrap()).unwrap();
        let created =
            crate::indexer::decode::ContractEvent::Created(crate::indexer::decode::StreamCreated {
                stream_id: entry.stream_id,
                sender: entry.sender.to_string(),
                recipient: entry.recipient.to_string(),
                deposit_amount: entry.deposit_amount,
                rate_per_second: entry.rate_per_second,
                start_time: entry.start_time,
                cliff_time: entry.cliff_time,
                end_time: entry.end_time,
                withdraw_dust_threshold: entry.withdraw_dust_threshold,
                memo: entry.memo.clone(),
                metadata: entry.metadata.clone(),
            });
        let ctx = EventContext {
            contract_id: &entry.contract_id,
            ledger: 1,
            ledger_closed_at: entry.start_time,
            tx_hash: "00",
        };
        let mut stream = replay([ReplayStep::Event(&created, ctx)])
            .remove(&entry.stream_id)
            .unwrap();
        stream.withdrawn_amount = Amount::from_stroops(entry.withdrawn_amount + 1);
        let fields: Vec<&str> = drift(&stream, &entry).iter().map(|d| d.field).collect();
        assert!(fields.contains(&"withdrawn_amount"), "{fields:?}");
        let repaired = entry.apply(&stream, 5, 0);
        assert_eq!(drift(&repaired, &entry), Vec::new());
    }
}
