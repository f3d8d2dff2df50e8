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
LOGIN_ATTEMPTS_PER_IP = 20  # per LOGIN_WINDOW_SECONDS (setting)
LOGIN_ATTEMPTS_PER_ACCOUNT = 10  # per LOGIN_WINDOW_SECONDS (setting)
SIGNUPS_PER_IP = 20  # per LOGIN_WINDOW_SECONDS (setting)
LOGIN_WINDOW_SECONDS = 300
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

# Bus and storage
BUS_INBOX_SIZE = 65536  # messages from Redis waiting for trio
BUS_RECONNECT_INITIAL = 0.1
BUS_RECONNECT_MAX = 5.0
PG_POOL_MIN = 2
PG_POOL_MAX = 20  # (setting)
SHUTDOWN_GRACE_SECONDS = 5.0
SHARD_BITS = 13
SEQUENCE_BITS = 10

# Uploads (size and pixel limits are MEDIA_MAX_BYTES / MEDIA_MAX_PIXELS below)
UPLOADS_PER_HOUR = 120  # (setting) per user
MEDIA_WORKERS = 2  # (setting) photos processed at once, in worker threads
MEDIA_GRACE_SECONDS = 24 * 3600  # (setting) unattached uploads are deleted after this
MEDIA_GC_INTERVAL_SECONDS = 600

# Media (media/: image validation, variants, store, workers)
MEDIA_MAX_BYTES = 30 * 1024 * 1024  # (setting) upload size; enforced by the HTTP layer
MEDIA_MAX_PIXELS = 50_000_000  # (setting) width*height from the header, checked before decoding
MEDIA_MAX_ASPECT = 20.0  # longer side / shorter side above this is refused as corrupt
MEDIA_MAX_TRAILER_BYTES = 64  # non-padding bytes tolerated after the end of an image
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

# Presence (actors/presence.py: online devices, activity status, typing)
PRESENCE_TTL_HEARTBEATS = 2.0  # a device key lives this many heartbeat intervals unrefreshed
PRESENCE_ACTIVE_WRITE_SECONDS = 60.0  # users.last_active_at of online users is written this often
PRESENCE_QUEUE_SIZE = 10_000  # connects/disconnects waiting for the presence task
PRESENCE_GET_MAX = 100  # users per presence.get
TYPING_THROTTLE_SECONDS = 2.0  # at most one dm.typing event per (user, conversation) per this
TYPING_EXPIRES_MS = 6_000  # receivers drop a typing indicator not renewed within this

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
DM_OPENS_PER_HOUR = 30  # new conversations a user may start
DM_CONVERSATION_IDLE_SECONDS = 60.0  # a ConversationActor stops after this long without mail
