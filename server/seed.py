"""`glint seed`: a few real processed photos, one password hash, then storage/seed.py.

The photos are generated with Pillow (or read from `--photos DIR`), processed
ONCE through the normal media pipeline, their variants put in the node's media
store, and then shared by every seeded post; so the data set is fast to make and
every post shows real pictures.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
import time
from pathlib import Path

import trio
from argon2 import PasswordHasher
from PIL import Image, ImageDraw, ImageFilter

from config import Settings
from media.filters import FILTERS
from media.pipeline import Processed, process
from media.store import EXTENSION_FOR_FORMAT, LocalStore, MediaStore
from storage.seed import MediaSpec, Progress, SeedOptions, SeedRefused, SeedReport, check_room, load
from storage.store import Storage

DEFAULT_PASSWORD = "glint-seed-password"
PHOTO_POOL = 6  # photos made when no --photos directory is given
AVATAR_POOL = 3
_SIZES = ((1600, 1200), (1080, 1350), (1440, 1440), (2000, 1125), (1200, 1500), (1800, 1200))
_PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif"}


def synthetic_photo(seed: int, index: int, size: tuple[int, int]) -> bytes:
    """A deterministic picture: a sky-to-ground gradient, a sun, hills (PNG bytes)."""
    rng = random.Random(f"glint-photo:{seed}:{index}")
    w, h = size
    top = tuple(rng.randrange(40, 256) for _ in range(3))
    bottom = tuple(rng.randrange(0, 160) for _ in range(3))
    img = Image.linear_gradient("L").resize((w, h))
    img = Image.composite(Image.new("RGB", (w, h), bottom), Image.new("RGB", (w, h), top), img)
    draw = ImageDraw.Draw(img)
    r = rng.randrange(h // 12, h // 5)
    cx, cy = rng.randrange(r, w - r), rng.randrange(r, h // 2)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, rng.randrange(160, 240), 80))
    for layer in range(3):
        base = h * (0.55 + 0.12 * layer)
        colour = tuple(max(0, c - 40 * layer) for c in (rng.randrange(30, 120),
                                                        rng.randrange(80, 180),
                                                        rng.randrange(30, 120)))
        pts = [(0, h)] + [(x, base + rng.uniform(-h * 0.08, h * 0.08))
                          for x in range(0, w + w // 8, w // 8)] + [(w, h)]
        draw.polygon(pts, fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(1.5))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def _sources(seed: int, photos_dir: Path | None, count: int, workdir: Path) -> list[Path]:
    if photos_dir is not None:
        found = sorted(p for p in Path(photos_dir).iterdir()
                       if p.suffix.lower() in _PHOTO_SUFFIXES and p.is_file())
        if not found:
            raise SystemExit(f"no photos in {photos_dir}")
        return found[:count]
    paths = []
    for i in range(count):
        path = workdir / f"seed-{i}.png"
        path.write_bytes(synthetic_photo(seed, i, _SIZES[i % len(_SIZES)]))
        paths.append(path)
    return paths


async def _store(store: MediaStore, p: Processed, kind: str, filter_name: str) -> MediaSpec:
    variants: dict[str, dict[str, object]] = {}
    keys = []
    for v in p.variants:
        key = await store.put(v.data, EXTENSION_FOR_FORMAT[v.format])
        keys.append(key)
        variants.setdefault(v.name, {"width": v.width, "height": v.height})[v.format] = key
    master_key = await store.put(p.master, "jpg")
    return MediaSpec(kind=kind, width=p.width, height=p.height, blurhash=p.blurhash,
                     color=p.color, filter=filter_name, master_key=master_key,
                     variants=variants, keys=tuple(keys))


async def prepare_media(settings: Settings, store: MediaStore, *, seed: int = 1,
                        photos_dir: Path | None = None, photos: int = PHOTO_POOL,
                        avatars: int = AVATAR_POOL) -> tuple[list[MediaSpec], list[MediaSpec]]:
    """Process a few pictures once through media.pipeline; (photo specs, avatar specs)."""
    filters = sorted(FILTERS)
    rng = random.Random(f"glint-filters:{seed}")
    photo_specs: list[MediaSpec] = []
    avatar_specs: list[MediaSpec] = []
    with tempfile.TemporaryDirectory(prefix="glint-seed-") as tmp:
        sources = _sources(seed, photos_dir, max(photos, avatars), Path(tmp))
        for i, path in enumerate(sources[:photos]):
            name = "normal" if i == 0 else rng.choice(filters)
            done = await trio.to_thread.run_sync(lambda p=path, f=name: process(
                p, kind="photo", max_pixels=settings.upload_max_pixels, filter=f))
            photo_specs.append(await _store(store, done, "photo", name))
        for path in sources[:avatars]:
            done = await trio.to_thread.run_sync(lambda p=path: process(
                p, kind="avatar", max_pixels=settings.upload_max_pixels))
            avatar_specs.append(await _store(store, done, "avatar", "normal"))
    return photo_specs, avatar_specs


async def seed_storage(st: Storage, settings: Settings, opts: SeedOptions, *,
                       password: str = DEFAULT_PASSWORD, photos_dir: Path | None = None,
                       photos: int = PHOTO_POOL, avatars: int = AVATAR_POOL,
                       progress: Progress = lambda line: None) -> SeedReport:
    """Seed into an open Storage; media files go to the data directory's store."""
    started = time.perf_counter()
    await check_room(st, opts)
    store = LocalStore.in_data_dir(settings.data_dir)
    photo_specs, avatar_specs = await prepare_media(settings, store, seed=opts.seed,
                                                    photos_dir=photos_dir, photos=photos,
                                                    avatars=avatars)
    pw_hash = await trio.to_thread.run_sync(PasswordHasher().hash, password)
    progress(f"media pool: {len(photo_specs)} photos, {len(avatar_specs)} avatars processed "
             f"in {time.perf_counter() - started:.1f} s")
    report = await load(st, opts, password_hash=pw_hash, photos=photo_specs,
                        avatars=avatar_specs, progress=progress)
    report.seconds = time.perf_counter() - started
    return report


