"""Every limit of the service as a named constant with its default.

Settings may override the ones marked (setting) from the environment or TOML;
the rest are protocol or schema facts.
"""

# Wire (protocol v1)
MAX_FRAME_BYTES = 1 << 20  # (setting) frames over this close the socket with 1009
HEARTBEAT_SECONDS = 25.0  # (setting) advertised in hello; silent for 2x this -> closed
GARBAGE_FRAMES_BEFORE_CLOSE = 5  # bad frames tolerated before 1003/1008
OUTBOUND_QUEUE_BYTES = 1 << 20  # (setting) per-connection unsent bytes before 4008
CLOSE_FLUSH_SECONDS = 5.0  # how long a closing socket may take to flush its close frame
HANDSHAKE_SECONDS = 10.0  # a WebSocket upgrade must complete within this
MAX_REQUEST_ID = (1 << 64) - 1

# Per-connection op rate limit (token bucket)
OPS_PER_SECOND = 50.0  # (setting)
OPS_BURST = 100  # (setting)
RATE_LIMITED_BEFORE_CLOSE = 200  # rejected ops in a row before 4029

# Accounts
USERNAME_MAX = 30
PASSWORD_MIN = 8
PASSWORD_MAX = 1024
EMAIL_MAX = 254
DISPLAY_NAME_MAX = 64
BIO_MAX = 150
WEBSITE_MAX = 200
TOKEN_BYTES = 32  # 256 random bits
TOKEN_TTL_SECONDS = 30 * 24 * 3600  # (setting)
SESSION_RECHECK_SECONDS = 60.0  # (setting) open sessions' tokens checked again this often
LOGIN_ATTEMPTS_PER_IP = 20  # per LOGIN_WINDOW_SECONDS (setting)
LOGIN_ATTEMPTS_PER_ACCOUNT = 10  # per LOGIN_WINDOW_SECONDS (setting)
SIGNUPS_PER_IP = 20  # per LOGIN_WINDOW_SECONDS (setting)
PASSWORD_CHANGE_ATTEMPTS = 5  # auth.password per account per LOGIN_WINDOW_SECONDS; failures count
LOGIN_WINDOW_SECONDS = 300
IPV6_LIMIT_PREFIX = 64  # per-address limits count an IPv6 client by its /64 network
PASSWORD_HASH_CONCURRENCY = 4  # argon2 hashes at once, off the event loop

# Event log
EVENT_RETENTION = 1000  # (setting) durable events kept per user for resume
EVENT_REPLAY_BATCH = 500  # events read per storage crossing while replaying
EVENT_DATA_MAX_BYTES = 64 * 1024

# Actors
MAILBOX_SIZE = 1024  # (setting) bounded mailbox per actor
USER_ACTOR_IDLE_SECONDS = 30.0  # (setting) stop a user actor this long after its last device left
RESTART_BACKOFF_INITIAL = 0.1
RESTART_BACKOFF_MAX = 10.0
AFTER_COMMIT_SECONDS = 5.0  # what a commit owes (its fan-out job) runs on this long, caller gone

# Bus and storage
BUS_INBOX_SIZE = 65536  # messages from Redis waiting for trio
BUS_RECONNECT_INITIAL = 0.1
BUS_RECONNECT_MAX = 5.0
BUS_READ_BATCH = 256  # bus messages already buffered, handed to trio in one wake-up
PG_POOL_MIN = 2
PG_POOL_MAX = 20  # (setting)
REDIS_POOL_MAX = 100  # Redis connections per node (a blocking pool: callers queue)
REDIS_POOL_WAIT_SECONDS = 2.0  # waiting longer for a Redis connection is `unavailable`
SHUTDOWN_GRACE_SECONDS = 5.0
SHARD_BITS = 13
SEQUENCE_BITS = 10

