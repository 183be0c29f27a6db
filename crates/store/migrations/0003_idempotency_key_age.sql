-- Idempotency keys are kept for a retention window, not forever: the sweep deletes the oldest
-- first, a batch at a time, through this index (a right-hand append on every keyed command).
-- Not CONCURRENTLY: that waits for every open transaction, including a second replica's
-- migrator waiting on the migration lock, which deadlocks (`migrations_run_twice_and_concurrently`).
-- Over a large table of keys the build holds keyed commands for a while: run `<svc> migrate`
-- at a quiet time.
CREATE INDEX IF NOT EXISTS idempotency_keys_by_age ON idempotency_keys (created_at);
