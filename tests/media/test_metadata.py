"""No output keeps EXIF, GPS, XMP, comments or a colour profile of the upload."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageCms

from media.pipeline import Processed, process
from tests.media.conftest import MAX_PIXELS, PHOTOS, Writer, decode, encode, scene, shared

GPS_IFD = 0x8825
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
       b'22-rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
       b'exif:GPSLatitude="52,31.2N"/></rdf:RDF></x:xmpmeta>')


def jpeg_segments(data: bytes) -> tuple[list[int], bytes]:
    """The markers of a JPEG's header segments up to the first scan, and those bytes."""
    assert data[:2] == b"\xff\xd8"
    i, markers = 2, []
    while i < len(data):
        assert data[i] == 0xFF
        marker = data[i + 1]
        markers.append(marker)
        if marker == 0xDA:
            return markers, data[:i]
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    raise AssertionError("no scan")


def webp_chunks(data: bytes) -> list[bytes]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    i, chunks = 12, []
    while i + 8 <= len(data):
        size = int.from_bytes(data[i + 4 : i + 8], "little")
        chunks.append(data[i : i + 4])
        i += 8 + size + (size & 1)
    return chunks


def assert_clean(result: Processed) -> None:
    outputs = [(v.name, v.format, v.data) for v in result.variants]
    outputs.append(("master", "jpeg", result.master))
    assert len(outputs) >= 5
    for name, fmt, data in outputs:
        img = Image.open(io.BytesIO(data))
        assert img.format == fmt.upper(), name
        assert len(img.getexif()) == 0, name
        assert "GPSInfo" not in str(img.getexif()), name
        for key in ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment"):
            assert key not in img.info, (name, key)
        assert b"Exif\x00\x00" not in data, name
        assert b"http://ns.adobe.com/xap/1.0/" not in data, name
        assert b"xmpmeta" not in data, name
        if fmt == "jpeg":
            # only APP0 (JFIF), quantisation/Huffman tables, frame and scan headers
            markers, header = jpeg_segments(data)
            assert set(markers) <= {0xE0, 0xDB, 0xC4, 0xC0, 0xC2, 0xDD, 0xDA}, name
            assert b"GPS" not in header and b"ICC_PROFILE" not in header, name
        else:
            assert set(webp_chunks(data)) <= {b"VP8 ", b"VP8L", b"VP8X", b"ALPH"}, name


def gps_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "GlintCam"  # Make
    exif[0x0131] = "secret-software 1.0"  # Software
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2] = "N", (52.0, 31.0, 12.0)
    gps[3], gps[4] = "E", (13.0, 24.0, 36.0)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return encode(scene(800, 600), "JPEG", exif=exif.tobytes(), xmp=XMP, comment=b"home address",
                  icc_profile=icc, quality=92)


def test_generated_gps_jpeg_is_stripped(write: Writer) -> None:
    data = gps_jpeg()
    fixture = Image.open(io.BytesIO(data))  # the fixture really carries it all
    assert fixture.getexif().get_ifd(GPS_IFD)[2] == (52.0, 31.0, 12.0)
    assert "xmp" in fixture.info and "icc_profile" in fixture.info and "comment" in fixture.info
    assert_clean(process(write("gps.jpg", data), max_pixels=MAX_PIXELS))


@pytest.mark.parametrize("kind", ["photo", "avatar"])
@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_generated_gps_png_and_webp_are_stripped(write: Writer, fmt: str, kind: str) -> None:
    exif = Image.Exif()
    exif.get_ifd(GPS_IFD)[2] = (52.0, 31.0, 12.0)
    data = encode(scene(500, 400), fmt, exif=exif.tobytes(), xmp=XMP)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD)
    assert_clean(process(write("gps.img", data), kind=kind, max_pixels=MAX_PIXELS))


@pytest.mark.parametrize("name", [
    "iphone_hdr_YES.jpg", "HMD_Nokia_8.3_5G.jpg", "DSCN0010.jpg", "DSCN0012.jpg", "jolla.jpg",
])
def test_shared_gps_photos_are_stripped(name: str) -> None:
    path = shared(PHOTOS / name)
    if name != "jolla.jpg":
        assert Image.open(path).getexif().get_ifd(GPS_IFD), "sample should carry GPS"
    assert_clean(process(path, max_pixels=MAX_PIXELS))


def test_shared_heic_is_stripped_and_made_srgb() -> None:
    pytest.importorskip("pillow_heif")
    path = shared(PHOTOS / "iphone_13_pro_max.HEIC")
    assert "icc_profile" in Image.open(path).info  # Display P3
    assert_clean(process(path, max_pixels=MAX_PIXELS, filter="clarendon"))


def test_embedded_profile_is_converted_to_srgb(write: Writer) -> None:
    """The same numbers in Display P3 are a more saturated colour than in sRGB."""
    pytest.importorskip("pillow_heif")
    icc = Image.open(shared(PHOTOS / "iphone_13_pro_max.HEIC")).info["icc_profile"]
    flat = Image.new("RGB", (200, 200), (200, 100, 60))
    tagged = process(write("p3.jpg", encode(flat, "JPEG", icc_profile=icc, quality=95)),
                     max_pixels=MAX_PIXELS)
    plain = process(write("srgb.jpg", encode(flat, "JPEG", quality=95)), max_pixels=MAX_PIXELS)
    r1, _g1, b1 = decode(tagged.variant("thumb").data).getpixel((75, 75))
    r0, _g0, b0 = decode(plain.variant("thumb").data).getpixel((75, 75))
    assert abs(r0 - 200) <= 3 and abs(b0 - 60) <= 3  # untagged is taken as sRGB
    assert r1 - b1 > (r0 - b0) + 10  # converted: wider spread in sRGB numbers
