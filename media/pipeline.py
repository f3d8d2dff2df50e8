"""Turn an uploaded file into a stripped, oriented, sRGB master and its served variants.

``process`` is synchronous and CPU-bound: the server runs it in a worker thread
(``media.workers``). It never trusts the upload: the type comes from magic bytes,
the pixel count is checked from the header before anything is decoded, and every
output is re-encoded from pixels, so no metadata (EXIF, GPS, XMP, ICC, comments)
and no smuggled payload survives.

Every result is built from the master: ``process`` encodes the master, decodes it
again and calls the same code as ``render``, so re-rendering a stored master with
the same filter gives byte-identical variants, and a new filter needs no upload.

The master is the upright, sRGB, unfiltered picture, centre-cropped to the feed's
aspect range (4:5 .. 1.91:1: every variant lies inside that crop, so a tall 1:3
picture keeps a 1080-wide feed) and at most ``MEDIA_MASTER_MAX_SIDE`` on its
long side. It is no bigger than the variants need: big JPEGs are decoded at
reduced scale (libjpeg DCT scaling via ``Image.draft``, before any load) and other
formats shrunk by a whole factor with ``reduce``, down to the smallest size that
still gives a 1080-wide feed and a 320 avatar; so a 12 MP 4000x3000 JPEG has a
2000x1500 master.
"""

from __future__ import annotations

import hashlib
import io
import math
import tempfile
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageCms

from config import limits
from media.blurhash import encode as blurhash_encode
from media.errors import Corrupt, MediaError, TooLarge, Unsupported
from media.filters import FILTERS, Adjustments
from media.filters import apply as apply_filter
from media.sniff import HEAD_BYTES, check_polyglot, sniff

try:  # HEIC/HEIF through the pillow-heif plugin, when it is installed
    import pillow_heif
except ImportError:  # pragma: no cover - depends on the environment
    HEIF_SUPPORTED = False
else:
    pillow_heif.register_heif_opener(depth_images=False, aux_images=False)
    HEIF_SUPPORTED = True



def refuse_bomb_warnings() -> None:
    """Pillow only warns of an image past its MAX_IMAGE_PIXELS (a line on stderr,
    outside the JSON log, per upload) and raises past twice that: make the warning an
    error too, refused with our limit's message (`_normalise`) like the rest. A process
    filter (idempotent), set at import and again by each MediaWorkers: a
    `warnings.catch_warnings` block around an import (pytest's collection) undoes it."""
    warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


refuse_bomb_warnings()

KINDS = ("photo", "avatar")
ACCEPTED = ("jpeg", "png", "webp", "gif", "heif")
_PILLOW_FORMATS = {
    "jpeg": ("JPEG",),  # also opens MPO (multi-picture) JPEGs: frame 0 is the primary
    "png": ("PNG",),
    "webp": ("WEBP",),
    "gif": ("GIF",),
    "heif": ("HEIF",),
}
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_LANCZOS = Image.Resampling.LANCZOS
_REDUCING_GAP = 2.0  # resize: shrink by whole factors first when >= 2x this (much faster)
_WHITE = (255, 255, 255)


@dataclass(frozen=True)
class Variant:
    name: str  # "feed", "640", "320", "thumb" | "avatar320", "avatar150"
    format: str  # "jpeg" | "webp"
    width: int
    height: int
    data: bytes


@dataclass(frozen=True)
class Processed:
    width: int  # of the "feed" variant ("avatar320" for avatars)
    height: int
    blurhash: str
    color: str  # "#rrggbb", dominant colour of the feed variant
    source_format: str  # what the upload was: "jpeg", "png", "webp", "gif", "heif"
    variants: tuple[Variant, ...]
    master: bytes  # JPEG: stripped, upright, sRGB, unfiltered, feed-aspect crop, side <= 2160

    def variant(self, name: str, format: str = "jpeg") -> Variant:
        for v in self.variants:
            if v.name == name and v.format == format:
                return v
        raise KeyError((name, format))


# --- entry points ------------------------------------------------------------------------

def process(
    path: Path,
    *,
    kind: str = "photo",
    max_pixels: int,
    filter: str = "normal",
    adjust: Adjustments | None = None,
) -> Processed:
    """Validate and normalise the upload at ``path`` and build its variants.

    Raises ``Unsupported``, ``TooLarge`` or ``Corrupt`` (see ``media.errors``) for a
    bad upload, ``ValueError`` for a bad ``kind``, ``filter`` or ``adjust``.
    """
    _check_options(kind, filter, adjust)
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
    if not head:
        raise Corrupt("empty file")
    fmt = sniff(head)
    if fmt is None:
        raise Unsupported("not a JPEG, PNG, WebP, GIF or HEIC image")
    if fmt == "heif" and not HEIF_SUPPORTED:
        raise Unsupported("HEIC/HEIF images are not supported here (pillow-heif missing)")
    check_polyglot(path)
    master = _encode_master(_normalise(path, fmt, max_pixels))
    return render(master, kind=kind, filter=filter, adjust=adjust, source_format=fmt)