# Uploads (size and pixel limits are MEDIA_MAX_BYTES / MEDIA_MAX_PIXELS below)
UPLOADS_PER_HOUR = 120  # (setting) per user
MEDIA_WORKERS = 2  # (setting) photos processed at once, in worker threads
MEDIA_GRACE_SECONDS = 24 * 3600  # (setting) unattached uploads are deleted after this
MEDIA_GC_INTERVAL_SECONDS = 600
MEDIA_PURGE_RETRY_SECONDS = 60.0  # a deleted post's purge still queued this long is done again
MEDIA_PURGE_BATCH = 200  # such purges done by one collection
UPLOADS_IN_FLIGHT_PER_USER = 10  # uploads in progress per user per node (a carousel's 10 at once)
UPLOAD_TMP_MAX_AGE_SECONDS = 3600  # var/tmp/up-* untouched this long: a dead process's, swept
HTTP_BODY_IDLE_SECONDS = 30.0  # a request body that sends nothing for this long gets 408

# Media (media/: image validation, variants, store, workers)
MEDIA_MAX_BYTES = 30 * 1024 * 1024  # (setting) upload size; enforced by the HTTP layer
MEDIA_MAX_PIXELS = 50_000_000  # (setting) width*height from the header, checked before decoding
MEDIA_MAX_ASPECT = 20.0  # longer side / shorter side above this is refused as corrupt
MEDIA_MAX_TRAILER_BYTES = 64  # non-padding bytes tolerated after the end of an image
# Scans (SOS segments) in one JPEG: each is a pass over every block of the image, ~75
# bytes each, so a 30 MB file of repeated scans cost hours of a media worker. Encoders
# write 1 (baseline) or ~10 (progressive; mozjpeg's optimised scripts a few more).
MEDIA_MAX_JPEG_SCANS = 100
# The structure walk before decoding (media/sniff.py) runs in Python, holding the GIL:
# segments, chunks and blocks walked per file at most max(MIN, size / BYTES_PER) (a real
# GIF's sub-blocks are 255 bytes; 1-byte ones made a 30 MB file seconds of walking), and
# ZIP signatures looked at (by chance, one in a few hundred MB of image data).
MEDIA_MIN_STRUCTURE_STEPS = 50_000  # a small GIF of thousands of tiny frames stays within
MEDIA_BYTES_PER_STRUCTURE_STEP = 128
MEDIA_MAX_ZIP_SIGNATURES = 256
MEDIA_MAX_ICC_BYTES = 1024 * 1024  # an embedded colour profile past this is ignored (sRGB)
MEDIA_FEED_WIDTH = 1080  # "feed" variant: at most this wide, never upscaled
MEDIA_FEED_MIN_ASPECT = 4 / 5  # width/height: taller portraits are centre-cropped to 4:5
MEDIA_FEED_MAX_ASPECT = 1.91  # width/height: wider landscapes are centre-cropped to 1.91:1
MEDIA_VARIANT_WIDTHS = (640, 320)  # narrower copies of the feed variant, named by width
MEDIA_THUMB_SIDE = 150  # "thumb": centre square
MEDIA_AVATAR_SIDES = (320, 150)  # "avatar320", "avatar150": centre squares
MEDIA_MASTER_MAX_SIDE = 2160  # the kept, unfiltered master: long side at most this
MEDIA_JPEG_QUALITY = 82  # progressive, optimised
MEDIA_WEBP_QUALITY = 80
MEDIA_WEBP_METHOD = 2  # libwebp effort 0..6: 2 is half the time of 4 for ~4% more bytes
MEDIA_MASTER_QUALITY = 92  # JPEG quality of the master
MEDIA_BLURHASH_COMPONENTS = (4, 3)  # x, y: a 28-character hash
MEDIA_BLURHASH_SIDE = 32  # the blurhash is computed from a thumbnail this size
MEDIA_RECORDS_CACHED = 4_000  # parsed media records and URL maps kept per process (~8 KB each)

