"""Media: uploads through the pipeline into the store, records, avatars, clean-up.

Processing runs in worker threads (media.workers) so the node keeps answering
everyone else; files are content-addressed, so identical uploads share files.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from actors import args as A
from actors.accounts import Session
from actors.errors import Invalid, Missing, NotAllowed, Throttled
from config import Settings
from config import limits as L
from media.filters import FILTERS, Adjustments
from media.pipeline import Processed
from media.store import MediaStore
from media.workers import MediaWorkers
from storage import media as db
from storage import ratelimit
from storage.errors import Unavailable
from storage.media import MediaRecord
from storage.posts import PostMedia
from storage.store import Storage

log = logging.getLogger(__name__)

KINDS = ("photo", "avatar")
ADJUSTMENTS = ("brightness", "contrast", "saturation", "warmth")
MEDIA_URL_PREFIX = "/media/"
UPLOAD_TMP_PREFIX = "up-"  # an upload being received: <data_dir>/tmp/up-<random>
_EXT = {"jpeg": "jpg", "webp": "webp"}


# variant_urls by the identity of its argument, which the entry keeps alive (so the id
# is not reused while cached): storage/posts.py hands out one parsed dict per media.
_urls: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}


def variant_urls(variants: dict[str, Any]) -> dict[str, Any]:
    """Stored variant keys → the wire form with URLs (shared: never mutate it)."""
    hit = _urls.get(id(variants))
    if hit is not None and hit[0] is variants:
        return hit[1]
    out = _variant_urls(variants)
    if len(_urls) >= L.MEDIA_RECORDS_CACHED:
        _urls.clear()
    _urls[id(variants)] = (variants, out)
    return out


def _variant_urls(variants: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, v in variants.items():
        entry = {"width": v["width"], "height": v["height"]}
        for fmt in ("jpeg", "webp"):
            if fmt in v:
                entry[fmt] = MEDIA_URL_PREFIX + v[fmt]
        out[name] = entry
    return out


def media_wire(rec: MediaRecord) -> dict[str, Any]:
    return {"id": rec.id, "kind": rec.kind, "width": rec.width, "height": rec.height,
            "blurhash": rec.blurhash, "color": rec.color, "filter": rec.filter,
            "variants": variant_urls(rec.variants)}


# attached_wire by the identity of its argument, kept alive by the entry as above:
# storage/posts.py hands out one tuple per post's photos (and alt texts) while kept.
_attached: dict[int, tuple[tuple[PostMedia, ...], list[dict[str, Any]]]] = {}


def attached_wire(media: tuple[PostMedia, ...]) -> list[dict[str, Any]]:
    """A post's photos in the wire form, alt texts included (shared: never mutate it). A
    feed page builds 30 of these lists, each the same while the post is unedited."""
    hit = _attached.get(id(media))
    if hit is not None and hit[0] is media:
        return hit[1]
    out = [{**media_wire(m.media), "alt": m.alt} for m in media]
    if len(_attached) >= L.MEDIA_RECORDS_CACHED:
        _attached.clear()
    _attached[id(media)] = (media, out)
    return out


def parse_options(raw: dict[str, Any]) -> tuple[str, str, Adjustments | None]:
    """kind, filter and adjustments from upload parameters (strings or numbers)."""
    kind = str(raw.get("kind") or "photo")
    if kind not in KINDS:
        raise Invalid(f"`kind` must be one of {', '.join(KINDS)}")
    name = str(raw.get("filter") or "normal")
    if name not in FILTERS:
        raise Invalid(f"unknown filter `{name}`; known: {', '.join(sorted(FILTERS))}")
    values: dict[str, float] = {}
    for key in ADJUSTMENTS:
        if raw.get(key) in (None, ""):
            continue
        try:
            values[key] = float(raw[key])
        except (TypeError, ValueError):
            raise Invalid(f"`{key}` must be a number from -1 to 1") from None
    try:
        adjust = Adjustments(**values) if values else None
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    return kind, name, adjust


def _sweep_tmp(tmp_dir: Path, before: float) -> int:
    removed = 0
    for path in tmp_dir.glob(UPLOAD_TMP_PREFIX + "*"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < before:
                path.unlink()
                removed += 1
    return removed


def _allowed(verdict: ratelimit.Verdict) -> None:
    if not verdict.allowed:
        raise Throttled("too many photos processed; try again later", verdict.retry_after)


class Media:
    def __init__(self, st: Storage, settings: Settings, store: MediaStore,
                 workers: MediaWorkers) -> None:
        self.st = st
        self.settings = settings
        self.store = store
        self.workers = workers
        self.observe: Callable[[float], None] = lambda seconds: None  # the node's metrics

    @property
    def tmp_dir(self) -> Path:
        """Where the HTTP layer receives uploads, one file per request."""
        return self.settings.data_dir / "tmp"

    async def sweep_tmp(self) -> int:
        """Delete upload temp files untouched for UPLOAD_TMP_MAX_AGE_SECONDS. A request
        removes its own however it ends, but not when its process is killed; a younger
        file may be an upload in progress in another process (`--workers` share it)."""
        before = time.time() - L.UPLOAD_TMP_MAX_AGE_SECONDS
        return await trio.to_thread.run_sync(_sweep_tmp, self.tmp_dir, before)

    async def charge(self, user_id: int, photos: int) -> None:
        """Count `photos` processings against the user's `uploads_per_hour`: an upload is
        one, and so is each re-render a post or an avatar asks of an upload (another
        filter, adjustments, the avatar crop) — the same work in the node's few media
        workers, which an uncounted render let one upload buy without end."""
        _allowed(await ratelimit.hit(self.st, "upload", str(user_id),
                                     self.settings.uploads_per_hour, 3600, photos))

    async def allowance_left(self, user_id: int) -> None:
        """Refuse at once a user whose uploads are spent this hour: before their upload's
        body is received (up to `upload_max_bytes`), which counting only after it let a
        throttled user go on sending."""
        _allowed(await ratelimit.spent(self.st, "upload", str(user_id),
                                       self.settings.uploads_per_hour))

    async def upload(self, session: Session, path: Path, options: dict[str, Any]) -> dict[str, Any]:
        kind, filter_name, adjust = parse_options(options)
        await self.charge(session.user_id, 1)
        started = time.perf_counter()
        processed = await self.workers.process(
            path, kind=kind, max_pixels=self.settings.upload_max_pixels, filter=filter_name,
            adjust=adjust)
        seconds = time.perf_counter() - started
        self.observe(seconds)
        log.info("photo processed", extra={"user": session.user_id, "kind": kind,
                                           "ms": round(seconds * 1000)})
        rec = await self._save(session.user_id, processed, kind, filter_name)
        return media_wire(rec)

    async def _save(self, owner_id: int, p: Processed, kind: str, filter_name: str, *,
                    attached: bool = False) -> MediaRecord:
        """The files, then their record, shielded from the caller's cancellation (a client
        gone mid-upload): files written without their record were never collected, as
        the collector works from records. Only the processing before is cancellable."""
        with trio.CancelScope(shield=True):
            variants: dict[str, dict[str, Any]] = {}
            files: dict[str, tuple[bytes, str]] = {}  # key -> (bytes, extension)
            for v in p.variants:
                key = await self.store.put(v.data, _EXT[v.format])
                files[key] = (v.data, _EXT[v.format])
                entry = variants.setdefault(v.name, {"width": v.width, "height": v.height})
                entry[v.format] = key
            master_key = await self.store.put(p.master, "jpg")
            files[master_key] = (p.master, "jpg")
            rec = await db.insert(
                self.st, owner_id=owner_id, kind=kind, width=p.width, height=p.height,
                blurhash=p.blurhash, color=p.color, filter_name=filter_name,
                master_key=master_key, variants=variants, keys=list(files), attached=attached)
            # A purge of identical files (a deleted post's) may have deleted them before
            # the record committed: put back what is missing (db._lock_keys).
            for key, (data, ext) in files.items():
                if not await self.store.exists(key):
                    await self.store.put(data, ext)
            return rec

    async def owned(self, session: Session, media_id: Any) -> MediaRecord:
        """A media record the caller uploaded (others' uploads are not theirs to use)."""
        if not isinstance(media_id, int) or isinstance(media_id, bool) \
                or not 0 < media_id <= A.BIGINT_MAX:  # past bigint reached a query
            raise Invalid("a media id must be a positive integer")
        rec = await db.get(self.st, media_id)
        if rec is None:
            raise Missing("no such media")
        if rec.owner_id != session.user_id:
            raise NotAllowed("that media belongs to someone else")
        return rec

    async def render(self, rec: MediaRecord, *, kind: str, filter_name: str = "normal",
                     adjust: Adjustments | None = None, attached: bool = True) -> MediaRecord:
        """A new record from an upload's master: another kind, filter or adjustments."""
        path = await self.store.path(rec.master_key)
        if path is None:
            raise Missing("the original of that media is gone")
        master = await trio.Path(path).read_bytes()
        processed = await self.workers.render(master, kind=kind, filter=filter_name,
                                              adjust=adjust)
        return await self._save(rec.owner_id, processed, kind, filter_name, attached=attached)

    async def set_avatar(self, session: Session, media_id: Any) -> None:
        if media_id is None:
            await db.set_avatar(self.st, session.user_id, None)
            return
        rec = await self.owned(session, media_id)
        if rec.kind != "avatar":
            await self.charge(session.user_id, 1)
            rec = await self.render(rec, kind="avatar", filter_name=rec.filter)
        if not await db.set_avatar(self.st, session.user_id, rec.id):
            raise Missing("no such media")  # collected meanwhile, as if it never was

    async def purge_post(self, post_id: int) -> int:
        """After a post's deletion (its owner's or an operator's): delete the files of
        its photos that nothing else uses, so their URLs stop answering (an operator's
        takedown of a photo left it served to anyone with the URL). How many. A purge
        that fails stays queued for `collect` (only logged here: the deletion stands)."""
        try:
            keys = await db.purge_post(self.st, post_id, self.store.delete_now)
        except (Unavailable, OSError) as exc:
            log.warning("deleted post's files not purged yet",
                        extra={"post": post_id, "error": repr(exc)})
            return 0
        return len(keys or ())

    async def purge_due(self) -> int:
        """The purges queued more than MEDIA_PURGE_RETRY_SECONDS ago and never done (a
        node gone mid-way, a disk error), done again; how many files deleted."""
        done = 0
        for post_id in await db.purges_due(self.st, L.MEDIA_PURGE_RETRY_SECONDS,
                                           L.MEDIA_PURGE_BATCH):
            done += await self.purge_post(post_id)
        return done

    async def collect(self) -> int:
        """Delete uploads never attached within the grace period, and files no one uses;
        and upload temp files left by a dead process (`sweep_tmp`)."""
        swept = await self.sweep_tmp()
        if swept:
            log.info("upload temp files swept", extra={"files": swept})
        try:  # on its own: the uploads below are collected whatever happens here
            purged = await self.purge_due()
            if purged:
                log.info("deleted posts' files purged late", extra={"files": purged})
        except Exception:
            log.exception("late purges failed; will retry")
        grace = self.settings.media_grace_seconds
        removed = 0
        while True:  # batch after batch: one per interval fell behind ~25 busy uploaders
            batch = await db.collect_unattached(self.st, grace)
            for key in batch.orphans:
                path = await self.store.path(key)
                # An identical upload racing us touches the file: keep recent ones.
                if path is not None and \
                        time.time() - (await trio.Path(path).stat()).st_mtime < grace:
                    continue
                await self.store.delete(key)
                removed += 1
            if batch.records < db.COLLECT_BATCH:
                return removed
