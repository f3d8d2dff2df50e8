"""Each kind of bad upload gets its documented error, and nothing is produced."""

from __future__ import annotations

import io
import random
import struct
import warnings
import zipfile
import zlib

import pytest
from PIL import Image

from media import pipeline
from media.errors import Corrupt, MediaError, TooLarge, Unsupported
from media.pipeline import process
from media.workers import MediaWorkers
from tests.media.conftest import MAX_PIXELS, PHOTOS, Writer, decode, encode, scene, shared


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(w: int, h: int, idat: bytes = b"") -> bytes:
    """A valid PNG signature and IHDR declaring w x h RGB, with next to no pixel data."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    body = png_chunk(b"IDAT", idat) if idat else b""
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + body + png_chunk(b"IEND", b"")


def noisy_jpeg(progressive: bool = False) -> bytes:
    img = Image.frombytes("RGB", (640, 480), random.Random(7).randbytes(640 * 480 * 3))
    return encode(img, "JPEG", quality=90, progressive=progressive)


def test_errors_carry_a_message() -> None:
    e = Corrupt("why")
    assert isinstance(e, MediaError) and e.message == "why" and str(e) == "why"


def test_zero_bytes_is_corrupt(write: Writer) -> None:
    with pytest.raises(Corrupt, match="empty"):
        process(write("empty.jpg", b""), max_pixels=MAX_PIXELS)


def test_random_bytes_are_unsupported(write: Writer) -> None:
    with pytest.raises(Unsupported):
        process(write("random.jpg", random.Random(1).randbytes(4096)), max_pixels=MAX_PIXELS)


@pytest.mark.parametrize("progressive", [False, True])
def test_truncated_jpeg_is_corrupt(write: Writer, progressive: bool) -> None:
    data = noisy_jpeg(progressive)
    decode(data)  # whole, it decodes
    with pytest.raises(Corrupt, match="truncated"):
        process(write("cut.jpg", data[: len(data) // 2]), max_pixels=MAX_PIXELS)


def test_jpeg_cut_inside_its_header_is_corrupt(write: Writer) -> None:
    with pytest.raises(Corrupt):
        process(write("cut.jpg", noisy_jpeg()[:200]), max_pixels=MAX_PIXELS)


def test_truncated_png_is_corrupt(write: Writer) -> None:
    data = encode(scene(), "PNG")
    with pytest.raises(Corrupt):
        process(write("cut.png", data[: len(data) // 2]), max_pixels=MAX_PIXELS)


def test_decompression_bomb_is_too_large(write: Writer) -> None:
    bomb = png_header_only(30_000, 30_000, zlib.compress(b"\0" * 30_001 * 4))
    assert len(bomb) < 1000
    with pytest.raises(TooLarge):
        process(write("bomb.png", bomb), max_pixels=MAX_PIXELS)


def test_pixel_limit_is_checked_before_decoding(write: Writer) -> None:
    """6000 x 6000 declared with no pixel data: decoding would say Corrupt, not TooLarge."""
    with pytest.raises(TooLarge, match="36,000,000"):
        process(write("big.png", png_header_only(6000, 6000)), max_pixels=1_000_000)
    with pytest.raises(Corrupt):  # same file under the limit: now it is decoded, and fails
        process(write("big.png", png_header_only(6000, 6000)), max_pixels=MAX_PIXELS)


def test_pillow_bomb_limit_also_applies(write: Writer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    with pytest.raises(TooLarge):
        process(write("a.png", encode(scene(300, 200), "PNG")), max_pixels=MAX_PIXELS)


@pytest.mark.parametrize("size", [(30_000, 30_000), (100_000, 100_000), (8000, 7500)])
def test_too_many_pixels_states_our_limit(write: Writer, size: tuple[int, int]) -> None:
    """A header past twice Pillow's MAX_IMAGE_PIXELS was refused by Pillow's own check,
    with its message ("exceeds limit of 178956970 pixels, could be decompression bomb
    DOS attack"), not the limit an uploader can go by."""
    with pytest.raises(TooLarge, match=f"more than {MAX_PIXELS:,}") as got:
        process(write("big.png", png_header_only(*size)), max_pixels=MAX_PIXELS)
    assert "178956970" not in got.value.message and "DOS" not in got.value.message


def test_a_lower_pillow_limit_is_the_one_stated(write: Writer,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    for size in ((150, 100), (1000, 1000)):  # over it, and over twice it (Pillow's error)
        with pytest.raises(TooLarge, match=r"more than 10,000( pixels)?$"):
            process(write("a.png", png_header_only(*size)), max_pixels=MAX_PIXELS)


@pytest.mark.parametrize("size", [(1, 100_000), (100_000, 1), (2100, 100)])
def test_absurd_proportions_are_corrupt(write: Writer, size: tuple[int, int]) -> None:
    with pytest.raises(Corrupt, match="proportions"):
        process(write("thin.png", encode(Image.new("L", size, 128), "PNG")), max_pixels=MAX_PIXELS)


def test_proportions_up_to_the_limit_are_fine(write: Writer) -> None:
    got = process(write("long.png", encode(Image.new("L", (2000, 100), 128), "PNG")),
                  max_pixels=MAX_PIXELS)
    assert (got.width, got.height) == (191, 100)  # centre crop to 1.91:1


def test_svg_is_unsupported(write: Writer) -> None:
    svg = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100" '
           b'height="100"><circle cx="50" cy="50" r="40" fill="red"/></svg>')
    with pytest.raises(Unsupported):
        process(write("pic.svg", svg), max_pixels=MAX_PIXELS)


def test_pdf_is_unsupported(write: Writer) -> None:
    pdf = encode(scene(), "PDF")
    assert pdf.startswith(b"%PDF")
    with pytest.raises(Unsupported):
        process(write("pic.pdf", pdf), max_pixels=MAX_PIXELS)


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO", "PPM"])
def test_formats_pillow_reads_but_we_do_not_accept(write: Writer, fmt: str) -> None:
    with pytest.raises(Unsupported):
        process(write("pic.jpg", encode(scene(64, 64), fmt)), max_pixels=MAX_PIXELS)


def test_jpeg_renamed_png_is_processed_as_jpeg(write: Writer) -> None:
    got = process(write("photo.png", encode(scene(), "JPEG")), max_pixels=MAX_PIXELS)
    assert got.source_format == "jpeg"
    assert (got.width, got.height) == (600, 400)


def test_polyglot_jpeg_with_zip_is_corrupt(write: Writer) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("evil.php", "<?php echo 1; ?>")
    data = encode(scene(), "JPEG") + archive.getvalue()
    decode(data)  # Pillow alone would happily read it
    with pytest.raises(Corrupt):
        process(write("poly.jpg", data), max_pixels=MAX_PIXELS)


def test_heif_without_its_plugin_is_unsupported(write: Writer,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "HEIF_SUPPORTED", False)
    head = struct.pack(">I", 24) + b"ftypheic\0\0\0\0mif1heic" + b"\0" * 100
    with pytest.raises(Unsupported, match="HEIC"):
        process(write("x.heic", head), max_pixels=MAX_PIXELS)


def test_heic_sample_is_accepted_with_its_plugin() -> None:
    pytest.importorskip("pillow_heif")
    assert pipeline.HEIF_SUPPORTED
    got = process(shared(PHOTOS / "iphone_13_pro_max.HEIC"), max_pixels=MAX_PIXELS)
    assert got.source_format == "heif"


def test_corrupt_heif_is_corrupt(write: Writer) -> None:
    pytest.importorskip("pillow_heif")
    head = struct.pack(">I", 24) + b"ftypheic\0\0\0\0mif1heic" + random.Random(2).randbytes(500)
    with pytest.raises(Corrupt):
        process(write("x.heic", head), max_pixels=MAX_PIXELS)


def test_animated_gif_uses_its_first_frame(write: Writer) -> None:
    palette = [0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * 759
    frames = []
    for index in (1, 2, 2):
        f = Image.new("P", (120, 90), index)
        f.putpalette(palette)
        frames.append(f)
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    got = process(write("anim.gif", out.getvalue()), max_pixels=MAX_PIXELS)
    assert got.source_format == "gif"
    r, _g, b = decode(got.variant("thumb").data).getpixel((75, 75))
    assert r > 200 and b < 50  # red, the first frame, not blue


def test_transparency_is_flattened_on_white(write: Writer) -> None:
    clear = Image.new("RGBA", (100, 100), (255, 0, 0, 0))
    got = process(write("a.png", encode(clear, "PNG")), max_pixels=MAX_PIXELS)
    assert min(decode(got.variant("feed").data).getpixel((50, 50))) > 245


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "I;16", "CMYK", "RGBA"])
def test_every_pillow_mode_becomes_rgb(write: Writer, mode: str) -> None:
    img = scene(200, 150).convert(mode) if mode != "I;16" else Image.new("I;16", (200, 150), 3000)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    got = process(write("m.img", encode(img, fmt)), max_pixels=MAX_PIXELS)
    assert all(decode(v.data).mode == "RGB" for v in got.variants)


