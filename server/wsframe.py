"""Server-to-client WebSocket frames built once and written to many sockets.

Server frames are unmasked and we negotiate no extensions, so the bytes of a
binary message are the same for every recipient: frame once, write N times.
"""

from __future__ import annotations

import struct

_OP_BINARY_FIN = 0x82


def binary_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes((_OP_BINARY_FIN, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", _OP_BINARY_FIN, 126, n) + payload
    return struct.pack("!BBQ", _OP_BINARY_FIN, 127, n) + payload
