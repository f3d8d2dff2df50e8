-- When a fan-out job leaves a post out of the timelines (its author is above the
-- celebrity threshold), the author is marked: the home feed merges their posts at read
-- time while they are above it, and for FEED_MERGE_AFTER_SKIP_DAYS after their last
-- skipped post. Without the mark, an author falling back to the threshold (one
-- unfollow) vanished those posts from every warm timeline, which never held them.
-- IF NOT EXISTS: re-running it is harmless (tests/storage re-applies the migrations).
ALTER TABLE users ADD COLUMN IF NOT EXISTS fanout_skipped_at timestamptz;
CREATE INDEX IF NOT EXISTS users_fanout_skipped ON users (fanout_skipped_at)
    WHERE fanout_skipped_at IS NOT NULL AND suspended_at IS NULL;
