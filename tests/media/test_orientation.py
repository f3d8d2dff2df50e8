"""Every EXIF orientation comes out upright, from real samples and generated files."""

from __future__ import annotations

import pytest
from PIL import Image

from media.pipeline import Processed, process
from tests.media.conftest import MAX_PIXELS, ORIENTATION, Writer, decode, encode, scene, shared

# How a camera stores an upright picture under each EXIF orientation: the inverse of
# what a viewer must do to display it (EXIF 2.32, tag 0x0112).
STORED = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,  # displayed after turning 90 degrees clockwise
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,  # displayed after turning 90 degrees anticlockwise
}
THRESHOLD = 6.0  # mean absolute difference of 0..255 grey thumbnails


def grey_thumb(result: Processed) -> Image.Image:
    img = decode(result.variant("feed").data).convert("L")
    return img.resize((32, 24) if img.width >= img.height else (24, 32), Image.Resampling.BOX)


def mad(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    pa, pb = a.tobytes(), b.tobytes()
    return sum(abs(x - y) for x, y in zip(pa, pb, strict=True)) / len(pa)


def with_orientation(upright: Image.Image, n: int, fmt: str = "JPEG") -> bytes:
    stored = upright if STORED[n] is None else upright.transpose(STORED[n])
    exif = Image.Exif()
    exif[0x0112] = n
    return encode(stored, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))


@pytest.mark.parametrize("kind", ["Landscape", "Portrait"])
def test_shared_samples_come_out_upright(kind: str) -> None:
    ref = process(shared(ORIENTATION / f"{kind}_1.jpg"), max_pixels=MAX_PIXELS)
    ref_thumb = grey_thumb(ref)
    # The check has teeth: a mirrored or turned-over picture is far from the reference.
    assert mad(ref_thumb, ref_thumb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) > 4 * THRESHOLD
    assert mad(ref_thumb, ref_thumb.transpose(Image.Transpose.ROTATE_180)) > 4 * THRESHOLD
    for n in range(9):
        got = process(shared(ORIENTATION / f"{kind}_{n}.jpg"), max_pixels=MAX_PIXELS)
        assert (got.width > got.height) == (kind == "Landscape"), n
        assert (got.width, got.height) == (ref.width, ref.height), n
        assert mad(grey_thumb(got), ref_thumb) < THRESHOLD, n


@pytest.mark.parametrize("n", range(1, 9))
@pytest.mark.parametrize(("w", "h"), [(600, 400), (420, 500)])
def test_generated_jpegs_come_out_upright(write: Writer, n: int, w: int, h: int) -> None:
    upright = scene(w, h)
    data = with_orientation(upright, n)
    assert Image.open(write("probe.jpg", data)).getexif()[0x0112] == n
    stored = decode(data)
    if n >= 5:
        assert stored.size == (h, w)  # really stored sideways
    got = process(write(f"o{n}.jpg", data), max_pixels=MAX_PIXELS)
    assert (got.width, got.height) == (w, h)
    want = upright.convert("L").resize(grey_thumb(got).size, Image.Resampling.BOX)
    assert mad(grey_thumb(got), want) < THRESHOLD
    assert mad(want, want.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) > 4 * THRESHOLD


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
@pytest.mark.parametrize("n", [3, 6, 8])
def test_orientation_in_other_formats(write: Writer, fmt: str, n: int) -> None:
    upright = scene(600, 400)
    got = process(write("o.img", with_orientation(upright, n, fmt)), max_pixels=MAX_PIXELS)
    assert (got.width, got.height) == (600, 400)
    want = upright.convert("L").resize((32, 24), Image.Resampling.BOX)
    assert mad(grey_thumb(got), want) < THRESHOLD


def test_heic_sample_is_portrait() -> None:
    pytest.importorskip("pillow_heif")
    got = process(shared(ORIENTATION.parent / "photos" / "iphone_13_pro_max.HEIC"),
                  max_pixels=MAX_PIXELS)
    assert got.source_format == "heif"
    assert got.height > got.width  # stored landscape with orientation 6, shown portrait
    assert decode(got.master).height > decode(got.master).width
