//! Storage of what the indexer follows on chain: contract events as received
//! (`chain_events`), ledger hashes (`chain_ledgers`, for reorg detection), the indexer's
//! progress (`indexer_state`), the streams derived from events (written through
//! [`crate::streams::repo`] in the same transaction) and the leadership of the one replica that
//! polls Stellar RPC.
//!
//! [`ChainRepository::commit_batch`] writes one ingest batch atomically: nothing is ever
//! partially applied, and a batch that raced another writer is refused whole
//! ([`ChainCommit::Conflict`]) so the ingest core recomputes it.

use std::collections::{BTreeSet, HashSet};

use async_trait::async_trait;

use crate::clock::now_millis;
use crate::indexer::views::ContractConfig;
use crate::store::{
    to_i64, to_u32, to_u64, Columns, Database, Query, QueryBuilder, StoreError, ROWS_PER_STATEMENT,
};
use crate::streams::repo as streams_repo;
use crate::streams::Stream;
use crate::webhooks::repo as webhooks_repo;
use crate::webhooks::OutboxEvent;

/// How an ingested contract event was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainEventKind {
    /// Decoded and applied to the derived stream state.
    Applied,
    /// Decoded, but it changes no stream we index (e.g. its stream was created before the
    /// indexer's start ledger).
    Skipped,
    /// An event name the indexer does not handle; stored and skipped with a WARN.
    Unknown,
    /// Undecodable (bad XDR, wrong field types); stored and skipped with a WARN.
    Invalid,
}

impl ChainEventKind {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChainEventKind::Applied => "applied",
            ChainEventKind::Skipped => "skipped",
            ChainEventKind::Unknown => "unknown",
            ChainEventKind::Invalid => "invalid",
        }
    }

    /// Parses the storage name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            ChainEventKind::Applied,
            ChainEventKind::Skipped,
            ChainEventKind::Unknown,
            ChainEventKind::Invalid,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == s)
    }
}

/// A contract event as stored, under its unique RPC id, with the raw XDR it arrived as (so
/// derived state can be rebuilt by replaying it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChainEvent {
    /// RPC event id (`%019d-%010d`; sorts in chain order).
    pub id: String,
    /// Ledger sequence.
    pub ledger: u32,
    /// Ledger hash (64 lowercase hex), when known.
    pub ledger_hash: Option<String>,
    /// Ledger close time, unix seconds.
    pub ledger_closed_at: u64,
    /// Emitting contract (C… StrKey).
    pub contract_id: String,
    /// Transaction hash (64 lowercase hex).
    pub tx_hash: String,
    /// Event name (topic symbol), empty when undecodable.
    pub name: String,
    /// The on-chain stream id the event concerns, if any.
    pub stream_id: Option<u64>,
    /// The second stream it changes, if any: the child of a `del_share`, the successor of a
    /// `renewed` ([`crate::indexer::decode::ContractEvent::related_stream_id`]).
    pub related_stream_id: Option<u64>,
    /// How it was handled.
    pub kind: ChainEventKind,
    /// Topics as received (base64 XDR `ScVal`s).
    pub topic: Vec<String>,
    /// Value as received (base64 XDR `ScVal`).
    pub value: String,
    /// Why it was skipped, for `unknown`/`invalid`.
    pub error: Option<String>,
    /// When it was stored, unix ms.
    pub ingested_at: i64,
}

/// The indexer's durable progress: a restart resumes where it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexerCheckpoint {
    /// The last `getEvents` cursor (opaque), if the RPC poller has run.
    pub cursor: Option<String>,
    /// Highest ledger ingested.
    pub last_ingested_ledger: Option<u32>,
    /// Highest ledger considered safe (monotonic).
    pub last_safe_ledger: Option<u32>,
}

/// A stream to write in a chain batch, with the version it must still have.
#[derive(Debug, Clone)]
pub struct ChainStreamWrite {
    /// The new state.
    pub stream: Stream,
    /// `None`: insert (the stream must not exist); `Some(v)`: update only if still at version `v`.
    pub expected_version: Option<i64>,
}

