-- A fan-out job is written here in the transaction of the post's making (or
-- deletion), and deleted once it is on the Redis stream. A node gone between the
-- commit and the XADD (or a Redis outage, or the caller cancelled) left the post out
-- of every warm timeline; a sweep now puts jobs still here after
-- feed_outbox_after_seconds on the stream. Few rows live here at any time.
-- IF NOT EXISTS: re-running it is harmless (tests/storage re-applies the migrations).
CREATE TABLE IF NOT EXISTS feed_outbox (
    post_id bigint NOT NULL,
    kind text NOT NULL,
    author_id bigint NOT NULL,
    queued_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, kind)
);
CREATE INDEX IF NOT EXISTS feed_outbox_queued ON feed_outbox (queued_at);
