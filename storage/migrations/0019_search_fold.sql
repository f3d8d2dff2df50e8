-- Search folds text as the words are stored (review of the discovery code):
-- * composed first (NFC): a caption typed with combining accents ("e" + U+0301) was
--   indexed with them, while a query is composed, then folded to a plain "e": it was
--   never found;
-- * Greek final sigma: PostgreSQL lower-cases 'Σ' to 'σ' everywhere, Python (tags) and
--   people to 'ς' at a word's end: 'ς' folds to 'σ', so case never matters;
-- * a capital eth 'Ð' folded to 'ð' (lower-cased after the table): now 'd' as 'ð' is.
-- normalize() needs a UTF8 database (the only encoding these letters exist in).
-- Re-indexed: only rows whose folded form can change (non-ASCII text).
DO $mig$
BEGIN
    IF current_setting('server_encoding') <> 'UTF8' THEN
        RETURN;
    END IF;
    EXECUTE $def$
CREATE OR REPLACE FUNCTION glint_fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fold$
    SELECT translate(replace(replace(replace(replace(lower(translate(normalize(t, NFC),
        'ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǦǧǨǩǪǫǬǭǰǴǵǸǹǺǻȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯȰȱȲȳḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟḠḡḢḣḤḥḦḧḨḩḪḫḬḭḮḯḰḱḲḳḴḵḶḷḸḹḺḻḼḽḾḿṀṁṂṃṄṅṆṇṈṉṊṋṌṍṎṏṐṑṒṓṔṕṖṗṘṙṚṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫṬṭṮṯṰṱṲṳṴṵṶṷṸṹṺṻṼṽṾṿẀẁẂẃẄẅẆẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕẖẗẘẙẛẠạẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸẹẺẻẼẽẾếỀềỂểỄễỆệỈỉỊịỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợỤụỦủỨứỪừỬửỮữỰựỲỳỴỵỶỷỸỹØøĐđŁłĦħıŦŧð',
        'AAAAAACEEEEIIIINOOOOOUUUUYaaaaaaceeeeiiiinooooouuuuyyAaAaAaCcCcCcCcDdEeEeEeEeEeGgGgGgGgHhIiIiIiIiIJjKkLlLlLlNnNnNnOoOoOoRrRrRrSsSsSsSsTtTtUuUuUuUuUuUuWwYyYZzZzZzsOoUuAaIiOoUuUuUuUuUuAaAaGgKkOoOojGgNnAaAaAaEeEeIiIiOoOoRrRrUuUuSsTtHhAaEeOoOoOoOoYyAaBbBbBbCcDdDdDdDdDdEeEeEeEeEeFfGgHhHhHhHhHhIiIiKkKkKkLlLlLlLlMmMmMmNnNnNnNnOoOoOoOoPpPpRrRrRrRrSsSsSsSsSsTtTtTtTtUuUuUuUuUuVvVvWwWwWwWwWwXxXxYyZzZzZzhtwysAaAaAaAaAaAaAaAaAaAaAaAaEeEeEeEeEeEeEeEeIiIiOoOoOoOoOoOoOoOoOoOoOoOoUuUuUuUuUuUuUuYyYyYyYyOoDdLlHhiTtd')),
        'ß', 'ss'), 'æ', 'ae'), 'œ', 'oe'), 'þ', 'th'), 'ðς', 'dσ')
$fold$;
    $def$;
    UPDATE users SET search_words = glint_user_words(username, display_name)
    WHERE display_name ~ '[^\x01-\x7f]'
      AND search_words IS DISTINCT FROM glint_user_words(username, display_name);
    UPDATE posts SET caption_words = to_tsvector('simple'::regconfig, glint_fold(caption))
    WHERE caption ~ '[^\x01-\x7f]'
      AND caption_words IS DISTINCT FROM to_tsvector('simple'::regconfig, glint_fold(caption));
    UPDATE hashtags SET folded = glint_fold(tag)
    WHERE tag ~ '[^\x01-\x7f]' AND folded IS DISTINCT FROM glint_fold(tag);
END $mig$;

-- A deleted post's hashtag rows go with it (storage/posts.py soft_delete): kept, they
-- hid a tag from search and trending once its newest 100 posts were deleted ones, and
-- every tag page walked them. Their counts were taken back when the posts were deleted
-- (glint_post_deleted; glint_tags_removed skips deleted posts).
DELETE FROM post_tags pt USING posts p WHERE p.id = pt.post_id AND p.deleted_at IS NOT NULL;
