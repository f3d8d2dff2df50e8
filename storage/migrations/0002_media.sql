-- Uploaded photos. Files are content-addressed in the media store; `media_blobs`
-- says which rows use which file, so a file shared by identical uploads is
-- deleted only when no row uses it any more.
CREATE TABLE media (
    id          bigint PRIMARY KEY DEFAULT glint_next_id(),
    owner_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('photo', 'avatar')),
    width       int NOT NULL,
    height      int NOT NULL,
    blurhash    text NOT NULL,
    color       text NOT NULL,
    filter      text NOT NULL DEFAULT 'normal',
    master_key  text NOT NULL,
    variants    jsonb NOT NULL,
    attached_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX media_owner ON media (owner_id, id DESC);
CREATE INDEX media_unattached ON media (created_at) WHERE attached_at IS NULL;

CREATE TABLE media_blobs (
    media_id bigint NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    key      text NOT NULL,
    PRIMARY KEY (media_id, key)
);
CREATE INDEX media_blobs_key ON media_blobs (key);

ALTER TABLE users ADD COLUMN avatar_id bigint REFERENCES media (id) ON DELETE SET NULL;
