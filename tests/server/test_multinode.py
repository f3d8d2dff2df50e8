"""Two node processes sharing Postgres and Redis: logout on one closes the token on the other."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import trio

from protocol.client import connect
from storage import events
from tests.conftest import PASSWORD, unique
from tests.nodeproc import node_process
from tests.server.sessions import session_ended


async def test_logout_on_one_node_closes_the_token_on_the_other(
        services: tuple[str, str], tmp_path: Path) -> None:
    db, redis = services
    env = {"DATABASE_URL": db, "REDIS_URL": redis, "GLINT_NAMESPACE": f"mn{uuid.uuid4().hex[:8]}"}
    async with node_process(tmp_path / "a", env=env, name="a") as a, \
            node_process(tmp_path / "b", env=env, name="b") as b:
        name = unique("multi")
        async with connect(a.ws_url) as on_a:
            hello_a = await on_a.signup(name, f"{name}@example.com", PASSWORD)
            assert hello_a["node"] == "a"
            async with connect(b.ws_url, token=on_a.token) as on_b, \
                    connect(b.ws_url) as other:
                assert on_b.hello_data is not None and on_b.hello_data["node"] == "b"
                other_name = unique("other")
                await other.signup(other_name, f"{other_name}@example.com", PASSWORD)
                await on_a.logout()
                assert await session_ended(on_b, wait=5) == "logged out"
                assert "t" in await other.call("ping")  # another user on b is untouched
        async with connect(b.ws_url, reconnect=False) as late:
            with pytest.raises(Exception) as err:
                await late.hello(on_a.token)
            assert getattr(err.value, "code", None) == "unauthorized"


async def test_durable_event_reaches_a_user_on_another_node(
        services: tuple[str, str], tmp_path: Path) -> None:
    """Every delivery goes through the bus: an event appended anywhere reaches node b."""
    from config import load_settings
    from server.node import open_storage

    db, redis = services
    ns = f"mn{uuid.uuid4().hex[:8]}"
    env = {"DATABASE_URL": db, "REDIS_URL": redis, "GLINT_NAMESPACE": ns}
    async with node_process(tmp_path / "b", env=env, name="b") as b:
        name = unique("far")
        async with connect(b.ws_url) as c:
            await c.signup(name, f"{name}@example.com", PASSWORD)
            assert c.user is not None
            settings = load_settings(env={}, database_url=db, redis_url=redis, namespace=ns)
            async with open_storage(settings) as st:
                await events.append(st, [(c.user["id"], "notification", {"hi": 1})])
            with trio.fail_after(5):
                ev = await c.next_event("notification")
            assert ev.seq == 1 and ev.data == {"hi": 1}
