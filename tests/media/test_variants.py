"""Variant sizes and encodings, placeholders, the master and re-rendering from it."""

from __future__ import annotations

import re
import time

import pytest
from PIL import Image, ImageStat

from config import limits
from media.blurhash import is_valid
from media.filters import Adjustments
from media.pipeline import Processed, process, render
from tests.media.conftest import MAX_PIXELS, PHOTOS, Writer, decode, encode, scene, shared

PHOTO_NAMES = ["feed", "640", "320", "thumb"]


def sizes(result: Processed) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for v in result.variants:
        img = decode(v.data)
        assert img.size == (v.width, v.height), v.name  # the record matches the bytes
        assert out.setdefault(v.name, img.size) == img.size  # jpeg and webp agree
    return out


def photo(write: Writer, w: int, h: int, **kw: object) -> Processed:
    return process(write("in.jpg", encode(scene(w, h), "JPEG", quality=92)),
                   max_pixels=MAX_PIXELS, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("w", "h", "feed", "v640", "v320"), [
    (2400, 1600, (1080, 720), (640, 427), (320, 213)),  # landscape 3:2, no crop
    (1600, 1600, (1080, 1080), (640, 640), (320, 320)),  # square
    (1000, 3000, (1000, 1250), (640, 800), (320, 400)),  # very tall: cropped to 4:5
    (3000, 1000, (1080, 565), (640, 335), (320, 167)),  # very wide: cropped to 1.91:1
    (400, 300, (400, 300), (400, 300), (320, 240)),  # small: never upscaled
    (200, 100, (191, 100), (191, 100), (191, 100)),
])
def test_photo_variant_sizes(write: Writer, w: int, h: int, feed: tuple[int, int],
                             v640: tuple[int, int], v320: tuple[int, int]) -> None:
    got = photo(write, w, h)
    assert sizes(got) == {"feed": feed, "640": v640, "320": v320, "thumb": (150, 150)}
    assert (got.width, got.height) == feed
    assert [(v.name, v.format) for v in got.variants] == [
        (n, f) for n in PHOTO_NAMES for f in ("jpeg", "webp")]
    ratio = feed[0] / feed[1]
    assert limits.MEDIA_FEED_MIN_ASPECT - 0.01 <= ratio <= limits.MEDIA_FEED_MAX_ASPECT + 0.01


def test_tall_crop_keeps_the_centre(write: Writer) -> None:
    img = Image.new("RGB", (400, 1200), (0, 0, 255))  # blue top and bottom, red middle
    img.paste((255, 0, 0), (0, 400, 400, 800))
    got = process(write("t.png", encode(img, "PNG")), max_pixels=MAX_PIXELS)
    assert (got.width, got.height) == (400, 500)
    feed = decode(got.variant("feed", "webp").data)
    assert feed.getpixel((200, 250))[0] > 200  # the red middle is what is kept
    assert feed.getpixel((200, 5))[2] > 200 and feed.getpixel((200, 495))[2] > 200


def test_avatar_sizes(write: Writer) -> None:
    got = photo(write, 900, 600, kind="avatar")
    assert sizes(got) == {"avatar320": (320, 320), "avatar150": (150, 150)}
    assert (got.width, got.height) == (320, 320)
    assert {(v.name, v.format) for v in got.variants} == {
        ("avatar320", "jpeg"), ("avatar320", "webp"), ("avatar150", "jpeg"),
        ("avatar150", "webp")}


def test_jpegs_are_progressive_and_webps_are_webp(write: Writer) -> None:
    got = photo(write, 1500, 1000)
    for v in got.variants:
        img = decode(v.data)
        if v.format == "jpeg":
            assert img.format == "JPEG" and img.info.get("progressive") == 1, v.name
        else:
            assert img.format == "WEBP", v.name
            assert v.data[:4] == b"RIFF" and v.data[8:12] == b"WEBP"
        assert img.mode == "RGB"


def test_placeholders(write: Writer) -> None:
    got = photo(write, 1200, 800)
    x, y = limits.MEDIA_BLURHASH_COMPONENTS
    assert is_valid(got.blurhash) and len(got.blurhash) == 4 + 2 * x * y == 28
    assert re.fullmatch(r"#[0-9a-f]{6}", got.color)


@pytest.mark.parametrize("rgb", [(200, 30, 40), (20, 160, 60), (250, 250, 250)])
def test_dominant_colour_and_blurhash_follow_the_picture(write: Writer,
                                                         rgb: tuple[int, int, int]) -> None:
    img = Image.new("RGB", (800, 600), rgb)
    img.paste((10, 10, 10), (0, 0, 200, 150))  # a small dark corner does not dominate
    got = process(write("c.png", encode(img, "PNG")), max_pixels=MAX_PIXELS)
    r, g, b = (int(got.color[i : i + 2], 16) for i in (1, 3, 5))
    assert max(abs(r - rgb[0]), abs(g - rgb[1]), abs(b - rgb[2])) <= 6
    assert is_valid(got.blurhash)


