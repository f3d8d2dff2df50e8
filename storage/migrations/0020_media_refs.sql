-- The columns that point at media rows get indexes: deleting a media row (the
-- collector deletes up to 500 unattached uploads per statement) checks every foreign
-- key that references it, and without an index each check read the whole of
-- post_media, messages or users once per deleted row. A deleted post's files are
-- also looked up by these (storage/media.py purge_post_files).
CREATE INDEX IF NOT EXISTS post_media_media ON post_media (media_id);
CREATE INDEX IF NOT EXISTS messages_media ON messages (media_id) WHERE media_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS users_avatar ON users (avatar_id) WHERE avatar_id IS NOT NULL;
