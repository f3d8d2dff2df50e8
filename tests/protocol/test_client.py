"""The Python client against a small scripted server that speaks the envelope."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

from protocol import client as client_module
from protocol.client import CallTimeout, ConnectionLost, Event, SessionClosed, connect
from protocol.envelope import decode_map, encode, event, reply_error, reply_ok
from protocol.errors import (
    Conflict,
    Internal,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
)

TIMEOUT = 5.0


@dataclass
class FakeServer:
    """Just enough of a Glint server: hello/resume, ping, echo and knobs for tests."""

    url: str = ""
    heartbeat_ms: int = 60_000
    oldest_seq: int = 0  # a resume below this gets resync
    replay_overlap: bool = False  # replay seq >= resume instead of > (a sloppy server)
    gather_size: int = 0  # "gather" calls are answered together, in reverse order
    log: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sockets: list[WebSocketConnection] = field(default_factory=list)
    accepted: int = 0
    gathered: list[tuple[WebSocketConnection, int, dict[str, Any]]] = field(default_factory=list)
    held: list[tuple[WebSocketConnection, int]] = field(default_factory=list)  # "hold" calls
    _changed: trio.Event = field(default_factory=trio.Event)

    @property
    def seq(self) -> int:
        return self.log[-1]["seq"] if self.log else 0

    def args_of(self, op: str) -> list[dict[str, Any]]:
        return [args for name, args in self.requests if name == op]

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._changed.wait()

    def _note(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def handle(self, req: WebSocketRequest) -> None:
        ws = await req.accept()
        self.accepted += 1
        self.sockets.append(ws)
        self._note()
        try:
            while True:
                msg = decode_map(await ws.get_message())
                op, rid, args = msg["op"], msg["id"], msg.get("args", {})
                self.requests.append((op, args))
                self._note()
                await self.answer(ws, op, rid, args)
        except ConnectionClosed:
            pass
        finally:
            self.sockets.remove(ws)
            self._note()

    async def answer(self, ws: WebSocketConnection, op: str, rid: int, args: dict) -> None:
        async def ok(data: Any = None) -> None:
            await ws.send_message(encode(reply_ok(rid, data)))

        async def error(code: str, message: str = "", **extra: Any) -> None:
            body = {"code": code, "message": message, **extra}
            await ws.send_message(encode(reply_error(rid, body)))

        if op in ("auth.signup", "auth.login"):
            if op == "auth.signup" and args["username"] == "taken":
                await error("conflict", "username taken")
            else:
                await ok({"token": f"tok-{args['username']}", "user": {"id": 1}})
        elif op == "hello":
            if not str(args.get("token")).startswith("tok-"):
                await error("unauthorized", "bad token")
                return
            resume = args.get("resume")
            resync = resume is not None and resume < self.oldest_seq
            await ok({
                "user": {"id": 1, "username": args["token"][4:]}, "seq": self.seq,
                "heartbeat_ms": self.heartbeat_ms, "server": "fake/1", "node": "n1",
                "resync": resync,
            })
            if resume is not None and not resync:
                for ev in self.log:
                    if ev["seq"] > resume or (self.replay_overlap and ev["seq"] == resume):
                        await ws.send_message(encode(ev))
        elif op == "ping":
            await ok({"t": 0})
        elif op == "echo":
            await ok(args)
        elif op == "fail":
            await error(**args)
        elif op == "gather":
            self.gathered.append((ws, rid, args))
            if len(self.gathered) == self.gather_size:
                for sock, held, data in reversed(self.gathered):
                    await sock.send_message(encode(reply_ok(held, data)))
        elif op == "hang":
            pass
        elif op == "hold":  # answered by `release`
            self.held.append((ws, rid))
        elif op == "auth.logout":
            await ok()
            await ws.send_message(encode(event("session.closed", {"reason": "logout"})))
            await ws.aclose(4001, "logged out")
        else:
            await error("unsupported", op)

    async def push(self, name: str, data: dict[str, Any], seq: int | None = None) -> None:
        """Send an event to every open socket (durable ones are not stored: see `store`)."""
        for ws in list(self.sockets):
            await ws.send_message(encode(event(name, data, seq)))

    def store(self, seq: int) -> dict[str, Any]:
        ev = event("notification", {"n": seq}, seq)
        self.log.append(ev)
        return ev

    async def release(self) -> None:
        for ws, rid in self.held:
            await ws.send_message(encode(reply_ok(rid, {"released": True})))
        self.held.clear()

    async def close_all(self, code: int) -> None:
        for ws in list(self.sockets):
            await ws.aclose(code)


@pytest.fixture
async def server(nursery: trio.Nursery) -> FakeServer:
    fake = FakeServer()
    listener = await nursery.start(partial(serve_websocket, fake.handle, "127.0.0.1", 0, None))
    fake.url = f"ws://127.0.0.1:{listener.port}/ws"
    return fake


async def test_concurrent_calls_are_routed_by_id(server: FakeServer) -> None:
    server.gather_size = 5
    results: dict[int, Any] = {}
    async with connect(server.url) as client:

        async def one(i: int) -> None:
            results[i] = await client.call("gather", i=i)

        with trio.fail_after(TIMEOUT):
            async with trio.open_nursery() as nursery:
                for i in range(5):
                    nursery.start_soon(one, i)
    assert results == {i: {"i": i} for i in range(5)}
    # The server answered in the reverse order it received: routing was by id.
    order = [args["i"] for _, _, args in server.gathered]
    assert sorted(order) == list(range(5))


async def test_error_replies_raise_typed_errors(server: FakeServer) -> None:
    with trio.fail_after(TIMEOUT):
        async with connect(server.url) as client:
            with pytest.raises(RateLimited) as info:
                await client.call("fail", code="rate_limited", message="slow", retry_after=1.5)
            assert info.value.retry_after == 1.5
            with pytest.raises(Internal):
                await client.call("fail", code="no_such_code")
            assert await client.call("echo", x=1) == {"x": 1}  # still usable
        # An error raised inside the block comes out as itself, not as a group.
        with pytest.raises(NotFound, match="no such post"):
            async with connect(server.url) as client:
                await client.call("fail", code="not_found", message="no such post")


async def test_signup_conflict_then_login_says_hello(server: FakeServer) -> None:
    with trio.fail_after(TIMEOUT):
        async with connect(server.url, client_name="test/1") as client:
            with pytest.raises(Conflict):
                await client.signup("taken", "t@example.com", "pw")
            assert client.token is None
            hello = await client.login("taken", "pw")
    assert hello["node"] == "n1"
    assert client.token == "tok-taken"
    assert client.user == {"id": 1, "username": "taken"}
    assert client.last_seq == 0
    assert server.args_of("hello") == [
        {"proto": 1, "token": "tok-taken", "resume": None, "client": "test/1"}
    ]


async def test_hello_with_a_bad_token_is_unauthorized(server: FakeServer) -> None:
    with trio.fail_after(TIMEOUT), pytest.raises(Unauthorized):
        async with connect(server.url, token="forged"):
            pass


async def test_heartbeat_pings_before_and_after_hello(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "PRE_HELLO_PING_SECONDS", 0.05)
    server.heartbeat_ms = 100
    with trio.fail_after(TIMEOUT):
        async with connect(server.url) as client:
            await server.wait_until(lambda: len(server.args_of("ping")) >= 2)
            await client.hello("tok-a")
            before = len(server.args_of("ping"))
            await server.wait_until(lambda: len(server.args_of("ping")) >= before + 2)


async def test_duplicate_durable_events_are_skipped(server: FakeServer) -> None:
    got: list[Event] = []
    with trio.fail_after(TIMEOUT):
        async with connect(server.url, token="tok-a") as client:
            await server.push("notification", {"n": 1}, 1)
            await server.push("dm.typing", {"dm": 9})
            await server.push("notification", {"n": 2}, 2)
            await server.push("notification", {"n": 1}, 1)
            await server.push("notification", {"n": 2}, 2)
            await server.push("dm.typing", {"dm": 9})
            await server.push("notification", {"n": 3}, 3)
            async for ev in client.events():
                got.append(ev)
                if ev.seq == 3:
                    break
    assert [(ev.name, ev.seq) for ev in got] == [
        ("notification", 1), ("dm.typing", None), ("notification", 2),
        ("dm.typing", None), ("notification", 3),
    ]
    assert got[0].data == {"n": 1}
    assert client.last_seq == 3


async def test_reconnect_resumes_without_gaps_or_duplicates(server: FakeServer) -> None:
    server.replay_overlap = True  # the replay repeats seq 2: the client must drop it
    with trio.fail_after(TIMEOUT):
        async with connect(server.url, token="tok-a") as client:
            for seq in (1, 2):
                await server.push("notification", {"n": seq}, seq)
                server.store(seq)
            assert (await client.next_event()).seq == 1
            assert (await client.next_event()).seq == 2
            server.store(3)  # happen while the client is away
            server.store(4)
            await server.close_all(4008)  # "too slow": resume to catch up
            assert [(await client.next_event()).seq for _ in range(2)] == [3, 4]
            assert await client.call("echo", after="reconnect") == {"after": "reconnect"}
            assert client.last_seq == 4
            assert client.close_code is None
    assert [h["resume"] for h in server.args_of("hello")] == [None, 2]
    assert server.accepted == 2


async def test_explicit_resume_replays_what_was_missed(server: FakeServer) -> None:
    for seq in range(1, 5):
        server.store(seq)
    with trio.fail_after(TIMEOUT):
        async with connect(server.url, token="tok-a", resume=2) as client:
            assert [(await client.next_event()).seq for _ in range(2)] == [3, 4]
            assert client.last_seq == 4
    assert server.args_of("hello")[0]["resume"] == 2


async def test_an_event_never_queued_is_not_counted_in_last_seq(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With no room in the queue, the first durable event is dropped; nobody reads
    # events, so the client stays on that socket until it is closed.
    monkeypatch.setattr(client_module, "EVENT_QUEUE_SIZE", 0)
    with trio.fail_after(TIMEOUT):
        async with connect(server.url, token="tok-a") as client:
            server.store(1)
            await server.push("notification", {"n": 1}, 1)
            assert await client.call("echo") == {}  # answered behind the event
        # It never reached the application, so a resume from last_seq must replay it.
        assert client.last_seq == 0
        monkeypatch.undo()
        async with connect(server.url, token="tok-a", resume=client.last_seq) as again:
            assert (await again.next_event()).seq == 1
            assert again.last_seq == 1


async def test_calls_in_flight_finish_before_an_overflowed_socket_is_replaced(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "EVENT_QUEUE_SIZE", 2)
    held: list[Any] = []
    with trio.fail_after(TIMEOUT):
        async with connect(server.url, token="tok-a") as client, trio.open_nursery() as nursery:
            for seq in (1, 2, 3):
                server.store(seq)
                await server.push("notification", {"n": seq}, seq)
            assert await client.call("echo") == {}  # so all three have arrived
            assert client.last_seq == 2  # 3 found the queue full

            async def hold() -> None:
                held.append(await client.call("hold"))

            nursery.start_soon(hold)
            await server.wait_until(lambda: bool(server.held))
            assert [(await client.next_event()).seq for _ in range(2)] == [1, 2]
            # Caught up: the socket is to be replaced, but not under the call in flight.
            await trio.testing.wait_all_tasks_blocked()
            assert server.accepted == 1 and held == []
            await server.release()
            assert (await client.next_event()).seq == 3  # resumed on a new socket
            assert held == [{"released": True}]
    assert [h["resume"] for h in server.args_of("hello")] == [None, 2]
    assert server.accepted == 2


async def test_a_call_with_a_timeout_raises_call_timeout(server: FakeServer) -> None:
    with trio.fail_after(TIMEOUT):
        async with connect(server.url, token="tok-a") as client:
            with pytest.raises(CallTimeout) as info:
                await client.call("hang", timeout=0.2)
            assert isinstance(info.value, Unavailable)
            assert isinstance(info.value, trio.TooSlowError)
            assert await client.call("echo", x=1, timeout=TIMEOUT) == {"x": 1}  # still usable
            assert server.args_of("echo") == [{"x": 1}]  # `timeout` is not an op argument


async def test_resume_too_old_means_resync(server: FakeServer) -> None:
    for seq in range(1, 11):
        server.store(seq)
    server.oldest_seq = 5
    with trio.fail_after(TIMEOUT):
        async with connect(server.url, token="tok-a", resume=1) as client:
            assert client.hello_data is not None and client.hello_data["resync"] is True
            assert client.last_seq == 10
            await server.push("notification", {"n": 11}, 11)
            assert (await client.next_event()).seq == 11  # no stale replay came first


async def test_processed_seq_follows_reads_ephemeral_events_and_a_resync(
    server: FakeServer,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with connect(server.url, token="tok-a") as client:
            assert client.processed_seq == 0
            for seq in (1, 2):
                server.store(seq)
                await server.push("notification", {"n": seq}, seq)
            await server.push("dm.typing", {"dm": 9})
            for seq in range(3, 11):
                server.store(seq)  # while the client is away
            server.oldest_seq = 5  # too far behind: the resume is a resync to 10
            await server.close_all(4008)
            await server.wait_until(lambda: len(server.args_of("hello")) == 2)
            assert await client.call("echo") == {}  # so the resume has been answered
            assert client.last_seq == 10 and client.processed_seq == 0
            assert (await client.next_event()).seq == 1
            assert client.processed_seq == 1
            assert (await client.next_event("dm.typing")).data == {"dm": 9}  # skips 2
            # Nothing is owed before 10 once the last event queued before the resync
            # has been handed out: resuming from 2 would only resync again.
            assert client.processed_seq == 10


async def test_in_flight_call_fails_when_the_socket_dies(server: FakeServer) -> None:
    with trio.fail_after(TIMEOUT):
        async with connect(server.url, token="tok-a") as client:
            async with trio.open_nursery() as nursery:

                async def hang() -> None:
                    with pytest.raises(ConnectionLost):
                        await client.call("hang")

                nursery.start_soon(hang)
                await server.wait_until(lambda: bool(server.args_of("hang")))
                await server.close_all(1001)
            # The session itself survives: the next call goes over the new socket.
            assert await client.call("echo", x=2) == {"x": 2}
    assert server.accepted == 2


async def test_no_reconnect_when_disabled(server: FakeServer) -> None:
    with trio.fail_after(TIMEOUT):
        async with connect(server.url, token="tok-a", reconnect=False) as client:
            await server.close_all(1001)
            assert [ev async for ev in client.events()] == []  # ends: closed for good
            assert client.close_code == 1001
            with pytest.raises(ConnectionLost):
                await client.call("echo")
    assert server.accepted == 1


async def test_logout_closes_the_session_for_good(server: FakeServer) -> None:
    with trio.fail_after(TIMEOUT):
        async with connect(server.url, token="tok-a") as client:
            await client.logout()
            assert client.close_code == 4001
            assert [ev.name async for ev in client.events()] == ["session.closed"]
            with pytest.raises(SessionClosed):
                await client.call("echo")
            with pytest.raises(SessionClosed):
                await client.next_event()
    assert client.token is None
    assert server.accepted == 1
    assert len(server.args_of("hello")) == 1


async def test_server_closing_with_4001_is_not_retried(server: FakeServer) -> None:
    with trio.fail_after(TIMEOUT):
        async with connect(server.url, token="tok-a") as client:
            await server.close_all(4001)
            assert [ev async for ev in client.events()] == []
            assert client.close_code == 4001
            with pytest.raises(SessionClosed):
                await client.call("echo")
    assert server.accepted == 1


async def test_connect_to_nothing_raises_connection_lost() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: refused
        with trio.fail_after(TIMEOUT), pytest.raises(ConnectionLost):
            async with connect(f"ws://127.0.0.1:{port}/ws"):
                pass
