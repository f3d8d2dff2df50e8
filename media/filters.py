"""Instagram-style filters and the user's adjustments, as whole-image operations.

Every filter is a deterministic ``Image -> Image`` on RGB made of at most a few
passes, each done in C by Pillow: a per-channel tone curve (``Image.point`` with a
256-entry table per channel, built once at import) or a 3x4 colour matrix
(``Image.convert("RGB", matrix)``: saturation, sepia, greyscale). No Python runs
per pixel. The looks follow the well-known CSS recreations of the Instagram
filters (contrast/brightness/saturate/sepia plus a tint), simplified.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

from PIL import Image

Curve = Callable[[float], float]
Matrix = tuple[float, ...]  # 12 values: three rows of (r, g, b, offset)

# Rec. 709 luma weights, as used by the CSS filter matrices.
_LR, _LG, _LB = 0.2126, 0.7152, 0.0722


# --- building blocks -------------------------------------------------------------------

def _contrast(f: float) -> Curve:
    return lambda x: (x - 127.5) * f + 127.5


def _gain(f: float) -> Curve:
    return lambda x: x * f


def _lift(black: float, white: float = 255.0) -> Curve:
    """Map 0..255 onto black..white: lifted blacks give the faded look."""
    return lambda x: black + x * (white - black) / 255.0


def _then(*curves: Curve) -> Curve:
    def run(x: float) -> float:
        for c in curves:
            x = c(x)
        return x
    return run


def _table(r: Curve, g: Curve | None = None, b: Curve | None = None) -> list[int]:
    """A 768-entry lookup table for ``Image.point`` (one curve per channel)."""
    out: list[int] = []
    for curve in (r, g or r, b or r):
        out.extend(min(255, max(0, round(curve(float(x))))) for x in range(256))
    return out


def _saturation(s: float) -> Matrix:
    """The CSS ``saturate(s)`` matrix: 0 is grey, 1 unchanged, >1 more vivid."""
    return (
        _LR + (1 - _LR) * s, _LG - _LG * s, _LB - _LB * s, 0.0,
        _LR - _LR * s, _LG + (1 - _LG) * s, _LB - _LB * s, 0.0,
        _LR - _LR * s, _LG - _LG * s, _LB + (1 - _LB) * s, 0.0,
    )


def _sepia(a: float) -> Matrix:
    """The CSS ``sepia(a)`` matrix: 0 unchanged, 1 full sepia."""
    k = 1 - a
    return (
        0.393 + 0.607 * k, 0.769 - 0.769 * k, 0.189 - 0.189 * k, 0.0,
        0.349 - 0.349 * k, 0.686 + 0.314 * k, 0.168 - 0.168 * k, 0.0,
        0.272 - 0.272 * k, 0.534 - 0.534 * k, 0.131 + 0.869 * k, 0.0,
    )


_GREY: Matrix = (_LR, _LG, _LB, 0.0) * 3


def _curves(img: Image.Image, table: list[int]) -> Image.Image:
    return img.point(table)


def _matrix(img: Image.Image, m: Matrix) -> Image.Image:
    return img.convert("RGB", m)


# --- the filters -------------------------------------------------------------------------

def normal(img: Image.Image) -> Image.Image:
    """No filter: the image unchanged."""
    return img


_CLARENDON = _table(_contrast(1.2), _contrast(1.2),
                    _then(_contrast(1.2), lambda x: x + 14 * (1 - x / 255)))


def clarendon(img: Image.Image) -> Image.Image:
    """Punchy: contrast x1.2 and saturation x1.35, shadows nudged towards blue."""
    return _matrix(_curves(img, _CLARENDON), _saturation(1.35))


_GINGHAM = _table(_then(_contrast(0.85), _lift(30, 250)),
                  _then(_contrast(0.85), _lift(24, 244)),
                  _then(_contrast(0.85), _lift(36, 252)))


def gingham(img: Image.Image) -> Image.Image:
    """Faded and soft: contrast x0.85, blacks lifted, saturation x0.85, lavender cast."""
    return _curves(_matrix(img, _saturation(0.85)), _GINGHAM)


_MOON = _table(_then(_contrast(1.1), _gain(1.1)))


def moon(img: Image.Image) -> Image.Image:
    """Black and white: greyscale (equal channels), then contrast x1.1, brightness x1.1."""
    return _curves(_matrix(img, _GREY), _MOON)


_LARK = _table(_then(_contrast(0.9), _gain(1.08), _lift(10)),
               _then(_contrast(0.9), _gain(1.1), _lift(12)),
               _then(_contrast(0.9), _gain(1.12), _lift(16)))


def lark(img: Image.Image) -> Image.Image:
    """Bright and airy: brightness about x1.1 with lifted shadows, contrast x0.9, cool."""
    return _curves(img, _LARK)


_REYES = _table(_then(_gain(1.1), _contrast(0.85), _lift(14)))


def reyes(img: Image.Image) -> Image.Image:
    """Dusty vintage: 22% sepia, saturation x0.75, brightness x1.1, contrast x0.85."""
    return _curves(_matrix(_matrix(img, _sepia(0.22)), _saturation(0.75)), _REYES)


_JUNO = _table(_then(_contrast(1.1), _gain(1.06)),
               _then(_contrast(1.1), _gain(1.02)),
               _then(_contrast(1.1), _gain(0.92)))


def juno(img: Image.Image) -> Image.Image:
    """Warm and vivid: saturation x1.35, contrast x1.1, reds up and blues down."""
    return _curves(_matrix(img, _saturation(1.35)), _JUNO)


_SLUMBER = _table(_then(_gain(1.05), _lift(18, 255)),
                  _then(_gain(1.04), _lift(16, 250)),
                  _then(_gain(1.0), _lift(10, 228)))


def slumber(img: Image.Image) -> Image.Image:
    """Dreamy: saturation x0.66, slightly brighter, blacks lifted, warm yellow cast."""
    return _curves(_matrix(img, _saturation(0.66)), _SLUMBER)


_CREMA = _table(_then(_contrast(0.9), _lift(12, 255)),
                _then(_contrast(0.9), _lift(10, 248)),
                _then(_contrast(0.9), _lift(4, 232)))


def crema(img: Image.Image) -> Image.Image:
    """Creamy: saturation x0.7, contrast x0.9, blacks lifted, warm cream cast."""
    return _curves(_matrix(img, _saturation(0.7)), _CREMA)


FILTERS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "normal": normal,
    "clarendon": clarendon,
    "gingham": gingham,
    "moon": moon,
    "lark": lark,
    "reyes": reyes,
    "juno": juno,
    "slumber": slumber,
    "crema": crema,
}


# --- adjustments -----------------------------------------------------------------------

@dataclass(frozen=True)
class Adjustments:
    """The user's sliders, each in -1..1 with 0 meaning unchanged.

    brightness: gain x(1 + b/2); contrast: x(1 + c/2) around mid-grey;
    saturation: x(1 + s) (-1 is greyscale); warmth: red x(1 + 0.15w), blue x(1 - 0.15w).
    """

    brightness: float = 0
    contrast: float = 0
    saturation: float = 0
    warmth: float = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{f.name} must be a number, not {type(value).__name__}")
            if not math.isfinite(value) or not -1 <= value <= 1:
                raise ValueError(f"{f.name} must be within -1..1, got {value!r}")

    @property
    def neutral(self) -> bool:
        return not (self.brightness or self.contrast or self.saturation or self.warmth)


WARMTH_GAIN = 0.15


def _adjust(img: Image.Image, adj: Adjustments) -> Image.Image:
    if adj.saturation:
        img = _matrix(img, _saturation(1 + adj.saturation))
    if adj.brightness or adj.contrast or adj.warmth:
        tone = _then(_gain(1 + adj.brightness / 2), _contrast(1 + adj.contrast / 2))
        img = _curves(img, _table(_then(tone, _gain(1 + WARMTH_GAIN * adj.warmth)),
                                  tone,
                                  _then(tone, _gain(1 - WARMTH_GAIN * adj.warmth))))
    return img


def apply(img: Image.Image, name: str, adj: Adjustments | None = None) -> Image.Image:
    """The named filter, then the adjustments on top. Unknown name: ``ValueError``."""
    try:
        f = FILTERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown filter {name!r}") from None
    if img.mode != "RGB":
        img = img.convert("RGB")
    img = f(img)
    if adj is not None and not adj.neutral:
        img = _adjust(img, adj)
    return img
