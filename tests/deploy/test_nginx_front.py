"""deploy/nginx.conf for real: Debian's nginx in front of ``python -m server --processes 2`` and its embedded database.

Through nginx (TLS, HTTP/2 offered): the API answers with nginx's request id (also in nginx's
access log), the web view falls back to index.html, /metrics is not reachable, a body over the
API's limit is refused by nginx; the database hangs: /healthz says 503, then recovers; the database
dies: the parent starts it again and the API answers again.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from server.db import free_port
from tests.deploy.test_deploy_files import nginx_prefix
from tests.deploy.test_processes import _children, _wait, two_processes  # noqa: F401 — the fixture

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


@pytest.fixture
def nginx(two_processes, tmp_path: Path):  # type: ignore[no-untyped-def]  # noqa: F811
    process, port, app_dir = two_processes
    https = free_port()
    prefix = nginx_prefix(tmp_path / "nginx", upstream=f"127.0.0.1:{port}", http=free_port(), https=https)
    server = subprocess.Popen(["/usr/sbin/nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                               "-g", "daemon off; user root;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: _fetch(f"https://127.0.0.1:{https}/healthz")[0] == 200, timeout=15)
        yield process, f"https://127.0.0.1:{https}", prefix
    finally:
        server.send_signal(signal.SIGQUIT)
        server.wait(10)


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
