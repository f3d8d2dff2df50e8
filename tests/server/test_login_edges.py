"""Logins at the edges (found by a review): a stored hash under older argon2 parameters,
an email whose capital PostgreSQL and Python lower differently, a suspension racing the
login, and HTTP bodies that are JSON but not text."""

from __future__ import annotations

import httpx
import trio
from argon2 import PasswordHasher

from protocol.client import connect
from protocol.errors import Forbidden
from server.node import Node
from storage import ratelimit
from tests.conftest import PASSWORD, unique
from tests.rowlock import holding
from tests.server.test_posts import bots, sql, uid, uname


async def test_a_login_that_rehashes_the_password_succeeds_at_once(node: Node) -> None:
    async with bots(node, 1) as (alice,):
        old = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
        await sql(node, "UPDATE users SET password_hash = $2 WHERE id = $1", uid(alice), old)
        assert PasswordHasher().check_needs_rehash(old)
        async with connect(node.ws_url) as phone:
            hello = await phone.login(uname(alice), PASSWORD)  # the first try, not the second
            assert hello["user"]["id"] == uid(alice)
        stored = await sql(node, "SELECT password_hash FROM users WHERE id = $1", uid(alice))
        assert stored != old and not PasswordHasher().check_needs_rehash(stored)
        async with connect(node.ws_url) as again:  # the new hash verifies too
            assert (await again.login(uname(alice), PASSWORD))["user"]["id"] == uid(alice)


async def test_an_email_with_a_dotted_capital_i_logs_in(node: Node) -> None:
    """Python lowers "İ" to "i̇" (two characters), PostgreSQL to "i": the login was
    lowered by one and the stored email by the other, so it never matched."""
    name = unique("inci")
    email = f"İnci.{name}@example.com"
    async with connect(node.ws_url) as c:
        await c.signup(name, email, PASSWORD)
    for typed in (email, email.upper(), f"inci.{name}@example.com"):
        async with connect(node.ws_url) as c:
            assert (await c.login(typed, PASSWORD))["user"]["username"] == name, typed


async def test_a_suspension_racing_a_login_leaves_it_no_token(node: Node) -> None:
    """The login read the account as not suspended; the suspension commits before its
    token is written: the login is refused, as after the suspension, and no token of
    it is left to work again after an unsuspend."""
    async with bots(node, 1) as (alice,):
        a = uid(alice)
        got: dict[str, object] = {}

        async def login() -> None:
            async with connect(node.ws_url) as c:
                try:
                    got["reply"] = await c.call("auth.login", username=uname(alice),
                                                password=PASSWORD)
                except Forbidden as exc:
                    got["reply"] = exc

        async with (holding(node.storage, "UPDATE users SET suspended_at = now() "
                                          "WHERE id = $1", a) as holder,
                    trio.open_nursery() as nursery):
            nursery.start_soon(login)
            # past its suspension check, at the token's guard (not presence's write)
            await holder.wait_statement_waits("%password_hash%FOR SHARE%")
            await holder.commit()
        assert isinstance(got["reply"], Forbidden), got
        assert await sql(node, "SELECT count(*) FROM tokens WHERE user_id = $1", a) == 1


async def test_http_bodies_that_are_not_text_are_bad_requests(node: Node) -> None:
    """Lone surrogates (valid JSON escapes, no text) and deep nesting were `internal`
    errors, some after a login attempt was counted; now `bad_request`, nothing counted,
    and the node serves on."""
    async with bots(node, 1) as (alice,), httpx.AsyncClient(base_url=node.http_url) as http:
        bodies = [
            b'{"username": "%s", "password": "\\ud800"}' % uname(alice).encode(),
            b'{"username": "\\udfff", "password": "whatever password"}',
            b'{"username": "%s", "password": "x", "\\ud800": 1}' % uname(alice).encode(),
            b"[" * 60_000,
        ]
        for body in bodies:
            r = await http.post("/api/auth/login", content=body,
                                headers={"Content-Type": "application/json"})
            assert r.status_code == 400, (body[:40], r.text)
            assert r.json()["error"]["code"] == "bad_request"
        r = await http.post("/api/auth/signup", content=(
            b'{"username": "%s", "email": "%s@example.com", "password": "%s", '
            b'"display_name": "\\ud800"}' % ((unique("s").encode(),) * 2 + (PASSWORD.encode(),))),
            headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
        # Nothing was counted against the account, and the node serves on.
        untouched = await ratelimit.spent(node.storage, "login-acct", uname(alice).lower(), 1)
        assert untouched.allowed
        r = await http.post("/api/auth/login", json={"username": uname(alice),
                                                      "password": PASSWORD})
        assert r.status_code == 200
