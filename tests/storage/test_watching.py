"""The reads behind watches losing sight (storage/watching.py): many viewers' relations
to one author, as `relation` reads them one by one, and the watched posts of some
authors, from the live pub/sub channels."""

from __future__ import annotations

import uuid

import trio

from actors import privacy
from config import Settings
from server.node import open_storage
from storage import accounts, bus, watching
from storage import graph as g
from storage.relations import relation
from storage.store import Storage
from storage.watching import relations_to, watched_posts_by


async def _user(st: Storage) -> int:
    name = f"w{uuid.uuid4().hex[:10]}"
    user = await accounts.create_user(st, name, f"{name}@example.com", "not-a-real-hash")
    return user.id


async def _post(st: Storage, author: int) -> int:
    async def run(conn: object, a: int) -> int:
        return int(await conn.fetchval(  # type: ignore[attr-defined]
            "INSERT INTO posts (author_id) VALUES ($1) RETURNING id", a))

    return await st.tx(run, author)


async def until(st: Storage, authors: list[int], expected: dict[int, int]) -> None:
    with trio.fail_after(5):
        while await watched_posts_by(st, authors) != expected:
            pass  # each try is a real round trip to Redis and Postgres


async def test_relations_to_one_author_match_relation_one_by_one(settings: Settings) -> None:
    async with open_storage(settings) as st:
        author, fan, asker, blocked, blocker, muter, stranger = [
            await _user(st) for _ in range(7)]
        await accounts.update_user(st, author, {"is_private": True})
        await st.tx(g.add_follow, fan, author)
        await st.tx(g.add_request, asker, author)
        await st.tx(g.add_block, author, blocked)
        await st.tx(g.add_block, blocker, author)
        await st.tx(g.add_mute, muter, author)
        viewers = [author, fan, asker, blocked, blocker, muter, stranger, 10**15]
        many = await st.read(relations_to, viewers, author)
        assert set(many) == set(viewers)
        for v in viewers:
            assert many[v] == await st.read(relation, v, author), v
        assert many[fan].following and many[author].is_self and many[blocked].blocked_me
        assert many[blocker].i_blocked and many[asker].requested and many[muter].i_muted
        assert many[10**15].exists  # the author exists; an unknown viewer follows nothing
        assert await st.read(relations_to, [], author) == {}


async def test_watched_posts_by_reads_the_live_post_channels(settings: Settings) -> None:
    async with open_storage(settings) as st:
        alice, bob, carol = [await _user(st) for _ in range(3)]
        a1, _unwatched, b1, c1 = [await _post(st, u) for u in (alice, alice, bob, carol)]
        sub = bus.Subscriber(st)
        await sub.start()
        try:
            await sub.subscribe(*(st.key("p", p) for p in (a1, b1, c1)))
            # SUBSCRIBE is not acknowledged to the caller: ask until Redis has done it.
            await until(st, [alice, bob], {a1: alice, b1: bob})
            assert await watched_posts_by(st, [carol]) == {c1: carol}
            assert await watched_posts_by(st, []) == {}
            await sub.unsubscribe(st.key("p", a1))
            await until(st, [alice], {})
            assert await watched_posts_by(st, [alice, bob, carol]) == {b1: bob, c1: carol}
        finally:
            await sub.stop()


async def _comment(st: Storage, post: int, author: int, parent: int | None = None) -> int:
    async def run(conn: object, p: int, a: int, parent: int | None) -> int:
        return int(await conn.fetchval(  # type: ignore[attr-defined]
            "INSERT INTO comments (post_id, author_id, parent_id, body) "
            "VALUES ($1, $2, $3, 'c') RETURNING id", p, a, parent))

    return await st.tx(run, post, author, parent)


async def test_comment_viewers_judge_a_batch_of_comments_in_one_read(settings: Settings) -> None:
    """Each comment of a batch, as each viewer stands to its author and its thread's:
    the viewers with no block and no authorship share the stranger's relations."""
    async with open_storage(settings) as st:
        owner, dave, erin, blocker, blocked, t_blocker, stranger = [
            await _user(st) for _ in range(7)]
        post = await _post(st, owner)
        top = await _comment(st, post, dave)
        reply = await _comment(st, post, erin, parent=top)
        await st.tx(g.add_block, blocker, dave)
        await st.tx(g.add_block, dave, blocked)
        await st.tx(g.add_block, t_blocker, dave)  # hides dave's thread, erin's reply too
        viewers = [dave, erin, blocker, blocked, t_blocker, stranger]
        missing = 10**15
        sights = await st.read(watching.comment_viewers, [top, reply, missing], viewers)
        assert set(sights) == {top, reply, missing}

        def sees(comment: int) -> set[int]:
            return {v for v in viewers
                    if all(privacy.can_see_comment(r) for r in sights[comment].relations(v))}

        assert sees(top) == {dave, erin, stranger}
        assert sees(reply) == {dave, erin, stranger}  # the thread's blocks count too
        assert sees(missing) == set()
        assert stranger not in sights[top].known and dave in sights[top].known
        assert len(sights[reply].relations(stranger)) == 2  # its own author, the thread's
        assert await st.read(watching.comment_viewers, [top], []) == {}
