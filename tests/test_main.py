"""``python -m server``: embedded database, clean stop, data kept across restarts, bad config refused."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from pymongo import MongoClient

from server.db import EmbeddedMongo, free_port
from server.processes import LISTEN_BACKLOG
from tests.staff_helpers import form_body

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


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
    except OSError:
        return "?"


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
    backlog = _listen_backlog(port)
    output = _stop(process, sig)
    assert process.returncode == 0, output
    # A rush's hundreds of connections fit the accept queue (Tornado's default of 128 dropped some).
    if backlog is not None:
        assert backlog == min(LISTEN_BACKLOG, int(Path("/proc/sys/net/core/somaxconn").read_text())), backlog
    assert f"http://127.0.0.1:{port}" in output
    # Helpers that exit when their parent's pipe closes (the database, multiprocessing's tracker) get a moment.
    deadline = time.monotonic() + 5
    while [pid for pid in children if _alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)
    left = {pid: _cmdline(pid) for pid in children if _alive(pid)}
    assert not left, f"no orphan process: {left}"
    assert (tmp_path / "var" / "db").is_dir()


def _listen_backlog(port: int) -> int | None:
    """The accept queue's size of the socket listening on ``port`` (``ss`` shows it as Send-Q), None without ss."""
    ss = shutil.which("ss")
    if ss is None:
        return None
    for line in subprocess.run([ss, "-ltnH"], capture_output=True, text=True, check=False).stdout.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[3].endswith(f":{port}"):
            return int(fields[2])
    return None


def test_data_survives_a_restart(tmp_path: Path) -> None:
    port = free_port()
    first = _start(tmp_path, port, "--demo")
    _wait_healthy(port, first)
    out_first = _stop(first)
    assert "demo data loaded" in out_first
    # The demo staff's second factor is printed beside their logins (README "Staff sign-in").
    from server.demo.staff_totp import DEMO_TOTP_SECRET
    from server.services.accounts.totp import group_secret
    assert f"身份验证器密钥 {group_secret(DEMO_TOTP_SECRET)}" in out_first and "admin" in out_first

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


def test_the_embedded_database_is_restarted_after_kill_9(tmp_path: Path) -> None:
    # In its own process: the serving process supervises its database child.
    port = free_port()
    process = _start(tmp_path, port)
    try:
        _wait_healthy(port, process)
        (database,) = _children(process.pid)
        os.kill(database, signal.SIGKILL)
        time.sleep(0.3)
        # Until the new child runs secantusd (not a fork still on its way to exec), then a health
        # answer newer than that (the probe caches one for 1 s): by then the supervisor has
        # connected to the new child and logged the restart.
        deadline = time.monotonic() + 30
        while [pid for pid in _children(process.pid) if "secantus" in _cmdline(pid)] in ([], [database]):
            assert time.monotonic() < deadline, _children(process.pid)
            time.sleep(0.1)
        time.sleep(1.2)
        while (answer := _health(port))[0] != 200:
            assert time.monotonic() < deadline, answer
            time.sleep(0.2)
        (restarted,) = _children(process.pid)
        assert restarted != database and not _alive(database)  # reaped, not a zombie
        assert not Path(f"/proc/{database}").exists()
    finally:
        stopping = time.monotonic()
        output = _stop(process)
    assert "exited with code -9; restarting" in output and "embedded database restarted" in output, output
    assert process.returncode == 0 and time.monotonic() - stopping < 10, output


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


