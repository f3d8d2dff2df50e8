-- dm.open of a group takes an idempotency key: a retry (the reply lost on a flaky
-- network) answers the group the first call made instead of making another.
-- The key is the creator's, so the unique index is on both.
-- IF NOT EXISTS: re-running it is harmless (tests/storage re-applies the migrations).
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS idem text;
CREATE UNIQUE INDEX IF NOT EXISTS conversations_idem ON conversations (created_by, idem)
    WHERE idem IS NOT NULL;
