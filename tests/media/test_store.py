"""The content-addressed local store."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import trio

from media import store as store_module
from media.store import LocalStore, MediaStore, key_for, valid_key

JPEG = b"\xff\xd8\xff\xe0 pretend jpeg bytes \xff\xd9"


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore.in_data_dir(tmp_path / "var")


def test_local_store_is_a_media_store(store: LocalStore) -> None:
    s: MediaStore = store
    assert isinstance(s, MediaStore)
    assert store.root.name == store_module.STORE_DIR


async def test_put_returns_the_sha256_key_and_lays_files_out(store: LocalStore) -> None:
    key = await store.put(JPEG, "jpg")
    digest = hashlib.sha256(JPEG).hexdigest()
    assert key == f"{digest}.jpg" == key_for(JPEG, "jpeg")
    path = await store.path(key)
    assert path == store.root / digest[:2] / digest[2:4] / key
    assert path.read_bytes() == JPEG
    assert await store.exists(key)


async def test_identical_bytes_are_stored_once(store: LocalStore) -> None:
    a = await store.put(JPEG, "jpg")
    path = await store.path(a)
    assert path is not None
    os.utime(path, (1_000_000, 1_000_000))
    b = await store.put(bytes(JPEG), "jpg")
    assert a == b
    assert path.stat().st_mtime > 1_000_000  # touched: a collector sees it is in use
    assert len(files_under(store.root)) == 1
    webp = await store.put(JPEG, "webp")  # same bytes, other type: another key
    assert webp != a and len(files_under(store.root)) == 2


async def test_concurrent_puts_of_the_same_bytes(store: LocalStore) -> None:
    keys: list[str] = []

    async def put() -> None:
        keys.append(await store.put(JPEG * 1000, "webp"))

    async with trio.open_nursery() as nursery:
        for _ in range(8):
            nursery.start_soon(put)
    assert len(set(keys)) == 1
    assert files_under(store.root) == [await store.path(keys[0])]


async def test_no_temp_files_are_left(store: LocalStore) -> None:
    for i in range(5):
        await store.put(JPEG + bytes([i]), "jpg")
    names = [p.name for p in files_under(store.root)]
    assert len(names) == 5 and all(valid_key(n) for n in names)


async def test_a_failed_write_leaves_nothing(store: LocalStore,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        await store.put(JPEG, "jpg")
    assert files_under(store.root) == []
    assert not await store.exists(key_for(JPEG, "jpg"))


async def test_delete(store: LocalStore) -> None:
    key = await store.put(JPEG, "jpg")
    await store.delete(key)
    assert not await store.exists(key) and await store.path(key) is None
    await store.delete(key)  # deleting twice is fine


GOOD = "a" * 64 + ".jpg"
BAD_KEYS = [
    "../x", "../../etc/passwd", "/etc/passwd", "a" * 64, "a" * 64 + ".png", "A" * 64 + ".jpg",
    "a" * 63 + ".jpg", "a" * 65 + ".jpg", "a" * 64 + ".jpg\n", "a" * 64 + ".jpg/..",
    "ab/../../" + "a" * 55 + ".jpg", "g" * 64 + ".webp", "", " " + GOOD, GOOD + "\0",
    "..", "a" * 64 + ".JPG",
]


def test_valid_key() -> None:
    assert valid_key(GOOD) and valid_key("0123456789abcdef" * 4 + ".webp")
    assert LocalStore.valid_key(GOOD)
    for key in BAD_KEYS:
        assert not valid_key(key), key
    assert not valid_key(None) and not valid_key(b"a" * 64 + b".jpg")


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_invalid_keys_are_refused(store: LocalStore, tmp_path: Path, key: str) -> None:
    outside = tmp_path / "var" / "x"
    outside.parent.mkdir(parents=True, exist_ok=True)
    outside.write_bytes(b"secret")
    assert await store.path(key) is None
    assert not await store.exists(key)
    with pytest.raises(ValueError):
        await store.delete(key)
    with pytest.raises(ValueError):
        store.file_for(key)
    assert outside.read_bytes() == b"secret"


@pytest.mark.parametrize("ext", ["png", "../jpg", "", "JPG", "jpg/../x"])
async def test_bad_extensions_are_refused(store: LocalStore, ext: str) -> None:
    with pytest.raises(ValueError):
        await store.put(JPEG, ext)
    assert not store.root.exists() or files_under(store.root) == []
