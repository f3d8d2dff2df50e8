"""A realistic synthetic data set, generated in Python and bulk-loaded with COPY.

`glint seed` (server/seed.py) prepares a few processed photos and the password
hash, then calls `load`. Everything is drawn from random generators seeded with
`SeedOptions.seed`, so one seed gives the same people, graph, posts, likes and
comments every time (only the timestamps move with the clock: the data always
ends "now"). What is made:

- users with names from many languages (display names keep their accents, the
  usernames are folded to a-z), all sharing one argon2 password hash, a few
  private, some with an avatar;
- a follow graph with Zipf-distributed popularity: most people follow 20-200
  others (at most a quarter of the set), a few celebrities are followed by most;
- posts over the last 90 days by Zipf-distributed authors (a quarter of the
  users never post), captions with #hashtags from a Zipf-ranked vocabulary,
  occasional @mentions and locations; one to four photos each, taken from a small
  pool of media rows (no per-post image work);
- likes per post from a power law scaled by the author's reach, mostly by the
  author's followers; comments (some of them replies) in proportion.

Rows are generated in batches in a worker thread while the previous batch is
copied (`copy_records_to_table`), all in ONE transaction: a failed or interrupted
seed leaves nothing behind. Ids are made in Python (`storage.ids` layout) from
each row's `created_at`, so they are unique and in time order. The counters
(users.followers/following/posts_count, posts.like/comment_count) are computed
while generating and written with the rows; a set-based reconciliation UPDATE
then recounts them from the rows for everything seeded and fixes any difference
(it should find none) before the commit. COPY fires row triggers, so triggers
other modules put on these tables (search, feeds) see every row.

Seeding a database that already has `REFUSE_AT` users or more is refused unless
`force` is set; with `force` the new users are added alongside (usernames that
are taken get a suffix) and follow, like and comment only among themselves.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import time
import unicodedata
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import trio

from config.limits import SEQUENCE_BITS, SHARD_BITS, USERNAME_MAX
from storage.ids import ID_EPOCH_MS
from storage.store import Storage

REFUSE_AT = 100  # users already in the database before a seed needs `force`
BATCH_ROWS = 50_000  # rows per COPY
DAY_MS = 86_400_000
POST_DAYS = 90  # posts spread over the last 90 days
USER_DAYS = (400, 91)  # accounts were made between 400 and 91 days ago
PRIVATE_SHARE = 0.03
AVATAR_SHARE = 0.4
LURKER_SHARE = 0.25  # users who never post
FOLLOW_ZIPF = 1.0  # popularity exponent of the follow graph
AUTHOR_ZIPF = 0.9  # activity exponent of post authors
TAG_ZIPF = 1.0
LIKE_PARETO = 1.3  # tail of likes per post
LIKES_FROM_FOLLOWERS = 0.8
REPLY_SHARE = 0.2
MENTION_SHARE = 0.08
LOCATION_SHARE = 0.2
CAROUSEL_SHARE = 0.15  # posts with 2-4 photos
_SEQ_MASK = (1 << SEQUENCE_BITS) - 1
_TIME_SHIFT = SHARD_BITS + SEQUENCE_BITS
_ADVISORY_KEY = 0x6C696E74_73656564  # "lintseed": one seed at a time

Progress = Callable[[str], None]


class SeedRefused(Exception):
    """The database already holds a data set and `force` was not given."""


@dataclass(frozen=True)
class SeedOptions:
    users: int
    posts: int
    seed: int = 1
    likes_per_post: float = 4.0  # mean; the distribution is a power law
    comments_per_like: float = 0.08
    force: bool = False
    batch_rows: int = BATCH_ROWS


@dataclass(frozen=True)
class MediaSpec:
    """A processed picture already in the media store (see actors/media.py `_save`)."""

    kind: str  # "photo" | "avatar"
    width: int
    height: int
    blurhash: str
    color: str
    filter: str
    master_key: str
    variants: dict[str, Any]  # name -> {"width", "height", "jpeg": key, "webp": key}
    keys: tuple[str, ...]  # every variant key (media_blobs rows, with the master's)


@dataclass
class SeedReport:
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    fixed_counters: int = 0  # rows the reconciliation had to change (expected 0)
    usernames: list[str] = field(default_factory=list)  # a few, most followed first
    max_followers: int = 0
    median_followers: int = 0
    top_tags: list[str] = field(default_factory=list)
    user_ids: list[int] = field(default_factory=list)  # every seeded user, oldest first
    post_ids: tuple[int, int] = (0, -1)  # the first and last seeded post id


# -- vocabulary ----------------------------------------------------------------------------
FIRST_NAMES = (
    "José María Zoë Björn François Søren Chloé Renée Łukasz Ana Nuño Inês João Mónica "
    "Ángel Sofía Iñaki Jürgen Noël Ayşe Çağla Małgorzata Tomáš Dvořák Hélène Ærin Ómar "
    "Zoé Léa Mathéo Anaïs Raphaël Agnès Maël Olivia Liam Emma Noah Ava Lucas Mia Ethan "
    "Amelia Hiro Yuki Sakura Kenji Priya Arjun Aisha Omar Fatima Chen Wei Mei Lin Olga "
    "Ivan Katya Dmitri Sven Astrid Ingrid Lars Freya Nia Kwame Ama Kofi Zanele Thabo "
    "Lucía Mateo Valentina Santiago Camila Diego Paula Tiago Beatriz Rui Giulia Marco "
    "Chiara Luca Sara Andrea Élodie Grégoire Maëlle Jokūbas Ülle Ásta Þóra Dagný"
).split()
LAST_NAMES = (
    "García Müller Nuñez Silva Dubois Lefèvre Søndergaard Kowalski Nowak Ødegaard "
    "Fernández López Martínez González Rodríguez Pérez Sánchez Gómez Díaz Álvarez "
    "Schäfer Weiß Köhler Krüger Öztürk Y\u0131lmaz Şahin Novák Dvořáková Černý Horváth "
    "Smith Johnson Brown Taylor Wilson Davies Evans Thomas Roberts Walker Tanaka "
    "Suzuki Sato Watanabe Kim Lee Park Nguyen Tran Patel Sharma Singh Khan Ali "
    "Hassan Ivanov Petrova Sokolov Andersson Johansson Nilsson Larsen Hansen Jensen "
    "Rossi Russo Ferrari Esposito Bianchi Romano Costa Santos Oliveira Pereira "
    "Mensah Okafor Adeyemi Dlamini Moreau Lambert Girard Bonnet François Mercier "
    "Þórsdóttir Jónsson Guðmundsson Kask Tamm Mäkinen Virtanen Häkkinen"
).split()
_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "Ae",
                       "ß": "ss", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D", "\u0131": "i"})
TAGS = (
    "photography travel nature sunset food foodie love instagood photooftheday "
    "fashion beautiful happy cute art style summer beach friends selfie fitness "
    "family nofilter sky mountains hiking coffee café latte brunch dog cat puppy "
    "catsofinstagram streetphotography architecture city urban nightlife music "
    "concert festival vintage film 35mm blackandwhite portrait landscape ocean "
    "sea surf skate bike running yoga gym vegan homemade baking pizza sushi ramen "
    "wine cocktails garden flowers spring autumn winter snow rain clouds "
    "goldenhour bluehour reflection minimal design interior books reading "
    "weekend mood tbt throwback roadtrip wanderlust explore adventure camping "
    "lisboa paris berlin tokyo kraków zürich são_paulo méxico españa istanbul "
    "reykjavík kyoto nyc london amsterdam barcelona roma helsinki oslo"
).split()
PHRASES = (
    "Golden hour never disappoints", "Sunday mood", "Can't get enough of this view",
    "Café da manhã ☕", "Qué bonito día", "Weekend vibes ✨", "New favourite spot",
    "Throwback to better weather", "Just because", "Morning run done 🏃", "Dinner with friends",
    "Lost in the city", "Some days are like this", "Back at it", "Trying something new",
    "Home sweet home", "Straight out of the camera", "Found this little gem",
    "La vie est belle", "Das Leben ist schön", "Il dolce far niente", "Ciao bella 🇮🇹",
    "Pure magic", "Still thinking about this trip", "Little things", "Rainy days ☔",
    "First snow ❄️", "Spring is here 🌸", "Summer nights", "Autumn colours 🍂",
    "Best burger in town 🍔", "Homemade bread, finally", "Museum day", "Road trip!",
    "Sea, salt and sun", "City lights", "Quiet morning", "On repeat 🎶", "Mood", "",
)
COMMENTS = (
    "Love this! 😍", "Wow", "Stunning 🔥", "Where is this?", "Incroyable 👏", "So good",
    "Miss you!", "🔥🔥🔥", "Beautiful shot", "Qué lindo ❤️", "Need to go there",
    "This is everything", "Great light", "Haha yes", "Wunderschön!", "Bellissima",
    "Take me with you", "👏👏", "Looks delicious", "Goals", "Amazing colours",
    "Nice one", "Obsessed", "Lovely", "Congrats! 🎉", "Saved this for later",
)
LOCATIONS = (
    "Lisboa, Portugal", "São Paulo, Brasil", "Zürich, Schweiz", "Kraków, Polska",
    "Paris, France", "Berlin, Deutschland", "Tokyo, Japan", "Reykjavík, Ísland",
    "México City", "Barcelona, España", "Istanbul, Türkiye", "New York", "Kyoto",
    "Cape Town", "Helsinki", "Roma, Italia", "Amsterdam", "Buenos Aires", "Seoul",
)
BIOS = (
    "Photographer 📷", "Coffee first ☕", "Travel · Food · Friends", "Living my best life",
    "Café addict", "Dog person 🐶", "Designer & maker", "Always outside", "", "", "", "",
    "Amo viajar ✈️", "Künstlerin", "Chasing light", "Runner 🏃", "Book lover 📚",
)


def fold(name: str) -> str:
    """ASCII letters for a username: 'José Dvořák' -> 'jose dvorak'."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_FOLD))
    return "".join(c for c in decomposed if c.isascii() and (c.isalnum() or c in " ._")).lower()


