-- Ids: 64-bit, time-ordered, with shard bits (Instagram's scheme):
-- 41 bits of milliseconds since 2025-01-01, 13 bits of shard, 10 bits of sequence.
CREATE SEQUENCE glint_id_seq;

CREATE FUNCTION glint_next_id() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    epoch_ms CONSTANT bigint := 1735689600000;
    shard int := coalesce(nullif(current_setting('glint.shard', true), '')::int, 0);
    seq bigint;
    now_ms bigint;
BEGIN
    seq := nextval('glint_id_seq') % 1024;
    now_ms := floor(extract(epoch FROM clock_timestamp()) * 1000);
    RETURN ((now_ms - epoch_ms) << 23) | ((shard & 8191)::bigint << 10) | seq;
END
$$;

CREATE TABLE users (
    id            bigint PRIMARY KEY DEFAULT glint_next_id(),
    username      text NOT NULL,
    email         text NOT NULL,
    password_hash text NOT NULL,
    display_name  text NOT NULL DEFAULT '',
    bio           text NOT NULL DEFAULT '',
    website       text NOT NULL DEFAULT '',
    is_private    boolean NOT NULL DEFAULT false,
    is_admin      boolean NOT NULL DEFAULT false,
    event_seq     bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_username_prefix ON users (lower(username) text_pattern_ops);

-- Bearer tokens are stored only as SHA-256 hashes.
CREATE TABLE tokens (
    hash       bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client     text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX tokens_user ON tokens (user_id);

-- Per-user durable event log: what a reconnecting client replays.
CREATE TABLE user_events (
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq        bigint NOT NULL,
    kind       text NOT NULL,
    data       bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, seq)
);
