"""Media pipeline alone: ms per photo on one thread, photos/s with MediaWorkers, peak RSS.

Inputs: a real phone photo (iPhone, 3264 x 2448 = 8 MP, sRGB, from
../shared/data/photos/); a real 12 MP one: the iPhone 13 Pro Max HEIC sample re-encoded
as a quality 90 JPEG (3024 x 4032 portrait, 2.9 MB, EXIF and its Display P3 profile
kept, so the pipeline converts it to sRGB and makes a 4:5 feed image); a generated
12 MP JPEG (4000 x 3000, smooth colour fields, shapes, texture and grain, quality 90:
4.4 MB, 0.36 bytes per pixel; the 8 MP iPhone photo has 0.25); and, once for
information, the HEIC sample itself. Without ../shared only the generated image is used.

1. One thread: `media.pipeline.process(path, kind="photo", max_pixels=...)` `--runs`
   times per input after `--warmup` runs; p50/p99 wall time (issue target: <= 250 ms
   for 12 MP on one core), CPU of the calling thread and of the whole process (the
   HEIF decoder has threads of its own), and how the time splits: the polyglot scan
   (`media.sniff.check_polyglot`, regular expressions over the whole file, holding the
   GIL), decoding to the master (the rest: decode at reduced scale, orientation, crop,
   conversion to sRGB, the master's JPEG), and `render` (variants from the master);
   and what encoding the 1080 px feed costs the way `render` does it and cheaper ways.
2. All workers: `MediaWorkers(n)` processing `--photos` photos started at once from
   trio; photos/s, and how late a 1 ms trio sleep wakes up meanwhile (the event-loop
   lag that worker threads cause in their own process: GIL hand-offs).
3. GIL holds: a thread repeats one step of the pipeline while the main thread sleeps
   1 ms at a time; how late it wakes tells how long that step keeps the GIL (which is
   how long it stalls the node's event loop when it runs in a media worker thread).
4. Peak RSS (`ru_maxrss`) after each phase; the 12 MP input is generated in a child
   process so that its making does not count.

Each phase first waits (`--quiet-wait`) for other load on the machine to stop and
is flagged WARNING when other processes used the CPU meanwhile.

    python -m tests.bench.media [--runs 20] [--photos 40] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from tests.bench import common

MODULE = "tests.bench.media"
PHOTOS_DIR = common.ROOT.parent / "shared" / "data" / "photos"
REAL_PHOTO = "iphone_hdr_YES.jpg"
HEIC_PHOTO = "iphone_13_pro_max.HEIC"
GENERATED_SIZE = (4000, 3000)
GENERATED_QUALITY = 90
TARGET_12MP_MS = 250.0
LAG_PROBE_SECONDS = 0.001
IDLE_LAG_SECONDS = 1.0
GENERATE_TIMEOUT = 120.0


# -- generated photos (also used by tests.bench.upload_ping) --------------------------------
def scene(seed: int, size: tuple[int, int] = GENERATED_SIZE) -> Image.Image:
    """A photographic-ish RGB image: smooth colour fields, soft-edged shapes and lines,
    blotchy texture and fine luminance grain (so that it compresses like a photo, not
    like flat synthetic art: ~4.4 MB at quality 90 for 12 MP)."""
    rng = random.Random(seed)
    w, h = size
    base = Image.new("RGB", (8, 6))
    base.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256))
                  for _ in range(48)])
    img = base.resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x, y, r = rng.randrange(w), rng.randrange(h), rng.randrange(20, 600)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        else:
            draw.line((x, y, rng.randrange(w), rng.randrange(h)), fill=colour,
                      width=rng.randrange(2, 30))
    img = img.filter(ImageFilter.GaussianBlur(3))
    texture = Image.effect_noise((w // 8, h // 8), 35).resize(size, Image.Resampling.BICUBIC)
    grain = Image.effect_noise(size, 7)
    lum = ImageChops.add(texture, grain, scale=1.0, offset=-128)
    return ImageChops.add(img, Image.merge("RGB", [lum, lum, lum]), scale=1.0, offset=-128)


def encode_jpeg(img: Image.Image, quality: int = GENERATED_QUALITY) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


def distinct_photos(count: int, seed: int = 1, size: tuple[int, int] = GENERATED_SIZE,
                    quality: int = GENERATED_QUALITY) -> list[bytes]:
    """`count` JPEGs of one scene, each with its own few shapes on top, so that every one
    decodes to different pixels (and the content-addressed store writes new files)."""
    base = scene(seed, size)

    def one(i: int) -> bytes:
        rng = random.Random(seed * 100_003 + i)
        img = base.copy()
        draw = ImageDraw.Draw(img)
        for _ in range(6):
            x, y, r = rng.randrange(size[0]), rng.randrange(size[1]), rng.randrange(30, 300)
            draw.ellipse((x - r, y - r, x + r, y + r),
                         fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        return encode_jpeg(img, quality)

    with ThreadPoolExecutor(max_workers=2) as pool:  # Pillow encodes without the GIL
        return list(pool.map(one, range(count)))


def heic_as_jpeg(heic: Path, quality: int = GENERATED_QUALITY) -> bytes:
    """The HEIC sample re-encoded as a JPEG, keeping its EXIF and ICC profile (Display P3):
    a real 12 MP phone photo as a JPEG upload."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    with Image.open(heic) as src:
        out = io.BytesIO()
        src.save(out, "JPEG", quality=quality, exif=src.info.get("exif") or b"",
                 icc_profile=src.info.get("icc_profile"))
        return out.getvalue()


