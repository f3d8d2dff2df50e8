-- A follow request's notification goes when the request does (withdrawn, approved,
-- denied, cut by a block: storage/notifications.py withdraw_request). The delete
-- searched only the owner's latest 200 notifications, so on a busy account an older
-- one outlived its request; found by (owner, requester) here, however old. Partial:
-- only follow_request rows pay for it, not every like.
-- IF NOT EXISTS: re-running it is harmless (tests/storage re-applies the migrations).
CREATE INDEX IF NOT EXISTS notifications_follow_request
    ON notifications (recipient_id, actor_id) WHERE kind = 'follow_request';