def render(
    master: bytes,
    *,
    kind: str = "photo",
    filter: str = "normal",
    adjust: Adjustments | None = None,
    source_format: str = "jpeg",
) -> Processed:
    """Build the variants from a master made by ``process`` (e.g. with another filter).

    ``source_format`` is only carried into the result (the master is always JPEG).
    """
    _check_options(kind, filter, adjust)
    img = _open_master(master, kind)
    if kind == "avatar":
        main, variants = _avatar_variants(img, filter, adjust)
    else:
        main, variants = _photo_variants(img, filter, adjust)
    return Processed(
        width=main.width,
        height=main.height,
        blurhash=_blurhash(main),
        color=_dominant_color(main),
        source_format=source_format,
        variants=tuple(variants),
        master=master,
    )


def _check_options(kind: str, filter: str, adjust: Adjustments | None) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    if filter not in FILTERS:
        raise ValueError(f"unknown filter {filter!r}")
    if adjust is not None and not isinstance(adjust, Adjustments):
        raise ValueError("adjust must be an Adjustments or None")


# --- decoding the upload --------------------------------------------------------------------

def _normalise(path: Path, fmt: str, max_pixels: int) -> Image.Image:
    """Decode the upload into the unfiltered master image: RGB, sRGB, upright, no info.

    Every refusal for size states our limit: Pillow's own bomb check (at open, for a
    header of more than twice its MAX_IMAGE_PIXELS) answered with its limit of
    178,956,970 pixels, which is not the one an uploader can go by."""
    limit = min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels)
    try:
        src = Image.open(path, formats=_PILLOW_FORMATS[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise TooLarge(f"the header declares more than {limit:,} pixels") from None
    except Exception as e:  # any failure to parse an untrusted header
        raise Corrupt(f"cannot read the {fmt} header: {e}") from None
    with src:
        w, h = src.size
        if w < 1 or h < 1:
            raise Corrupt(f"invalid dimensions {w}x{h}")
        if w * h > limit:
            raise TooLarge(f"{w}x{h} is {w * h:,} pixels, more than {limit:,}")
        if max(w, h) / min(w, h) > limits.MEDIA_MAX_ASPECT:
            raise Corrupt(f"absurd proportions {w}x{h}")
        if fmt == "jpeg":  # libjpeg scales by 1/2, 1/4, 1/8 while decoding
            scale = _scale(w, h, _orientation(src))  # JPEG's EXIF is in its header
            src.draft(None, (math.ceil(w / scale), math.ceil(h / scale)))
        try:
            src.load()
            orientation = _orientation(src)  # PNG may keep its EXIF after the pixels
            img = _flatten(src)
            icc = src.info.get("icc_profile")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise TooLarge(f"too many pixels to decode, more than {limit:,}") from None
        except MemoryError:
            raise TooLarge("not enough memory to decode the image") from None
        except Exception as e:  # truncated or undecodable data
            raise Corrupt(f"cannot decode the {fmt} image: {e}") from None
    # Shrink by the whole factor that still covers every variant (a cheap box
    # filter; JPEG got most of it from draft), turn upright, keep the centre crop in
    # the feed's aspect range (all that any variant shows), cap the long side.
    factor = int(_scale(w, h, orientation) * img.width / w)
    if factor >= 2:
        img = img.reduce(factor)
    if orientation in _ORIENTATION:
        img = img.transpose(_ORIENTATION[orientation])
    img = _crop_and_cap(img, limits.MEDIA_MASTER_MAX_SIDE)
    img = _to_srgb(img, icc)
    img.info.clear()
    return img


def _orientation(img: Image.Image) -> int:
    try:
        value = int(img.getexif().get(ExifTags.Base.Orientation, 1))
    except Exception:  # broken EXIF: treat as upright
        return 1
    return value if value in _ORIENTATION else 1


def _scale(w: int, h: int, orientation: int) -> float:
    """How much smaller than w x h the decode may be: enough for every kind, so
    one master serves photo and avatar renders alike."""
    upright = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    return min(_reduction(*upright, k) for k in KINDS)


def _reduction(w: int, h: int, kind: str) -> float:
    """The largest shrink factor that still leaves enough pixels for every variant."""
    if kind == "avatar":
        return max(1.0, min(w, h) / limits.MEDIA_AVATAR_SIDES[0])
    cw, _ch = _clamped(w, h)
    return max(1.0, cw / limits.MEDIA_FEED_WIDTH)


def _flatten(img: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB, L or CMYK (kept for its ICC profile); alpha onto white."""
    mode = img.mode
    if mode in ("RGB", "L") and "transparency" in img.info:  # a PNG's tRNS colour
        img = img.convert("RGBA" if mode == "RGB" else "LA")
        mode = img.mode
    elif mode in ("RGB", "L", "CMYK"):
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):  # 16-bit greyscale PNG
        return img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if mode == "1":
        return img.convert("L")
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode not in ("RGBA", "LA"):
        img = img.convert("RGBA" if "A" in mode or "a" in mode else "RGB")
    if img.mode in ("RGBA", "LA"):
        rgba = img.convert("RGBA")
        out = Image.new("RGB", rgba.size, _WHITE)
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    return img


def _crop_and_cap(img: Image.Image, side: int) -> Image.Image:
    box = _centre_box(*img.size, *_clamped(*img.size))
    cw, ch = box[2] - box[0], box[3] - box[1]
    k = min(1.0, side / max(cw, ch))
    return _fit(img, box, (max(1, round(cw * k)), max(1, round(ch * k))))


_SRGB = ImageCms.createProfile("sRGB")


_TRANSFORMS_KEPT = 16
_transforms: OrderedDict[tuple[bytes, str], ImageCms.ImageCmsTransform | None] = OrderedDict()
_transforms_lock = threading.Lock()  # media workers are threads


def _transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """An embedded profile -> sRGB transform (None when it is sRGB already, unusable, or
    larger than any real profile: those are treated as absent). The last few are kept
    by the profile's digest, not its bytes: keyed by the bytes, a cache of 16 held up
    to 16 near-body-sized profiles alive."""
    if len(icc) > limits.MEDIA_MAX_ICC_BYTES:
        return None
    key = (hashlib.sha256(icc).digest(), mode)
    with _transforms_lock:
        if key in _transforms:
            _transforms.move_to_end(key)
            return _transforms[key]
    built = _build_transform(icc, mode)
    with _transforms_lock:
        _transforms[key] = built
        while len(_transforms) > _TRANSFORMS_KEPT:
            _transforms.popitem(last=False)
    return built


def _build_transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """Built without LCMS's one-pixel cache so one transform is safe in several threads."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in (ImageCms.getProfileDescription(profile) or "").lower():
            return None
        return ImageCms.buildTransform(
            profile, _SRGB, mode, "RGB",
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            flags=ImageCms.Flags.NOCACHE,
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def _to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    if icc:
        transform = _transform(bytes(icc), img.mode)
        if transform is not None:
            try:
                return ImageCms.applyTransform(img, transform)  # type: ignore[return-value]
            except (ImageCms.PyCMSError, ValueError):
                pass
    return img if img.mode == "RGB" else img.convert("RGB")


def _encode(img: Image.Image, fmt: str, **options: Any) -> bytes:
    """Encode through a real file: Pillow then runs the whole encoder with the GIL
    released (into a BytesIO it takes the GIL back for every buffer), so an
    upload no longer stalls the event loop's thread."""
    with tempfile.TemporaryFile() as f:
        img.save(f, fmt, **options)
        f.seek(0)
        return f.read()


def _encode_master(img: Image.Image) -> bytes:
    return _encode(img, "JPEG", quality=limits.MEDIA_MASTER_QUALITY)


def _open_master(master: bytes, kind: str) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(master), formats=("JPEG",))
        w, h = img.size
        if max(w, h) > limits.MEDIA_MASTER_MAX_SIDE or min(w, h) < 1:
            raise Corrupt(f"not a Glint master: {w}x{h}")
        scale = _reduction(w, h, kind)
        img.draft(None, (math.ceil(w / scale), math.ceil(h / scale)))
        img.load()
    except MediaError:
        raise
    except Exception as e:
        raise Corrupt(f"cannot decode the master: {e}") from None
    if img.mode != "RGB":
        img = img.convert("RGB")
    img.info.clear()
    return img


# --- variants -----------------------------------------------------------------------------

def _clamped(w: int, h: int) -> tuple[float, float]:
    """The centre crop's size that brings w:h into the feed's aspect range."""
    if w / h > limits.MEDIA_FEED_MAX_ASPECT:
        return h * limits.MEDIA_FEED_MAX_ASPECT, float(h)
    if w / h < limits.MEDIA_FEED_MIN_ASPECT:
        return float(w), w / limits.MEDIA_FEED_MIN_ASPECT
    return float(w), float(h)


def _centre_box(w: int, h: int, cw: float, ch: float) -> tuple[int, int, int, int]:
    cw_i, ch_i = max(1, min(w, round(cw))), max(1, min(h, round(ch)))
    left, top = (w - cw_i) // 2, (h - ch_i) // 2
    return left, top, left + cw_i, top + ch_i


def _fit(img: Image.Image, box: tuple[int, int, int, int], size: tuple[int, int]) -> Image.Image:
    """Crop ``box`` out of ``img`` and resize it to ``size`` in one pass."""
    if (box[2] - box[0], box[3] - box[1]) == size:
        return img.crop(box) if box != (0, 0, *img.size) else img
    return img.resize(size, _LANCZOS, box=box, reducing_gap=_REDUCING_GAP)


def _photo_variants(
    img: Image.Image, filter: str, adjust: Adjustments | None
) -> tuple[Image.Image, list[Variant]]:
    w, h = img.size
    box = _centre_box(w, h, *_clamped(w, h))
    cw, ch = box[2] - box[0], box[3] - box[1]
    fw = min(limits.MEDIA_FEED_WIDTH, cw)
    fh = max(1, round(fw * ch / cw))
    feed = apply_filter(_fit(img, box, (fw, fh)), filter, adjust)
    sized = [("feed", feed)]
    prev = feed
    for width in limits.MEDIA_VARIANT_WIDTHS:
        vw = min(width, fw)
        vh = max(1, round(vw * fh / fw))
        prev = _fit(prev, (0, 0, *prev.size), (vw, vh))
        sized.append((str(width), prev))
    side = min(fw, fh)
    square = _centre_box(fw, fh, side, side)
    thumb = limits.MEDIA_THUMB_SIDE
    sized.append(("thumb", _fit(feed, square, (thumb, thumb))))
    return feed, _encode_all(sized)


def _avatar_variants(
    img: Image.Image, filter: str, adjust: Adjustments | None
) -> tuple[Image.Image, list[Variant]]:
    w, h = img.size
    side = min(w, h)
    box = _centre_box(w, h, side, side)
    sized: list[tuple[str, Image.Image]] = []
    first: Image.Image | None = None
    for s in limits.MEDIA_AVATAR_SIDES:
        if first is None:
            first = apply_filter(_fit(img, box, (s, s)), filter, adjust)
            out = first
        else:
            out = _fit(first, (0, 0, *first.size), (s, s))
        sized.append((f"avatar{s}", out))
    assert first is not None
    return first, _encode_all(sized)


def _encode_all(sized: list[tuple[str, Image.Image]]) -> list[Variant]:
    variants: list[Variant] = []
    done: dict[int, tuple[bytes, bytes]] = {}  # a small source makes "640" the feed itself
    for name, im in sized:
        if id(im) not in done:
            im.info.clear()  # nothing from the source may reach an output
            jpeg = _encode(im, "JPEG", quality=limits.MEDIA_JPEG_QUALITY, optimize=True,
                           progressive=True)
            webp = _encode(im, "WEBP", quality=limits.MEDIA_WEBP_QUALITY,
                           method=limits.MEDIA_WEBP_METHOD)
            done[id(im)] = jpeg, webp
        jpeg_data, webp_data = done[id(im)]
        variants.append(Variant(name, "jpeg", im.width, im.height, jpeg_data))
        variants.append(Variant(name, "webp", im.width, im.height, webp_data))
    return variants


# --- placeholders ---------------------------------------------------------------------------

def _small(img: Image.Image, side: int) -> Image.Image:
    w, h = img.size
    k = min(1.0, side / max(w, h))
    size = (max(1, round(w * k)), max(1, round(h * k)))
    return img.resize(size, Image.Resampling.BILINEAR, reducing_gap=_REDUCING_GAP)


def _blurhash(img: Image.Image) -> str:
    x, y = limits.MEDIA_BLURHASH_COMPONENTS
    return blurhash_encode(_small(img, limits.MEDIA_BLURHASH_SIDE), x, y)


def _dominant_color(img: Image.Image) -> str:
    """The most populous of a few median-cut colours of a tiny thumbnail."""
    q = _small(img, 64).quantize(colors=5, method=Image.Quantize.MEDIANCUT)
    palette = q.getpalette() or [0, 0, 0]
    _count, index = max(q.getcolors() or [(1, 0)])
    r, g, b = palette[3 * index : 3 * index + 3]
    return f"#{r:02x}{g:02x}{b:02x}"
