"""Fixtures for the media tests: generated images, and the shared real photos.

Real samples are used in place from ``<repo>/../shared/data``; tests that need them
skip cleanly when that directory is absent. Everything else is generated here.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
PHOTOS = SHARED_DATA / "photos"
ORIENTATION = SHARED_DATA / "exif-orientation"
MAX_PIXELS = 50_000_000


def shared(path: Path) -> Path:
    """``path`` under the shared data, or skip the test when it is not there."""
    if not path.is_file():
        pytest.skip(f"../shared/data not present: {path}")
    return path


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def scene(w: int = 600, h: int = 400, seed: int = 0) -> Image.Image:
    """An asymmetric, colourful picture: any flip or rotation of it looks different.

    Coloured blocks in three corners, an "L" shape, gradients and mild noise, so
    filters have saturation and contrast to work on and encoders have texture.
    """
    base = Image.merge("RGB", (
        Image.linear_gradient("L").resize((w, h)),
        Image.linear_gradient("L").rotate(90).resize((w, h)),
        Image.radial_gradient("L").resize((w, h)),
    ))
    d = ImageDraw.Draw(base)
    d.rectangle((0, 0, w // 4, h // 4), fill=(230, 30, 30))
    d.rectangle((w - w // 5, 0, w - 1, h // 3), fill=(30, 200, 40))
    d.rectangle((0, h - h // 4, w // 6, h - 1), fill=(20, 40, 220))
    d.rectangle((w // 2, h // 3, w // 2 + w // 12, h - h // 6), fill=(250, 250, 250))
    d.rectangle((w // 2, h - h // 4, w - w // 4, h - h // 6), fill=(250, 250, 250))
    rnd = random.Random(seed)
    noise = Image.frombytes("L", (w // 4, h // 4), rnd.randbytes((w // 4) * (h // 4)))
    noise = noise.resize((w, h), Image.Resampling.BICUBIC).convert("RGB")
    return Image.blend(base, noise, 0.12)


Writer = Callable[[str, bytes], Path]


@pytest.fixture
def write(tmp_path: Path) -> Writer:
    """``write(name, data) -> Path``: put bytes in a file for ``process``."""
    def _write(name: str, data: bytes) -> Path:
        p = tmp_path / name
        p.write_bytes(data)
        return p
    return _write
