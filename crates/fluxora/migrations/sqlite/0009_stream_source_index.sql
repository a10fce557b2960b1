-- Streams by source, newest first: `GET /api/streams?source=…` (chain streams may be few among
-- many API streams, or the reverse) reads this index backwards instead of filtering the whole
-- table in position order. The other list filters have their (column, position) indexes since
-- 0001; docs/architecture.md, "Listing streams", has the plans.
CREATE INDEX streams_source_position ON streams (source, position);