/// Everything one ingest batch changes, written in one transaction (nothing is ever partially
/// applied). Stream writes are optimistic: if another writer changed a stream meanwhile, the
/// whole batch is refused ([`ChainCommit::Conflict`]) and the caller recomputes it.
#[derive(Debug, Clone, Default)]
pub struct ChainBatchWrite {
    /// Delete every event, ledger hash and still-held webhook event from this ledger on (reorg
    /// rollback), first. Held webhook events at or below the new safe ledger are then released
    /// into deliveries.
    pub rollback_from: Option<u32>,
    /// Streams to delete (created on an abandoned branch), with their expected versions.
    pub deleted_streams: Vec<(String, i64)>,
    /// New events; each must not exist yet.
    pub events: Vec<StoredChainEvent>,
    /// Stream states to write.
    pub streams: Vec<ChainStreamWrite>,
    /// `(sequence, hash, close time)` of ledgers seen; replaces a stored hash.
    pub ledgers: Vec<(u32, String, Option<u64>)>,
    /// The new progress.
    pub checkpoint: IndexerCheckpoint,
    /// Webhook events of applied chain events, with their ledger: chain webhooks go out only
    /// once their ledger is safe (`docs/webhooks.md`). Those at or below
    /// `checkpoint.last_safe_ledger` are written released, with one delivery per matching
    /// enabled endpoint, in this transaction; the others are held and released by the first
    /// batch whose safe ledger reaches them.
    pub outbox: Vec<(OutboxEvent, u32)>,
    /// Set when the ingest core left out the webhook events of ledgers already safe because no
    /// endpoint was enabled when it computed the batch (nothing would ever deliver them). If an
    /// enabled endpoint exists at commit time, the commit is a [`ChainCommit::Conflict`], so the
    /// batch is recomputed with its webhook events and no endpoint misses one.
    pub outbox_omitted: bool,
    /// Storage entries applied by this batch, stored for replays (an entry already stored is
    /// left as it is).
    pub entries: Vec<StoredEntry>,
}

/// A stream's storage entry as stored in `chain_stream_entries`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// The contract (C… StrKey).
    pub contract_id: String,
    /// The contract's stream id.
    pub stream_id: u64,
    /// The entry's `lastModifiedLedgerSeq`.
    pub last_modified_ledger: u32,
    /// Base64 `LedgerEntryData`, as read.
    pub xdr: String,
    /// When it was read, unix ms.
    pub read_at: i64,
}

/// Result of [`ChainRepository::commit_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainCommit {
    /// Written.
    Committed,
    /// Another writer got there first (an event already stored, a stream version moved):
    /// nothing was written.
    Conflict,
}

/// Held by the replica that runs the indexer; dropping it gives leadership up.
#[async_trait]
pub trait Leadership: Send {
    /// Whether leadership still holds (the lock's connection is alive).
    async fn still_leader(&mut self) -> bool;
}

/// Leadership that cannot be lost (SQLite: one machine).
#[derive(Debug, Default)]
pub struct SoleLeader;

#[async_trait]
impl Leadership for SoleLeader {
    async fn still_leader(&mut self) -> bool {
        true
    }
}

/// Indexer leadership on PostgreSQL: an open connection holding the session advisory lock.
struct PgLeader {
    connection: sqlx::PgConnection,
}

#[async_trait]
impl Leadership for PgLeader {
    async fn still_leader(&mut self) -> bool {
        sqlx::query("SELECT 1")
            .execute(&mut self.connection)
            .await
            .is_ok()
    }
}

/// The advisory lock key the indexer leader holds (any fixed i64; "flxidx" in ASCII).
const INDEXER_LOCK_KEY: i64 = 0x0000_666c_7869_6478;

/// Columns of `chain_events`, in insert order.
const CHAIN_EVENT_COLUMNS: &str = "id, ledger, ledger_hash, ledger_closed_at, contract_id, \
     tx_hash, name, stream_id, kind, topic, value, error, ingested_at, related_stream_id";

/// Contract events, ledgers, progress and leadership in the service's database.
#[derive(Debug, Clone)]
pub struct ChainRepository {
    db: Database,
}

impl ChainRepository {
    /// The repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Tries to become the one replica that runs the RPC indexer. PostgreSQL: a session
    /// advisory lock on a dedicated connection, released when the holder dies, so a standby
    /// takes over within one retry. SQLite (one machine): always granted.
    ///
    /// Errors: [`StoreError`] when the database cannot be reached.
    pub async fn try_lead_indexer(&self) -> Result<Option<Box<dyn Leadership>>, StoreError> {
        match &self.db {
            Database::Sqlite(_) => Ok(Some(Box::new(SoleLeader))),
            Database::Postgres(postgres) => Ok(postgres
                .try_advisory_lock(INDEXER_LOCK_KEY)
                .await?
                .map(|connection| Box::new(PgLeader { connection }) as Box<dyn Leadership>)),
        }
    }