def test_bad_options_are_value_errors(write: Writer) -> None:
    path = write("ok.jpg", encode(scene(), "JPEG"))
    with pytest.raises(ValueError, match="filter"):
        process(path, max_pixels=MAX_PIXELS, filter="sepia-ish")
    with pytest.raises(ValueError, match="kind"):
        process(path, max_pixels=MAX_PIXELS, kind="banner")


def test_a_jpeg_of_repeated_scans_is_corrupt_before_it_is_decoded(write: Writer) -> None:
    """Each scan is a pass of the decoder over every block: a small flat progressive
    JPEG with its last scan repeated cost ~26 ms of CPU per ~75-byte scan at 7000 x 7000
    (hours for a 30 MB upload, on a worker that cannot be cancelled). Refused by the
    structure walk, which costs next to nothing."""
    data = encode(Image.new("RGB", (640, 480), (120, 130, 140)), "JPEG", progressive=True)
    last_scan = data.rindex(b"\xff\xda")
    scan, end = data[last_scan:-2], data[-2:]
    assert end == b"\xff\xd9"
    honest = data.count(b"\xff\xda")
    assert 1 < honest <= 20  # what an encoder writes passes (test_clean_images_pass)
    decode(data[:-2] + scan * 10 + end)  # a few extra scans: still a JPEG Pillow decodes
    process(write("few.jpg", data[:-2] + scan * 10 + end), max_pixels=MAX_PIXELS)
    bomb = data[:-2] + scan * 150 + end
    with pytest.raises(Corrupt, match="scans"):
        process(write("scans.jpg", bomb), max_pixels=MAX_PIXELS)


