-- The inbox keeps one version per aggregate stream (inbox_stream_versions); the row per applied
-- event of the first schema has not been written since (it grew by one row per event and
-- consumer, forever). Replicas that still read or wrote it predate the stream versions
-- (commit 6373559); any replica since then survives the drop during a rolling update.
DROP TABLE IF EXISTS inbox_processed;
