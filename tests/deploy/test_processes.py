"""``python -m server --processes 2``: one embedded database, two HTTP processes on one socket."""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from server.db import free_port
from server.services.container import PERIODIC_TASKS

pytestmark = pytest.mark.slow


def _children(pid: int) -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append((int(entry.name), cmd))
    return found


def _http_children(pid: int) -> list[int]:
    return sorted(p for p, cmd in _children(pid) if "secantusd" not in cmd)


def _healthy(port: int, timeout: float = 2) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as answer:
            return answer.status == 200
    except OSError:
        return False


def _answered(port: int) -> bool:
    """One request of the load: the session list, on a new connection."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/sessions", timeout=1.5) as answer:
            return answer.status == 200
    except OSError:
        return False


def _wait(predicate, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


@contextlib.contextmanager
def server_processes(tmp_path: Path, extra_env: dict[str, str] | None = None,
                     args: tuple[str, ...] = ()) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    """``python -m server --processes 2`` in ``tmp_path`` (embedded database under ``var``), until SIGTERM."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("MONGODB_URL", "SECRET_KEY", "DATA_KEYS", "INDEX_KEY")}
    environment.update({"DATA_DIR": str(tmp_path / "var"), "APP_ENV": "dev", "SHUTDOWN_GRACE_SECONDS": "2",
                        **(extra_env or {})})
    # Output to a file: a pipe nobody reads fills up under load, and then every log line blocks.
    with open(tmp_path / "server.log", "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "server", "--processes", "2", "--port", str(port), *args],
                                   cwd=tmp_path, env=environment, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        _wait(lambda: process.poll() is None and _healthy(port) and len(_http_children(process.pid)) == 2)
        yield process, port, tmp_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(30)
        print((tmp_path / "server.log").read_text()[-5000:])


@pytest.fixture
def two_processes(tmp_path: Path):  # type: ignore[no-untyped-def]
    with server_processes(tmp_path) as started:
        yield started


def test_two_processes_both_serve_survive_a_kill_and_run_periodic_tasks_once(two_processes) -> None:  # type: ignore[no-untyped-def]
    process, port, tmp_path = two_processes
    first, second = _http_children(process.pid)
    database = next(p for p, cmd in _children(process.pid) if "secantusd" in cmd)

    # Each process answers alone while the other is frozen: both take connections from the shared socket.
    for frozen in (first, second):
        os.kill(frozen, signal.SIGSTOP)
        try:
            assert all(_healthy(port, timeout=5) for _ in range(5))
        finally:
            os.kill(frozen, signal.SIGCONT)

    # One process killed under load (4 clients, a new connection per request): at most the requests
    # in flight on it fail, the rest keep being answered, and the parent starts a new process.
    outcomes: list[bool] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            outcomes.append(_answered(port))

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    time.sleep(1.0)
    before_kill = len(outcomes)
    os.kill(first, signal.SIGKILL)
    time.sleep(3.5)  # past the client timeout of a request stuck on the killed process
    stop.set()
    for thread in clients:
        thread.join(10)
    failed = outcomes.count(False)
    assert before_kill > 20 and len(outcomes) - before_kill > 20, "load before and after the kill"
    assert failed <= len(clients), f"{failed} requests lost with {len(clients)} in flight at most"
    assert all(outcomes[-20:]), "the rest keep being answered"
    _wait(lambda: len(_http_children(process.pid)) == 2 and first not in _http_children(process.pid))

    # Periodic tasks: every task claimed once for its period, by one of the HTTP processes.
    url = (tmp_path / "var" / "db.url").read_text().strip()
    with MongoClient(url) as client:
        _wait(lambda: client.training.job_schedule.count_documents({}) >= len(PERIODIC_TASKS))
        claims = list(client.training.job_schedule.find())
        migrations = {doc["_id"] for doc in client.training.migrations.find()}
    per_task = collections.Counter(doc["task"] for doc in claims)
    periods = collections.Counter(doc["_id"] for doc in claims)
    assert max(periods.values()) == 1 and set(per_task) == {name for name, _, _ in PERIODIC_TASKS}
    owners = {int(doc["owner"].split(":")[1]) for doc in claims}
    assert owners <= {first, second, *_http_children(process.pid)}, "the parent runs no tasks"
    assert {"step:0001-indexes", "step:0002-pii-sealed"} <= migrations

    process.send_signal(signal.SIGTERM)
    process.wait(30)
    output = (tmp_path / "server.log").read_text()
    assert process.returncode == 0, output[-3000:]
    assert "embedded database stopped" in output
    assert not Path(f"/proc/{database}").exists() or "zombie" in Path(f"/proc/{database}/status").read_text()
