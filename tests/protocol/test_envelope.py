"""The envelope codec and the error mapping: what every frame goes through."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.envelope import (
    MAX_ID,
    CodecError,
    decode_map,
    encode,
    event,
    parse_request,
    reply_error,
    reply_ok,
    request,
    request_id_of,
)
from protocol.errors import (
    ERROR_TYPES,
    BadRequest,
    ErrorCode,
    Internal,
    NotFound,
    RateLimited,
    error_from_wire,
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(1 << 63), max_value=MAX_ID)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(database=None)  # keep the example database out of the work tree
@given(st.dictionaries(st.text(max_size=12), values, max_size=8))
def test_encode_decode_round_trip(obj: dict[str, Any]) -> None:
    assert decode_map(encode(obj)) == obj


def test_helpers_build_the_documented_shapes() -> None:
    assert decode_map(encode(request("post.like", 7, {"post": 123}))) == {
        "op": "post.like", "id": 7, "args": {"post": 123},
    }
    assert request("ping", 1) == {"op": "ping", "id": 1}  # empty args are omitted
    assert reply_ok(7) == {"re": 7, "ok": True, "data": {}}
    assert reply_error(None, NotFound("no such post").to_wire()) == {
        "re": None, "ok": False, "error": {"code": "not_found", "message": "no such post"},
    }
    assert event("dm.typing", {"dm": 1}) == {"ev": "dm.typing", "data": {"dm": 1}}
    assert event("notification", {}, seq=1042)["seq"] == 1042


@pytest.mark.parametrize(
    "frame",
    [
        encode([1, 2, 3]),
        encode("hello"),
        encode(42),
        b"",
        b"\xc1",  # never used in msgpack
        b"\x81\xa2op",  # truncated map
        encode({"op": "ping"}) + b"\x00",  # trailing garbage
        encode({"a": 1}) + encode({"b": 2}),  # two maps in one frame
    ],
)
def test_decode_map_rejects_anything_but_one_map(frame: bytes) -> None:
    with pytest.raises(CodecError):
        decode_map(frame)


def test_decode_map_keeps_bytes_and_big_ids() -> None:
    obj = decode_map(msgpack.packb({"id": MAX_ID, "blob": b"\x00\xff"}, use_bin_type=True))
    assert obj == {"id": MAX_ID, "blob": b"\x00\xff"}


def test_parse_request_accepts_a_valid_request() -> None:
    req = parse_request({"op": "post.like", "id": MAX_ID, "args": {"post": 1}})
    assert (req.op, req.id, req.args) == ("post.like", MAX_ID, {"post": 1})
    assert parse_request({"op": "ping", "id": 0}).args == {}
    assert parse_request({"op": "ping", "id": 0, "args": None}).args == {}


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ({"op": "ping"}, "id"),
        ({"op": "ping", "id": -1}, "id"),
        ({"op": "ping", "id": MAX_ID + 1}, "id"),
        ({"op": "ping", "id": True}, "id"),
        ({"op": "ping", "id": "7"}, "id"),
        ({"op": "ping", "id": 1.0}, "id"),
        ({"id": 1}, "op"),
        ({"op": "", "id": 1}, "op"),
        ({"op": 5, "id": 1}, "op"),
        ({"op": "ping", "id": 1, "args": [1]}, "args"),
        ({"op": "ping", "id": 1, "args": {1: "x"}}, "args"),
    ],
)
def test_parse_request_rejects_bad_envelopes(frame: dict[Any, Any], field: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_request(frame)
    assert field in info.value.message
    assert info.value.code is ErrorCode.BAD_REQUEST


def test_request_id_of_echoes_only_usable_ids() -> None:
    assert request_id_of({"id": 9, "op": 3}) == 9
    assert request_id_of({"id": -1}) is None
    assert request_id_of({"id": False}) is None
    assert request_id_of([1]) is None


@pytest.mark.parametrize("code", list(ErrorCode))
def test_error_from_wire_maps_every_code(code: ErrorCode) -> None:
    err = error_from_wire({"code": code.value, "message": "why"})
    assert type(err) is ERROR_TYPES[code.value]
    assert err.code is code
    assert err.message == "why"
    assert err.retry_after is None
    assert error_from_wire(err.to_wire()).to_wire() == err.to_wire()


def test_error_from_wire_keeps_retry_after() -> None:
    err = error_from_wire({"code": "rate_limited", "message": "slow down", "retry_after": 2.5})
    assert isinstance(err, RateLimited)
    assert err.retry_after == 2.5
    assert err.to_wire()["retry_after"] == 2.5


@pytest.mark.parametrize("body", [None, "oops", {"code": "teapot", "message": "?"}, {}])
def test_error_from_wire_falls_back_to_internal(body: Any) -> None:
    assert type(error_from_wire(body)) is Internal
