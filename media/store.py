"""Content-addressed storage for processed media.

A key is the SHA-256 of the bytes plus an extension (``<64 hex>.jpg`` or
``.webp``), so identical bytes are stored once and a key can never name anything
outside the store. ``MediaStore`` is the interface the rest of the server uses;
``LocalStore`` keeps files on disk, and an S3-compatible backend can implement the
same four methods later (``path`` would then return None, or a local cache path).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable

import trio

EXTENSIONS = ("jpg", "webp")
EXTENSION_FOR_FORMAT = {"jpeg": "jpg", "webp": "webp"}  # Variant.format -> key extension
STORE_DIR = "media"  # LocalStore.in_data_dir puts the store here under the data directory
_KEY = re.compile(r"[0-9a-f]{64}\.(?:jpg|webp)")


def valid_key(key: object) -> bool:
    """Whether ``key`` is exactly 64 lowercase hex digits, a dot and jpg or webp."""
    return isinstance(key, str) and _KEY.fullmatch(key) is not None


def key_for(data: bytes, ext: str) -> str:
    """The key ``data`` is stored under (``ext``: "jpg", "webp", or the format "jpeg")."""
    ext = EXTENSION_FOR_FORMAT.get(ext, ext)
    if ext not in EXTENSIONS:
        raise ValueError(f"unsupported media extension {ext!r}")
    return f"{hashlib.sha256(data).hexdigest()}.{ext}"


@runtime_checkable
class MediaStore(Protocol):
    async def put(self, data: bytes, ext: str) -> str:
        """Store ``data``; return its key. The same bytes again: no copy, mtime refreshed."""
        ...

    async def path(self, key: str) -> Path | None:
        """A local file holding the key's bytes, or None (unknown or invalid key)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the key's bytes if present. An invalid key is a ``ValueError``."""
        ...

    def delete_now(self, key: str) -> None:
        """``delete``, blocking, on the calling thread (never trio's): a purge deletes
        files inside the database transaction that holds their keys."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether the key is stored (False for an invalid key)."""
        ...


class LocalStore(MediaStore):
    """Files under ``root/ab/cd/<key>``; written to a temp file, then ``os.replace``d.

    Readers never see a partial file and a crash leaves at most a ``.tmp-*`` file
    in a shard directory. All disk work runs in trio worker threads.
    """

    valid_key = staticmethod(valid_key)

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @classmethod
    def in_data_dir(cls, data_dir: Path | str) -> LocalStore:
        return cls(Path(data_dir) / STORE_DIR)

    def file_for(self, key: str) -> Path:
        if not valid_key(key):
            raise ValueError(f"invalid media key {key!r}")
        return self.root / key[:2] / key[2:4] / key

    async def put(self, data: bytes, ext: str) -> str:
        return await trio.to_thread.run_sync(self._put, bytes(data), ext)

    def _put(self, data: bytes, ext: str) -> str:
        key = key_for(data, ext)
        final = self.file_for(key)
        if final.is_file():
            with contextlib.suppress(OSError):  # a collector can tell the bytes are in use
                os.utime(final)
            return key
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return key

    async def path(self, key: str) -> Path | None:
        if not valid_key(key):
            return None
        p = self.file_for(key)
        return p if await trio.to_thread.run_sync(p.is_file) else None

    async def exists(self, key: str) -> bool:
        return await self.path(key) is not None

    async def delete(self, key: str) -> None:
        await trio.to_thread.run_sync(self.delete_now, key)

    def delete_now(self, key: str) -> None:
        self.file_for(key).unlink(missing_ok=True)
