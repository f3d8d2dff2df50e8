-- The home feed's affinity (actors/feed.py) counts the viewer's comments on each
-- followee's posts: without this, each count scanned every comment.
CREATE INDEX comments_author ON comments (author_id, post_id) WHERE deleted_at IS NULL;