    /// The indexer's stored progress (defaults when it never ran).
    ///
    /// Errors: [`StoreError`].
    pub async fn checkpoint(&self) -> Result<IndexerCheckpoint, StoreError> {
        let row = Query::new(
            "SELECT cursor, last_ingested_ledger, last_safe_ledger FROM indexer_state \
             WHERE id = 1",
        )
        .fetch_optional(&self.db)
        .await?;
        Ok(row
            .as_ref()
            .map(checkpoint_from_row)
            .transpose()?
            .unwrap_or_default())
    }

    /// Stored hashes of the given ledgers (those known), as `(sequence, hash)`.
    ///
    /// Errors: [`StoreError`].
    pub async fn ledger_hashes(&self, sequences: &[u32]) -> Result<Vec<(u32, String)>, StoreError> {
        if sequences.is_empty() {
            return Ok(Vec::new());
        }
        let mut select = QueryBuilder::new(
            self.db.dialect(),
            "SELECT sequence, hash FROM chain_ledgers WHERE sequence IN (",
        );
        select.list(sequences, ", ", |q, sequence| {
            q.bind(i64::from(*sequence));
        });
        select.push(") ORDER BY sequence");
        let rows = select.build().persistent(false).fetch_all(&self.db).await?;
        rows.iter().map(ledger_from_row).collect()
    }

    /// The newest stored ledger hashes, newest first, at most `limit`.
    ///
    /// Errors: [`StoreError`].
    pub async fn latest_ledgers(&self, limit: u32) -> Result<Vec<(u32, String)>, StoreError> {
        let rows =
            Query::new("SELECT sequence, hash FROM chain_ledgers ORDER BY sequence DESC LIMIT $1")
                .bind(i64::from(limit))
                .fetch_all(&self.db)
                .await?;
        rows.iter().map(ledger_from_row).collect()
    }

