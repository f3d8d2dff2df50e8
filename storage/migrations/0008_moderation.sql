-- Operators: suspension reasons, the audit log of admin actions, user reports.
ALTER TABLE users ADD COLUMN suspend_reason text NOT NULL DEFAULT '';
CREATE INDEX users_suspended ON users (suspended_at DESC, id) WHERE suspended_at IS NOT NULL;

-- Every admin action (who, what, when, target, details); ids are time-ordered.
CREATE TABLE audit_log (
    id             bigint PRIMARY KEY DEFAULT glint_next_id(),
    admin_id       bigint REFERENCES users (id) ON DELETE SET NULL,
    admin_username text NOT NULL,
    action         text NOT NULL,
    target_kind    text NOT NULL DEFAULT '',
    target_id      bigint,
    details        jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_target ON audit_log (target_kind, target_id, id DESC);

-- One row per (reporter, target) while open: a repeat report is the same report.
CREATE TABLE reports (
    id             bigint PRIMARY KEY DEFAULT glint_next_id(),
    reporter_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    target_kind    text NOT NULL CHECK (target_kind IN ('post', 'comment', 'user', 'message')),
    target_id      bigint NOT NULL,
    target_user_id bigint REFERENCES users (id) ON DELETE CASCADE,  -- its author, or the user
    reason         text NOT NULL,
    note           text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    resolved_by    bigint REFERENCES users (id) ON DELETE SET NULL,
    resolution     text
);
CREATE UNIQUE INDEX reports_open_once ON reports (reporter_id, target_kind, target_id)
    WHERE resolved_at IS NULL;
CREATE INDEX reports_open_target ON reports (target_kind, target_id) WHERE resolved_at IS NULL;
CREATE INDEX reports_open_user ON reports (target_user_id) WHERE resolved_at IS NULL;
