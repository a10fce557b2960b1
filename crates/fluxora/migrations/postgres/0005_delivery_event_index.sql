-- Deliveries by event: the foreign key webhook_deliveries.event_id → webhook_events.id is
-- checked on every delete from webhook_events (a reorg drops held chain webhook events), and
-- without this index each check scanned the whole deliveries table (1.3 s to roll back 1 000
-- ledgers with one endpoint and 1 M deliveries, docs/benchmarks.md). A test event's deliveries
-- are also looked up by event.
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
