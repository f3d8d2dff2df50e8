-- Discovery: search (users, hashtags, captions), hashtag pages and explore.
--
-- pgserver has no unaccent or pg_trgm, so accent- and case-insensitivity is a
-- folding function (a fixed translate() table plus lower()) applied by triggers
-- into stored columns, and by the queries to the search text; matching is
-- built-in full-text search (GIN) and btree prefix ranges (text_pattern_ops).

-- 'José Ñúñez' -> 'jose nunez'. IMMUTABLE: it only depends on its argument.
CREATE FUNCTION glint_fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fold$
    SELECT replace(replace(replace(replace(lower(translate(t,
        'ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǦǧǨǩǪǫǬǭǰǴǵǸǹǺǻȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯȰȱȲȳḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟḠḡḢḣḤḥḦḧḨḩḪḫḬḭḮḯḰḱḲḳḴḵḶḷḸḹḺḻḼḽḾḿṀṁṂṃṄṅṆṇṈṉṊṋṌṍṎṏṐṑṒṓṔṕṖṗṘṙṚṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫṬṭṮṯṰṱṲṳṴṵṶṷṸṹṺṻṼṽṾṿẀẁẂẃẄẅẆẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕẖẗẘẙẛẠạẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸẹẺẻẼẽẾếỀềỂểỄễỆệỈỉỊịỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợỤụỦủỨứỪừỬửỮữỰựỲỳỴỵỶỷỸỹØøĐđŁłĦħıŦŧð',
        'AAAAAACEEEEIIIINOOOOOUUUUYaaaaaaceeeeiiiinooooouuuuyyAaAaAaCcCcCcCcDdEeEeEeEeEeGgGgGgGgHhIiIiIiIiIJjKkLlLlLlNnNnNnOoOoOoRrRrRrSsSsSsSsTtTtUuUuUuUuUuUuWwYyYZzZzZzsOoUuAaIiOoUuUuUuUuUuAaAaGgKkOoOojGgNnAaAaAaEeEeIiIiOoOoRrRrUuUuSsTtHhAaEeOoOoOoOoYyAaBbBbBbCcDdDdDdDdDdEeEeEeEeEeFfGgHhHhHhHhHhIiIiKkKkKkLlLlLlLlMmMmMmNnNnNnNnOoOoOoOoPpPpRrRrRrRrSsSsSsSsSsTtTtTtTtUuUuUuUuUuVvVvWwWwWwWwWwXxXxYyZzZzZzhtwysAaAaAaAaAaAaAaAaAaAaAaAaEeEeEeEeEeEeEeEeIiIiOoOoOoOoOoOoOoOoOoOoOoOoUuUuUuUuUuUuUuYyYyYyYyOoDdLlHhiTtd')),
        'ß', 'ss'), 'æ', 'ae'), 'œ', 'oe'), 'þ', 'th')
$fold$;

-- People: the folded words of the display name and of the username (split at . and _).
-- A trigger, not a generated column: users rows are updated on every durable event
-- (event_seq), and a generated column would be recomputed each time.
ALTER TABLE users ADD COLUMN search_words tsvector;

CREATE FUNCTION glint_user_words(username text, display_name text) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT to_tsvector('simple'::regconfig,
        glint_fold(display_name) || ' ' || translate(lower(username), '._', '  '))
$$;

CREATE FUNCTION glint_users_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_words := glint_user_words(NEW.username, NEW.display_name);
    RETURN NEW;
END
$$;

CREATE TRIGGER users_search BEFORE INSERT OR UPDATE OF username, display_name ON users
    FOR EACH ROW EXECUTE FUNCTION glint_users_search();
UPDATE users SET search_words = glint_user_words(username, display_name);
CREATE INDEX users_search_words ON users USING gin (search_words);
-- Suggested accounts fall back to the most followed.
CREATE INDEX users_popular ON users (followers_count DESC, id) WHERE suspended_at IS NULL;

-- Captions: folded words, maintained only when the caption changes (posts rows are
-- updated on every like).
ALTER TABLE posts ADD COLUMN caption_words tsvector;

CREATE FUNCTION glint_posts_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.caption_words := to_tsvector('simple'::regconfig, glint_fold(NEW.caption));
    RETURN NEW;
END
$$;

CREATE TRIGGER posts_search BEFORE INSERT OR UPDATE OF caption ON posts
    FOR EACH ROW EXECUTE FUNCTION glint_posts_search();
UPDATE posts SET caption_words = to_tsvector('simple'::regconfig, glint_fold(caption));
CREATE INDEX posts_caption_words ON posts USING gin (caption_words) WHERE deleted_at IS NULL;

-- Explore's collaborative filtering reads a post's most recent likers.
CREATE INDEX likes_post_recent ON likes (post_id, created_at DESC);

-- Hashtags with the number of live posts using them, kept by triggers on post_tags
-- (statement-level, locking tags in name order so concurrent posts cannot deadlock
-- on them) and on a post's soft delete.
CREATE TABLE hashtags (
    tag        text PRIMARY KEY,
    folded     text NOT NULL,
    post_count int NOT NULL DEFAULT 0
);
CREATE INDEX hashtags_folded ON hashtags (folded text_pattern_ops);

INSERT INTO hashtags (tag, folded, post_count)
SELECT pt.tag, glint_fold(pt.tag), count(*) FROM post_tags pt
JOIN posts p ON p.id = pt.post_id AND p.deleted_at IS NULL
GROUP BY pt.tag;

CREATE FUNCTION glint_tags_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO hashtags AS h (tag, folded, post_count)
    SELECT a.tag, glint_fold(a.tag), count(*) FROM added a
    JOIN posts p ON p.id = a.post_id AND p.deleted_at IS NULL
    GROUP BY a.tag ORDER BY a.tag
    ON CONFLICT (tag) DO UPDATE SET post_count = h.post_count + EXCLUDED.post_count;
    RETURN NULL;
END
$$;

-- A removed tag of a soft-deleted post was already uncounted by glint_post_deleted.
CREATE FUNCTION glint_tags_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM hashtags WHERE tag IN (SELECT tag FROM removed) ORDER BY tag FOR UPDATE;
    UPDATE hashtags h SET post_count = greatest(h.post_count - r.n, 0)
    FROM (SELECT rm.tag, count(*) AS n FROM removed rm
          WHERE NOT EXISTS (SELECT 1 FROM posts p
                            WHERE p.id = rm.post_id AND p.deleted_at IS NOT NULL)
          GROUP BY rm.tag) r
    WHERE h.tag = r.tag;
    RETURN NULL;
END
$$;

CREATE FUNCTION glint_post_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM hashtags
    WHERE tag IN (SELECT tag FROM post_tags WHERE post_id = NEW.id) ORDER BY tag FOR UPDATE;
    UPDATE hashtags SET post_count = greatest(post_count - 1, 0)
    WHERE tag IN (SELECT tag FROM post_tags WHERE post_id = NEW.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER post_tags_added AFTER INSERT ON post_tags
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION glint_tags_added();
CREATE TRIGGER post_tags_removed AFTER DELETE ON post_tags
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION glint_tags_removed();
CREATE TRIGGER posts_deleted AFTER UPDATE OF deleted_at ON posts FOR EACH ROW
    WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL)
    EXECUTE FUNCTION glint_post_deleted();
