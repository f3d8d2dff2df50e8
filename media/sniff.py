"""Recognise an upload by its magic bytes, and refuse files that carry a second format.

Names, extensions and Content-Type headers are never consulted: they are the
uploader's claim, the bytes are the fact.
"""

from __future__ import annotations

import mmap
import re
import struct
from pathlib import Path

from config import limits
from media.errors import Corrupt

HEAD_BYTES = 64  # read at least this much of a file before calling sniff()

_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"})
_GENERIC_BRANDS = frozenset({b"mif1", b"msf1", b"mif2"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})


def sniff(head: bytes) -> str | None:
    """Return "jpeg", "png", "webp", "gif" or "heif" for the file starting with ``head``.

    ``None`` for anything else (SVG, PDF, TIFF, BMP, AVIF, video, text, random bytes).
    ``head`` should be the first ``HEAD_BYTES`` bytes (HEIF brands live in the first box).
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[4:8] == b"ftyp" and _is_heif(head):
        return "heif"
    return None


def _is_heif(head: bytes) -> bool:
    """HEIF (HEVC-coded) by its ftyp brands; AVIF and plain MP4/MOV are not."""
    box_size = int.from_bytes(head[:4], "big")
    end = min(len(head), box_size if box_size >= 16 else 16)
    brands = {head[8:12]} | {head[i : i + 4] for i in range(16, end - 3, 4)}
    if brands & _HEIF_BRANDS:
        return True
    return head[8:12] in _GENERIC_BRANDS and not brands & _AVIF_BRANDS


# --- polyglots -------------------------------------------------------------------------

# ZIP record signatures: local file header, central directory header, end of central
# directory. Compressed image data is close to random, so a bare 4-byte signature turns
# up by chance about once per 1.4 GB; every hit is therefore checked for a plausible
# record structure before it counts, which takes chance hits to ~never.
_ZIP_SIGNATURE = re.compile(rb"PK(?:\x03\x04|\x01\x02|\x05\x06)")
_ZIP_METHODS = frozenset({0, 1, 6, 8, 9, 12, 14, 18, 19, 93, 95, 96, 97, 98, 99})
# Active web content hidden in metadata or comments (JPEG/HTML polyglots). Long or
# anchored patterns only, so that chance matches in compressed data stay negligible.
_ACTIVE_CONTENT = re.compile(rb"<script[\s>/]|<\?php\s|<html[\s>]|<!doctype\s+html|<iframe[\s>]",
                             re.IGNORECASE)
# A JPEG marker after entropy-coded data: 0xFF not followed by stuffing, RSTn or fill.
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_NOT_FF = re.compile(rb"[^\xff]")
_PADDING = b"\x00\xff"
# Boxes that may stand at the top level of a HEIF/ISO-BMFF file (ISO/IEC 14496-12, 23008-12).
_BMFF_TOP_LEVEL = frozenset({
    b"ftyp", b"meta", b"mdat", b"moov", b"moof", b"mfra", b"free", b"skip", b"uuid", b"pdin",
    b"styp", b"sidx", b"ssix", b"prft", b"emsg", b"meco", b"wide", b"idat", b"jumb",
})


def check_polyglot(path: Path | str) -> None:
    """Raise ``Corrupt`` when the file at ``path`` carries a second format.

    Looks for a ZIP archive anywhere (local header, central directory or its end
    record), for script/HTML markers, and for a significant trailer after the end of
    the image (JPEG EOI, PNG IEND, GIF trailer, the RIFF length of WebP, the last
    ISO-BMFF box of HEIF). Trailing complete JPEGs (MPF: gain maps, depth maps) are
    the same format and allowed; up to ``MEDIA_MAX_TRAILER_BYTES`` of other bytes and
    any amount of 0x00/0xFF padding are tolerated. A file whose structure can't be
    walked (truncated) is left to the decoder to refuse.
    """
    with open(path, "rb") as f:
        f.seek(0, 2)
        if f.tell() == 0:
            return
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            _check(buf)


def _check(buf: mmap.mmap) -> None:
    for seen, hit in enumerate(_ZIP_SIGNATURE.finditer(buf)):
        if seen >= limits.MEDIA_MAX_ZIP_SIGNATURES:
            raise Corrupt("the file carries ZIP records")  # never by chance
        if _plausible_zip_record(buf, hit.start()):
            raise Corrupt("the file carries a ZIP archive")
    if _ACTIVE_CONTENT.search(buf):
        raise Corrupt("the file carries HTML or script")
    end = _image_end(buf, sniff(buf[:HEAD_BYTES]))
    if end is None or end >= len(buf):
        return
    trailer = buf[end:]
    significant = len(trailer.translate(None, _PADDING))
    if significant > limits.MEDIA_MAX_TRAILER_BYTES:
        raise Corrupt(f"{len(trailer)} bytes of other data after the end of the image")


def _plausible_zip_record(buf: mmap.mmap, at: int) -> bool:
    kind = buf[at + 2 : at + 4]
    if kind == b"\x03\x04":  # local file header, 30 bytes + name
        fixed = buf[at : at + 30]
        if len(fixed) < 30:
            return False
        version, _flags, method = struct.unpack_from("<HHH", fixed, 4)
        name_len = struct.unpack_from("<H", fixed, 26)[0]
        name_at = at + 30
    elif kind == b"\x01\x02":  # central directory header, 46 bytes + name
        fixed = buf[at : at + 46]
        if len(fixed) < 46:
            return False
        version, _flags, method = struct.unpack_from("<HHH", fixed, 6)
        name_len = struct.unpack_from("<H", fixed, 28)[0]
        name_at = at + 46
    else:  # end of central directory, 22 bytes + comment
        fixed = buf[at : at + 22]
        if len(fixed) < 22:
            return False
        disk, cd_disk, here, total, cd_size, cd_offset, comment = struct.unpack_from(
            "<HHHHIIH", fixed, 4)
        return (disk == cd_disk and here == total and cd_offset + cd_size <= at
                and at + 22 + comment <= len(buf))
    if (version & 0xFF) > 63 or method not in _ZIP_METHODS or not 0 < name_len <= 1024:
        return False
    name = buf[name_at : name_at + name_len]
    return len(name) == name_len and b"\x00" not in name


class _Steps:
    """The structure walk's budget (MEDIA_MIN_STRUCTURE_STEPS, one more per
    MEDIA_BYTES_PER_STRUCTURE_STEP bytes): past it, the file is refused."""

    def __init__(self, size: int) -> None:
        self.left = max(limits.MEDIA_MIN_STRUCTURE_STEPS,
                        size // limits.MEDIA_BYTES_PER_STRUCTURE_STEP)

    def take(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise Corrupt("too many segments, chunks or blocks for the file's size")


def _image_end(buf: mmap.mmap, kind: str | None) -> int | None:
    """Offset just past the image's own data, or None when it can't be walked."""
    steps = _Steps(len(buf))
    if kind == "jpeg":
        end = _jpeg_end(buf, 0, steps)
        # MPF (multi-picture) files append further complete JPEGs: same format, keep going.
        while end is not None and buf[end : end + 3] == b"\xff\xd8\xff":
            more = _jpeg_end(buf, end, steps)
            if more is None:
                break
            end = more
        return end
    if kind == "png":
        return _png_end(buf, steps)
    if kind == "gif":
        return _gif_end(buf, steps)
    if kind == "webp":
        size = int.from_bytes(buf[4:8], "little")
        return 8 + size + (size & 1)
    if kind == "heif":
        return _bmff_end(buf, steps)
    return None


def _jpeg_end(buf: mmap.mmap, pos: int, steps: _Steps) -> int | None:
    """Offset past the JPEG's EOI (None: not walkable). Raises ``Corrupt`` past
    ``MEDIA_MAX_JPEG_SCANS`` scans: decoding costs a pass over the image per scan."""
    n = len(buf)
    scans = 0
    i = pos + 2  # past SOI
    while i < n:
        steps.take()
        if buf[i] != 0xFF:  # garbage between segments: libjpeg skips it, so do we
            i = buf.find(b"\xff", i)
            if i < 0:
                return None
        fill = _NOT_FF.search(buf, i)  # fill bytes (a loop over them took seconds)
        if fill is None:
            return None
        i = fill.start()
        marker = buf[i]
        i += 1
        if marker == 0xD9:  # EOI
            return i
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # standalone markers
            continue
        if i + 2 > n:
            return None
        length = (buf[i] << 8) | buf[i + 1]
        if length < 2:
            return None
        i += length
        if marker == 0xDA:  # SOS: entropy-coded data runs to the next real marker
            scans += 1
            if scans > limits.MEDIA_MAX_JPEG_SCANS:
                raise Corrupt(f"more than {limits.MEDIA_MAX_JPEG_SCANS} scans in one JPEG")
            found = _JPEG_MARKER.search(buf, i)
            if found is None:
                return None
            i = found.start()
    return None


def _png_end(buf: mmap.mmap, steps: _Steps) -> int | None:
    n = len(buf)
    i = 8
    while i + 8 <= n:
        steps.take()
        length = int.from_bytes(buf[i : i + 4], "big")
        kind = buf[i + 4 : i + 8]
        i += 12 + length
        if kind == b"IEND":
            return i if i <= n else None
    return None


def _gif_end(buf: mmap.mmap, steps: _Steps) -> int | None:
    n = len(buf)
    if n < 13:
        return None
    packed = buf[10]
    i = 13 + (3 * (2 << (packed & 7)) if packed & 0x80 else 0)
    while i < n:
        steps.take()
        block = buf[i]
        if block == 0x3B:  # trailer
            return i + 1
        if block == 0x21:  # extension: label, then sub-blocks
            i += 2
        elif block == 0x2C:  # image descriptor, local colour table, LZW code size
            if i + 10 > n:
                return None
            packed = buf[i + 9]
            i += 10 + (3 * (2 << (packed & 7)) if packed & 0x80 else 0) + 1
        else:
            return None
        while i < n:  # sub-blocks, each length-prefixed, ended by a zero length
            steps.take()
            length = buf[i]
            i += 1 + length
            if length == 0:
                break
    return None


def _bmff_end(buf: mmap.mmap, steps: _Steps) -> int | None:
    n = len(buf)
    i = 0
    while i + 8 <= n:
        steps.take()
        size = int.from_bytes(buf[i : i + 4], "big")
        kind = buf[i + 4 : i + 8]
        if kind not in _BMFF_TOP_LEVEL:
            return i  # not a top-level box: what follows is a trailer
        if size == 1:
            if i + 16 > n:
                return None
            size = int.from_bytes(buf[i + 8 : i + 16], "big")
        elif size == 0:  # box runs to the end of the file
            return n
        if size < 8:
            return None
        i += size
    return i if i <= n else None