    /// Which of `ids` are already stored.
    ///
    /// Errors: [`StoreError`].
    pub async fn existing_event_ids(&self, ids: &[String]) -> Result<HashSet<String>, StoreError> {
        let mut existing = HashSet::new();
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let mut select = QueryBuilder::new(
                self.db.dialect(),
                "SELECT id FROM chain_events WHERE id IN (",
            );
            select.list(chunk, ", ", |q, id| {
                q.bind(id.as_str());
            });
            select.push(")");
            let rows = select
                .build()
                .persistent(chunk.len() == ROWS_PER_STATEMENT)
                .fetch_all(&self.db)
                .await?;
            for row in &rows {
                existing.insert(row.text("id")?);
            }
        }
        Ok(existing)
    }

    /// Every stored event of the given on-chain streams of one contract before
    /// `before_ledger`, in chain order (one query per [`ROWS_PER_STATEMENT`] streams: a
    /// rollback rebuilds all the streams it touched at once).
    ///
    /// Errors: [`StoreError`].
    pub async fn events_of_streams(
        &self,
        contract_id: &str,
        stream_ids: &[u64],
        before_ledger: u32,
    ) -> Result<Vec<StoredChainEvent>, StoreError> {
        let mut events = Vec::new();
        for chunk in stream_ids.chunks(ROWS_PER_STATEMENT) {
            let mut select = QueryBuilder::new(
                self.db.dialect(),
                &format!("SELECT {CHAIN_EVENT_COLUMNS} FROM chain_events WHERE contract_id = "),
            );
            select
                .bind(contract_id)
                .push(" AND ledger < ")
                .bind(i64::from(before_ledger))
                .push(" AND (stream_id IN (");
            let ids = chunk
                .iter()
                .map(|id| to_i64(*id, "stream_id"))
                .collect::<Result<Vec<i64>, StoreError>>()?;
            select.list(&ids, ", ", |q, id| {
                q.bind(*id);
            });
            select.push(") OR related_stream_id IN (");
            select.list(&ids, ", ", |q, id| {
                q.bind(*id);
            });
            select.push(")) ORDER BY id");
            let rows = select.build().persistent(false).fetch_all(&self.db).await?;
            for row in &rows {
                events.push(chain_event_from_row(row)?);
            }
        }
        // Chunks are each in chain order; the whole must be too.
        events.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(events)
    }

    /// The stored storage entries of the given streams of `contract_id` last modified before
    /// `before_ledger`, oldest first (for a replay after a rollback).
    ///
    /// Errors: [`StoreError`].
    pub async fn entries_of_streams(
        &self,
        contract_id: &str,
        stream_ids: &[u64],
        before_ledger: u32,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        let mut entries = Vec::new();
        for chunk in stream_ids.chunks(ROWS_PER_STATEMENT) {
            let ids = chunk
                .iter()
                .map(|id| to_i64(*id, "stream_id"))
                .collect::<Result<Vec<i64>, StoreError>>()?;
            let mut select = QueryBuilder::new(
                self.db.dialect(),
                "SELECT contract_id, stream_id, last_modified_ledger, xdr, read_at \
                 FROM chain_stream_entries WHERE contract_id = ",
            );
            select
                .bind(contract_id)
                .push(" AND last_modified_ledger < ")
                .bind(i64::from(before_ledger))
                .push(" AND stream_id IN (");
            select.list(&ids, ", ", |q, id| {
                q.bind(*id);
            });
            select.push(")");
            for row in &select.build().persistent(false).fetch_all(&self.db).await? {
                entries.push(StoredEntry {
                    contract_id: row.text("contract_id")?,
                    stream_id: to_u64(row.int("stream_id")?, "stream_id")?,
                    last_modified_ledger: to_u32(
                        row.int("last_modified_ledger")?,
                        "last_modified_ledger",
                    )?,
                    xdr: row.text("xdr")?,
                    read_at: row.int("read_at")?,
                });
            }
        }
        entries.sort_by_key(|e| (e.last_modified_ledger, e.stream_id));
        Ok(entries)
    }

    /// Up to `limit` on-chain ids of streams of `contract_id` whose storage entry should be read
    /// ([`crate::streams::ChainRef::entry_pending`]), above `after` when given, lowest first.
    ///
    /// Errors: [`StoreError`].
    pub async fn entry_pending_streams(
        &self,
        contract_id: &str,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<u64>, StoreError> {
        let after = match after {
            Some(id) => to_i64(id, "stream_id")?,
            None => -1,
        };
        let rows = Query::new(
            "SELECT chain_stream_id FROM streams WHERE chain_contract_id = $1 \
             AND chain_entry_pending AND chain_stream_id > $2 ORDER BY chain_stream_id LIMIT $3",
        )
        .bind(contract_id)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.db)
        .await?;
        rows.iter()
            .map(|row| to_u64(row.int("chain_stream_id")?, "chain_stream_id"))
            .collect()
    }

    /// The on-chain ids of every stream `contract_id`'s stored events name (as their stream or
    /// their related stream).
    ///
    /// Errors: [`StoreError`].
    pub async fn events_of_streams_all(&self, contract_id: &str) -> Result<Vec<u64>, StoreError> {
        let rows = Query::new(
            "SELECT DISTINCT stream_id FROM chain_events WHERE contract_id = $1 \
             AND stream_id IS NOT NULL \
             UNION SELECT DISTINCT related_stream_id FROM chain_events WHERE contract_id = $1 \
             AND related_stream_id IS NOT NULL",
        )
        .bind(contract_id)
        .fetch_all(&self.db)
        .await?;
        rows.iter()
            .map(|row| to_u64(row.int("stream_id")?, "stream_id"))
            .collect()
    }

    /// Every contract with stored events.
    ///
    /// Errors: [`StoreError`].
    pub async fn event_contracts(&self) -> Result<Vec<String>, StoreError> {
        let rows = Query::new("SELECT DISTINCT contract_id FROM chain_events ORDER BY contract_id")
            .fetch_all(&self.db)
            .await?;
        rows.iter().map(|row| row.text("contract_id")).collect()
    }

    /// The public ids and versions of every stored chain stream of `contract_id`.
    ///
    /// Errors: [`StoreError`].
    pub async fn chain_stream_versions(
        &self,
        contract_id: &str,
    ) -> Result<Vec<(u64, i64)>, StoreError> {
        let rows =
            Query::new("SELECT chain_stream_id, version FROM streams WHERE chain_contract_id = $1")
                .bind(contract_id)
                .fetch_all(&self.db)
                .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    to_u64(row.int("chain_stream_id")?, "chain_stream_id")?,
                    row.int("version")?,
                ))
            })
            .collect()
    }

    /// The configuration of `contract_id` as last read (`None` before the first read).
    ///
    /// Errors: [`StoreError`].
    pub async fn contract_config(
        &self,
        contract_id: &str,
    ) -> Result<Option<ContractConfig>, StoreError> {
        let row = Query::new(
            "SELECT token_contract_id, admin FROM chain_contracts WHERE contract_id = $1",
        )
        .bind(contract_id)
        .fetch_optional(&self.db)
        .await?;
        row.map(|row| {
            Ok(ContractConfig {
                token: row.text("token_contract_id")?,
                admin: row.text("admin")?,
            })
        })
        .transpose()
    }

    /// Stores the configuration of `contract_id` as its `get_config` view returned it.
    ///
    /// Errors: [`StoreError`].
    pub async fn save_contract_config(
        &self,
        contract_id: &str,
        config: &ContractConfig,
    ) -> Result<(), StoreError> {
        Query::new(
            "INSERT INTO chain_contracts (contract_id, token_contract_id, admin, read_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (contract_id) DO UPDATE SET \
               token_contract_id = excluded.token_contract_id, admin = excluded.admin, \
               read_at = excluded.read_at",
        )
        .bind(contract_id)
        .bind(config.token.as_str())
        .bind(config.admin.as_str())
        .bind(now_millis())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Drops everything the indexer derived from the chain — events, ledger hashes, storage
    /// entries, the contract's configuration, progress, chain streams and their webhook events still held — in one
    /// transaction, keeping API streams, API keys, webhook endpoints and the deliveries already
    /// made. Returns how many chain streams were dropped.
    ///
    /// Errors: [`StoreError`]; nothing is dropped then.
    pub async fn reset(&self) -> Result<u64, StoreError> {
        let mut tx = self.db.begin().await?;
        webhooks_repo::drop_held_from_in(&mut tx, 0).await?;
        for statement in [
            "DELETE FROM chain_events",
            "DELETE FROM chain_ledgers",
            "DELETE FROM chain_stream_entries",
            "DELETE FROM chain_contracts",
            "DELETE FROM indexer_state",
        ] {
            Query::new(statement).execute(&mut tx).await?;
        }
        let dropped = Query::new("DELETE FROM streams WHERE source = 'chain'")
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(dropped)
    }

    /// Up to `limit` on-chain ids of the chain streams of `contract_id` the contract has not
    /// closed, above `after` when given, lowest first (reconciliation walks them).
    ///
    /// Errors: [`StoreError`].
    pub async fn open_chain_streams(
        &self,
        contract_id: &str,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<u64>, StoreError> {
        let after = match after {
            Some(id) => to_i64(id, "stream_id")?,
            None => -1,
        };
        let rows = Query::new(
            "SELECT chain_stream_id FROM streams WHERE chain_contract_id = $1 \
             AND NOT chain_closed AND chain_stream_id > $2 ORDER BY chain_stream_id LIMIT $3",
        )
        .bind(contract_id)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.db)
        .await?;
        rows.iter()
            .map(|row| to_u64(row.int("chain_stream_id")?, "chain_stream_id"))
            .collect()
    }

    /// `(contract id, stream id)` of every stream with a stored event at or after `ledger`, as
    /// the event's stream or as its related stream.
    ///
    /// Errors: [`StoreError`].
    pub async fn streams_touched_from(
        &self,
        ledger: u32,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        // No DISTINCT (deduplicated here): with it SQLite walks the whole
        // (contract_id, stream_id) index instead of the ledger range.
        let rows = Query::new(
            "SELECT contract_id, stream_id, related_stream_id FROM chain_events \
             WHERE ledger >= $1 AND stream_id IS NOT NULL",
        )
        .bind(i64::from(ledger))
        .fetch_all(&self.db)
        .await?;
        let touched = rows
            .iter()
            .map(|row| {
                let contract_id = row.text("contract_id")?;
                let id = to_u64(row.int("stream_id")?, "stream_id")?;
                let related = row
                    .opt_int("related_stream_id")?
                    .map(|id| to_u64(id, "related_stream_id"))
                    .transpose()?;
                Ok(std::iter::once((contract_id.clone(), id))
                    .chain(related.map(|related| (contract_id, related))))
            })
            .collect::<Result<Vec<_>, StoreError>>()?
            .into_iter()
            .flatten()
            .collect::<BTreeSet<(String, u64)>>();
        Ok(touched.into_iter().collect())
    }

    /// Writes an ingest batch atomically (see [`ChainBatchWrite`]).
    ///
    /// Errors: [`StoreError`]; nothing is written then.
    pub async fn commit_batch(&self, batch: &ChainBatchWrite) -> Result<ChainCommit, StoreError> {
        let mut tx = self.db.begin().await?;
        let dialect = tx.dialect();
        if let Some(ledger) = batch.rollback_from {
            for statement in [
                "DELETE FROM chain_events WHERE ledger >= $1",
                "DELETE FROM chain_ledgers WHERE sequence >= $1",
                "DELETE FROM chain_stream_entries WHERE last_modified_ledger >= $1",
            ] {
                Query::new(statement)
                    .bind(i64::from(ledger))
                    .execute(&mut tx)
                    .await?;
            }
        }
        // Streams created on an abandoned branch, each at the version it was read at. Every
        // row must be written below; fewer means another writer got there first (recompute).
        let deleted = streams_repo::delete_in(&mut tx, &batch.deleted_streams).await?;
        if deleted != batch.deleted_streams.len() as u64 {
            return Ok(ChainCommit::Conflict);
        }
        for chunk in batch.events.chunks(ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::new(
                dialect,
                &format!("INSERT INTO chain_events ({CHAIN_EVENT_COLUMNS}) VALUES "),
            );
            for (i, event) in chunk.iter().enumerate() {
                if i > 0 {
                    insert.push(", ");
                }
                insert.row([
                    event.id.as_str().into(),
                    i64::from(event.ledger).into(),
                    event.ledger_hash.as_deref().into(),
                    to_i64(event.ledger_closed_at, "ledger_closed_at")?.into(),
                    event.contract_id.as_str().into(),
                    event.tx_hash.as_str().into(),
                    event.name.as_str().into(),
                    event
                        .stream_id
                        .map(|id| to_i64(id, "stream_id"))
                        .transpose()?
                        .into(),
                    event.kind.as_str().into(),
                    serde_json::to_string(&event.topic)
                        .unwrap_or_else(|_| "[]".to_string())
                        .into(),
                    event.value.as_str().into(),
                    event.error.as_deref().into(),
                    event.ingested_at.into(),
                    event
                        .related_stream_id
                        .map(|id| to_i64(id, "related_stream_id"))
                        .transpose()?
                        .into(),
                ]);
            }
            insert.push(" ON CONFLICT (id) DO NOTHING");
            let inserted = insert
                .build()
                .persistent(chunk.len() == ROWS_PER_STATEMENT)
                .execute(&mut tx)
                .await?;
            if inserted != chunk.len() as u64 {
                return Ok(ChainCommit::Conflict);
            }
        }
        for chunk in batch.entries.chunks(ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::new(
                dialect,
                "INSERT INTO chain_stream_entries \
                 (contract_id, stream_id, last_modified_ledger, xdr, read_at) VALUES ",
            );
            for (i, entry) in chunk.iter().enumerate() {
                if i > 0 {
                    insert.push(", ");
                }
                insert.row([
                    entry.contract_id.as_str().into(),
                    to_i64(entry.stream_id, "stream_id")?.into(),
                    i64::from(entry.last_modified_ledger).into(),
                    entry.xdr.as_str().into(),
                    entry.read_at.into(),
                ]);
            }
            insert.push(" ON CONFLICT (contract_id, stream_id, last_modified_ledger) DO NOTHING");
            insert
                .build()
                .persistent(chunk.len() == ROWS_PER_STATEMENT)
                .execute(&mut tx)
                .await?;
        }
        let new_streams: Vec<&Stream> = batch
            .streams
            .iter()
            .filter(|w| w.expected_version.is_none())
            .map(|w| &w.stream)
            .collect();
        if streams_repo::insert_in(&mut tx, &new_streams).await? != new_streams.len() as u64 {
            return Ok(ChainCommit::Conflict);
        }
        for write in &batch.streams {
            let Some(version) = write.expected_version else {
                continue;
            };
            if !streams_repo::update_in(&mut tx, &write.stream, version).await? {
                return Ok(ChainCommit::Conflict);
            }
        }
        for chunk in batch.ledgers.chunks(ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::new(
                dialect,
                "INSERT INTO chain_ledgers (sequence, hash, close_time) VALUES ",
            );
            for (i, (sequence, hash, close_time)) in chunk.iter().enumerate() {
                if i > 0 {
                    insert.push(", ");
                }
                insert.row([
                    i64::from(*sequence).into(),
                    hash.as_str().into(),
                    close_time
                        .map(|t| to_i64(t, "close_time"))
                        .transpose()?
                        .into(),
                ]);
            }
            insert.push(
                " ON CONFLICT (sequence) DO UPDATE SET hash = excluded.hash, \
                 close_time = excluded.close_time",
            );
            insert
                .build()
                .persistent(chunk.len() == ROWS_PER_STATEMENT)
                .execute(&mut tx)
                .await?;
        }
        if let Some(ledger) = batch.rollback_from {
            webhooks_repo::drop_held_from_in(&mut tx, ledger).await?;
        }
        if batch.outbox_omitted && webhooks_repo::any_enabled_endpoint_in(&mut tx).await? {
            // An endpoint appeared since the batch was computed: recompute it with the
            // webhook events it left out.
            return Ok(ChainCommit::Conflict);
        }
        let now = now_millis();
        let safe_ledger = batch.checkpoint.last_safe_ledger;
        webhooks_repo::write_chain_events_in(&mut tx, &batch.outbox, safe_ledger, now).await?;
        if let Some(safe) = safe_ledger {
            webhooks_repo::release_held_in(&mut tx, safe, now).await?;
        }
        let checkpoint = &batch.checkpoint;
        Query::new(
            "INSERT INTO indexer_state \
               (id, cursor, last_ingested_ledger, last_safe_ledger, updated_at) \
             VALUES (1, $1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET cursor = excluded.cursor, \
               last_ingested_ledger = excluded.last_ingested_ledger, \
               last_safe_ledger = excluded.last_safe_ledger, \
               updated_at = excluded.updated_at",
        )
        .bind(checkpoint.cursor.as_deref())
        .bind(checkpoint.last_ingested_ledger.map(i64::from))
        .bind(checkpoint.last_safe_ledger.map(i64::from))
        .bind(now_millis())
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        self.db.after_bulk_commit();
        Ok(ChainCommit::Committed)
    }
}

