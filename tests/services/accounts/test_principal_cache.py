"""The per-process token cache: a revoked token dies at once everywhere (within the change
stream's delivery, milliseconds; see principal_cache.py).

Two token services on two database clients stand for two processes (the cross-process test
below runs two real servers). The control run stops one cache's change stream behind its back
(cancelling the watcher task, so the cache still believes it is watched): the revoked token
then lives on in that process — the outcome the change stream prevents.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.db import free_port, make_client
from server.metrics import CommandCounter
from server.services.accounts.principal_cache import EMPTY_PAUSE_SECONDS
from server.services.accounts.tokens import TokenService


async def _account(db: AsyncDatabase[dict[str, Any]], role: str = "trainee") -> ObjectId:
    doc = {"_id": ObjectId(), "role": role, "status": "active", "name": "缓存", "login_key": f"x:{ObjectId()}"}
    await db["accounts"].insert_one(doc)
    return doc["_id"]


@pytest.fixture
async def other_process(mongo_url: str, db: AsyncDatabase[dict[str, Any]]) -> AsyncIterator[TokenService]:
    """A token service with its own client and cache: what another server process has."""
    client = make_client(mongo_url)
    service = TokenService(client[db.name], cache=True)
    try:
        yield service
    finally:
        await service.close()
        await client.close()


async def _cached(service: TokenService, token: str) -> None:
    """Resolve until the stream is open and the token is served from memory."""
    assert service.cache is not None
    for _ in range(200):
        assert await service.resolve(token) is not None
        if service.cache.get(_hash(token), service.now(), timedelta(minutes=5)) is not None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the token never got cached")


async def _dead_there_soon(service: TokenService, tokens: list[str]) -> None:
    """Every token resolves to None in ``service`` within 0.5 s."""
    answered = time.monotonic()
    while [await service.resolve(token) for token in tokens] != [None] * len(tokens):
        assert time.monotonic() - answered < 0.5, "the other process still accepts a revoked token after 0.5 s"
        await asyncio.sleep(0.005)


def _hash(token: str) -> str:
    from server.services.accounts.tokens import token_hash

    return token_hash(token)


async def test_revoked_elsewhere_dies_at_once(db: AsyncDatabase[dict[str, Any]], other_process: TokenService) -> None:
    here = TokenService(db, cache=True)
    try:
        account = await _account(db)
        issued = [await here.issue(account, "trainee") for _ in range(3)]
        for one in issued:
            await _cached(other_process, one.token)
            await _cached(here, one.token)
        await here.revoke(issued[0].token_id)  # logout here ...
        assert await here.resolve(issued[0].token) is None  # ... dead here at once
        # ... and there as the stream delivers (module docstring): within milliseconds, and on a loaded
        # machine within 0.5 s; without the eviction the cached principal would live for minutes.
        await _dead_there_soon(other_process, [issued[0].token])
        await here.revoke_all(account)  # disabling / password change: every token
        await _dead_there_soon(other_process, [one.token for one in issued])
    finally:
        await here.close()


async def test_a_reauthentication_is_seen_elsewhere_at_once(db: AsyncDatabase[dict[str, Any]],
                                                            other_process: TokenService) -> None:
    """POST /auth/reauth refreshes ``authenticated_at`` on the token: another process's cached principal
    must not keep the old time (an admin would be asked again, or worse, a stale fresh time kept)."""
    here = TokenService(db, cache=True)
    try:
        account = await _account(db, "admin")
        issued = await here.issue(account, "admin", authenticated_at=here.now() - timedelta(minutes=20))
        await _cached(other_process, issued.token)
        await _cached(here, issued.token)
        before = (await other_process.resolve(issued.token)).authenticated_at  # type: ignore[union-attr]
        at = await here.reauthenticated(issued.token_id)
        assert at > before
        seen = (await here.resolve(issued.token)).authenticated_at  # type: ignore[union-attr]
        assert abs(seen - at) < timedelta(milliseconds=1)  # here: at once (stored with millisecond precision)
        # There: the stream's delivery, as for a logout (module docstring): within milliseconds, under
        # load asserted within 0.5 s; without the eviction the old time stays cached for minutes.
        answered = time.monotonic()
        while abs((await other_process.resolve(issued.token)).authenticated_at - at) >= timedelta(milliseconds=1):  # type: ignore[union-attr]
            assert time.monotonic() - answered < 0.5, "the other process kept the old authenticated_at"
            await asyncio.sleep(0.005)
    finally:
        await here.close()


async def test_hits_skip_the_database_and_respect_deadlines(
    db: AsyncDatabase[dict[str, Any]], other_process: TokenService
) -> None:
    account = await _account(db)
    issued = await other_process.issue(account, "trainee")
    await _cached(other_process, issued.token)
    await db["tokens"].delete_one({"_id": issued.token_id})  # gone: the delete event evicts
    for _ in range(100):
        if await other_process.resolve(issued.token) is None:
            break
        await asyncio.sleep(0.01)
    assert await other_process.resolve(issued.token) is None
    # A cached token past its deadline is not served from memory.
    second = await other_process.issue(account, "trainee")
    await _cached(other_process, second.token)
    later = other_process.now() + timedelta(days=31)
    assert other_process.cache is not None
    assert other_process.cache.get(_hash(second.token), later, timedelta(minutes=5)) is None


async def test_other_writes_do_not_make_the_stream_ask_again_each_time(mongo_url: str,
                                                                      db: AsyncDatabase[dict[str, Any]]) -> None:
    """The embedded database wakes a waiting change stream on every write to any collection and
    answers it empty; the watcher pauses after an empty answer (``EMPTY_PAUSE_SECONDS``), so 200
    enrollments' worth of writes cost a few ``getMore`` on ``tokens``, not one per write (measured
    without the pause: 106 for 200 inserts)."""
    counter = CommandCounter()
    client = make_client(mongo_url, event_listeners=[counter])
    service = TokenService(client[db.name], cache=True)
    try:
        issued = await service.issue(await _account(db), "trainee")
        await _cached(service, issued.token)
        before, started = counter.counts[("getMore", "tokens")], time.monotonic()
        for n in range(200):
            await client[db.name]["elsewhere"].insert_one({"n": n})
        elapsed = time.monotonic() - started
        asked = counter.counts[("getMore", "tokens")] - before
        assert asked <= elapsed / EMPTY_PAUSE_SECONDS + 2, (asked, elapsed)
        await service.revoke(issued.token_id)  # and a revocation is still seen
        assert await service.resolve(issued.token) is None
    finally:
        await service.close()
        await client.close()


async def test_control_without_the_change_stream_a_revoked_token_lives_on(
    db: AsyncDatabase[dict[str, Any]], other_process: TokenService
) -> None:
    here = TokenService(db)
    account = await _account(db)
    issued = await here.issue(account, "trainee")
    await _cached(other_process, issued.token)
    cache = other_process.cache
    assert cache is not None and cache._task is not None
    cache._task.cancel()  # test-only: the stream is gone, but the cache still thinks it is watched
    await asyncio.gather(cache._task, return_exceptions=True)
    await here.revoke(issued.token_id)
    await asyncio.sleep(0.2)
    assert await other_process.resolve(issued.token) is not None  # the bad outcome the stream prevents


def _server(tmp: Path, mongo_url: str, db_name: str, name: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update({"DATA_DIR": str(tmp / name), "APP_ENV": "dev", "MONGODB_URL": mongo_url, "MONGODB_DB": db_name,
                "METRICS_TOKEN": "m", "LOG_LEVEL": "WARNING", "JOBS_IN_PROCESS": "false"})
    with open(tmp / f"{name}.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "server", "--port", str(port)],
                                   cwd=Path(__file__).resolve().parents[3], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    return process, port


def _get(port: int, path: str, token: str, method: str = "GET") -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     headers={"Authorization": f"Bearer {token}"}, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def _token_finds(port: int) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer m"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        text = answer.read().decode()
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith('db_commands_total{collection="tokens",command="find"}'))


@pytest.mark.slow
async def test_two_server_processes_logout_in_one_refuses_in_the_other(
    db: AsyncDatabase[dict[str, Any]], mongo_url: str, tmp_path: Path
) -> None:
    account = await _account(db)
    token = (await TokenService(db).issue(account, "trainee")).token
    servers = [_server(tmp_path, mongo_url, db.name, name) for name in ("a", "b")]
    try:
        for process, port in servers:
            deadline = time.monotonic() + 60
            while _get(port, "/healthz", "") != 200:
                assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "a.log").read_text()
                await asyncio.sleep(0.1)
        (_, a), (_, b) = servers
        for _ in range(50):  # b serves the token from memory once its stream is open
            assert await asyncio.to_thread(_get, b, "/api/v1/sessions", token) == 200
            before = await asyncio.to_thread(_token_finds, b)
            assert await asyncio.to_thread(_get, b, "/api/v1/sessions", token) == 200
            if await asyncio.to_thread(_token_finds, b) == before:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("process b never served the token from its cache")
        assert await asyncio.to_thread(_get, a, "/api/v1/auth/logout", token, "POST") == 200
        # The logout answers once a's own stream carried the change; b's stream gets the same event
        # from the same oplog: usually already there, under load within a few milliseconds.
        answered = time.monotonic()
        while await asyncio.to_thread(_get, b, "/api/v1/sessions", token) != 401:
            assert time.monotonic() - answered < 0.5, "b still accepted the token 0.5 s after the logout"
            await asyncio.sleep(0.005)
    finally:
        for process, _ in servers:
            process.terminate()
        for process, _ in servers:
            process.wait(30)
