"""An avatar is set only from an upload that is still the user's when it is set: checked
again, its row held, in the setting transaction (an upload collected between the op's
check and the set failed the foreign key, answered `internal`)."""

from __future__ import annotations

import uuid

from config import Settings
from server.node import open_storage
from storage import accounts
from storage import media as db
from storage.store import Storage


async def _user(st: Storage) -> int:
    name = f"av{uuid.uuid4().hex[:10]}"
    return (await accounts.create_user(st, name, f"{name}@example.com", "not-a-hash")).id


async def _upload(st: Storage, owner: int) -> int:
    rec = await db.insert(st, owner_id=owner, kind="avatar", width=320, height=320,
                          blurhash="L00000fQfQfQfQfQfQfQfQfQfQfQ", color="#000000",
                          filter_name="normal", master_key=f"{uuid.uuid4().hex * 2}.jpg",
                          variants={}, keys=[])
    return rec.id


async def avatar_of(st: Storage, user: int) -> int | None:
    return await st.read(lambda c: c.fetchval("SELECT avatar_id FROM users WHERE id = $1",
                                              user))


async def test_an_avatar_collected_before_it_is_set_is_refused(settings: Settings) -> None:
    async with open_storage(settings) as st:
        me, other = await _user(st), await _user(st)
        kept = await _upload(st, me)
        assert await db.set_avatar(st, me, kept)
        assert await avatar_of(st, me) == kept
        gone = await _upload(st, me)
        await st.tx(lambda c: c.execute("DELETE FROM media WHERE id = $1", gone))  # collected
        assert not await db.set_avatar(st, me, gone)
        assert not await db.set_avatar(st, me, await _upload(st, other))  # not mine
        assert await avatar_of(st, me) == kept  # unchanged
        assert await db.set_avatar(st, me, None) and await avatar_of(st, me) is None
