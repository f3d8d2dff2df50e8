-- 0009 gained its last three indexes after it was first committed: a database that
-- applied the early 0009 lacks them (reads stay correct, explore and fan-out slow).
-- Each is (re)made here only where it is missing or still has the early definition;
-- on a database that applied the final 0009 this does nothing.
CREATE INDEX IF NOT EXISTS follows_followee_follower ON follows (followee_id, follower_id);

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_indexes
                   WHERE schemaname = current_schema() AND indexname = 'likes_user'
                     AND indexdef LIKE '%INCLUDE (post_id)%') THEN
        DROP INDEX IF EXISTS likes_user;
        CREATE INDEX likes_user ON likes (user_id, created_at DESC) INCLUDE (post_id);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_indexes
                   WHERE schemaname = current_schema() AND indexname = 'likes_post_recent'
                     AND indexdef LIKE '%INCLUDE (user_id)%') THEN
        DROP INDEX IF EXISTS likes_post_recent;
        CREATE INDEX likes_post_recent ON likes (post_id, created_at DESC) INCLUDE (user_id);
    END IF;
END $$;
