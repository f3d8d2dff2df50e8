-- Explore's friends of friends read each followee's latest follows, and timeline
-- rebuilds and the following list read the viewer's: with the followee included these
-- are index-only scans instead of a heap visit per follow (suggested accounts at 1M
-- posts: docs/performance.md, fourth sitting).
DROP INDEX follows_follower;
CREATE INDEX follows_follower ON follows (follower_id, created_at DESC) INCLUDE (followee_id);
