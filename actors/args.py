"""Typed reads of op arguments; a wrong type or range is `Invalid`, never a crash."""

from __future__ import annotations

import unicodedata
from typing import Any

from actors.errors import Invalid

_MISSING = object()
BIGINT_MAX = (1 << 63) - 1  # PostgreSQL's bigint, which every id and position is


def _get(args: dict[str, Any], name: str, required: bool) -> Any:
    value = args.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise Invalid(f"`{name}` is required")
        return None
    return value


def text(args: dict[str, Any], name: str, *, max_len: int, min_len: int = 0,
         required: bool = True) -> str | None:
    value = _get(args, name, required)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"`{name}` must be a string")
    if not min_len <= len(value) <= max_len:
        raise Invalid(f"`{name}` must be {min_len} to {max_len} characters")
    if "\x00" in value:  # Postgres text cannot hold it: refuse it here, not as `internal`
        raise Invalid(f"`{name}` must not contain a NUL character")
    return value


TRIM_SLACK = 1000  # whitespace around a trimmed text, beyond its limit, still accepted
# Characters that render as nothing though they are letters or symbols (Hangul fillers,
# the blank Braille pattern): a text of them is as blank as one of spaces.
INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def blank(value: str) -> bool:
    """Nothing to see: only whitespace, invisible formatting characters (zero-width
    space and joiners, word joiner, byte-order mark, bidirectional marks) or letters
    that render as nothing. A message or comment of those showed as an empty bubble."""
    return all(ch.isspace() or ch in INVISIBLE_LETTERS or unicodedata.category(ch) == "Cf"
               for ch in value)


def trimmed(args: dict[str, Any], name: str, *, max_len: int, min_len: int = 0,
            required: bool = True) -> str | None:
    """A text without its surrounding whitespace, its limits checked after trimming (a
    caption that fits was refused for the newline a client added after it)."""
    value = text(args, name, max_len=max_len + TRIM_SLACK, required=required)
    if value is None:
        return None
    value = value.strip()
    if not min_len <= len(value) <= max_len:
        raise Invalid(f"`{name}` must be {min_len} to {max_len} characters")
    return value


def cursor_number(part: str) -> int:
    """One number of an opaque cursor: ASCII digits within bigint, else `Invalid`.
    (`int()` takes "٣", "+5" and "5_0", and a number past bigint reached a query as an
    `internal` error.)"""
    if not (part.isascii() and part.isdigit() and len(part) <= 19) or int(part) > BIGINT_MAX:
        raise Invalid("bad `cursor`")
    return int(part)


def integer(args: dict[str, Any], name: str, *, required: bool = True, minimum: int = 0,
            maximum: int = BIGINT_MAX) -> int | None:
    value = _get(args, name, required)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise Invalid(f"`{name}` must be an integer")
    if not minimum <= value <= maximum:
        raise Invalid(f"`{name}` is out of range")
    return value


def flag(args: dict[str, Any], name: str, *, required: bool = True) -> bool | None:
    value = _get(args, name, required)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise Invalid(f"`{name}` must be true or false")
    return value


def only(args: dict[str, Any], allowed: set[str]) -> None:
    """Reject unknown argument names, so typos fail loudly."""
    extra = set(args) - allowed
    if extra:
        raise Invalid(f"unknown argument(s): {', '.join(sorted(extra))}")