# Presence (actors/presence.py: online devices, activity status, typing)
PRESENCE_TTL_HEARTBEATS = 2.0  # a device key lives this many heartbeat intervals unrefreshed
PRESENCE_ACTIVE_WRITE_SECONDS = 60.0  # users.last_active_at of online users is written this often
PRESENCE_QUEUE_SIZE = 10_000  # changes waiting for the presence task past which a pile-up is logged
PRESENCE_GET_MAX = 100  # users per presence.get
PRESENCE_SWEEP_JITTER = 0.2  # nodes look for dead node instances every heartbeat ± this fraction
PRESENCE_SWEEP_CHUNK = 200  # devices of a dead node instance removed per crossing
PRESENCE_CLAIM_HEARTBEATS = 4.0  # a claim on a dead instance lapses this many heartbeats unrenewed
TYPING_THROTTLE_SECONDS = 2.0  # at most one dm.typing event per (user, conversation) per this
TYPING_EXPIRES_MS = 6_000  # receivers drop a typing indicator not renewed within this
TYPING_RESTARTS = 5  # starts after a stop sent within the throttle, per (user, conversation)
TYPING_RESTART_WINDOW_MS = 10_000  # ...in this window: typing on after sending goes out at
# once, and true, false, true... sends at most this many pairs more per window

# Direct messages
DM_TEXT_MAX = 4000  # characters of one message
DM_IDEM_MAX = 64
DM_TITLE_MAX = 100  # a group's title
DM_GROUP_MAX = 32  # members of a group, the creator included
DM_EMOJI_MAX = 8  # characters of one reaction
DM_EDIT_SECONDS = 15 * 60  # own messages may be edited this long after sending
DM_HISTORY_DEFAULT = 30
DM_HISTORY_MAX = 100
DM_LIST_DEFAULT = 20
DM_LIST_MAX = 50
DM_SENDS_PER_MINUTE = 60  # per user, over all conversations (edits, reactions included)
DM_SENDS_WINDOW_SECONDS = 60  # ...in this window
DM_OPENS_PER_HOUR = 30  # new conversations a user may start
COMMENTS_PER_MINUTE = 60  # (setting) comment.add per user, over all posts (each may notify)
COMMENTS_WINDOW_SECONDS = 60
DM_OPENS_WINDOW_SECONDS = 3600  # ...in this window
DM_CONVERSATION_IDLE_SECONDS = 60.0  # a ConversationActor stops after this long without mail

# Social limits (actors/graph.py, actors/posts.py): per user, over all connections (each
# call may notify)
FOLLOWS_PER_HOUR = 200  # (setting) follow.add calls that add a follow or a request
FOLLOWS_WINDOW_SECONDS = 3600
FOLLOW_REQUEST_RETELL_SECONDS = 86_400  # a request repeated sooner after a told one is only listed
LIKES_PER_HOUR = 500  # (setting) post.like and comment.like calls that add a like
LIKES_WINDOW_SECONDS = 3600

