"""A bot on the Python client against a real node on a real port."""

from __future__ import annotations

import httpx
import pytest
import trio

from protocol.client import connect
from protocol.errors import BadRequest, Conflict, NotFound, RateLimited, Unauthorized
from server.node import Node
from tests.conftest import PASSWORD, unique
from tests.server.sessions import session_ended


async def test_bot_signs_up_logs_in_says_hello_and_edits_profile(node: Node) -> None:
    name = unique("bot")
    with trio.fail_after(20):
        async with connect(node.ws_url) as bot:
            hello = await bot.signup(name, f"{name}@example.com", PASSWORD)
            assert hello["user"]["username"] == name
            assert hello["heartbeat_ms"] > 0 and hello["seq"] == 0
            assert hello["http_url"] == f"http://127.0.0.1:{node.http_port}"
            me = await bot.call("user.get")
            assert me["username"] == name and me["email"] == f"{name}@example.com"
            updated = await bot.call("user.update", display_name="Bot", bio="beep",
                                     website="https://example.com")
            assert (updated["display_name"], updated["bio"]) == ("Bot", "beep")

        async with connect(node.ws_url) as again:
            hello = await again.login(name, PASSWORD)
            assert hello["user"]["bio"] == "beep"
            other = await again.call("user.get", username=name.upper())
            assert other["display_name"] == "Bot"


async def test_account_rules_give_clear_errors_and_change_nothing(node: Node) -> None:
    name = unique("acct")
    async with connect(node.ws_url) as c:
        await c.signup(name, f"{name}@example.com", PASSWORD)
        with pytest.raises(BadRequest):
            await c.call("user.update", bio=42)
        with pytest.raises(BadRequest):
            await c.call("user.update", bio="x" * 1000)
        with pytest.raises(BadRequest):
            await c.call("user.update", nickname="nope")
        with pytest.raises(NotFound):
            await c.call("user.get", username="no.such.user.ever")
        me = await c.call("user.get")
        assert me["bio"] == "" and me["display_name"] == ""

    async with connect(node.ws_url) as c:
        with pytest.raises(Conflict):
            await c.call("auth.signup", username=name.upper(), email="x@example.com",
                         password=PASSWORD)
        with pytest.raises(Conflict):
            await c.call("auth.signup", username=unique(), email=f"{name}@EXAMPLE.com",
                         password=PASSWORD)
        for bad in ("Has Space", "", "x" * 31, "émile"):
            with pytest.raises(BadRequest):
                await c.call("auth.signup", username=bad, email="a@example.com",
                             password=PASSWORD)
        for weak in ("short", "password123", "12345678"):
            with pytest.raises(BadRequest):
                await c.call("auth.signup", username=unique(), email="b@example.com",
                             password=weak)
        with pytest.raises(Unauthorized):
            await c.call("auth.login", username=name, password="wrong password!")
        with pytest.raises(Unauthorized):
            await c.call("auth.login", username="nobody.here", password=PASSWORD)
        with pytest.raises(Unauthorized):
            await c.call("user.get")  # before hello
        with pytest.raises(Unauthorized):
            await c.call("hello", proto=1, token="not-a-real-token-at-all")


async def test_login_is_rate_limited_per_account(node: Node) -> None:
    name = unique("rl")
    async with connect(node.ws_url) as c:
        await c.call("auth.signup", username=name, email=f"{name}@example.com",
                     password=PASSWORD)
        limit = node.settings.login_attempts_per_account
        for _ in range(limit):
            with pytest.raises(Unauthorized):
                await c.call("auth.login", username=name, password="wrong password!")
        with pytest.raises(RateLimited) as err:
            await c.call("auth.login", username=name, password="wrong password!")
        assert err.value.retry_after and err.value.retry_after > 0
        # Even the right password is refused until the window passes.
        with pytest.raises(RateLimited):
            await c.call("auth.login", username=name, password=PASSWORD)


