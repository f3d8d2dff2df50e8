"""Settings from the environment (DATABASE_URL, REDIS_URL, GLINT_*) and optional TOML.

Precedence: explicit keyword overrides > environment > TOML file > defaults.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from config import limits


@dataclass(frozen=True)
class Settings:
    """Everything a node needs to start; values, no behaviour."""

    database_url: str | None = None  # None: start the embedded PostgreSQL
    redis_url: str | None = None  # None: start the embedded Redis
    data_dir: Path = Path("./var")
    host: str = "127.0.0.1"
    http_port: int = 8080  # 0 picks a free port
    ws_port: int = 8081  # 0 picks a free port
    public_ws_url: str | None = None  # advertised by /api/info; derived when None
    allowed_origins: tuple[str, ...] = ()  # empty: same host as the HTTP port only
    trusted_proxies: tuple[str, ...] = ()  # peers (IPs/CIDRs) whose X-Forwarded-For is believed
    namespace: str = "glint"  # prefix of Redis keys and channels
    shard: int = 1  # 0..8191, stamped into the ids this node's database makes
    node_name: str = ""  # empty: hostname-pid
    reuse_port: bool = False  # share the ports with sibling processes (`serve --workers`)
    log_level: str = "info"
    max_frame_bytes: int = limits.MAX_FRAME_BYTES
    heartbeat_seconds: float = limits.HEARTBEAT_SECONDS
    outbound_queue_bytes: int = limits.OUTBOUND_QUEUE_BYTES
    ops_per_second: float = limits.OPS_PER_SECOND
    ops_burst: int = limits.OPS_BURST
    token_ttl_seconds: int = limits.TOKEN_TTL_SECONDS
    login_attempts_per_ip: int = limits.LOGIN_ATTEMPTS_PER_IP
    login_attempts_per_account: int = limits.LOGIN_ATTEMPTS_PER_ACCOUNT
    signups_per_ip: int = limits.SIGNUPS_PER_IP
    event_retention: int = limits.EVENT_RETENTION
    mailbox_size: int = limits.MAILBOX_SIZE
    user_actor_idle_seconds: float = limits.USER_ACTOR_IDLE_SECONDS
    pg_pool_max: int = limits.PG_POOL_MAX
    public_http_url: str | None = None  # advertised in hello (uploads); derived when None
    web_dir: Path | None = None  # a built web app to serve; None: client_js/dist (or public)
    upload_max_bytes: int = limits.MEDIA_MAX_BYTES
    upload_max_pixels: int = limits.MEDIA_MAX_PIXELS
    uploads_per_hour: int = limits.UPLOADS_PER_HOUR
    comments_per_minute: int = limits.COMMENTS_PER_MINUTE
    follows_per_hour: int = limits.FOLLOWS_PER_HOUR
    likes_per_hour: int = limits.LIKES_PER_HOUR
    session_recheck_seconds: float = limits.SESSION_RECHECK_SECONDS
    media_workers: int = limits.MEDIA_WORKERS
    media_grace_seconds: int = limits.MEDIA_GRACE_SECONDS
    # Feed
    feed_celebrity_threshold: int = limits.FEED_CELEBRITY_THRESHOLD
    feed_timeline_cap: int = limits.FEED_TIMELINE_CAP
    feed_fanout_batch: int = limits.FEED_FANOUT_BATCH
    feed_fanout_pause: float = limits.FEED_FANOUT_PAUSE_SECONDS
    feed_claim_idle_seconds: float = limits.FEED_CLAIM_IDLE_SECONDS
    feed_outbox_after_seconds: float = limits.FEED_OUTBOX_AFTER_SECONDS
    feed_half_life_hours: float = limits.FEED_HALF_LIFE_HOURS
    feed_weight_recency: float = limits.FEED_WEIGHT_RECENCY
    feed_weight_engagement: float = limits.FEED_WEIGHT_ENGAGEMENT
    feed_weight_affinity: float = limits.FEED_WEIGHT_AFFINITY
    explore_precompute: str = limits.EXPLORE_PRECOMPUTE  # off | explorers | all

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


_ENV_NAMES = {"database_url": "DATABASE_URL", "redis_url": "REDIS_URL"}


def _env_name(name: str) -> str:
    return _ENV_NAMES.get(name, "GLINT_" + name.upper())


def _coerce(kind: Any, raw: Any) -> Any:
    text = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    if raw is None:
        return None
    if "tuple" in text:
        if isinstance(raw, str):
            return tuple(p.strip() for p in raw.split(",") if p.strip())
        return tuple(raw)
    if "Path" in text:
        return Path(raw)
    if text.startswith("int"):
        return int(raw)
    if text.startswith("float"):
        return float(raw)
    if text.startswith("bool"):
        return str(raw).lower() in ("1", "true", "yes", "on")
    return str(raw) if raw != "" else (None if "None" in text else "")


def _precompute_mode(raw: str) -> str:
    """off | explorers | all; the boolean spellings of earlier versions mean off and all."""
    mode = raw.strip().lower()
    if mode in ("1", "true", "yes", "on"):
        return "all"
    if mode in ("0", "false", "no", ""):
        return "off"
    if mode not in limits.EXPLORE_PRECOMPUTE_MODES:
        raise ValueError("explore_precompute must be one of "
                         + ", ".join(limits.EXPLORE_PRECOMPUTE_MODES))
    return mode


def load_settings(
    env: dict[str, str] | None = None, toml_path: str | Path | None = None, **overrides: Any
) -> Settings:
    """Build Settings; the TOML file comes from toml_path or GLINT_CONFIG."""
    env = dict(os.environ if env is None else env)
    values: dict[str, Any] = {}
    toml_path = toml_path or env.get("GLINT_CONFIG")
    if toml_path:
        with open(toml_path, "rb") as f:
            table = tomllib.load(f)
        values.update(table.get("glint", table))
    for f in fields(Settings):
        name = _env_name(f.name)
        if name in env:
            values[f.name] = env[name]
    values.update(overrides)
    known = {f.name: f.type for f in fields(Settings)}
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    coerced = {k: _coerce(known[k], v) for k, v in values.items()}
    if "explore_precompute" in coerced:
        coerced["explore_precompute"] = _precompute_mode(coerced["explore_precompute"])
    settings = Settings(**coerced)
    if not 0 <= settings.shard < (1 << limits.SHARD_BITS):
        raise ValueError("shard must be in 0..8191")
    return settings