# -- sampling helpers ----------------------------------------------------------------------
def zipf_cum(n: int, s: float, offset: float = 1.0) -> list[float]:
    """Cumulative weights 1/(rank + offset)^s for ranks 0..n-1 (for `random.choices`)."""
    return list(itertools.accumulate((r + offset) ** -s for r in range(n)))


def _log_uniform(rng: random.Random, lo: float, hi: float) -> int:
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _stochastic_round(rng: random.Random, x: float) -> int:
    whole = int(x)
    return whole + (rng.random() < x - whole)


def allocate_ids(times_ms: Sequence[int], shard: int) -> tuple[list[int], list[int]]:
    """Ids for rows created at the (sorted) `times_ms`, and the times they ended up at.

    Rows in one millisecond get consecutive sequence numbers; past 1024 in one
    millisecond the row moves to the next one. Ids are therefore unique and in time
    order, and `id_time_ms(id)` is the row's created_at.
    """
    ids: list[int] = []
    out: list[int] = []
    shard_bits = (shard & ((1 << SHARD_BITS) - 1)) << SEQUENCE_BITS
    prev = -1
    seq = 0
    for t in times_ms:
        if t <= prev:
            t = prev
            seq += 1
            if seq > _SEQ_MASK:
                t += 1
                seq = 0
        else:
            seq = 0
        prev = t
        ids.append(((t - ID_EPOCH_MS) << _TIME_SHIFT) | shard_bits | seq)
        out.append(t)
    return ids, out


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