async def test_http_signup_login_logout(node: Node) -> None:
    name = unique("http")
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        r = await http.post("/api/auth/signup", json={"username": name, "password": PASSWORD,
                                                      "email": f"{name}@example.com"})
        assert r.status_code == 201, r.text
        r = await http.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        assert r.status_code == 200
        token = r.json()["token"]
        r = await http.post("/api/auth/login", json={"username": name, "password": "nope nope"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        r = await http.post("/api/auth/signup", content=b"\xff not json",
                            headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
        async with connect(node.ws_url, token=token) as c:
            assert (await c.call("user.get"))["username"] == name
        r = await http.post("/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
    async with connect(node.ws_url, reconnect=False) as c:
        with pytest.raises(Unauthorized):
            await c.hello(token)


async def test_tokens_and_passwords_are_stored_hashed(node: Node) -> None:
    name = unique("hash")
    async with connect(node.ws_url) as c:
        await c.signup(name, f"{name}@example.com", PASSWORD)
        token = c.token
    assert token is not None and len(token) >= 43

    async def peek(conn):  # type: ignore[no-untyped-def]
        pw = await conn.fetchval("SELECT password_hash FROM users WHERE username = $1", name)
        hashes = await conn.fetch(
            "SELECT t.hash FROM tokens t JOIN users u ON u.id = t.user_id "
            "WHERE u.username = $1", name)
        return pw, [bytes(r["hash"]) for r in hashes]

    pw_hash, token_hashes = await node.storage.tx(peek)
    assert pw_hash.startswith("$argon2id$") and PASSWORD not in pw_hash
    assert token_hashes and all(token.encode() not in h for h in token_hashes)
    assert all(len(h) == 32 for h in token_hashes)


async def test_successful_logins_do_not_use_up_the_login_limit(node: Node) -> None:
    name = unique("rl")
    async with connect(node.ws_url) as c:
        await c.call("auth.signup", username=name, email=f"{name}@example.com",
                     password=PASSWORD)
        limit = node.settings.login_attempts_per_account
        for _ in range(limit + 5):  # a person logging in on many devices
            reply = await c.call("auth.login", username=name, password=PASSWORD)
            assert reply["token"]
        # Failures still add up to the limit, then even the right password waits.
        for _ in range(limit):
            with pytest.raises(Unauthorized):
                await c.call("auth.login", username=name, password="wrong password!")
        with pytest.raises(RateLimited):
            await c.call("auth.login", username=name, password=PASSWORD)


async def test_a_token_revoked_while_hello_attaches_is_still_closed(node: Node) -> None:
    """A revoke that commits after hello checked the token but before the connection was
    attached (so no node had it to close) is caught by the re-check after attaching: the
    hello answers, then session.closed and 4001. The revoke is made to land in that
    window by revoking right after the check, without its bus message."""
    from storage.accounts import revoke_token, token_hash

    name = unique("race")
    async with connect(node.ws_url) as c:
        await c.signup(name, f"{name}@example.com", PASSWORD)
        token = c.token
    assert token is not None
    checked = node.accounts.authenticate

    async def check_then_revoke(tok: object) -> object:
        found = await checked(tok)
        assert await revoke_token(node.storage, token_hash(token)) is not None
        return found

    node.accounts.authenticate = check_then_revoke  # type: ignore[method-assign]
    try:
        async with connect(node.ws_url, token=token, reconnect=False) as late:
            assert await session_ended(late) == "session ended"
    finally:
        del node.accounts.authenticate
    async with connect(node.ws_url) as other:  # the node serves everyone else
        await other.login(name, PASSWORD)
        assert (await other.call("user.get"))["username"] == name


async def test_a_failed_recheck_after_hello_keeps_the_connection(node: Node) -> None:
    """The token re-check after attaching runs beside the connection's requests; if
    storage cannot answer it, the connection stays (the bus still closes later revokes)
    and hello gets no second reply. Before, the failure was sent as an error reply to
    the hello that had already been answered."""
    from trio_websocket import open_websocket_url

    from storage.errors import Unavailable
    from tests.wire import Raw

    name = unique("recheck")
    async with connect(node.ws_url) as c:
        await c.signup(name, f"{name}@example.com", PASSWORD)
        token = c.token
    checked = trio.Event()

    async def unavailable(session: object) -> bool:
        checked.set()
        raise Unavailable("postgres is down (test)")

    node.accounts.still_live = unavailable  # type: ignore[method-assign]
    try:
        async with open_websocket_url(node.ws_url) as ws:
            raw = Raw(ws)
            hello = await raw.call("hello", proto=1, token=token)
            assert hello["ok"], hello
            with trio.fail_after(10):
                await checked.wait()
            await raw.send_obj({"op": "user.get", "id": 2, "args": {}})
            while True:  # nothing about the hello (id 1) comes before user.get's reply
                msg = await raw.recv()
                assert msg.get("re") != 1, msg
                if msg.get("re") == 2:
                    break
            assert msg["ok"] and msg["data"]["username"] == name
    finally:
        del node.accounts.still_live


async def test_logout_right_after_hello_is_answered_before_any_close(node: Node) -> None:
    """hello's background token re-check can finish while a logout (the first request)
    is revoking the token: it leaves that connection to the logout, whose reply comes
    before the 4001. Made to happen: the re-check answers "not live" just after the
    logout's revoke and before its reply. Review repro."""
    from trio_websocket import open_websocket_url

    from tests.wire import Raw

    name = unique("logout")
    async with connect(node.ws_url) as c:
        await c.signup(name, f"{name}@example.com", PASSWORD)
        token = c.token
    revoked, rechecked = trio.Event(), trio.Event()
    revoke = node.accounts.revoke

    async def late_recheck(session: object) -> bool:
        await revoked.wait()
        rechecked.set()
        return False  # what it reads once the logout's revoke committed

    async def revoke_then_let_the_recheck_finish(digest: bytes) -> int | None:
        user = await revoke(digest)
        revoked.set()
        await rechecked.wait()
        await trio.lowlevel.checkpoint()  # the re-check's task runs on to its end
        return user

    node.accounts.still_live = late_recheck  # type: ignore[method-assign]
    node.accounts.revoke = revoke_then_let_the_recheck_finish  # type: ignore[method-assign]
    try:
        async with open_websocket_url(node.ws_url) as ws:
            raw = Raw(ws)
            assert (await raw.call("hello", proto=1, token=token))["ok"]
            reply = await raw.call("auth.logout")
            assert reply["ok"], reply
            assert not [e for e in raw.events if e["ev"] == "session.closed"]
    finally:
        del node.accounts.still_live
        del node.accounts.revoke