def generate_in_child(path: Path, seed: int = 1, from_heic: Path | None = None) -> None:
    """Write a generated photo (or the HEIC sample as a JPEG) from a child process, which
    keeps our ru_maxrss clean."""
    extra = ["--from-heic", str(from_heic)] if from_heic else []
    subprocess.run([sys.executable, "-m", MODULE, "--generate", str(path), "--seed", str(seed),
                    *extra], cwd=common.ROOT, check=True, timeout=GENERATE_TIMEOUT)


# -- measuring ------------------------------------------------------------------------------
def rss_row() -> tuple[float, float]:
    """(current VmRSS, peak ru_maxrss) of this process in MiB."""
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return common.proc_rss_kb(os.getpid()) / 1024, peak_kb / 1024


@dataclass
class Input:
    label: str
    path: Path

    def describe(self) -> str:
        with Image.open(self.path) as im:
            w, h = im.size
        mb = self.path.stat().st_size / 1e6
        return f"{w}x{h} ({w * h / 1e6:.1f} MP), {mb:.2f} MB, {self.path.name}"

    def megapixels(self) -> float:
        with Image.open(self.path) as im:
            return im.size[0] * im.size[1] / 1e6


@dataclass
class Timed:
    wall: list[float]
    thread_cpu: list[float]
    process_cpu: list[float]


def timed(fn: Callable[[], Any], runs: int, warmup: int) -> tuple[Timed, Any]:
    for _ in range(warmup):
        fn()
    t = Timed([], [], [])
    result = None
    for _ in range(runs):
        p0, c0, w0 = time.process_time(), time.thread_time(), time.perf_counter()
        result = fn()
        w1, c1, p1 = time.perf_counter(), time.thread_time(), time.process_time()
        t.wall.append(w1 - w0)
        t.thread_cpu.append(c1 - c0)
        t.process_cpu.append(p1 - p0)
    return t, result


def one_thread(inp: Input, runs: int, warmup: int) -> dict[str, Any]:
    from config import limits
    from media import pipeline
    from media.sniff import check_polyglot

    def full() -> Any:
        return pipeline.process(inp.path, kind="photo", max_pixels=limits.MEDIA_MAX_PIXELS)

    t, processed = timed(full, runs, warmup)
    scan, _ = timed(lambda: check_polyglot(inp.path), runs, 1)
    rend, _ = timed(lambda: pipeline.render(processed.master, kind="photo"), runs, 1)
    wall = common.summarize(t.wall)
    feed = next(v for v in processed.variants if v.name == "feed" and v.format == "jpeg")
    names = sorted({v.name for v in processed.variants})
    return {
        "input": inp.label, "describe": inp.describe(), "runs": runs,
        "p50_ms": wall["p50"] * 1e3, "p99_ms": wall["p99"] * 1e3, "max_ms": wall["max"] * 1e3,
        "min_ms": min(t.wall) * 1e3,
        "thread_cpu_ms": statistics.median(t.thread_cpu) * 1e3,
        "process_cpu_ms": statistics.median(t.process_cpu) * 1e3,
        "polyglot_ms": statistics.median(scan.wall) * 1e3,
        "render_ms": statistics.median(rend.wall) * 1e3,
        "variants": len(processed.variants), "variant_names": names,
        "variant_bytes": sum(len(v.data) for v in processed.variants),
        "master_bytes": len(processed.master),
        "out_size": f"{processed.width}x{processed.height}",
        "megapixels": inp.megapixels(),
        "encoders_ms": encoder_costs(feed.data),
    }


