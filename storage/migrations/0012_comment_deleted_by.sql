-- Who deleted a comment: its author, the post's owner, or (for a reply that went with
-- its top-level comment) whoever deleted that one. The operators' console tells an
-- author's own delete from a post owner's, which is a moderation signal of its own.
-- Nullable: comments deleted before this column existed stay unattributed. IF NOT
-- EXISTS: re-running it is harmless (tests/storage re-applies the migrations after 0009).
ALTER TABLE comments ADD COLUMN IF NOT EXISTS deleted_by bigint
    REFERENCES users (id) ON DELETE SET NULL;