# -- the plan: everything decided before the first row is written ---------------------------
@dataclass
class _People:
    ids: list[int]
    created_ms: list[int]
    usernames: list[str]
    display: list[str]
    followees: list[array]  # per user: indexes of whom they follow
    followers: list[array]  # per user: indexes of who follows them
    private: list[bool]
    avatar: list[int]  # index into the avatar pool, or -1


def _usernames(rng: random.Random, n: int, taken: set[str]) -> tuple[list[str], list[str]]:
    names: list[str] = []
    display: list[str] = []
    used = set(taken)
    for _ in range(n):
        first = rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES)
        f, la = fold(first).replace(" ", ""), fold(last).replace(" ", "")
        pattern = rng.random()
        if pattern < 0.35:
            stem = f"{f}.{la}"
        elif pattern < 0.55:
            stem = f"{f}{la}"
        elif pattern < 0.7:
            stem = f"{f}_{la}"
        elif pattern < 0.85:
            stem = f"{f}.{la[:1]}"
        else:
            stem = f"{f}{rng.randrange(1, 100)}"
        stem = stem[: USERNAME_MAX - 6]
        name = stem
        k = 1
        while name in used:
            k += 1
            name = f"{stem}{k}"
        used.add(name)
        names.append(name)
        shown = f"{first} {last}"
        if rng.random() < 0.03:
            shown += " 📷"
        display.append(shown)
    return names, display