def encoder_costs(feed_jpeg: bytes, runs: int = 5) -> dict[str, float]:
    """Median ms to encode the 1080 px feed image the ways `render` does and cheaper ways
    (render encodes the feed, 640, 320 and thumb sizes in JPEG and WebP each)."""
    from config import limits

    img = Image.open(io.BytesIO(feed_jpeg))
    img.load()
    q_jpeg, q_webp = limits.MEDIA_JPEG_QUALITY, limits.MEDIA_WEBP_QUALITY
    ways: dict[str, dict[str, Any]] = {
        "jpeg_opt_prog": {"format": "JPEG", "quality": q_jpeg, "optimize": True,
                          "progressive": True},
        "jpeg_plain": {"format": "JPEG", "quality": q_jpeg},
        f"webp_m{limits.MEDIA_WEBP_METHOD}": {"format": "WEBP", "quality": q_webp,
                                              "method": limits.MEDIA_WEBP_METHOD},
        "webp_m0": {"format": "WEBP", "quality": q_webp, "method": 0},
    }
    out = {}
    for name, kw in ways.items():
        t, _ = timed(lambda kw=kw: img.save(io.BytesIO(), **kw), runs, 1)
        out[name] = statistics.median(t.wall) * 1e3
    return out


async def _all_workers(path: Path, n: int, photos: int) -> dict[str, Any]:
    from media.workers import MediaWorkers

    workers = MediaWorkers(n)
    lag: list[float] = []
    done = trio.Event()
    finished: list[float] = []

    async def probe() -> None:
        while not done.is_set():
            t0 = trio.current_time()
            await trio.sleep(LAG_PROBE_SECONDS)
            lag.append(trio.current_time() - t0 - LAG_PROBE_SECONDS)

    async def one() -> None:
        await workers.process(path, kind="photo")
        finished.append(time.perf_counter())

    # The probe's idle lag first, for contrast.
    async with trio.open_nursery() as nursery:
        nursery.start_soon(probe)
        await trio.sleep(IDLE_LAG_SECONDS)
        done.set()
    idle_lag = list(lag)
    lag.clear()
    done = trio.Event()
    async with trio.open_nursery() as outer:
        outer.start_soon(probe)
        cpu0, t0 = time.process_time(), time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(photos):
                nursery.start_soon(one)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        done.set()
    lat = [f - t0 for f in finished]
    busy, idle = common.summarize(lag), common.summarize(idle_lag)
    return {"workers": n, "photos": photos, "wall_s": wall, "photos_per_s": photos / wall,
            "cores": cpu / wall, "first_done_s": min(lat), "last_done_s": max(lat),
            "lag_p50_ms": busy["p50"] * 1e3, "lag_p99_ms": busy["p99"] * 1e3,
            "lag_max_ms": busy["max"] * 1e3, "idle_lag_p99_ms": idle["p99"] * 1e3}


def gil_holds(path: Path, seconds: float) -> dict[str, dict[str, float]]:
    """How long one worker thread repeating each step keeps this (main) thread from
    running: the lateness of 1 ms sleeps meanwhile. A C call that keeps the GIL shows up
    as its whole duration; one that releases it, as ~0."""
    import threading

    from config import limits
    from media import pipeline
    from media.sniff import check_polyglot

    processed = pipeline.process(path, kind="photo", max_pixels=limits.MEDIA_MAX_PIXELS)
    feed_data = next(v.data for v in processed.variants
                     if v.name == "feed" and v.format == "jpeg")
    feed = Image.open(io.BytesIO(feed_data))
    feed.load()
    master = Image.open(io.BytesIO(processed.master))
    master.load()
    jpeg = {"quality": limits.MEDIA_JPEG_QUALITY, "optimize": True, "progressive": True}
    out_file = path.with_suffix(".gil-probe.jpg")
    steps: dict[str, Callable[[], Any]] = {
        "polyglot scan (re over the file)": lambda: check_polyglot(path),
        "master JPEG q92 -> BytesIO": lambda: master.save(
            io.BytesIO(), "JPEG", quality=limits.MEDIA_MASTER_QUALITY),
        "feed JPEG opt+prog -> BytesIO": lambda: feed.save(io.BytesIO(), "JPEG", **jpeg),
        "feed JPEG opt+prog -> file": lambda: feed.save(out_file, "JPEG", **jpeg),
        "feed WebP": lambda: feed.save(io.BytesIO(), "WEBP",
                                       quality=limits.MEDIA_WEBP_QUALITY,
                                       method=limits.MEDIA_WEBP_METHOD),
        "whole process()": lambda: pipeline.process(path, kind="photo",
                                                    max_pixels=limits.MEDIA_MAX_PIXELS),
    }
    out = {}
    try:
        for name, fn in steps.items():
            stop = threading.Event()
            one_call, _ = timed(fn, 3, 1)

            def loop(fn: Callable[[], Any] = fn, stop: threading.Event = stop) -> None:
                while not stop.is_set():
                    fn()

            th = threading.Thread(target=loop, name="gil-probe")
            th.start()
            lag = []
            end = time.perf_counter() + seconds
            try:
                while time.perf_counter() < end:
                    t0 = time.perf_counter()
                    time.sleep(LAG_PROBE_SECONDS)
                    lag.append(time.perf_counter() - t0 - LAG_PROBE_SECONDS)
            finally:
                stop.set()
                th.join()
            s = common.summarize(lag)
            out[name] = {"call_ms": statistics.median(one_call.wall) * 1e3,
                         "lag_p50_ms": s["p50"] * 1e3, "lag_p99_ms": s["p99"] * 1e3,
                         "lag_max_ms": s["max"] * 1e3}
    finally:
        out_file.unlink(missing_ok=True)
    return out


