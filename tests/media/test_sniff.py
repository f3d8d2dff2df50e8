"""Magic-byte sniffing and polyglot refusal."""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from media.errors import Corrupt
from media.sniff import HEAD_BYTES, check_polyglot, sniff
from tests.media.conftest import PHOTOS, Writer, encode, scene, shared


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\0\0\0\0" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\0" * 16


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("payload.txt", "hello from inside the picture")
    return out.getvalue()


@pytest.mark.parametrize(("fmt", "expected"), [
    ("JPEG", "jpeg"), ("PNG", "png"), ("WEBP", "webp"), ("GIF", "gif"),
])
def test_sniff_pillow_formats(fmt: str, expected: str) -> None:
    assert sniff(encode(scene(40, 30), fmt)[:HEAD_BYTES]) == expected


@pytest.mark.parametrize(("head", "expected"), [
    (ftyp(b"heic", b"mif1", b"heic"), "heif"),
    (ftyp(b"mif1", b"heic"), "heif"),
    (ftyp(b"mif1", b"miaf"), "heif"),
    (ftyp(b"avif", b"mif1", b"miaf"), None),
    (ftyp(b"mif1", b"avif"), None),
    (ftyp(b"isom", b"mp41"), None),
    (ftyp(b"qt  "), None),
    (b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>", None),
    (b"<svg width='1' height='1'/>", None),
    (b"%PDF-1.7\n", None),
    (b"BM" + b"\0" * 60, None),
    (b"II*\0" + b"\0" * 60, None),
    (b"PK\x03\x04" + b"\0" * 60, None),
    (b"", None),
    (b"\xff\xd8", None),
])
def test_sniff_by_magic(head: bytes, expected: str | None) -> None:
    assert sniff(head) == expected


def test_sniff_real_heic() -> None:
    head = shared(PHOTOS / "iphone_13_pro_max.HEIC").read_bytes()[:HEAD_BYTES]
    assert sniff(head) == "heif"


@given(st.binary(max_size=HEAD_BYTES))
def test_sniff_never_raises(head: bytes) -> None:
    assert sniff(head) in (None, "jpeg", "png", "webp", "gif", "heif")


# --- polyglots ---------------------------------------------------------------------------

@pytest.mark.parametrize(("fmt", "kw"), [
    ("JPEG", {}), ("JPEG", {"progressive": True}), ("PNG", {}), ("WEBP", {}), ("GIF", {}),
    ("WEBP", {"lossless": True}),
])
def test_clean_images_pass(write: Writer, fmt: str, kw: dict[str, object]) -> None:
    check_polyglot(write("clean", encode(scene(300, 200), fmt, **kw)))


def test_empty_file_is_not_a_polyglot(write: Writer) -> None:
    check_polyglot(write("empty", b""))


@pytest.mark.parametrize("name", [
    "iphone_hdr_YES.jpg", "HMD_Nokia_8.3_5G.jpg", "jolla.jpg", "DSCN0010.jpg", "DSCN0012.jpg",
    "iphone_13_pro_max.HEIC",
])
def test_real_photos_pass(name: str) -> None:
    check_polyglot(shared(PHOTOS / name))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_zip_appended_is_refused(write: Writer, fmt: str) -> None:
    with pytest.raises(Corrupt, match="ZIP"):
        check_polyglot(write("poly", encode(scene(), fmt) + zip_bytes()))


def test_zip_inside_a_jpeg_comment_is_refused(write: Writer) -> None:
    payload = zip_bytes()
    data = encode(scene(), "JPEG", comment=payload)
    assert Image.open(io.BytesIO(data)).info["comment"] == payload  # really inside
    with pytest.raises(Corrupt, match="ZIP"):
        check_polyglot(write("poly.jpg", data))


def test_empty_zip_end_record_is_refused(write: Writer) -> None:
    end_only = b"PK\x05\x06" + b"\0" * 18  # an empty archive is just this record
    with pytest.raises(Corrupt, match="ZIP"):
        check_polyglot(write("poly.png", encode(scene(), "PNG") + end_only))


def test_script_in_metadata_is_refused(write: Writer) -> None:
    data = encode(scene(), "JPEG", comment=b"<script>alert(document.cookie)</script>")
    with pytest.raises(Corrupt, match="HTML or script"):
        check_polyglot(write("xss.jpg", data))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_significant_trailer_is_refused(write: Writer, fmt: str) -> None:
    trailer = random.Random(3).randbytes(4096)
    with pytest.raises(Corrupt, match="after the end of the image"):
        check_polyglot(write("trailer", encode(scene(), fmt) + trailer))


def test_trailer_after_heif_boxes_is_refused(write: Writer) -> None:
    data = shared(PHOTOS / "iphone_13_pro_max.HEIC").read_bytes()
    check_polyglot(write("ok.heic", data))
    with pytest.raises(Corrupt):
        check_polyglot(write("bad.heic", data + b"\x01\x02\x03\x04" + b"x" * 500))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_padding_and_tiny_trailers_are_tolerated(write: Writer, fmt: str) -> None:
    data = encode(scene(), fmt)
    check_polyglot(write("pad", data + b"\0" * 10_000))
    check_polyglot(write("pad2", data + b"\xff" * 300 + b"\n"))
    check_polyglot(write("tiny", data + b"x" * 40))


def test_concatenated_jpegs_are_one_format(write: Writer) -> None:
    """MPF files (gain maps, depth maps) append further complete JPEGs."""
    data = encode(scene(), "JPEG") + encode(scene(120, 80, seed=2), "JPEG")
    check_polyglot(write("mpf.jpg", data))


def test_chance_zip_signatures_in_image_data_pass(write: Writer) -> None:
    """Bare 4-byte signatures without a plausible record around them are noise."""
    blob = b"".join(b"PK\x03\x04" + bytes(random.Random(i).randbytes(40)) for i in range(20))
    data = encode(scene(), "PNG")
    iend = data.rindex(b"IEND") - 4
    text = b"tEXt" + b"Comment\0" + blob.replace(b"\0", b"\1")
    chunk = struct.pack(">I", len(text) - 4) + text + struct.pack(">I", zlib.crc32(text))
    with_noise = data[:iend] + chunk + data[iend:]
    assert with_noise.count(b"PK\x03\x04") == 20
    check_polyglot(write("noise.png", with_noise))


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    p: Path = tmp_path_factory.mktemp("rnd") / "x"
    p.write_bytes(b"\xff\xd8\xff" + data)
    try:
        check_polyglot(p)
    except Corrupt:
        pass


# -- the structure walk's budget: it runs in Python, holding the GIL --------------------
def test_a_file_of_tiny_segments_is_refused(write: Writer) -> None:
    """Thousands of empty JPEG segments (or PNG chunks, or 1-byte GIF sub-blocks): a
    30 MB file of them was seconds of walking per upload."""
    jpeg = b"\xff\xd8" + b"\xff\xfe\x00\x02" * 60_000 + b"\xff\xd9"
    with pytest.raises(Corrupt, match="too many"):
        check_polyglot(write("segments.jpg", jpeg))
    png = encode(scene(), "PNG")
    iend = png.rindex(b"IEND") - 4
    empty = struct.pack(">I", 0) + b"tEXt" + struct.pack(">I", zlib.crc32(b"tEXt"))
    with pytest.raises(Corrupt, match="too many"):
        check_polyglot(write("chunks.png", png[:iend] + empty * 60_000 + png[iend:]))
    gif = encode(scene(), "GIF")
    head = gif[:gif.index(b"\x21\xf9")] if b"\x21\xf9" in gif else gif[:-1]
    comment = b"\x21\xfe" + b"\x01x" * 60_000 + b"\x00"  # a comment of 1-byte sub-blocks
    with pytest.raises(Corrupt, match="too many"):
        check_polyglot(write("blocks.gif", head + comment + b"\x3b"))


def test_real_files_stay_within_the_budget(write: Writer) -> None:
    """A GIF's sub-blocks are up to 255 bytes, a JPEG's fill bytes any number; a small
    animation of thousands of tiny frames (~6 steps a frame) is within the floor."""
    check_polyglot(write("big.gif", encode(scene(1200, 900), "GIF")))
    frames = [Image.new("P", (4, 4), i % 200) for i in range(3000)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=20)
    assert len(out.getvalue()) // 128 < 3000 * 6  # past size/128: the floor is what admits it
    check_polyglot(write("frames.gif", out.getvalue()))
    jpeg = encode(scene(), "JPEG")
    filled = jpeg[:2] + b"\xff" * 1_000_000 + jpeg[2:]  # fill before the first marker
    check_polyglot(write("filled.jpg", filled))


def test_hundreds_of_zip_signatures_are_refused(write: Writer) -> None:
    """Each signature is checked in Python; by chance there is one in a few hundred MB."""
    data = encode(scene(), "PNG")
    iend = data.rindex(b"IEND") - 4
    text = b"tEXt" + b"Comment\0" + b"PK\x03\x04" * 300
    chunk = struct.pack(">I", len(text) - 4) + text + struct.pack(">I", zlib.crc32(text))
    with pytest.raises(Corrupt, match="ZIP"):
        check_polyglot(write("sigs.png", data[:iend] + chunk + data[iend:]))