/// Decodes a `chain_events` row.
fn chain_event_from_row(row: &impl Columns) -> Result<StoredChainEvent, StoreError> {
    let kind_text = row.text("kind")?;
    let kind = ChainEventKind::parse(&kind_text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown chain event kind '{kind_text}'")))?;
    let topic_text = row.text("topic")?;
    let topic: Vec<String> = serde_json::from_str(&topic_text)
        .map_err(|_| StoreError::Corrupt("chain event topic is not a JSON array".into()))?;
    Ok(StoredChainEvent {
        id: row.text("id")?,
        ledger: to_u32(row.int("ledger")?, "chain event ledger")?,
        ledger_hash: row.opt_text("ledger_hash")?,
        ledger_closed_at: to_u64(row.int("ledger_closed_at")?, "ledger_closed_at")?,
        contract_id: row.text("contract_id")?,
        tx_hash: row.text("tx_hash")?,
        name: row.text("name")?,
        stream_id: row
            .opt_int("stream_id")?
            .map(|id| to_u64(id, "stream_id"))
            .transpose()?,
        related_stream_id: row
            .opt_int("related_stream_id")?
            .map(|id| to_u64(id, "related_stream_id"))
            .transpose()?,
        kind,
        topic,
        value: row.text("value")?,
        error: row.opt_text("error")?,
        ingested_at: row.int("ingested_at")?,
    })
}

/// Decodes a `(sequence, hash)` row of `chain_ledgers`.
fn ledger_from_row(row: &impl Columns) -> Result<(u32, String), StoreError> {
    Ok((
        to_u32(row.int("sequence")?, "ledger sequence")?,
        row.text("hash")?,
    ))
}

/// Decodes the `indexer_state` row.
fn checkpoint_from_row(row: &impl Columns) -> Result<IndexerCheckpoint, StoreError> {
    let ledger = |column: &str| -> Result<Option<u32>, StoreError> {
        row.opt_int(column)?.map(|v| to_u32(v, column)).transpose()
    };
    Ok(IndexerCheckpoint {
        cursor: row.opt_text("cursor")?,
        last_ingested_ledger: ledger("last_ingested_ledger")?,
        last_safe_ledger: ledger("last_safe_ledger")?,
    })
}
