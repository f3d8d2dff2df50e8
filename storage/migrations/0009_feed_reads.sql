-- The home feed's affinity (actors/feed.py) counts the viewer's comments on each
-- followee's posts: without this, each count scanned every comment.
CREATE INDEX comments_author ON comments (author_id, post_id) WHERE deleted_at IS NULL;

-- Fan-out walks an author's followers in follower id order, a batch at a time: with
-- only (followee_id, created_at) each batch read and sorted all of them.
CREATE INDEX follows_followee_follower ON follows (followee_id, follower_id);
