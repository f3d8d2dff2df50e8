-- The social core: posts, the graph, likes, comments, saves, notifications.
-- Counters live on the rows and change in the same transaction as what they
-- count, so they are exact under concurrency.
ALTER TABLE users
    ADD COLUMN followers_count int NOT NULL DEFAULT 0,
    ADD COLUMN following_count int NOT NULL DEFAULT 0,
    ADD COLUMN posts_count     int NOT NULL DEFAULT 0,
    ADD COLUMN suspended_at    timestamptz;

CREATE TABLE posts (
    id            bigint PRIMARY KEY DEFAULT glint_next_id(),
    author_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    caption       text NOT NULL DEFAULT '',
    location      text NOT NULL DEFAULT '',
    comments_off  boolean NOT NULL DEFAULT false,
    like_count    int NOT NULL DEFAULT 0,
    comment_count int NOT NULL DEFAULT 0,
    idem          text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    edited_at     timestamptz,
    deleted_at    timestamptz
);
CREATE INDEX posts_author ON posts (author_id, id DESC) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX posts_idem ON posts (author_id, idem) WHERE idem IS NOT NULL;

CREATE TABLE post_media (
    post_id  bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    position smallint NOT NULL,
    media_id bigint NOT NULL REFERENCES media (id),
    alt      text NOT NULL DEFAULT '',
    PRIMARY KEY (post_id, position)
);

CREATE TABLE post_tags (
    tag     text NOT NULL,
    post_id bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, post_id)
);
CREATE INDEX post_tags_post ON post_tags (post_id);

CREATE TABLE post_mentions (
    post_id bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (post_id, user_id)
);

CREATE TABLE follows (
    follower_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX follows_followee ON follows (followee_id, created_at DESC);

CREATE TABLE follow_requests (
    requester_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    target_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (requester_id, target_id)
);
CREATE INDEX follow_requests_target ON follow_requests (target_id, created_at DESC);

CREATE TABLE blocks (
    blocker_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker_id, blocked_id)
);
CREATE INDEX blocks_blocked ON blocks (blocked_id);

CREATE TABLE mutes (
    muter_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    muted_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (muter_id, muted_id)
);

CREATE TABLE likes (
    post_id    bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, user_id)
);
CREATE INDEX likes_user ON likes (user_id, created_at DESC);

CREATE TABLE comments (
    id         bigint PRIMARY KEY DEFAULT glint_next_id(),
    post_id    bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    author_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    parent_id  bigint REFERENCES comments (id) ON DELETE CASCADE,
    body       text NOT NULL,
    like_count int NOT NULL DEFAULT 0,
    idem       text,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
CREATE INDEX comments_post ON comments (post_id, id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX comments_idem ON comments (author_id, idem) WHERE idem IS NOT NULL;

CREATE TABLE comment_likes (
    comment_id bigint NOT NULL REFERENCES comments (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (comment_id, user_id)
);

CREATE TABLE saves (
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    post_id    bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, post_id)
);
CREATE INDEX saves_user ON saves (user_id, created_at DESC);

-- Notifications are stored rows (for notif.list and aggregation) and each is
-- also a durable event in the recipient's log (live delivery and resume).
CREATE TABLE notifications (
    id           bigint PRIMARY KEY DEFAULT glint_next_id(),
    recipient_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    actor_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         text NOT NULL,
    post_id      bigint REFERENCES posts (id) ON DELETE CASCADE,
    comment_id   bigint REFERENCES comments (id) ON DELETE CASCADE,
    body         text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    read_at      timestamptz
);
CREATE INDEX notifications_recipient ON notifications (recipient_id, id DESC);
CREATE INDEX notifications_unread ON notifications (recipient_id) WHERE read_at IS NULL;