@pytest.mark.parametrize("mode, clear", [("L", 0), ("RGB", (0, 0, 0))])
def test_a_pngs_transparent_colour_is_flattened_on_white(write: Writer, mode: str,
                                                         clear: object) -> None:
    """A PNG without alpha can still name a transparent colour (tRNS): that became
    black, not white as an alpha channel's transparency does."""
    img = Image.new(mode, (100, 100), clear)  # type: ignore[arg-type]
    got = process(write("t.png", encode(img, "PNG", transparency=clear)), max_pixels=MAX_PIXELS)
    assert min(decode(got.variant("feed").data).getpixel((50, 50))) > 245
    opaque = process(write("o.png", encode(img, "PNG")), max_pixels=MAX_PIXELS)
    assert max(decode(opaque.variant("feed").data).getpixel((50, 50))) < 10  # black stays


def test_a_huge_colour_profile_is_ignored_and_not_kept(write: Writer) -> None:
    """Profiles were cached by their bytes (16 of them, each up to nearly the body
    limit, held by every node process). One past MEDIA_MAX_ICC_BYTES is now taken as
    absent: the photo is processed as sRGB and nothing of the profile stays."""
    huge = random.Random(3).randbytes(pipeline.limits.MEDIA_MAX_ICC_BYTES + 1)
    flat = Image.new("RGB", (64, 48), (200, 100, 60))
    got = process(write("icc.webp", encode(flat, "WEBP", icc_profile=huge, lossless=True)),
                  max_pixels=MAX_PIXELS)
    r, _g, b = decode(got.variant("thumb").data).getpixel((10, 10))
    assert abs(r - 200) <= 3 and abs(b - 60) <= 3
    assert all(len(key[0]) == 32 for key in pipeline._transforms)  # digests, not profiles


def test_pillows_bomb_warning_is_a_refusal_not_a_warning(write: Writer) -> None:
    """Between Pillow's MAX_IMAGE_PIXELS and twice that it only warned: a line on
    stderr, outside the JSON log, for each such upload (seen in the walkthrough with
    a 108-megapixel PNG). Now it is refused like any other size, and nothing warns."""
    size = (10_000, Image.MAX_IMAGE_PIXELS // 10_000 + 100)  # just past Pillow's limit
    with warnings.catch_warnings(record=True) as caught:
        MediaWorkers(1)  # as a node's start does
        with pytest.raises(TooLarge, match="more than"):
            process(write("big.png", png_header_only(*size)), max_pixels=10**12)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
