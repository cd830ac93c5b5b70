"""``python -m server``: embedded database, clean stop, data kept across restarts, bad config refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from pymongo import MongoClient

from server.db import EmbeddedMongo, free_port

pytestmark = pytest.mark.slow


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def _start(tmp_path: Path, port: int, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    environment = {
        k: v for k, v in os.environ.items() if k not in ("MONGODB_URL", "SECRET_KEY", "DATA_KEYS", "INDEX_KEY")
    }
    environment.update({"DATA_DIR": str(tmp_path / "var"), "APP_ENV": "dev", **(env or {})})
    return subprocess.Popen(
        [sys.executable, "-m", "server", "--port", str(port), *args],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_healthy(port: int, process: subprocess.Popen[str], timeout: float = 30) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not become healthy")


def _stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> str:
    process.send_signal(sig)
    output, _ = process.communicate(timeout=30)
    return output


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_server_starts_embedded_database_and_stops_cleanly(tmp_path: Path, sig: int) -> None:
    port = free_port()
    process = _start(tmp_path, port, "--demo")
    _wait_healthy(port, process)
    children = _children(process.pid)
    assert children, "the embedded database runs as a child process"
    output = _stop(process, sig)
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}" in output
    assert not [pid for pid in children if _alive(pid)], "no orphan database process"
    assert (tmp_path / "var" / "db").is_dir()


def test_data_survives_a_restart(tmp_path: Path) -> None:
    port = free_port()
    first = _start(tmp_path, port, "--demo")
    _wait_healthy(port, first)
    out_first = _stop(first)
    assert "demo data loaded" in out_first

    second = _start(tmp_path, port, "--demo")
    _wait_healthy(port, second)
    out_second = _stop(second)
    assert "demo data already loaded" in out_second, out_second


def test_embedded_database_keeps_acknowledged_writes_across_restart(tmp_path: Path) -> None:
    server = EmbeddedMongo(tmp_path / "db")
    with MongoClient(server.start()) as client:
        client.app.things.insert_many([{"n": i} for i in range(100)])
    server.stop()
    again = EmbeddedMongo(tmp_path / "db")
    try:
        with MongoClient(again.start()) as client:
            assert client.app.things.count_documents({}) == 100
    finally:
        again.stop()


def _health(port: int) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_healthz_is_503_when_the_embedded_database_stops(tmp_path: Path) -> None:
    # In its own process: a driver whose server vanished keeps reconnecting, which is
    # the server's business, not the test session's.
    port = free_port()
    process = _start(tmp_path, port)
    try:
        _wait_healthy(port, process)
        (database,) = _children(process.pid)
        os.kill(database, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (answer := _health(port))[0] == 200 and time.monotonic() < deadline:
            time.sleep(0.2)  # the probe's answer is shared for a second
        assert answer[0] == 503 and answer[1]["error"] == {
            "code": "database_unreachable", "message": "数据库暂时无法连接", "details": {}
        }
    finally:
        stopping = time.monotonic()
        output = _stop(process)
    # Closing the driver does not wait out its 5 s server selection for a database that is gone.
    assert process.returncode == 0 and time.monotonic() - stopping < 4, output


def test_production_with_placeholder_secrets_refuses_to_start(tmp_path: Path) -> None:
    process = _start(
        tmp_path,
        free_port(),
        env={"APP_ENV": "production", "SECRET_KEY": "changeme", "MONGODB_URL": "mongodb://x"},
    )
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "SECRET_KEY" in output and "Traceback" not in output


def test_help_documents_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server", "--help"], capture_output=True, text=True, check=True
    )
    for option in ("--host", "--port", "--demo"):
        assert option in result.stdout