# ---- graceful stop (issue 10) -----------------------------------------------------------------


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float = 60) -> str:
    """The child's output up to the line containing ``marker``."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError("server exited:\n" + "".join(lines))
        lines.append(line)
        if marker in line:
            return "".join(lines)
    raise AssertionError("no " + marker + " in:\n" + "".join(lines))


def _post_json(port: int, path: str, body: dict[str, object], token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def _unit_token(port: int, output: str) -> str:
    line = next(line for line in output.splitlines() if "demo unit" in line)
    account, password = re.search(r"账号 (\S+)\s+密码 (\S+)", line).groups()  # type: ignore[union-attr]
    status, answer = _post_json(port, "/api/v1/auth/login", {"account": account, "password": password})
    assert status == 200, answer
    return str(answer["token"])


def _open_requests(port: int, token: str, n: int) -> list[tuple[socket.socket, bytes]]:
    """``n`` POST /api/v1/unit/staff whose handlers are running: headers sent, "100 Continue" received."""
    opened = []
    for _ in range(n):
        body = json.dumps(form_body(), ensure_ascii=False).encode()
        head = (f"POST /api/v1/unit/staff HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                "Expect: 100-continue\r\nConnection: close\r\n\r\n").encode()
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(head)
        assert sock.recv(100).startswith(b"HTTP/1.1 100")  # authenticated: the handler is in flight
        opened.append((sock, body))
    return opened


def _finish_requests(opened: list[tuple[socket.socket, bytes]]) -> list[bytes]:
    answers = []
    for sock, body in opened:
        chunks = []
        try:
            sock.sendall(body)
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except OSError:
            pass  # cut
        finally:
            sock.close()
        answers.append(b"".join(chunks))
    return answers


def _sigterm_during_requests(tmp_path: Path, env: dict[str, str] | None = None) -> tuple[list[bytes], str, int]:
    port = free_port()
    process = _start(tmp_path, port, "--demo", env=env)
    try:
        output = _read_until(process, "listening")
        opened = _open_requests(port, _unit_token(port, output), 6)
        process.send_signal(signal.SIGTERM)
        time.sleep(1.0)  # the server has stopped listening and is draining
        refused = False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            refused = True
        answers = _finish_requests(opened)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert refused, "no new connections while draining"
    return answers, output + rest, process.returncode


def test_sigterm_lets_running_requests_finish(tmp_path: Path) -> None:
    answers, output, code = _sigterm_during_requests(tmp_path)
    assert code == 0, output
    assert "finishing 6 open request(s)" in output
    for answer in answers:
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 201"), answer[:300]
        assert len(json.loads(payload)["one_time_secret"]) == 24  # shown once, and it arrived


def test_control_without_a_grace_period_the_requests_are_cut(tmp_path: Path) -> None:
    answers, output, code = _sigterm_during_requests(tmp_path, {"SHUTDOWN_GRACE_SECONDS": "0"})
    assert code == 0 and "6 request(s) still open after 0 s" in output, output
    assert answers == [b""] * 6


# ---- subcommands beside a running server (issue 10) ---------------------------------------------


def _command(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if k not in ("MONGODB_URL", "SECRET_KEY", "DATA_KEYS", "INDEX_KEY")
    }
    environment.update({"DATA_DIR": str(tmp_path / "var"), "APP_ENV": "dev"})
    return subprocess.run([sys.executable, "-m", "server", *args], cwd=tmp_path, env=environment, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_subcommands_work_beside_a_running_server(tmp_path: Path) -> None:
    port = free_port()
    process = _start(tmp_path, port)
    published = tmp_path / "var" / "db.url"
    try:
        _wait_healthy(port, process)
        assert published.stat().st_mode & 0o777 == 0o600
        assert published.read_text().startswith("mongodb://127.0.0.1:")
        done = _command(tmp_path, "create-staff", "--username", "wang", "--role", "admin", "--password-stdin",
                        stdin="a-long-pass-phrase-1\n")
        assert done.returncode == 0 and "staff account created" in done.stdout, done.stderr
        # The running server sees the account: one database, not a second one on the same files.
        status, _ = _post_json(port, "/api/v1/auth/login", {"account": "wang", "password": "a-long-pass-phrase-1"})
        assert status == 200
        # Control: without the published address the subcommand opens the same files and fails.
        url = published.read_text()
        published.unlink()
        failed = _command(tmp_path, "disable-account", "--account", "wang")
        assert failed.returncode == 3 and "database error" in failed.stderr, failed.stderr
        published.write_text(url)
    finally:
        output = _stop(process)
    assert process.returncode == 0, output
    assert not published.exists(), "removed on a clean stop"


def test_a_stale_published_address_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "db.url").write_text(f"mongodb://127.0.0.1:{free_port()}/?directConnection=true\n")
    done = _command(tmp_path, "create-staff", "--username", "liming", "--role", "scanner", "--password-stdin",
                    stdin="a-long-pass-phrase-2\n")
    assert done.returncode == 0 and "staff account created" in done.stdout, done.stderr


def test_a_second_signal_stops_without_waiting(tmp_path: Path) -> None:
    port = free_port()
    process = _start(tmp_path, port, "--demo", env={"SHUTDOWN_GRACE_SECONDS": "60"})
    try:
        output = _read_until(process, "listening")
        opened = _open_requests(port, _unit_token(port, output), 1)
        process.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        impatient = time.monotonic()
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
        elapsed = time.monotonic() - impatient
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert _finish_requests(opened) == [b""]
    assert process.returncode == 0 and "1 request(s) still open" in rest, rest
    assert elapsed < 30  # not the 60 s grace
