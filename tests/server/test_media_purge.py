"""A deleted post's photos stop being served: their files go when nothing else uses
them (another live post, a message, an identical upload), whether the author deleted
the post or an operator removed it; a purge that failed is done again by the
collector, and an identical upload racing a purge keeps its files."""

from __future__ import annotations

import io
import random
from typing import Any

import httpx
import pytest
import trio
from PIL import Image

from protocol.client import Client
from protocol.errors import NotFound
from server.node import Node
from storage import media as media_db
from tests.rowlock import holding
from tests.server.test_admin import admins
from tests.server.test_posts import bots, expect, sql, uid


def picture() -> bytes:
    """A JPEG no other test uploads (files are shared by content): random blocks."""
    img = Image.new("RGB", (8, 6))
    img.putdata([tuple(random.randrange(256) for _ in range(3)) for _ in range(48)])
    out = io.BytesIO()
    img.resize((320, 240), Image.Resampling.NEAREST).save(out, "JPEG", quality=90)
    return out.getvalue()


def urls(media: dict[str, Any]) -> list[str]:
    return [u for v in media["variants"].values() for u in (v["jpeg"], v["webp"])]


async def statuses(node: Node, media: dict[str, Any]) -> set[int]:
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        return {(await http.get(u)).status_code for u in urls(media)}


async def post_with(c: Client, *media_ids: int) -> dict[str, Any]:
    return await c.call("post.create", media=[{"id": m} for m in media_ids])


async def test_deleted_and_removed_posts_take_their_files_with_them(node: Node) -> None:
    async with bots(node, 2) as (author, friend), admins(node) as (op,):
        photo = picture()
        shared = await author.upload(photo)
        first, second = await post_with(author, shared["id"]), await post_with(author, shared["id"])
        media = first["media"][0]
        assert await statuses(node, media) == {200}
        await author.call("post.delete", post=first["id"])
        assert await statuses(node, media) == {200}  # the second post still shows it
        await author.call("post.delete", post=second["id"])
        assert await statuses(node, media) == {404}
        # The upload is no one's to use any more: a post or a message of it would show
        # nothing but broken images.
        conv = (await author.call("dm.open", user=uid(friend)))["id"]
        await expect(NotFound, author, "post.create", media=[{"id": shared["id"]}])
        await expect(NotFound, author, "dm.send", conversation=conv, media=shared["id"])
        await expect(NotFound, author, "user.update", avatar=shared["id"])
        # The same picture uploaded again is served again, and goes with its own post:
        # the purged record's file rows do not count as a use.
        again = await post_with(author, (await author.upload(photo))["id"])
        assert urls(again["media"][0]) == urls(media)
        assert await statuses(node, media) == {200}
        await author.call("post.delete", post=again["id"])
        assert await statuses(node, media) == {404}

        # An operator's removal: gone at once; a message with the same upload keeps it.
        removed = await post_with(author, (await author.upload(picture()))["id"])
        up = await author.upload(picture())
        kept = await post_with(author, up["id"])
        await author.call("dm.send", conversation=conv, media=up["id"])
        await op.call("admin.remove_post", post=removed["id"], reason="illegal")
        await op.call("admin.remove_post", post=kept["id"], reason="spam")
        assert await statuses(node, removed["media"][0]) == {404}
        assert await statuses(node, kept["media"][0]) == {200}  # the message uses it


async def test_an_identical_upload_keeps_the_shared_files(node: Node) -> None:
    """Files are named by their content: someone else's upload of the same picture has
    the same files, and keeps them."""
    async with bots(node, 2) as (a, b):
        photo = picture()
        mine = await post_with(a, (await a.upload(photo))["id"])
        theirs = await b.upload(photo)  # not used yet
        assert urls(theirs) == urls(mine["media"][0])
        await a.call("post.delete", post=mine["id"])
        assert await statuses(node, theirs) == {200}


def keys_of(media: dict[str, Any]) -> list[str]:
    return [u.rsplit("/", 1)[1] for u in urls(media)]


async def test_a_purge_that_failed_is_done_again_by_the_collector(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk refuses the first purge (or the node goes away before it): the post
    stays deleted, its purge stays queued, and the collector deletes the files later
    (before, they stayed served for good)."""
    real = node.media.store.delete_now

    def refuse(key: str) -> None:
        raise PermissionError(f"read-only disk: {key}")

    async with bots(node, 1) as (author,):
        upload = await author.upload(picture())
        post = await post_with(author, upload["id"])
        media = post["media"][0]
        monkeypatch.setattr(node.media.store, "delete_now", refuse)
        await author.call("post.delete", post=post["id"])
        await expect(NotFound, author, "post.get", post=post["id"])  # the deletion stands
        assert await statuses(node, media) == {200}
        # The records were purged before any file went: the upload cannot be used again
        # (a post of it would keep, after the retry, nothing but broken images).
        await expect(NotFound, author, "post.create", media=[{"id": upload["id"]}])
        monkeypatch.setattr(node.media.store, "delete_now", real)
        assert await node.media.collect() == 0  # not due yet: a purge may be under way
        assert await statuses(node, media) == {200}
        await sql(node, "UPDATE media_purges SET queued_at = now() - interval '1 hour' "
                        "WHERE post_id = $1 RETURNING post_id", post["id"])
        await node.media.collect()
        assert await statuses(node, media) == {404}
        assert await sql(node, "SELECT count(*) FROM media_purges WHERE post_id = $1",
                         post["id"]) == 0


async def test_an_identical_upload_racing_a_purge_keeps_its_files(node: Node) -> None:
    """A purge holds the files' keys from its check that nothing uses them until it
    deleted them: an identical upload finishing meanwhile waits, then puts back the
    files the purge deleted (before, its record pointed at files gone)."""
    photo = picture()
    async with bots(node, 2) as (a, b):
        mine = (await post_with(a, (await a.upload(photo))["id"]))["media"][0]
        keys = keys_of(mine)
        done: list[dict[str, Any]] = []

        async def upload_again() -> None:
            done.append(await b.upload(photo))

        with trio.fail_after(20):
            async with holding(  # what a purge of these files holds while it deletes them
                    node.storage, "SELECT pg_advisory_xact_lock(hashtextextended(k, "
                    f"{media_db._KEY_LOCK_SEED})) FROM unnest($1::text[]) AS k", keys) as purge, \
                    trio.open_nursery() as nursery:
                nursery.start_soon(upload_again)
                await purge.wait_blocked()  # the upload's record waits for the purge
                for key in keys:
                    await node.media.store.delete(key)
                await purge.commit()
        assert keys_of(done[0]) == keys
        assert await statuses(node, done[0]) == {200}
