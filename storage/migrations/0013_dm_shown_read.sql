-- The read position a conversation's other members are shown ("Seen"), beside the
-- member's own (`last_read_seq`, which the unread counts use). They are equal except
-- where a read was kept from the others: read as a message request (shared on
-- dm.accept), or in a 1:1 while either member blocks the other (never shared by
-- itself: the next read after the unblock shares the position then), so the other
-- side's view of it does not move while the block stands. Existing rows: what the
-- others were shown until now (nothing for a request). IF NOT EXISTS and the IS NULL
-- filter: re-running it is harmless (tests/storage re-applies the migrations after 0009).
ALTER TABLE conversation_members ADD COLUMN IF NOT EXISTS shown_read_seq bigint;
UPDATE conversation_members
SET shown_read_seq = CASE WHEN state = 'inbox' THEN last_read_seq ELSE joined_seq END
WHERE shown_read_seq IS NULL;
ALTER TABLE conversation_members ALTER COLUMN shown_read_seq SET DEFAULT 0,
    ALTER COLUMN shown_read_seq SET NOT NULL;
