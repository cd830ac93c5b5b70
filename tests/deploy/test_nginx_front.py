"""deploy/nginx.conf for real: Debian's nginx in front of ``python -m server --processes 2`` and its embedded database.

Through nginx (TLS, HTTP/2 offered): the API answers with nginx's request id (also in nginx's
access log), the web view falls back to index.html, /metrics is not reachable, a body over the
API's limit is refused by nginx; the database hangs: /healthz says 503, then recovers; the database
dies: the parent starts it again and the API answers again.

The whole deployment (:func:`deployment`): nginx, two HTTP processes without jobs
(``JOBS_IN_PROCESS=false``), two ``python -m server worker`` processes, the embedded database. A
trainee registers, logs in, uploads an ID photo and enrolls through nginx; one HTTP process is
killed under load (at most the requests in flight on it fail); the database is restarted (/healthz
503, then 200, the enrollment kept); every periodic task ran once per period, in the workers only.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.db import free_port
from server.services.accounts.identity import resident_check_char, today_shanghai
from server.services.container import PERIODIC_TASKS
from tests.deploy.test_deploy_files import nginx_prefix
from tests.deploy.test_processes import (  # noqa: F401 — two_processes: the fixture
    _children,
    _http_children,
    _wait,
    server_processes,
    two_processes,
)
from tests.totp import next_code_sync

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path("/usr/sbin/nginx").exists(), reason="apt install nginx")]

NO_VERIFY = ssl._create_unverified_context()  # the test's self-signed certificate


def _fetch(url: str, data: bytes | None = None, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10, context=NO_VERIFY) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
    except OSError:  # not listening (yet)
        return 0, {}, b""


@contextlib.contextmanager
def nginx_in_front(port: int, folder: Path) -> Iterator[tuple[str, Path]]:
    """Debian's nginx with deploy/nginx.conf proxying to ``port``: its https base URL and its prefix."""
    https = free_port()
    prefix = nginx_prefix(folder, upstream=f"127.0.0.1:{port}", http=free_port(), https=https)
    server = subprocess.Popen(["/usr/sbin/nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                               "-g", "daemon off; user root;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: _fetch(f"https://127.0.0.1:{https}/healthz")[0] == 200, timeout=15)
        yield f"https://127.0.0.1:{https}", prefix
    finally:
        server.send_signal(signal.SIGQUIT)
        server.wait(10)


@pytest.fixture
def nginx(two_processes, tmp_path: Path):  # type: ignore[no-untyped-def]  # noqa: F811
    process, port, app_dir = two_processes
    with nginx_in_front(port, tmp_path / "nginx") as (base, prefix):
        yield process, base, prefix


def test_through_nginx(nginx) -> None:  # type: ignore[no-untyped-def]
    process, base, prefix = nginx
    status, headers, body = _fetch(f"{base}/api/v1/sessions", **{"X-Forwarded-For": "6.6.6.6"})
    assert status == 200 and "items" in json.loads(body)
    request_id = headers["X-Request-Id"]
    assert len(request_id) == 32, "nginx's $request_id, adopted by the app"
    log = prefix / "logs" / "training-access.log"  # written just after the answer is sent
    _wait(lambda: f"rid={request_id}" in log.read_text(), timeout=5)
    assert "/api/v1/sessions" in log.read_text()

    status, _, body = _fetch(f"{base}/some/page/of/the/web/view")
    assert status == 200 and b"web view" in body, "history fallback to index.html"
    assert _fetch(f"{base}/metrics")[0] == 404
    status, _, _ = _fetch(f"{base}/api/v1/auth/login", data=b"x" * (17 * 1024 * 1024),
                          **{"Content-Type": "application/json"})
    assert status == 413

    # The database hangs (stopped): /healthz says 503 through nginx, then 200 when it goes on.
    database = next(p for p, cmd in _children(process.pid) if "secantusd" in cmd)
    os.kill(database, signal.SIGSTOP)
    try:
        _wait(lambda: _fetch(f"{base}/healthz")[0] == 503, timeout=15)
    finally:
        os.kill(database, signal.SIGCONT)
    _wait(lambda: _fetch(f"{base}/healthz")[0] == 200, timeout=15)
    # The database dies: the parent starts it again on the same port and files, the API recovers
    # (so fast that /healthz, which pings at most once a second, may not even see the gap).
    os.kill(database, signal.SIGKILL)
    _wait(lambda: any("secantusd" in cmd and p != database for p, cmd in _children(process.pid)), timeout=15)
    _wait(lambda: _fetch(f"{base}/api/v1/sessions")[0] == 200, timeout=30)


# ---- the whole deployment ------------------------------------------------------------------------

ADMIN_PASSWORD = "Deploy#Admin-2026"
PHOTO = Path(__file__).resolve().parents[1] / "fixtures" / "photos" / "portrait.jpg"
WORKERS = 2


@contextlib.contextmanager
def workers(app_dir: Path, count: int) -> Iterator[list[subprocess.Popen[str]]]:
    """``python -m server worker`` processes on the app's database and DATA_DIR (its secrets), logging to files."""
    environment = {**os.environ, **CHEAP_HASH, "DATA_DIR": str(app_dir / "var"), "APP_ENV": "dev",
                   "MONGODB_URL": (app_dir / "var" / "db.url").read_text().strip(), "JOBS_POLL_SECONDS": "0.2"}
    started = []
    for n in range(count):
        with open(app_dir / f"worker-{n}.log", "w") as log:
            started.append(subprocess.Popen([sys.executable, "-m", "server", "worker"], cwd=app_dir, env=environment,
                                            stdout=log, stderr=subprocess.STDOUT, text=True))
    try:
        _wait(lambda: all("job worker running" in (app_dir / f"worker-{n}.log").read_text() for n in range(count)))
        yield started
    finally:
        for worker in started:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in started:
            worker.wait(30)


# The password hash at its cheapest (every process of the test hashes with it): argon2's production
# cost is measured by `python -m bench login`, not paid by this test.
CHEAP_HASH = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "1024"}


