"""Each filter moves the picture the way its docstring says, deterministically."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageStat

from media.filters import FILTERS, Adjustments, apply
from media.pipeline import process
from tests.media.conftest import MAX_PIXELS, Writer, decode, encode, scene

NAMES = ["normal", "clarendon", "gingham", "moon", "lark", "reyes", "juno", "slumber", "crema"]


def picture() -> Image.Image:
    """The test scene with a pure black and a pure white patch."""
    im = scene(320, 240, seed=5)
    im.paste((0, 0, 0), (100, 10, 130, 40))
    im.paste((255, 255, 255), (140, 10, 170, 40))
    return im


@pytest.fixture(scope="module")
def img() -> Image.Image:
    return picture()


def brightness(im: Image.Image) -> float:
    return ImageStat.Stat(im.convert("L")).mean[0]


def contrast(im: Image.Image) -> float:
    return ImageStat.Stat(im.convert("L")).stddev[0]


def saturation(im: Image.Image) -> float:
    return ImageStat.Stat(im.convert("HSV")).mean[1]


def warmth(im: Image.Image) -> float:
    r, _g, b = ImageStat.Stat(im).mean
    return r / b


def darkest(im: Image.Image) -> int:
    return int(im.convert("L").getextrema()[0])


def test_the_filters_are_there_and_documented() -> None:
    assert sorted(FILTERS) == sorted(NAMES)
    for name, f in FILTERS.items():
        assert f.__doc__ and len(f.__doc__) > 15, name


@pytest.mark.parametrize("name", NAMES)
def test_filters_are_deterministic_rgb_same_size(img: Image.Image, name: str) -> None:
    a, b = apply(img, name), apply(img.copy(), name)
    assert a.mode == "RGB" and a.size == img.size
    assert a.tobytes() == b.tobytes()
    assert img.tobytes() == picture().tobytes()  # input untouched


def test_normal_is_identity(img: Image.Image) -> None:
    assert apply(img, "normal").tobytes() == img.tobytes()
    assert apply(img, "normal", Adjustments()).tobytes() == img.tobytes()


@pytest.mark.parametrize("name", [n for n in NAMES if n != "normal"])
def test_every_filter_changes_the_picture(img: Image.Image, name: str) -> None:
    assert apply(img, name).tobytes() != img.tobytes()


def test_moon_is_greyscale_with_lifted_contrast(img: Image.Image) -> None:
    out = apply(img, "moon")
    r, g, b = out.split()
    assert r.tobytes() == g.tobytes() == b.tobytes()
    assert contrast(out) > contrast(img.convert("L")) * 1.05
    assert brightness(out) > brightness(img)


def test_clarendon_adds_contrast_and_saturation(img: Image.Image) -> None:
    out = apply(img, "clarendon")
    assert contrast(out) > contrast(img) * 1.1
    assert saturation(out) > saturation(img) * 1.1


def test_gingham_is_faded(img: Image.Image) -> None:
    out = apply(img, "gingham")
    assert contrast(out) < contrast(img) * 0.95
    assert darkest(out) >= 20 and darkest(img) == 0
    assert saturation(out) < saturation(img)


def test_lark_is_brighter_and_flatter(img: Image.Image) -> None:
    out = apply(img, "lark")
    assert brightness(out) > brightness(img) + 8
    assert contrast(out) < contrast(img) * 1.05
    assert darkest(out) >= 8


def test_reyes_is_dusty(img: Image.Image) -> None:
    out = apply(img, "reyes")
    assert saturation(out) < saturation(img) * 0.85
    assert brightness(out) > brightness(img)
    assert contrast(out) < contrast(img)


def test_juno_is_warm_and_vivid(img: Image.Image) -> None:
    out = apply(img, "juno")
    assert saturation(out) > saturation(img) * 1.1
    assert warmth(out) > warmth(img) * 1.05


@pytest.mark.parametrize(("name", "at_most"), [("slumber", 0.8), ("crema", 0.85)])
def test_slumber_and_crema_are_desaturated_and_warm(img: Image.Image, name: str,
                                                    at_most: float) -> None:
    out = apply(img, name)
    assert saturation(out) < saturation(img) * at_most
    assert warmth(out) > warmth(img)
    assert darkest(out) >= 4


def test_unknown_filter_is_a_value_error(img: Image.Image) -> None:
    with pytest.raises(ValueError, match="unknown filter"):
        apply(img, "valencia")
    with pytest.raises(ValueError):
        apply(img, None)  # type: ignore[arg-type]


def test_non_rgb_input_is_converted(img: Image.Image) -> None:
    assert apply(img.convert("L"), "juno").mode == "RGB"
    assert apply(img.convert("RGBA"), "normal").mode == "RGB"


# --- adjustments ---------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [
    {"brightness": 1.5}, {"contrast": -1.01}, {"saturation": math.nan},
    {"warmth": math.inf}, {"brightness": "0.5"}, {"contrast": True}, {"warmth": None},
])
def test_adjustments_are_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Adjustments(**bad)  # type: ignore[arg-type]


def test_adjustments_limits_are_inclusive() -> None:
    Adjustments(brightness=-1, contrast=1, saturation=-1.0, warmth=1.0)


def test_brightness(img: Image.Image) -> None:
    assert brightness(apply(img, "normal", Adjustments(brightness=0.4))) > brightness(img) + 10
    assert brightness(apply(img, "normal", Adjustments(brightness=-0.4))) < brightness(img) - 10


def test_contrast(img: Image.Image) -> None:
    assert contrast(apply(img, "normal", Adjustments(contrast=0.5))) > contrast(img) * 1.15
    assert contrast(apply(img, "normal", Adjustments(contrast=-0.5))) < contrast(img) * 0.85


def test_saturation(img: Image.Image) -> None:
    assert saturation(apply(img, "normal", Adjustments(saturation=0.5))) > saturation(img) * 1.1
    assert saturation(apply(img, "normal", Adjustments(saturation=-0.5))) < saturation(img) * 0.9
    r, g, b = apply(img, "normal", Adjustments(saturation=-1)).split()
    assert r.tobytes() == g.tobytes() == b.tobytes()


def test_warmth(img: Image.Image) -> None:
    assert warmth(apply(img, "normal", Adjustments(warmth=0.6))) > warmth(img) * 1.1
    assert warmth(apply(img, "normal", Adjustments(warmth=-0.6))) < warmth(img) * 0.9


def test_adjustments_apply_on_top_of_a_filter(img: Image.Image) -> None:
    plain = apply(img, "moon")
    warmer = apply(img, "moon", Adjustments(warmth=0.5))
    assert warmth(warmer) > warmth(plain) * 1.05


unit = st.floats(min_value=-1, max_value=1, allow_nan=False)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(NAMES), unit, unit, unit, unit)
def test_any_valid_adjustment_works(name: str, b: float, c: float, s: float, w: float) -> None:
    small = scene(48, 32)
    out = apply(small, name, Adjustments(brightness=b, contrast=c, saturation=s, warmth=w))
    assert out.mode == "RGB" and out.size == small.size


@given(st.floats().filter(lambda v: not -1 <= v <= 1))
def test_any_out_of_range_adjustment_fails(v: float) -> None:
    with pytest.raises(ValueError):
        Adjustments(warmth=v)


# --- through the pipeline --------------------------------------------------------------------

def test_pipeline_applies_filter_to_every_variant(write: Writer) -> None:
    path = write("in.jpg", encode(scene(900, 700), "JPEG", quality=92))
    got = process(path, max_pixels=MAX_PIXELS, filter="moon")
    for v in got.variants:
        assert saturation(decode(v.data)) < 4, (v.name, v.format)
    brighter = process(path, max_pixels=MAX_PIXELS, adjust=Adjustments(brightness=0.5))
    plain = process(path, max_pixels=MAX_PIXELS)
    assert brightness(decode(brighter.variant("feed").data)) > brightness(
        decode(plain.variant("feed").data)) + 10
