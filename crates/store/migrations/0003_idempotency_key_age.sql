-- Idempotency keys are kept for a retention window, not forever: the sweep deletes the oldest
-- first, a batch at a time, through this index (a right-hand append on every keyed command).
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