@pytest.fixture
def deployment(tmp_path: Path):  # type: ignore[no-untyped-def]
    """nginx → ``--processes 2`` (no jobs) + two workers + the embedded database; an admin account."""
    with server_processes(tmp_path, {"JOBS_IN_PROCESS": "false", **CHEAP_HASH}) as (process, port, app_dir):
        url = (app_dir / "var" / "db.url").read_text().strip()
        create_staff = subprocess.Popen(  # meanwhile the workers start
            [sys.executable, "-m", "server", "create-staff", "--username", "deployadmin", "--role", "admin",
             "--password-stdin"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=app_dir, env={**os.environ, **CHEAP_HASH, "DATA_DIR": str(app_dir / "var"), "APP_ENV": "dev",
                              "MONGODB_URL": url})
        with workers(app_dir, WORKERS) as started, nginx_in_front(port, tmp_path / "nginx") as (base, prefix):
            _, errors = create_staff.communicate(ADMIN_PASSWORD + "\n", timeout=60)
            assert create_staff.returncode == 0, errors
            yield process, started, base, app_dir


def _call(base: str, method: str, path: str, body: Any = None, token: str | None = None,
          raw: bytes | None = None, content_type: str = "application/json") -> tuple[int, Any]:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30, context=NO_VERIFY) as answer:
            status, content = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, content = error.code, error.read()
    return status, json.loads(content) if content.startswith(b"{") else content


def _enrolled_admin(base: str) -> str:
    """The admin's first login: a totp_setup token, the authenticator enrolled, a full (fresh) token."""
    status, answer = _call(base, "POST", "/api/v1/auth/login", {"account": "deployadmin", "password": ADMIN_PASSWORD})
    assert status == 200 and answer["totp_setup_required"] is True, answer
    status, setup = _call(base, "GET", "/api/v1/auth/totp", token=answer["token"])
    assert status == 200, setup
    status, answer = _call(base, "POST", "/api/v1/auth/totp", {"code": next_code_sync(setup["secret"])},
                           answer["token"])
    assert status == 200, answer
    return str(answer["token"])


def _published_session(base: str, admin: str) -> str:
    today = today_shanghai()
    status, course = _call(base, "POST", "/api/v1/admin/courses", {
        "name": "部署测试课程", "course_type": "继续教育", "activity_type": "培训", "specialty": "岩土工程",
        "hours": 8}, admin)
    assert status == 201, course
    status, session = _call(base, "POST", "/api/v1/admin/sessions", {
        "course_id": course["id"], "code": "DEPLOY-1", "round": "一期",
        "enroll_start": str(today), "enroll_end": str(today.fromordinal(today.toordinal() + 5)),
        "start_date": str(today.fromordinal(today.toordinal() + 10)),
        "end_date": str(today.fromordinal(today.toordinal() + 11)),
        "fee_fen": 100000, "capacity": 10, "venue": "上海"}, admin)
    assert status == 201, session
    status, published = _call(base, "POST", f"/api/v1/admin/sessions/{session['id']}/publish", token=admin)
    assert status == 200, published
    return str(session["id"])


def _register_and_log_in(base: str, app_dir: Path) -> str:
    phone = "139" + str(os.getpid() % 10**8).zfill(8)
    first17 = f"11010519900307{os.getpid() % 1000:03d}"
    id_number = first17 + resident_check_char(first17)
    status, _ = _call(base, "POST", "/api/v1/auth/sms-codes", {"phone": phone, "purpose": "register"})
    assert status == 201
    outbox = app_dir / "var" / "sms-outbox.jsonl"
    code = [json.loads(line) for line in outbox.read_text().splitlines() if phone in line][-1]["code"]
    status, answer = _call(base, "POST", "/api/v1/auth/register/trainee", {
        "name": "部署测试", "id_type": "resident_id", "id_number": id_number, "phone": phone,
        "email": "deploy@example.com", "password": ADMIN_PASSWORD, "sms_code": code})
    assert status == 201, answer
    status, answer = _call(base, "POST", "/api/v1/auth/login", {"account": id_number, "password": ADMIN_PASSWORD})
    assert status == 200 and answer["role"] == "trainee", answer
    return str(answer["token"])