# Feed (actors/feed.py, storage/timelines.py: home timelines, fan-out, ranking)
FEED_CELEBRITY_THRESHOLD = 10_000  # (setting) authors with more followers are merged at read time
FEED_TIMELINE_CAP = 800  # (setting) post ids kept per home timeline (a Redis sorted set)
FEED_TIMELINE_TTL_SECONDS = 7 * 24 * 3600  # a timeline not read for this long is evicted
FEED_FANOUT_BATCH = 5000  # (setting) followers per fan-out step (one bridge crossing each)
FEED_FANOUT_PAUSE_SECONDS = 0.0  # (setting) pause between fan-out steps (pacing; tests)
FEED_CLAIM_IDLE_SECONDS = 30.0  # (setting) a job pending this long on a silent node is claimed
FEED_WORKER_BLOCK_MS = 1000  # how long the worker's XREADGROUP waits for a job
FEED_JOBS_PER_READ = 1  # jobs taken from the stream at once: one, so a job waiting behind
# others is never this node's to age until another node claims it and both fan it out
FEED_LATE_MS = 1000  # a fan-out step this long after its post was made lowers followers'
# "seen up to" marks past the post's time (they read their feed before it reached them)
FEED_OUTBOX_AFTER_SECONDS = 30.0  # (setting) a job still in the outbox (Postgres) this long
# after its commit never reached the stream (node gone, Redis down): a sweep queues it
FEED_OUTBOX_SWEEP_SECONDS = 10.0  # how often each node sweeps the outbox (at most)
FEED_OUTBOX_BATCH = 500  # jobs queued per sweep transaction
FEED_OUTBOX_SWEEP_TIMEOUT_SECONDS = 10.0  # a sweep cut past this rolls back (rows unlocked)
FEED_REFAN_SECONDS = 600  # an unsuspended author's posts made this long before the suspension
FEED_REFAN_POSTS = 50  # (at most this many, newest) are fanned out again: theirs may have
# stopped at the suspension
FEED_CONSUMER_FORGET_SECONDS = 3600  # a fan-out consumer idle this long, nothing pending,
# is dropped from the group when a node starts (each start is a new consumer)
FEED_MERGE_AFTER_SKIP_DAYS = 30  # an author whose posts skipped the timelines (above the
# celebrity threshold) is merged at read time this long after, whatever their count now
FEED_PAGE_DEFAULT = 20
FEED_PAGE_MAX = 50
FEED_RANK_WINDOW = 200  # newest visible candidates ranked once per first page
FEED_SNAPSHOT_TTL_SECONDS = 1800  # a ranked feed's order is kept this long for paging
FEED_SNAPSHOT_SLOTS = 32  # ranked orders kept per viewer at most (a newer one may take a slot)
FEED_AFFINITY_TTL_SECONDS = 3600  # cached viewer->author affinity counts
FEED_HEADS_CACHE_SECONDS = 60.0  # a post's author and counts, as the feed ranks them, kept
FEED_HEADS_CACHED = 50_000  # ...per process for this many posts at most
FEED_SEEN_TTL_SECONDS = 30 * 24 * 3600  # the per-user "seen up to" mark
FEED_READ_ROUNDS = 8  # merge rounds per page before answering short (with a cursor)
FEED_HALF_LIFE_HOURS = 6.0  # (setting) recency halves every this many hours
FEED_WEIGHT_RECENCY = 3.0  # (setting)
FEED_WEIGHT_ENGAGEMENT = 0.5  # (setting) times ln(1 + likes + comments)
FEED_WEIGHT_AFFINITY = 1.0  # (setting) times ln(1 + viewer's likes, comments, DMs to the author)

# Who liked a post (post.likers: actors/posts.py, storage/posts.py)
LIKERS_DEFAULT = 30  # users per page, as follow.list
LIKERS_MAX = 100

