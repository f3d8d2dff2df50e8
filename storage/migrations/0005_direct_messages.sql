-- Direct messages: conversations (1:1 or groups), members with read positions,
-- messages ordered by a per-conversation sequence taken in Postgres, so every
-- node agrees on the order.
CREATE TABLE conversations (
    id         bigint PRIMARY KEY DEFAULT glint_next_id(),
    kind       text NOT NULL CHECK (kind IN ('direct', 'group')),
    title      text NOT NULL DEFAULT '',
    -- for 'direct': the two member ids, smaller first, so a pair has one conversation
    pair_lo    bigint,
    pair_hi    bigint,
    created_by bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_seq   bigint NOT NULL DEFAULT 0,
    last_at    timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX conversations_pair ON conversations (pair_lo, pair_hi) WHERE kind = 'direct';

CREATE TABLE conversation_members (
    conversation_id bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            text NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member')),
    -- a conversation started by someone this member does not follow sits in their
    -- requests folder until they accept it
    state           text NOT NULL DEFAULT 'inbox' CHECK (state IN ('inbox', 'request')),
    last_read_seq   bigint NOT NULL DEFAULT 0,
    joined_seq      bigint NOT NULL DEFAULT 0,
    left_at         timestamptz,
    joined_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX conversation_members_user ON conversation_members (user_id) WHERE left_at IS NULL;

CREATE TABLE messages (
    conversation_id bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             bigint NOT NULL,
    id              bigint NOT NULL DEFAULT glint_next_id() UNIQUE,
    sender_id       bigint REFERENCES users (id) ON DELETE SET NULL,
    kind            text NOT NULL DEFAULT 'text'
                    CHECK (kind IN ('text', 'photo', 'post', 'system')),
    body            text NOT NULL DEFAULT '',
    media_id        bigint REFERENCES media (id),
    post_id         bigint REFERENCES posts (id) ON DELETE SET NULL,
    reply_to        bigint,
    idem            text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    edited_at       timestamptz,
    unsent_at       timestamptz,
    PRIMARY KEY (conversation_id, seq)
);
CREATE UNIQUE INDEX messages_idem ON messages (sender_id, idem) WHERE idem IS NOT NULL;

CREATE TABLE message_reactions (
    conversation_id bigint NOT NULL,
    seq             bigint NOT NULL,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    emoji           text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, seq, user_id),
    FOREIGN KEY (conversation_id, seq) REFERENCES messages (conversation_id, seq)
        ON DELETE CASCADE
);

-- Presence: hiding your activity status also hides others' from you (as on Instagram).
ALTER TABLE users ADD COLUMN hide_activity boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN last_active_at timestamptz;