class Load:
    """Client threads on keep-alive HTTPS connections to nginx, each request's outcome in order."""

    def __init__(self, base: str, token: str, clients: int = 4) -> None:
        self.host, self.port = base.removeprefix("https://").split(":")
        self.token = token
        self.outcomes: list[tuple[float, int]] = []  # (time, status; 0 = no answer)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client) for _ in range(clients)]

    def _client(self) -> None:
        connection = None
        while not self.stop.is_set():
            if connection is None:
                connection = http.client.HTTPSConnection(self.host, int(self.port), timeout=5, context=NO_VERIFY)
            try:
                connection.request("GET", "/api/v1/sessions", headers={"Authorization": f"Bearer {self.token}"})
                answer = connection.getresponse()
                answer.read()
                status = answer.status
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = None
                status = 0
            self.outcomes.append((time.monotonic(), status))
        if connection is not None:
            connection.close()

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)


def test_a_trainee_enrolls_through_nginx_while_a_process_dies(deployment) -> None:  # type: ignore[no-untyped-def]
    process, started_workers, base, app_dir = deployment
    session_id = _published_session(base, _enrolled_admin(base))

    # Register, log in, upload the ID photo, enroll: all through nginx (TLS, its request ids).
    token = _register_and_log_in(base, app_dir)
    status, photo = _call(base, "PUT", "/api/v1/me/photo?consent=true", raw=PHOTO.read_bytes(),
                          content_type="image/jpeg", token=token)
    assert status == 200 and (photo["width"], photo["height"]) == (295, 413), photo
    status, stored = _call(base, "GET", "/api/v1/me/photo", token=token)
    assert status == 200 and stored[:3] == b"\xff\xd8\xff", "the normalized JPEG, read back through nginx"
    status, enrollment = _call(base, "POST", "/api/v1/enrollments", {"session_id": session_id}, token=token)
    assert status == 201, enrollment
    status, page = _call(base, "GET", "/api/v1/sessions", token=token)
    mine = next(row for row in page["items"] if row["id"] == session_id)
    assert mine["my_status"]["code"] != "not_applied"

    # One HTTP process killed under load (4 clients, keep-alive to nginx): at most the requests in
    # flight on it fail (nginx retries a GET on a fresh upstream connection), the rest are answered.
    first, second = _http_children(process.pid)
    with Load(base, token) as load:
        _wait(lambda: len(load.outcomes) >= 40, timeout=20)
        killed_at = time.monotonic()
        os.kill(first, signal.SIGKILL)
        _wait(lambda: sum(at > killed_at + 1 for at, _ in load.outcomes) >= 40, timeout=20)
    statuses = collections.Counter(status for _, status in load.outcomes)
    print(f"load through nginx while a process died: {dict(statuses)}")
    lost = sum(n for status, n in statuses.items() if status != 200)
    assert lost <= len(load.threads), f"{statuses}: more lost than the {len(load.threads)} requests in flight"
    assert all(status == 200 for at, status in load.outcomes if at > killed_at + 1), "the rest keep being answered"
    _wait(lambda: len(_http_children(process.pid)) == 2 and first not in _http_children(process.pid))

    # The database restarted: it hangs (/healthz 503 through nginx), is killed, the parent starts it
    # again on its files; /healthz recovers and the enrollment is still there.
    database = next(p for p, cmd in _children(process.pid) if "secantusd" in cmd)
    os.kill(database, signal.SIGSTOP)
    _wait(lambda: _fetch(f"{base}/healthz")[0] == 503, timeout=15)
    os.kill(database, signal.SIGKILL)
    _wait(lambda: any("secantusd" in cmd and p != database for p, cmd in _children(process.pid)), timeout=15)
    _wait(lambda: _fetch(f"{base}/healthz")[0] == 200, timeout=30)
    status, page = _call(base, "GET", "/api/v1/sessions", token=token)
    assert status == 200
    assert next(row for row in page["items"] if row["id"] == session_id)["my_status"]["code"] != "not_applied"

    # Periodic tasks: each (task, period) ran exactly once across the two workers, none in the HTTP processes.
    ran = re.compile(r"periodic task (\w+)@(\d+) running in (\S+)")
    every_task = {name for name, _, _ in PERIODIC_TASKS}
    _wait(lambda: {m[0] for n in range(WORKERS)
                   for m in ran.findall((app_dir / f"worker-{n}.log").read_text())} == every_task, timeout=10)
    runs = [m for n in range(WORKERS) for m in ran.findall((app_dir / f"worker-{n}.log").read_text())]
    per_period = collections.Counter((task, period) for task, period, _ in runs)
    assert max(per_period.values()) == 1, [key for key, n in per_period.items() if n > 1]
    assert {owner.split(":")[1] for _, _, owner in runs} <= {str(w.pid) for w in started_workers}
    assert not ran.search((app_dir / "server.log").read_text()), "JOBS_IN_PROCESS=false: no tasks in the HTTP processes"
