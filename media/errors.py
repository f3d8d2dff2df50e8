"""The media layer's own exceptions; the HTTP layer maps them to status codes.

Which bad input raises which:

- ``Unsupported``: the bytes are not one of the accepted formats (JPEG, PNG, WebP,
  GIF, HEIF when its plugin is installed) — SVG, PDF, TIFF, BMP, random bytes.
- ``TooLarge``: the header declares more pixels than allowed, or Pillow calls it
  a decompression bomb. (Byte size is enforced by the HTTP layer before we run.)
- ``Corrupt``: the magic bytes say an accepted format but the file is empty,
  truncated, undecodable, a polyglot (carries a second format), or has absurd
  proportions. A zero-byte file is ``Corrupt`` ("empty file"), not ``Unsupported``.
"""

from __future__ import annotations


class MediaError(Exception):
    """Base of every error the media layer raises for a bad input."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unsupported(MediaError):
    """Not an image type we accept."""


class TooLarge(MediaError):
    """Too many pixels (or bytes)."""


class Corrupt(MediaError):
    """Claims to be an accepted image but cannot be trusted or decoded."""
