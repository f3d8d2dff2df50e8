"""A real node process's logs: one JSON event per line with node, connection, user, op,
latency and outcome — and no password or token anywhere, raw or hashed."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from pathlib import Path

import httpx
import pytest

from protocol.client import connect
from protocol.errors import Unauthorized
from tests.conftest import PASSWORD, unique
from tests.fixtures import images
from tests.nodeproc import node_process

WRONG_PASSWORD = "not the right passphrase 7"
NEW_PASSWORD = "purple lantern orbit 42"


def _forms(secret: str) -> list[str]:
    """A secret as it could leak: raw, and its SHA-256 digest in the usual encodings."""
    digest = hashlib.sha256(secret.encode()).digest()
    return [secret, digest.hex(), base64.b64encode(digest).decode(),
            base64.urlsafe_b64encode(digest).decode().rstrip("=")]


async def test_logs_are_json_lines_with_context_and_never_secrets(
        services: tuple[str, str], tmp_path: Path) -> None:
    db, redis = services
    env = {"DATABASE_URL": db, "REDIS_URL": redis, "GLINT_NAMESPACE": f"lg{uuid.uuid4().hex[:8]}",
           "GLINT_LOG_LEVEL": "debug"}
    log_file = tmp_path / "node.log"
    name = unique("log")
    tokens: list[str] = []
    with log_file.open("wb") as sink:
        async with node_process(tmp_path / "n", env=env, name="logs-node", stderr=sink) as n:
            async with httpx.AsyncClient(base_url=n.http_url) as http:
                r = await http.post("/api/auth/signup", json={
                    "username": name, "email": f"{name}@example.com", "password": PASSWORD})
                assert r.status_code == 201
                tokens.append(r.json()["token"])
                r = await http.post("/api/auth/login",
                                    json={"username": name, "password": WRONG_PASSWORD})
                assert r.status_code == 401
            async with connect(n.ws_url) as c:
                with pytest.raises(Unauthorized):
                    await c.call("auth.login", username=name, password=WRONG_PASSWORD)
                await c.login(name, PASSWORD)
                assert c.token is not None
                tokens.append(c.token)
                with pytest.raises(Unauthorized):  # auth.password: the old one is wrong
                    await c.call("auth.password", old_password=WRONG_PASSWORD,
                                 new_password=NEW_PASSWORD)
                await c.call("auth.password", old_password=PASSWORD, new_password=NEW_PASSWORD)
                up = await c.upload(images.jpeg(320, 240))
                await c.call("post.create", media=[{"id": up["id"]}], caption="logged")
                await c.logout()
            async with httpx.AsyncClient(base_url=n.http_url) as http:
                r = await http.post("/api/auth/logout",
                                    headers={"Authorization": f"Bearer {tokens[0]}"})
                assert r.status_code == 200
    text = log_file.read_text("utf-8")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) > 5
    for secret in [PASSWORD, WRONG_PASSWORD, NEW_PASSWORD, *tokens]:
        for form in _forms(secret):
            assert form not in text, "a secret reached the logs"
    events = [json.loads(ln) for ln in lines]  # every line is one JSON object
    assert all(e["node"] == "logs-node" and "t" in e and "level" in e for e in events)
    ops = [e for e in events if e.get("msg") == "op"]
    hello = next(e for e in ops if e["op"] == "hello")
    assert hello["outcome"] == "ok" and hello["user"] and hello["conn"] and hello["ms"] >= 0
    failed = next(e for e in ops if e["op"] == "auth.login" and e["outcome"] == "unauthorized")
    assert failed["user"] is None and failed["conn"] == hello["conn"]
    assert any(e["op"] == "post.create" and e["user"] == hello["user"] for e in ops)
    assert {e["outcome"] for e in ops if e["op"] == "auth.password"} == {"unauthorized", "ok"}
    assert any(e.get("msg") == "photo processed" for e in events)
    # The HTTP access log: method, path, status, time and address of each request.
    http = [e for e in events if e.get("msg") == "http"]
    signup = next(e for e in http if e["path"] == "/api/auth/signup")
    assert (signup["method"], signup["status"], signup["ip"]) == ("POST", 201, "127.0.0.1")
    assert signup["ms"] > 0
    assert any(e["path"] == "/api/auth/login" and e["status"] == 401 for e in http)
    assert any(e["path"] == "/api/media" and e["status"] == 201 for e in http)


async def test_error_paths_log_no_secrets_either(services: tuple[str, str],
                                                 tmp_path: Path) -> None:
    """Refused hellos, bad tokens, and failing ops whose arguments hold a password."""
    from protocol.errors import BadRequest

    db, redis = services
    env = {"DATABASE_URL": db, "REDIS_URL": redis, "GLINT_NAMESPACE": f"lg{uuid.uuid4().hex[:8]}",
           "GLINT_LOG_LEVEL": "debug"}
    log_file = tmp_path / "node.log"
    name = unique("lge")
    forged = "forged-" + uuid.uuid4().hex + uuid.uuid4().hex
    secrets = [PASSWORD, WRONG_PASSWORD, forged]
    with log_file.open("wb") as sink:
        async with node_process(tmp_path / "n", env=env, name="logs-err", stderr=sink) as n:
            async with connect(n.ws_url, reconnect=False) as c:
                for email in ("not an email", f"{name}\x00@example.com"):  # the NUL: Postgres
                    with pytest.raises(BadRequest):
                        await c.call("auth.signup", username=name, email=email,
                                     password=PASSWORD)
                with pytest.raises(BadRequest):
                    await c.call("auth.signup", username=name, email=f"{name}@example.com",
                                 password=PASSWORD, display_name="nul\x00name")
                with pytest.raises(Unauthorized):  # the password typed as the username
                    await c.call("auth.login", username=WRONG_PASSWORD, password=PASSWORD)
                with pytest.raises(Unauthorized):
                    await c.call("hello", token=forged)
                issued = await c.call("auth.signup", username=name,
                                      email=f"{name}@example.com", password=PASSWORD)
                secrets.append(issued["token"])
            async with connect(n.ws_url, token=issued["token"]) as me:
                await me.logout()
            async with connect(n.ws_url, reconnect=False) as late:
                with pytest.raises(Unauthorized):  # a revoked token
                    await late.call("hello", token=issued["token"])
            async with httpx.AsyncClient(base_url=n.http_url) as http:
                r = await http.post("/api/auth/signup", json={
                    "username": name + "h", "email": "bad\x00@example.com",
                    "password": PASSWORD})
                assert r.status_code == 400
                r = await http.post("/api/auth/logout", headers={"Authorization":
                                                                 f"Bearer {forged}"})
                assert r.status_code in (200, 401)
    text = log_file.read_text("utf-8")
    for secret in secrets:
        for form in _forms(secret):
            assert form not in text, "a secret reached the logs"
    events = [json.loads(ln) for ln in text.splitlines() if ln.strip()]
    outcomes = {(e["op"], e["outcome"]) for e in events if e.get("msg") == "op"}
    assert {("auth.signup", "bad_request"), ("hello", "unauthorized")} <= outcomes
    assert not any(e["level"] == "error" for e in events)  # bad input is no server error
