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


def _bad_length(name: str, min_len: int, max_len: int) -> Invalid:
    """The bounds as they are: "at most N" without a minimum ("must be 0 to N
    characters" was what a too long comment, message or like's `idem` got)."""
    if min_len <= 0:
        return Invalid(f"`{name}` must be at most {max_len} characters")
    return Invalid(f"`{name}` must be {min_len} to {max_len} characters")


def _string(args: dict[str, Any], name: str, required: bool) -> str | None:
    value = _get(args, name, required)
    if value is not None and not isinstance(value, str):
        raise Invalid(f"`{name}` must be a string")
    return value


def _refuse_nul(name: str, value: str) -> None:
    if "\x00" in value:  # Postgres text cannot hold it: refuse it here, not as `internal`
        raise Invalid(f"`{name}` must not contain a NUL character")


def text(args: dict[str, Any], name: str, *, max_len: int, min_len: int = 0,
         required: bool = True) -> str | None:
    value = _string(args, name, required)
    if value is None:
        return None
    if not min_len <= len(value) <= max_len:
        raise _bad_length(name, min_len, max_len)
    _refuse_nul(name, value)
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
    caption that fits was refused for the newline a client added after it). With a
    minimum, nothing left after trimming is "blank"."""
    value = _string(args, name, required)
    if value is None:
        return None
    if len(value) > max_len + TRIM_SLACK:  # its own bounds in the message, not the slack
        raise _bad_length(name, min_len, max_len)
    _refuse_nul(name, value)
    value = value.strip()
    if min_len > 0 and not value:
        raise Invalid(f"`{name}` must not be blank")
    if not min_len <= len(value) <= max_len:
        raise _bad_length(name, min_len, max_len)
    return value


CURSOR_MAX = 80  # characters of a cursor: its kind and a few numbers
FOREIGN_CURSOR = ("`cursor` was not given out by this list: pass a cursor back to the op "
                  "that returned it, with the same `mode`, `kind` or folder")


def make_cursor(kind: str, *fields: int | str) -> str:
    """A cursor to give out: `kind.field.field…`. The kind names the list (op and mode)
    it pages, so that `cursor_fields` refuses it anywhere else; each list has its own."""
    return ".".join([kind, *map(str, fields)])


def cursor_fields(args: dict[str, Any], kinds: dict[str, int], *,
                  max_len: int = CURSOR_MAX) -> tuple[str, list[str]] | None:
    """The kind and fields (as text) of the `cursor` argument, None when it is absent or
    "" (the first page). `kinds` maps each kind this list gives out to its number of
    fields; the last field may hold dots (a node's name). A cursor of another kind (another
    op's, or this op's in another mode: a post id read as a ranking's offset gave a silent
    empty end), or malformed, is `Invalid` before anything is read."""
    raw = text(args, "cursor", max_len=max_len, required=False)
    if not raw:
        return None
    kind, _, rest = raw.partition(".")
    count = kinds.get(kind)
    if count is None:
        raise Invalid(FOREIGN_CURSOR)
    fields = rest.split(".", count - 1)
    if len(fields) != count or not all(fields):
        raise Invalid("bad `cursor`")
    return kind, fields


def cursor(args: dict[str, Any], kind: str, count: int) -> list[int] | None:
    """The `count` numbers of a cursor of `kind` (see `cursor_fields`), None for none."""
    found = cursor_fields(args, {kind: count})
    return None if found is None else [cursor_number(f) for f in found[1]]


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