# Discovery (search, hashtags, explore: actors/discover.py, storage/search.py)
SEARCH_QUERY_MAX = 100  # characters of a search text
SEARCH_DEFAULT = 20  # results per kind
SEARCH_MAX = 50
SEARCH_TOKENS_MAX = 8  # words of a search text used
SEARCH_WORD_PREFIX_MIN = 2  # shorter words match usernames only (a 1-letter GIN prefix is huge)
SEARCH_CANDIDATES = 300  # rows per candidate branch before ranking
SEARCH_POST_SCAN = 2000  # caption matches read from the index before ranking newest first
SEARCH_RECENT_SCAN = 3000  # newest posts searched first for caption matches (exact when enough)
TAG_PAGE_DEFAULT = 24
TAG_PAGE_MAX = 50
TAG_TOP_DAYS = 7  # tag.posts mode=top ranks engagement of posts this recent
TAG_TOP_SCAN = 1000  # newest tagged posts in that window that are ranked (the visible of them)
TAG_RECENT_SCAN = 1000  # tagged posts a recent tag page reads at most (short past hidden ones)
TAG_TOP_MAX = 200  # positions of the top list a cursor may reach
EXPLORE_DEFAULT = 24
EXPLORE_MAX = 50  # posts per page
EXPLORE_DEPTH = 300  # positions the explore list may reach through cursors
EXPLORE_SEED_LIKES = 50  # the viewer's most recent likes that seed the recommendations
EXPLORE_LIKERS_PER_POST = 50  # most recent co-likers read per seed post
EXPLORE_CO_LIKERS = 5  # strongest co-likers kept (few, read deep: see EXPLORE_LIKES_PER_CO_LIKER)
EXPLORE_LIKES_PER_CO_LIKER = 100  # their most recent likes read
EXPLORE_LIKE_DAYS = 30  # likes older than this do not recommend
EXPLORE_POPULAR_DAYS = 7  # cold start: the most liked posts of this many days
EXPLORE_POPULAR_SCAN = 2000  # newest posts in that window that are ranked by likes
EXPLORE_ACCOUNTS = 10  # suggested accounts on the first page
EXPLORE_FOLLOWS_SCAN = 100  # the viewer's most recent follows read for friends of friends
EXPLORE_FOF_PER_FOLLOW = 40  # their most recent follows read
EXPLORE_POPULAR_ACCOUNTS = 50  # most followed accounts that fill the suggestions
EXPLORE_CACHE_SECONDS = 120  # a viewer's computed explore list is reused this long
EXPLORE_LIST_FIRST = 72  # explore positions computed at first; deeper pages extend it
EXPLORE_CHECK_FACTOR = 3  # explore privacy-checks this many best candidates per position
EXPLORE_PRECOMPUTE = "explorers"  # (setting) lists computed at connect: off, explorers, all
EXPLORE_PRECOMPUTE_MODES = ("off", "explorers", "all")
EXPLORER_DAYS = 7  # a user who opened explore this recently counts as an explorer
EXPLORE_PRECOMPUTE_CONCURRENCY = 2  # explore lists computed at once in the background per node
EXPLORE_PRECOMPUTE_QUEUE = 2000  # connects waiting for one; past it, a connect is not served
EXPLORE_PRECOMPUTE_WAIT_SECONDS = 2.0  # feed.explore waits this long for its user's precompute
EXPLORE_REFRESH_CHECK_SECONDS = 10  # how often lists of connected explorers are checked
EXPLORE_REFRESH_BEFORE_SECONDS = 20  # ...and recomputed when expiring within this long
TRENDING_TAGS = 10  # trending hashtags on the first page
TRENDING_HOURS = 24  # hourly buckets summed
TRENDING_HALF_LIFE_HOURS = 6.0  # a bucket's weight halves every this many hours
TRENDING_BUCKET_KEEP = 2000  # tags kept per hourly bucket (trimmed now and then)
TRENDING_TRIM_EVERY = 64  # on average one post in this many trims its bucket
TRENDING_CACHE_SECONDS = 30  # the weighted sum is cached this long
TRENDING_COUNTS_KEPT = 1_000  # trending tags whose post counts a process keeps (as long)
TRENDING_AUTHORS_KEPT = 1  # public authors of a trending tag's newest posts kept with them

# Operators (actors/admin.py, actors/reports.py, server/ops/admin.py, storage/nodestats.py)
ADMIN_STATS_INTERVAL_SECONDS = 1.0  # each node publishes its snapshot (and pushes admin.stats)
ADMIN_STATS_TTL_SECONDS = 5  # a node silent this long drops out of admin.stats
ADMIN_PROBE_TIMEOUT_SECONDS = 2.0  # a hung Postgres/Redis shows as ok: false, not a stalled tick
ADMIN_SESSIONS_RESYNC_SECONDS = 30  # a node rewrites its whole session list this often
ADMIN_LATENCY_WINDOW = 60  # bus-delivery probes kept for the p50/p99 of admin.stats
ADMIN_LIST_DEFAULT = 50
ADMIN_LIST_MAX = 200
ADMIN_REASON_MAX = 500  # characters of a moderation reason
ANNOUNCEMENT_MAX = 500  # characters of an announcement
REPORT_NOTE_MAX = 500  # characters of a report's free text
REPORTS_PER_HOUR = 30  # report.create per user per hour (repeats of an open report count too)