def summary(report: SeedReport, password: str) -> list[str]:
    lines = [f"seeded in {report.seconds:.1f} s:"]
    lines += [f"  {table:<14}{n:>12,}" for table, n in report.counts.items()]
    lines.append("  stages: " + ", ".join(f"{k} {v:.1f}s" for k, v in
                                         report.stage_seconds.items()))
    lines.append(f"  followers: max {report.max_followers:,}, median "
                 f"{report.median_followers:,}; counters fixed by recount: "
                 f"{report.fixed_counters}")
    lines.append(f"  most followed: {', '.join(report.usernames)}")
    lines.append(f"  top hashtags: {' '.join('#' + t for t in report.top_tags)}")
    lines.append(f"  every seeded user's password: {password}")
    return lines


async def run(settings: Settings, opts: SeedOptions, *, password: str,
              photos_dir: Path | None = None) -> None:
    """The CLI entry: open (embedded) storage, seed, print progress and a summary."""
    from server.node import open_storage

    def say(line: str) -> None:
        print(line, flush=True)

    say(f"seeding {opts.users:,} users and {opts.posts:,} posts (seed {opts.seed}) "
        f"into {settings.data_dir}")
    async with open_storage(settings) as st:
        report = await seed_storage(st, settings, opts, password=password,
                                    photos_dir=photos_dir,
                                    progress=say)
    for line in summary(report, password):
        say(line)


def main(settings: Settings, ns: argparse.Namespace) -> int:
    """`glint seed` (parsed by server/cli.py); exit status 2 when refused."""
    opts = SeedOptions(users=ns.users, posts=ns.posts, seed=ns.seed, force=ns.force)
    try:
        trio.run(lambda: run(settings, opts, password=ns.password or DEFAULT_PASSWORD,
                             photos_dir=Path(ns.photos) if ns.photos else None))
    except SeedRefused as exc:
        print(f"glint seed: {exc}", file=sys.stderr)
        return 2
    return 0
