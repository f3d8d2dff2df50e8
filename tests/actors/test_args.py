"""Typed reads of op arguments (actors/args.py): texts are trimmed before their limits
are checked (a caption that fits was refused for the newline a client put after it),
cursor numbers are ASCII digits within bigint, and a cursor carries its list's kind."""

from __future__ import annotations

import pytest

from actors import args as A
from actors.errors import Invalid


def test_trimmed_checks_the_limit_after_trimming() -> None:
    assert A.trimmed({"t": "  " + "x" * 10 + "\n\n"}, "t", max_len=10) == "x" * 10
    assert A.trimmed({}, "t", max_len=10, required=False) is None
    for bad in ("x" * 11, " " * (A.TRIM_SLACK + 11), "a\x00b"):
        with pytest.raises(Invalid):
            A.trimmed({"t": bad}, "t", max_len=10)
    with pytest.raises(Invalid):
        A.trimmed({"t": "   "}, "t", max_len=10, min_len=1)


def test_length_messages_state_the_real_bounds() -> None:
    """"must be 0 to N characters" read as if nothing were fine, and a trimmed text past
    its slack was told the slack's bound."""
    cases = [(lambda: A.text({"t": "x" * 11}, "t", max_len=10),
              "`t` must be at most 10 characters"),
             (lambda: A.text({"t": ""}, "t", max_len=10, min_len=1),
              "`t` must be 1 to 10 characters"),
             (lambda: A.trimmed({"t": "x" * 11}, "t", max_len=10, min_len=1),
              "`t` must be 1 to 10 characters"),
             (lambda: A.trimmed({"t": "x" * (A.TRIM_SLACK + 11)}, "t", max_len=10),
              "`t` must be at most 10 characters"),
             (lambda: A.trimmed({"t": " \n "}, "t", max_len=10, min_len=1),
              "`t` must not be blank")]
    for call, message in cases:
        with pytest.raises(Invalid) as got:
            call()
        assert got.value.message == message
    assert A.trimmed({"t": " \n "}, "t", max_len=10) == ""  # no minimum: empty is fine


def test_cursor_numbers_are_ascii_digits_within_bigint() -> None:
    assert A.cursor_number("0") == 0
    assert A.cursor_number(str(A.BIGINT_MAX)) == A.BIGINT_MAX
    for bad in (str(A.BIGINT_MAX + 1), "٣", "+5", "5_0", "-1", " 7", "", "1e3"):
        with pytest.raises(Invalid):
            A.cursor_number(bad)


def test_a_cursor_is_read_only_as_a_kind_its_list_gave_out() -> None:
    """A cursor carries its list's kind: another kind, a bare number or a wrong count of
    fields is `Invalid` (they were read as whatever numbers they held)."""
    made = A.make_cursor("tr", 42)
    assert made == "tr.42" and A.cursor({"cursor": made}, "tr", 1) == [42]
    assert A.cursor({}, "tr", 1) is None and A.cursor({"cursor": ""}, "tr", 1) is None
    node = A.make_cursor("as", 7, 3, "node.a:1")  # a text last field may hold dots
    assert A.cursor_fields({"cursor": node}, {"as": 3}) == ("as", ["7", "3", "node.a:1"])
    assert A.cursor_fields({"cursor": "rc.1.2.3"}, {"r": 2, "rc": 3}) == ("rc", ["1", "2", "3"])
    for bad in ("tt.42", "42", "tr", "tr.", "tr.4.2", "tr.-1", "TR.42", ".42", "x" * 81):
        with pytest.raises(Invalid):
            A.cursor({"cursor": bad}, "tr", 1)
    with pytest.raises(Invalid):
        A.cursor({"cursor": 42}, "tr", 1)


def test_blank_is_nothing_to_see() -> None:
    for empty in ("", " \n\t", "\u200b", "\u200b\u200d \u2060", "\ufeff", "\u200e\u202e",
                  "\u3164", "\u2800\u2800", "\u115f\u1160"):
        assert A.blank(empty), repr(empty)
    for seen in ("x", " x ", "\u200bx", "👍", "👩\u200d💻", ".", "\u0301"):
        assert not A.blank(seen), repr(seen)