def heic_runs(path: Path, runs: int) -> list[dict[str, float]]:
    from config import limits
    from media import pipeline

    out = []
    for _ in range(runs):
        p0, w0 = time.process_time(), time.perf_counter()
        pipeline.process(path, kind="photo", max_pixels=limits.MEDIA_MAX_PIXELS)
        out.append({"wall_ms": (time.perf_counter() - w0) * 1e3,
                    "process_cpu_ms": (time.process_time() - p0) * 1e3})
    return out


def _disturbed(fig: dict[str, Any]) -> list[tuple[str, str]]:
    """A warning row when processes other than this one used the machine meanwhile."""
    other = fig.get("other_cores") or 0.0
    if other <= common.OTHER_LOAD_WARN_CORES:
        return []
    return [("  WARNING", f"other processes used {other:.2f} cores meanwhile: disturbed")]


def _ints(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    p = common.base_parser(__doc__ or "")
    p.add_argument("--runs", type=int, default=20, help="timed runs per input on one thread")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--photos", type=int, default=40, help="photos per MediaWorkers batch")
    p.add_argument("--workers", type=_ints, default=[1, 2],
                   help="MediaWorkers sizes to try, comma-separated (default 1,2)")
    p.add_argument("--heic-runs", type=int, default=3)
    p.add_argument("--gil-seconds", type=float, default=1.5,
                   help="seconds per step of the GIL-hold probe (0: skip it)")
    p.add_argument("--generate", metavar="PATH", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--from-heic", metavar="PATH", help=argparse.SUPPRESS)
    ns = p.parse_args(argv)
    if ns.generate:
        data = heic_as_jpeg(Path(ns.from_heic)) if ns.from_heic else encode_jpeg(scene(ns.seed))
        Path(ns.generate).write_bytes(data)
        return 0

    from media.pipeline import HEIF_SUPPORTED

    rss: list[tuple[str, tuple[float, float]]] = [("start", rss_row())]
    with tempfile.TemporaryDirectory(prefix="glint-bench-media-") as tmpdir:
        gen = Path(tmpdir) / "generated_12mp.jpg"
        generate_in_child(gen, ns.seed)
        inputs = [Input("generated 12 MP JPEG", gen)]
        heic_path = PHOTOS_DIR / HEIC_PHOTO
        if HEIF_SUPPORTED and heic_path.is_file():
            heic_jpeg = Path(tmpdir) / "iphone13_12mp.jpg"
            generate_in_child(heic_jpeg, from_heic=heic_path)
            inputs.insert(0, Input("iPhone 12 MP JPEG (from HEIC)", heic_jpeg))
        if PHOTOS_DIR.is_dir():
            inputs.insert(0, Input("iPhone 8 MP JPEG", PHOTOS_DIR / REAL_PHOTO))
        else:
            print(f"NOTE: {PHOTOS_DIR} is absent: generated images only, no HEIC",
                  flush=True)
        for inp in inputs:
            print(f"input: {inp.label}: {inp.describe()}", flush=True)

        singles = []
        for inp in inputs:
            common.wait_quiet(ns.quiet_wait)
            print(f"one thread: {inp.label} x {ns.runs} ...", flush=True)
            win = common.Window(os.getpid()).start()
            singles.append({**one_thread(inp, ns.runs, ns.warmup),
                            "other_cores": win.stop().figures()["other_cores"]})
        rss.append(("after one-thread runs", rss_row()))

        pools = []
        for inp in inputs:
            for n in ns.workers:
                common.wait_quiet(ns.quiet_wait)
                print(f"MediaWorkers({n}): {ns.photos} x {inp.label} ...", flush=True)
                win = common.Window(os.getpid()).start()
                res = trio.run(_all_workers, inp.path, n, ns.photos)
                pools.append({"input": inp.label, **res,
                              "other_cores": win.stop().figures()["other_cores"]})
                rss.append((f"after MediaWorkers({n}) x {inp.label}", rss_row()))

        gil: dict[str, dict[str, float]] = {}
        gil_other = heic_other = 0.0
        if ns.gil_seconds > 0:
            common.wait_quiet(ns.quiet_wait)
            print(f"GIL holds: {inputs[-1].label} ...", flush=True)
            win = common.Window(os.getpid()).start()
            gil = gil_holds(inputs[-1].path, ns.gil_seconds)
            gil_other = win.stop().figures()["other_cores"]

        heic: list[dict[str, float]] = []
        if HEIF_SUPPORTED and heic_path.is_file():
            common.wait_quiet(ns.quiet_wait)
            print("HEIC ...", flush=True)
            win = common.Window(os.getpid()).start()
            heic = heic_runs(heic_path, ns.heic_runs)
            heic_other = win.stop().figures()["other_cores"]
            rss.append(("after HEIC", rss_row()))

    rows: list[tuple[str, Any]] = []
    for s in singles:
        target = ""
        if s["megapixels"] >= 11.5:
            verdict = "meets" if s["p50_ms"] <= TARGET_12MP_MS else "MISSES"
            target = f"   ({verdict} the <= {TARGET_12MP_MS:.0f} ms target)"
        rows += [
            (f"{s['input']}", s["describe"]),
            ("  one thread p50 / p99 / min",
             f"{s['p50_ms']:.0f} / {s['p99_ms']:.0f} / {s['min_ms']:.0f} ms over {s['runs']} "
             f"runs{target}"),
            *_disturbed(s),
            ("  CPU: this thread / whole process",
             f"{s['thread_cpu_ms']:.0f} / {s['process_cpu_ms']:.0f} ms (median)"),
            ("  split: polyglot scan / decode+master / render",
             f"{s['polyglot_ms']:.1f} / "
             f"{s['p50_ms'] - s['render_ms'] - s['polyglot_ms']:.0f} / "
             f"{s['render_ms']:.0f} ms (medians)"),
            ("  encode the 1080 px feed once",
             ", ".join(f"{k} {v:.1f}" for k, v in s["encoders_ms"].items()) + " ms"),
            ("  output", f"{s['variants']} variants ({', '.join(s['variant_names'])}; "
                         f"jpeg+webp), {s['variant_bytes'] / 1e3:.0f} KB, master "
                         f"{s['master_bytes'] / 1e3:.0f} KB, feed {s['out_size']}"),
        ]
    for r in pools:
        rows.append((f"MediaWorkers({r['workers']}) x {r['photos']} {r['input']}",
                     f"{r['photos_per_s']:.2f} photos/s ({r['wall_s']:.1f}s, "
                     f"{r['cores']:.2f} cores); trio sleep lag p50/p99/max "
                     f"{r['lag_p50_ms']:.1f}/{r['lag_p99_ms']:.1f}/{r['lag_max_ms']:.1f} ms "
                               f"(idle p99 {r['idle_lag_p99_ms']:.1f})"))
        rows += _disturbed(r)
    for name, g in gil.items():
        rows.append((f"GIL: {name}", f"one call {g['call_ms']:.1f} ms; main thread's 1 ms "
                                     f"sleeps late by p50/p99/max {g['lag_p50_ms']:.1f}/"
                                     f"{g['lag_p99_ms']:.1f}/{g['lag_max_ms']:.1f} ms"))
    if gil:
        rows += _disturbed({"other_cores": gil_other})
    if heic:
        rows.append(("HEIC (iPhone 13 Pro Max, 12 MP)",
                     ", ".join(f"{h['wall_ms']:.0f} ms ({h['process_cpu_ms']:.0f} ms CPU)"
                               for h in heic)))
        rows += _disturbed({"other_cores": heic_other})
    for label, (cur, peak) in rss:
        rows.append((f"RSS {label}", f"{cur:.0f} MiB now, peak {peak:.0f} MiB"))
    common.print_report("media pipeline: one thread, MediaWorkers, memory", rows)
    common.write_json(ns.json, {"one_thread": singles, "workers": pools, "heic": heic,
                                "gil": gil,
                                "rss_mib": {k: {"now": c, "peak": m} for k, (c, m) in rss}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