def test_blurhash_validity_checker() -> None:
    assert is_valid("LEHV6nWB2yk8pyo0adR*.7kCMdnj")
    assert not is_valid("LEHV6nWB2yk8pyo0adR*.7kCMdn")  # one short
    assert not is_valid("LEHV6nWB2yk8pyo0adR*.7kCMd\nj")


def test_master_is_unfiltered_capped_and_jpeg(write: Writer) -> None:
    data = encode(scene(3000, 2000), "PNG")
    got = process(write("big.png", data), max_pixels=MAX_PIXELS, filter="moon")
    master = decode(got.master)
    assert master.format == "JPEG" and master.mode == "RGB"
    assert master.width >= limits.MEDIA_FEED_WIDTH and max(master.size) <= 2160
    assert saturation(master) > 40  # colour kept: the moon filter is not in the master
    assert saturation(decode(got.variant("feed").data)) < 3


def test_master_keeps_only_what_variants_show(write: Writer) -> None:
    """A 1:3 picture keeps its centre 4:5 crop, so the feed stays 1080 wide."""
    got = photo(write, 1200, 3600)
    assert decode(got.master).size == (1200, 1500)
    assert sizes(got)["feed"] == (1080, 1350)


def saturation(img: Image.Image) -> float:
    return ImageStat.Stat(img.convert("HSV")).mean[1]


def test_big_jpeg_is_decoded_at_reduced_scale(write: Writer) -> None:
    got = photo(write, 4000, 3000)
    master = decode(got.master)
    assert master.size == (2000, 1500)  # DCT-scaled by 1/2: enough for a 1080 feed
    assert sizes(got)["feed"] == (1080, 810)


def test_render_from_master_gives_the_same_result(write: Writer) -> None:
    got = photo(write, 1600, 1200, filter="juno", adjust=Adjustments(brightness=0.2))
    again = render(got.master, filter="juno", adjust=Adjustments(brightness=0.2),
                   source_format=got.source_format)
    assert again == got


def test_render_with_another_filter(write: Writer) -> None:
    got = photo(write, 1600, 1200)
    moon = render(got.master, filter="moon")
    assert sizes(moon) == sizes(got)
    assert moon.variant("feed").data != got.variant("feed").data
    assert moon.master == got.master
    avatar = render(got.master, kind="avatar")
    assert sizes(avatar) == {"avatar320": (320, 320), "avatar150": (150, 150)}


def test_an_avatar_master_serves_a_photo_too(write: Writer) -> None:
    avatar = photo(write, 4000, 3000, kind="avatar")
    assert sizes(render(avatar.master))["feed"] == (1080, 810)


def test_render_refuses_garbage() -> None:
    from media.errors import Corrupt
    with pytest.raises(Corrupt):
        render(b"not a jpeg at all")


def test_same_input_same_bytes(write: Writer) -> None:
    a = photo(write, 1200, 900, filter="clarendon")
    b = photo(write, 1200, 900, filter="clarendon")
    assert a == b


def test_timing_of_a_12mp_jpeg_and_the_8mp_sample(write: Writer,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Not an assertion on time: prints how long the pipeline takes, for the record."""
    path = write("12mp.jpg", encode(scene(4000, 3000), "JPEG", quality=90))
    runs = {"generated 12 MP JPEG": path}
    sample = PHOTOS / "iphone_hdr_YES.jpg"
    if sample.is_file():
        runs["iphone_hdr_YES.jpg (8 MP)"] = sample
    with capsys.disabled():
        for name, p in runs.items():
            process(p, max_pixels=MAX_PIXELS)  # warm up
            best = min(_timed(p) for _ in range(3))
            print(f"\n[media timing] {name}: {best * 1000:.0f} ms for all variants")


def _timed(path: object) -> float:
    t = time.perf_counter()
    process(path, max_pixels=MAX_PIXELS)  # type: ignore[arg-type]
    return time.perf_counter() - t


def test_real_photo_variants() -> None:
    got = process(shared(PHOTOS / "HMD_Nokia_8.3_5G.jpg"), max_pixels=MAX_PIXELS)
    assert sizes(got)["feed"] == (1080, 565)  # 4608 x 1976 is wider than 1.91:1
    assert max(decode(got.master).size) <= 2160
