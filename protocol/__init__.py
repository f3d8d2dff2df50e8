"""Glint wire protocol v1: envelope, codec, names, error codes, and the Python client.

Free of server imports; only `protocol.client` does I/O.
"""

from protocol.errors import ErrorCode, GlintError
from protocol.names import EVENTS, OPS, CloseCode

PROTOCOL_VERSION = 1

__all__ = ["EVENTS", "OPS", "PROTOCOL_VERSION", "CloseCode", "ErrorCode", "GlintError"]
