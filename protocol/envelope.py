"""The msgpack envelope: one map per binary frame (request, reply, event)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack

from protocol.errors import BadRequest

MAX_ID = (1 << 64) - 1


class CodecError(ValueError):
    """A frame that is not one msgpack map."""


def encode(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def decode_map(data: bytes) -> dict[str, Any]:
    """Decode one msgpack map; anything else (or trailing bytes) is a CodecError.

    Size is bounded before this by the frame limit of the socket.
    """
    try:
        obj = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises many unrelated types on garbage
        raise CodecError(f"not msgpack: {type(exc).__name__}") from None
    if not isinstance(obj, dict):
        raise CodecError("frame must be a msgpack map")
    return obj


@dataclass(frozen=True)
class Request:
    op: str
    id: int
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    name: str
    data: dict[str, Any]
    seq: int | None = None


def parse_request(obj: dict[str, Any]) -> Request:
    """Validate the request envelope; raises BadRequest with a readable message."""
    rid = obj.get("id")
    if not isinstance(rid, int) or isinstance(rid, bool) or not 0 <= rid <= MAX_ID:
        raise BadRequest("`id` must be an unsigned 64-bit integer")
    op = obj.get("op")
    if not isinstance(op, str) or not op:
        raise BadRequest("`op` must be a non-empty string")
    args = obj.get("args")
    if args is None:
        args = {}
    if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
        raise BadRequest("`args` must be a map with string keys")
    return Request(op=op, id=rid, args=args)


def request_id_of(obj: Any) -> int | None:
    """The id to echo in an error reply, when the frame had a usable one."""
    if isinstance(obj, dict):
        rid = obj.get("id")
        if isinstance(rid, int) and not isinstance(rid, bool) and 0 <= rid <= MAX_ID:
            return rid
    return None


def request(op: str, rid: int, args: dict[str, Any] | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"op": op, "id": rid}
    if args:
        msg["args"] = args
    return msg


def reply_ok(rid: int | None, data: Any = None) -> dict[str, Any]:
    return {"re": rid, "ok": True, "data": {} if data is None else data}


def reply_error(rid: int | None, error: dict[str, Any]) -> dict[str, Any]:
    return {"re": rid, "ok": False, "error": error}


def event(name: str, data: dict[str, Any], seq: int | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"ev": name, "data": data}
    if seq is not None:
        msg["seq"] = seq
    return msg
