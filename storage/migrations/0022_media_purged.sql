-- A deleted post's photo records whose files were deleted (storage/media.py
-- purge_post_files): the records stay (the post's rows point at them), and are no
-- longer anyone's to use: post.create, dm.send and avatars refuse them as missing
-- (reused, they made posts and messages whose every URL answered 404).
ALTER TABLE media ADD COLUMN IF NOT EXISTS purged_at timestamptz;
