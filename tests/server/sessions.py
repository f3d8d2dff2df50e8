"""Test support: waiting for the server to end a client's session."""

from __future__ import annotations

import contextlib

import pytest
import trio

from protocol.client import Client, ConnectionLost, SessionClosed

SESSION_CLOSED_CODE = 4001


async def session_ended(c: Client, wait: float = 10.0) -> str:
    """Wait until the server has ended `c`'s session: the session.closed event, then the
    close with 4001 (the client gives up: no reconnect). Returns the reason given."""
    with trio.fail_after(wait):
        closed = await c.next_event("session.closed")
        reason: str = closed.data["reason"]
        assert reason
        with pytest.raises(SessionClosed):
            while True:
                # A call racing the close may see only the dropped socket; the next
                # one learns the session is over.
                with contextlib.suppress(ConnectionLost):
                    await c.call("ping")
        async for _ in c.events():  # ends once the client has shut down
            pass
    assert c.close_code == SESSION_CLOSED_CODE
    return reason
