-- Whether a post's use of a tag was counted in trending (storage/search.py): a tag is
-- counted when its post is made, never when post.edit adds it. A tag an edit takes out
-- is uncounted only if it was counted, so toggling a tag by edits cannot take other
-- people's uses of it away (each removal took one back). Rows from before: counted.
ALTER TABLE post_tags ADD COLUMN IF NOT EXISTS counted boolean NOT NULL DEFAULT true;
