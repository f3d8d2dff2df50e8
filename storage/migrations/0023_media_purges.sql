-- A deleted post's photos still to purge (storage/media.py purge_post): written in the
-- deletion's own transaction and taken out by the purge that deleted the files, so a
-- purge cut short (the node gone, a disk error) is done again by the collector; before,
-- its photos stayed served to anyone with the URL.
CREATE TABLE IF NOT EXISTS media_purges (
    post_id bigint PRIMARY KEY,
    queued_at timestamptz NOT NULL DEFAULT now()
);
