-- follow.list kind=following pages through a user's follows newest first.
CREATE INDEX follows_follower ON follows (follower_id, created_at DESC);
