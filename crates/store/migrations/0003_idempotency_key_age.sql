-- no-transaction
-- Idempotency keys are kept for a retention window, not forever: the sweep deletes the oldest
-- first, a batch at a time, through this index (a right-hand append on every keyed command).
-- Built CONCURRENTLY (so outside a transaction): a plain build would hold every keyed command
-- for as long as it takes over a table of every key ever recorded.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idempotency_keys_by_age ON idempotency_keys (created_at);