def _follow_graph(rng: random.Random, n: int) -> tuple[list[array], list[array], list[int]]:
    """(followees, followers, popularity order): Zipf popularity over a shuffled order."""
    order = list(range(n))
    rng.shuffle(order)  # order[rank] = user index
    cum = zipf_cum(n, FOLLOW_ZIPF)
    followees: list[array] = []
    followers: list[array] = [array("i") for _ in range(n)]
    cap = max(1, n // 4) if n > 1 else 0
    for u in range(n):
        roll = rng.random()
        if roll < 0.85:
            want = _log_uniform(rng, 20, 200)
        elif roll < 0.95:
            want = rng.randrange(0, 20)
        else:
            want = _log_uniform(rng, 200, 1000)
        want = min(want, cap, n - 1)
        chosen: set[int] = set()
        while len(chosen) < want:
            for v in rng.choices(order, cum_weights=cum, k=want - len(chosen)):
                if v != u:
                    chosen.add(v)
        picked = sorted(chosen)
        followees.append(array("i", picked))
        for v in picked:
            followers[v].append(u)
    return followees, followers, order


def _people(rng: random.Random, opts: SeedOptions, taken: set[str], now_ms: int,
            shard: int, avatars: int) -> _People:
    n = opts.users
    lo, hi = now_ms - USER_DAYS[0] * DAY_MS, now_ms - USER_DAYS[1] * DAY_MS
    times = sorted(rng.randrange(lo, hi) for _ in range(n))
    ids, times = allocate_ids(times, shard)
    names, display = _usernames(rng, n, taken)
    followees, followers, order = _follow_graph(rng, n)
    celebrities = set(order[:20])
    private = [u not in celebrities and rng.random() < PRIVATE_SHARE for u in range(n)]
    avatar = [rng.randrange(avatars) if avatars and u and rng.random() < AVATAR_SHARE else -1
              for u in range(n)]
    return _People(ids, times, names, display, followees, followers, private, avatar)


# -- the loader (asyncio side) --------------------------------------------------------------
class _Loader:
    """One connection and one transaction held across crossings of the bridge."""

    def __init__(self) -> None:
        self.conn: Any = None
        self.tx: Any = None

    async def begin(self, st: Storage) -> int:
        assert st.pool is not None
        self.conn = await st.pool.acquire()
        self.tx = self.conn.transaction()
        await self.tx.start()
        await self.conn.execute("SET LOCAL synchronous_commit = off")
        await self.conn.execute("SELECT pg_advisory_xact_lock($1)", _ADVISORY_KEY)
        return await self.conn.fetchval("SELECT count(*) FROM users")

    async def taken(self, st: Storage) -> set[str]:
        """Usernames a new seeded user may not have (their email would clash too)."""
        rows = await self.conn.fetch(
            """SELECT lower(username) AS n FROM users
               UNION SELECT split_part(lower(email), '@', 1) FROM users
               WHERE lower(email) LIKE $1""", _email("%"))
        return {r["n"] for r in rows}

    async def copy(self, st: Storage, table: str, columns: Sequence[str],
                   records: list[tuple[Any, ...]]) -> None:
        await self.conn.copy_records_to_table(table, records=records, columns=list(columns))

    async def execute(self, st: Storage, sql: str, *args: Any) -> str:
        return await self.conn.execute(sql, *args)

    async def reconcile(self, st: Storage, user_ids: list[int], post_lo: int,
                        post_hi: int) -> int:
        """Recount every seeded counter from the rows; fix and count any that differ."""
        users = await self.conn.execute(
            """WITH s AS (SELECT unnest($1::bigint[]) AS id),
                    fr AS (SELECT f.followee_id AS id, count(*) AS n FROM follows f
                           JOIN s ON s.id = f.followee_id GROUP BY 1),
                    fg AS (SELECT f.follower_id AS id, count(*) AS n FROM follows f
                           JOIN s ON s.id = f.follower_id GROUP BY 1),
                    ps AS (SELECT p.author_id AS id, count(*) AS n FROM posts p
                           JOIN s ON s.id = p.author_id WHERE p.deleted_at IS NULL GROUP BY 1),
                    c AS (SELECT s.id, coalesce(fr.n, 0) AS followers,
                                 coalesce(fg.n, 0) AS following, coalesce(ps.n, 0) AS posts
                          FROM s LEFT JOIN fr USING (id) LEFT JOIN fg USING (id)
                                 LEFT JOIN ps USING (id))
               UPDATE users u SET followers_count = c.followers, following_count = c.following,
                                  posts_count = c.posts
               FROM c WHERE u.id = c.id
                 AND (u.followers_count, u.following_count, u.posts_count)
                     IS DISTINCT FROM (c.followers::int, c.following::int, c.posts::int)""",
            user_ids)
        posts = await self.conn.execute(
            """WITH l AS (SELECT post_id AS id, count(*) AS n FROM likes
                          WHERE post_id BETWEEN $1 AND $2 GROUP BY 1),
                    cm AS (SELECT post_id AS id, count(*) AS n FROM comments
                           WHERE post_id BETWEEN $1 AND $2 AND deleted_at IS NULL GROUP BY 1),
                    c AS (SELECT p.id, coalesce(l.n, 0) AS likes, coalesce(cm.n, 0) AS comments
                          FROM posts p LEFT JOIN l USING (id) LEFT JOIN cm USING (id)
                          WHERE p.id BETWEEN $1 AND $2)
               UPDATE posts p SET like_count = c.likes, comment_count = c.comments
               FROM c WHERE p.id = c.id
                 AND (p.like_count, p.comment_count)
                     IS DISTINCT FROM (c.likes::int, c.comments::int)""",
            post_lo, post_hi)
        return int(users.split()[-1]) + int(posts.split()[-1])

    async def commit(self, st: Storage) -> None:
        try:
            await self.tx.commit()
        finally:
            await self._release(st)

    async def abort(self, st: Storage) -> None:
        if self.conn is None:
            return
        try:
            await self.tx.rollback()
        finally:
            await self._release(st)

    async def _release(self, st: Storage) -> None:
        assert st.pool is not None
        conn, self.conn = self.conn, None
        if conn is not None:
            await st.pool.release(conn)

    async def vacuum_analyze(self, st: Storage, tables: Sequence[str]) -> None:
        """VACUUM as well as ANALYZE: a running database's tables have been vacuumed,
        and bulk-loaded ones not yet (autovacuum had not reached `posts` minutes after
        a million-post seed). Without their visibility maps every index-only read of
        them visits the heap: the feed benchmark's cold p99 was 235-280 ms on a fresh
        seed and 77-134 ms on a vacuumed one (~3 s here for the million posts)."""
        assert st.pool is not None
        async with st.pool.acquire() as conn:
            await conn.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")


def _email(username: str) -> str:
    return f"{username}@seed.example.org"


# -- generation (worker thread) --------------------------------------------------------------
Batch = tuple[str, tuple[str, ...], list[tuple[Any, ...]]]

USER_COLS = ("id", "username", "email", "password_hash", "display_name", "bio", "website",
             "is_private", "created_at", "followers_count", "following_count", "posts_count",
             "avatar_id")
MEDIA_COLS = ("id", "owner_id", "kind", "width", "height", "blurhash", "color", "filter",
              "master_key", "variants", "attached_at", "created_at")
POST_COLS = ("id", "author_id", "caption", "location", "like_count", "comment_count",
             "created_at")
COMMENT_COLS = ("id", "post_id", "author_id", "parent_id", "body", "created_at")


@dataclass
class _Generator:
    """Decides everything, then yields COPY batches table by table (parents first)."""

    opts: SeedOptions
    shard: int
    password_hash: str
    photos: Sequence[MediaSpec]
    avatars: Sequence[MediaSpec]
    taken: set[str]
    now_ms: int
    counts: dict[str, int] = field(default_factory=dict)
    tag_counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        s = self.opts.seed
        self.rng = {k: random.Random(f"glint-seed:{s}:{k}")
                    for k in ("users", "posts", "likes", "comments")}
        self.people = _people(self.rng["users"], self.opts, self.taken, self.now_ms,
                              self.shard, len(self.avatars))
        self._plan_posts()

    # posts: when, by whom, how many likes and comments — before any row is written
    def _plan_posts(self) -> None:
        rng, n, m = self.rng["posts"], self.opts.users, self.opts.posts
        order = list(range(n))
        rng.shuffle(order)
        active = order[: max(1, int(n * (1 - LURKER_SHARE)))]
        authors = rng.choices(active, cum_weights=zipf_cum(len(active), AUTHOR_ZIPF, 5.0), k=m)
        lo = self.now_ms - POST_DAYS * DAY_MS
        times = sorted(rng.randrange(lo, self.now_ms - 60_000) for _ in range(m))
        self.post_ids, self.post_ms = allocate_ids(times, self.shard)
        self.post_author = array("i", authors)
        followers = self.people.followers
        raw = [rng.paretovariate(LIKE_PARETO) * math.sqrt(1 + len(followers[a]))
               for a in authors]
        total = sum(raw) or 1.0
        scale = self.opts.likes_per_post * m / total
        cap = n - 1
        self.post_likes = array("i", (min(cap, _stochastic_round(rng, r * scale)) for r in raw))
        per_like = self.opts.comments_per_like
        self.post_comments = array("i", (
            _stochastic_round(rng, k * per_like + (0.05 if k == 0 else 0.0))
            for k in self.post_likes))
        self.posts_count = [0] * n
        for a in authors:
            self.posts_count[a] += 1

    def batches(self) -> Iterator[Batch]:
        yield from self._users()
        yield from self._follows()
        yield from self._posts()
        yield from self._likes()
        yield from self._comments()

    def _chunks(self, table: str, cols: tuple[str, ...],
                rows: Iterator[tuple[Any, ...]]) -> Iterator[Batch]:
        size = self.opts.batch_rows
        total = 0
        while True:
            batch = list(itertools.islice(rows, size))
            if not batch:
                break
            total += len(batch)
            yield table, cols, batch
        self.counts[table] = self.counts.get(table, 0) + total

    # -- users and the media pool --
    def _user_rows(self, which: range) -> Iterator[tuple[Any, ...]]:
        p, rng = self.people, self.rng["users"]
        for u in which:
            bio = rng.choice(BIOS)
            website = f"https://{p.usernames[u].replace('_', '-')}.example.com" \
                if rng.random() < 0.05 else ""
            yield (p.ids[u], p.usernames[u], _email(p.usernames[u]), self.password_hash,
                   p.display[u], bio, website, p.private[u], _dt(p.created_ms[u]),
                   len(p.followers[u]), len(p.followees[u]), self.posts_count[u],
                   self.avatar_ids[p.avatar[u]] if p.avatar[u] >= 0 else None)

    def _users(self) -> Iterator[Batch]:
        p = self.people
        # The first user owns the media pool: in first, then the media, then the rest
        # (whose avatar_id points into the pool).
        self.avatar_ids: list[int] = []
        yield from self._chunks("users", USER_COLS, self._user_rows(range(0, 1)))
        specs = [*self.photos, *self.avatars]
        made = p.created_ms[0] + 1000
        media_ids, _ = allocate_ids([made] * len(specs), self.shard)
        media, blobs = [], []
        for mid, spec in zip(media_ids, specs, strict=True):
            media.append((mid, p.ids[0], spec.kind, spec.width, spec.height, spec.blurhash,
                          spec.color, spec.filter, spec.master_key, json.dumps(spec.variants),
                          _dt(made), _dt(made)))
            blobs.extend((mid, k) for k in sorted({*spec.keys, spec.master_key}))
        self.photo_ids = media_ids[: len(self.photos)]
        self.avatar_ids = media_ids[len(self.photos):]
        yield from self._chunks("media", MEDIA_COLS, iter(media))
        yield from self._chunks("media_blobs", ("media_id", "key"), iter(blobs))
        yield from self._chunks("users", USER_COLS, self._user_rows(range(1, self.opts.users)))

    def _follows(self) -> Iterator[Batch]:
        p, rng = self.people, self.rng["users"]

        def rows() -> Iterator[tuple[Any, ...]]:
            for u in range(self.opts.users):
                fid, fms = p.ids[u], p.created_ms[u]
                for v in p.followees[u]:
                    start = max(fms, p.created_ms[v])
                    yield fid, p.ids[v], _dt(rng.randrange(start, self.now_ms))

        yield from self._chunks("follows", ("follower_id", "followee_id", "created_at"), rows())

    # -- posts with their media, tags and mentions --
    def _posts(self) -> Iterator[Batch]:
        rng, p = self.rng["posts"], self.people
        tag_cum = zipf_cum(len(TAGS), TAG_ZIPF)
        n_users = self.opts.users
        photos = self.photo_ids
        size = self.opts.batch_rows
        for start in range(0, len(self.post_ids), size):
            posts, pm, tags, mentions = [], [], [], []
            for i in range(start, min(start + size, len(self.post_ids))):
                pid, author = self.post_ids[i], self.post_author[i]
                words = [rng.choice(PHRASES)]
                mentioned = -1
                if rng.random() < MENTION_SHARE and n_users > 1:
                    mentioned = rng.randrange(n_users)
                    if mentioned == author:
                        mentioned = -1
                    else:
                        words.append(f"with @{p.usernames[mentioned]}")
                k = min(len(TAGS), int(rng.expovariate(0.45)))
                post_tags = list(dict.fromkeys(rng.choices(TAGS, cum_weights=tag_cum, k=k)))
                words.extend(f"#{t}" for t in post_tags)
                caption = " ".join(w for w in words if w)
                location = rng.choice(LOCATIONS) if rng.random() < LOCATION_SHARE else ""
                posts.append((pid, p.ids[author], caption, location, self.post_likes[i],
                              self.post_comments[i], _dt(self.post_ms[i])))
                n_media = rng.randint(2, 4) if rng.random() < CAROUSEL_SHARE else 1
                for pos in range(n_media):
                    pm.append((pid, pos, photos[rng.randrange(len(photos))]))
                for t in post_tags:
                    tags.append((t, pid))
                    self.tag_counts[t] = self.tag_counts.get(t, 0) + 1
                if mentioned >= 0:
                    mentions.append((pid, p.ids[mentioned]))
            yield from self._chunks("posts", POST_COLS, iter(posts))
            yield from self._chunks("post_media", ("post_id", "position", "media_id"), iter(pm))
            yield from self._chunks("post_tags", ("tag", "post_id"), iter(tags))
            yield from self._chunks("post_mentions", ("post_id", "user_id"), iter(mentions))

    # -- likes: mostly by the author's followers, soon after the post --
    def _likers(self, rng: random.Random, author: int, k: int) -> list[int]:
        n = self.opts.users
        if k >= (n - 1) // 2:  # most of everyone: sample the complement's way
            pool = rng.sample(range(n), min(n, k + 1))
            return [u for u in pool if u != author][:k]
        fol = self.people.followers[author]
        from_fol = min(len(fol), int(k * LIKES_FROM_FOLLOWERS))
        chosen = set(rng.sample(fol, from_fol)) if from_fol else set()
        while len(chosen) < k:
            u = rng.randrange(n)
            if u != author:
                chosen.add(u)
        return list(chosen)

    def _likes(self) -> Iterator[Batch]:
        rng, p = self.rng["likes"], self.people
        now = self.now_ms

        def rows() -> Iterator[tuple[Any, ...]]:
            for i, k in enumerate(self.post_likes):
                if not k:
                    continue
                pid, t0 = self.post_ids[i], self.post_ms[i]
                span = max(1, now - t0)
                for u in sorted(self._likers(rng, self.post_author[i], k)):
                    delay = min(span - 1, int(rng.expovariate(1 / 7_200_000)))
                    yield pid, p.ids[u], _dt(t0 + delay)

        yield from self._chunks("likes", ("post_id", "user_id", "created_at"), rows())

    # -- comments: made for all posts, sorted by time for the ids, then copied --
    def _comments(self) -> Iterator[Batch]:
        rng, p = self.rng["comments"], self.people
        n, now = self.opts.users, self.now_ms
        planned: list[tuple[int, int, int]] = []  # (time, post index, author index)
        for i, k in enumerate(self.post_comments):
            if not k:
                continue
            t0, author = self.post_ms[i], self.post_author[i]
            span = max(1, now - t0)
            fol = p.followers[author]
            for _ in range(k):
                roll = rng.random()
                if roll < 0.1:
                    who = author
                elif roll < 0.7 and fol:
                    who = fol[rng.randrange(len(fol))]
                else:
                    who = rng.randrange(n)
                planned.append((t0 + min(span - 1, int(rng.expovariate(1 / 14_400_000))),
                                i, who))
        planned.sort()
        ids, times = allocate_ids([c[0] for c in planned], self.shard)
        last_top: dict[int, int] = {}

        def rows() -> Iterator[tuple[Any, ...]]:
            for cid, t, (_, i, who) in zip(ids, times, planned, strict=True):
                parent = None
                prior = last_top.get(i)
                if prior is not None and rng.random() < REPLY_SHARE:
                    parent = prior
                else:
                    last_top[i] = cid
                body = rng.choice(COMMENTS)
                author = self.post_author[i]
                if who != author and rng.random() < 0.15:
                    body = f"@{p.usernames[author]} {body}"
                yield cid, self.post_ids[i], p.ids[who], parent, body, _dt(t)

        yield from self._chunks("comments", COMMENT_COLS, rows())


# -- the entry point (trio side) ---------------------------------------------------------------
def _refusal(existing: int, opts: SeedOptions) -> SeedRefused | None:
    if existing >= REFUSE_AT and not opts.force:
        return SeedRefused(
            f"the database already has {existing:,} users; seed refuses to add to a "
            f"populated database (use --force to add {opts.users:,} more users anyway)")
    return None


async def check_room(st: Storage, opts: SeedOptions) -> None:
    """Raise SeedRefused early (before any media work); `load` checks again under a lock."""
    existing = await st.read(lambda conn: conn.fetchval("SELECT count(*) FROM users"))
    refusal = _refusal(existing, opts)
    if refusal is not None:
        raise refusal


async def load(st: Storage, opts: SeedOptions, *, password_hash: str,
               photos: Sequence[MediaSpec], avatars: Sequence[MediaSpec] = (),
               progress: Progress = lambda line: None) -> SeedReport:
    """Generate and copy the data set in one transaction; see the module docstring.

    Raises SeedRefused when the database has `REFUSE_AT` users or more and
    `opts.force` is not set. `photos` must hold at least one photo.
    """
    if not photos:
        raise ValueError("at least one photo is needed for the media pool")
    if opts.users < 1 or opts.posts < 0:
        raise ValueError("need at least one user and no negative number of posts")
    started = time.perf_counter()
    report = SeedReport()
    loader = _Loader()
    try:
        existing = await st.both(loader.begin)
        refusal = _refusal(existing, opts)
        if refusal is not None:
            raise refusal
        # usernames already there: a new user whose name is taken gets a number
        taken = await st.both(loader.taken) if existing else set()
        t0 = time.perf_counter()
        gen = await trio.to_thread.run_sync(
            lambda: _Generator(opts, st.settings.shard, password_hash, photos, avatars,
                               taken, int(time.time() * 1000)))
        report.stage_seconds["plan"] = time.perf_counter() - t0
        progress(f"planned {opts.users:,} users, "
                 f"{sum(len(f) for f in gen.people.followees):,} follows, "
                 f"{opts.posts:,} posts, {sum(gen.post_likes):,} likes, "
                 f"{sum(gen.post_comments):,} comments in {report.stage_seconds['plan']:.1f} s")
        await _pump(st, loader, gen, report, progress)
        t0 = time.perf_counter()
        report.fixed_counters = await st.both(
            loader.reconcile, gen.people.ids,
            gen.post_ids[0] if gen.post_ids else 0, gen.post_ids[-1] if gen.post_ids else -1)
        report.stage_seconds["reconcile"] = time.perf_counter() - t0
        progress(f"counters recounted in {report.stage_seconds['reconcile']:.1f} s "
                 f"({report.fixed_counters} fixed)")
        await st.both(loader.commit)
    except BaseException:
        with trio.CancelScope(shield=True):
            await st.both(loader.abort)
        raise
    t0 = time.perf_counter()
    await st.both(loader.vacuum_analyze, ("users", "follows", "posts", "post_media", "post_tags",
                                          "post_mentions", "likes", "comments", "media"))
    report.stage_seconds["analyze"] = time.perf_counter() - t0
    report.counts = dict(gen.counts)
    report.user_ids = list(gen.people.ids)
    if gen.post_ids:
        report.post_ids = (gen.post_ids[0], gen.post_ids[-1])
    report.seconds = time.perf_counter() - started
    followers = sorted(len(f) for f in gen.people.followers)
    report.max_followers = followers[-1]
    report.median_followers = followers[len(followers) // 2]
    top = sorted(range(opts.users), key=lambda u: -len(gen.people.followers[u]))[:5]
    report.usernames = [gen.people.usernames[u] for u in top]
    report.top_tags = [t for t, _ in sorted(gen.tag_counts.items(), key=lambda kv: -kv[1])[:10]]
    return report


async def _pump(st: Storage, loader: _Loader, gen: _Generator, report: SeedReport,
                progress: Progress) -> None:
    """Generate the next batch in a worker thread while the last one is copied."""
    send, recv = trio.open_memory_channel[Batch](2)
    done: dict[str, int] = {}
    stage_started: dict[str, float] = {}
    planned = {"posts": len(gen.post_ids), "likes": sum(gen.post_likes),
               "follows": sum(len(f) for f in gen.people.followees),
               "comments": sum(gen.post_comments), "users": gen.opts.users}

    async def copy_all() -> None:
        async for table, cols, rows in recv:
            stage_started.setdefault(table, time.perf_counter())
            await st.both(loader.copy, table, cols, rows)
            done[table] = done.get(table, 0) + len(rows)
            report.stage_seconds[table] = time.perf_counter() - stage_started[table]
            if table in planned:
                secs = report.stage_seconds[table]
                progress(f"  {table}: {done[table]:,}/{planned[table]:,} "
                         f"({done[table] / max(secs, 1e-6):,.0f} rows/s)")

    batches = gen.batches()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(copy_all)
        async with send:
            while True:
                batch = await trio.to_thread.run_sync(next, batches, None)
                if batch is None:
                    break
                await send.send(batch)

