-- Hashtags with a Turkish dotted capital İ were stored with a combining dot: Python
-- lower-cases 'İ' to 'i' + U+0307, and U+0307 is no word character, so such a tag could
-- be neither opened (tag.get, tag.posts) nor found (glint_fold keeps the dot). Tags are
-- now read with İ as a plain I (storage/search.py tag_text); this re-keys the tags stored
-- before, 'i' + U+0307 -> 'i'.
--
-- Driven by hashtags (a row per tag ever counted: every tag of a post made since 0006,
-- and the tags of live posts before it), which is far smaller than post_tags. A post
-- with both keys keeps one row. The post_tags triggers of 0006 move the counts: the
-- delete uncounts the old keys, the insert counts the new ones where they were inserted
-- (merged into a key that already exists, or a new hashtags row with its folded form);
-- the old keys' hashtags rows, at 0 then, go.
-- (U+0307 is chr(775) only in a UTF8 database; no other encoding could hold it.)
DO $$
BEGIN
    IF current_setting('server_encoding') <> 'UTF8' THEN
        RETURN;
    END IF;
    WITH rekey AS (
        SELECT tag AS old, replace(tag, 'i' || chr(775), 'i') AS new FROM hashtags
        WHERE strpos(tag, 'i' || chr(775)) > 0),
    moved AS (
        DELETE FROM post_tags pt USING rekey r WHERE pt.tag = r.old
        RETURNING r.new, pt.post_id)
    INSERT INTO post_tags (tag, post_id)
    SELECT DISTINCT new, post_id FROM moved
    ON CONFLICT DO NOTHING;
    DELETE FROM hashtags WHERE strpos(tag, 'i' || chr(775)) > 0;
END $$;
