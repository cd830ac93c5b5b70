"""The production shape measured here: one HTTP process against two, and nginx in front against direct.

Both servers run in the same run against the same database server (one ``EmbeddedMongo``, the same
database and secrets), so they answer the same data and the machine's load moves both:

- **one** is ``python -m server`` (a single process), **two** is ``python -m server --processes 2``
  (a parent and two HTTP processes sharing one socket); neither runs jobs (``JOBS_IN_PROCESS=false``,
  the workers' business in production).
- **rush**: 200 trainees enroll into a session of **30 seats** at the same moment (each request its
  own connection), on one then on two, alternating, :data:`RUSH_ROUNDS` times: enrollments/s,
  latency, 201s, and the ledger afterwards (``seats_taken``, active enrollments: zero oversold).
- **session list** (``GET /api/v1/sessions?page_size=20`` as a trainee with enrollments) and
  **healthz**: requests/s over keep-alive connections, alternating, and the **CPU seconds per
  1,000 requests** of the app's processes and of the database server — the per-core figures of the
  capacity plan (deploy/README.md), much steadier than requests/s on a shared machine.
- **through nginx**: Debian's nginx with ``deploy/nginx.conf`` (TLS, HTTP/2 offered, keep-alive to
  the app) in front of **two**, against the same requests made to **two** directly; nginx's own CPU.

The load generator is ``wrk`` when installed, else the Python asyncio client of ``bench/harness.py``,
which itself needs a good part of a core: on a 2-core machine it competes with what it measures.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from bench import harness, passes
from bench.enroll import _account, _enroll
from bench.harness import BenchError, LoadResult, Proc
from server.config import generate_secrets
from server.db import EmbeddedMongo, make_client
from server.services.accounts.identity import today_shanghai
from server.services.accounts.tokens import TokenService

NAME = "deploy"
DESCRIPTION = "one process vs two (rush 200 → 30 seats, session list, healthz); nginx in front vs direct"

DB_NAME = "bench"
RUSH_CLIENTS = 200
RUSH_SEATS = 30
RUSH_ROUNDS = 2
CHECKIN_PASSES = 200
ROUNDS = 2
DURATION_S = 3
WARMUP_S = 1
CONNECTIONS = 32
SESSIONS = 24
LIST_PATH = "/api/v1/sessions?page_size=20"
NGINX = "/usr/sbin/nginx"


def run() -> list[str]:
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        database = EmbeddedMongo(Path(tmp) / "db")
        url = database.start()
        try:
            env = {"MONGODB_URL": url, "MONGODB_DB": DB_NAME, "JOBS_IN_PROCESS": "false",
                   # the same secrets and pass signing key: a pass fetched from one scans on the other
                   "PASS_SIGNING_KEY": base64.b64encode(os.urandom(32)).decode(),
                   **{k.upper(): v for k, v in generate_secrets().items()}}
            with server(1, env) as one, server(2, env) as two:
                return _measure(one, two, url, database.process.pid, Path(tmp))
        finally:
            database.stop()


@contextlib.contextmanager
def server(processes: int, extra_env: dict[str, str]) -> Iterator[Proc]:
    """``python -m server`` (``--processes N`` when N > 1) on the bench's database, stopped at the end."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{processes}p-") as tmp:
        port = harness.free_port()
        env = {**harness._base_env(), "DATA_DIR": str(Path(tmp) / "var"), "APP_ENV": "dev", **extra_env}
        argv = [sys.executable, "-m", "server", "--port", str(port)]
        if processes > 1:
            argv += ["--processes", str(processes)]
        with harness.run_process(f"{processes}p", argv, port=port, health_path="/healthz", env=env,
                                 workdir=Path(tmp)) as proc:
            yield proc


def _measure(one: Proc, two: Proc, url: str, db_pid: int, tmp: Path) -> list[str]:
    started = time.perf_counter()
    lines, trainee = asyncio.run(_prepare_and_rush(one, two, url, db_pid))
    headers = {"Authorization": f"Bearer {trainee}"}
    sides = {"one": (one, ""), "two": (two, "")}
    lists = _alternate(sides, LIST_PATH, headers, db_pid, ROUNDS)
    health = _alternate(sides, "/healthz", None, db_pid, 1)
    lines += _compare("session list", lists, "one", "two")
    lines += _compare("healthz", health, "one", "two")
    if not Path(NGINX).exists():
        return [*lines, "through nginx: skipped (apt install nginx)"]
    with nginx_in_front(two.port, tmp / "nginx") as (base, nginx_pids):
        fronted = {"direct": (two, ""), "nginx": (two, base)}
        through = _alternate(fronted, LIST_PATH, headers, db_pid, ROUNDS, nginx_pids)
    lines += _compare("session list, two processes", through, "direct", "nginx", nginx=True)
    lines.append(f"(measured in {time.perf_counter() - started:.0f} s; load average now "
                 f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return lines


async def _prepare_and_rush(one: Proc, two: Proc, url: str, db_pid: int) -> tuple[list[str], str]:
    client = make_client(url)
    try:
        db = client[DB_NAME]
        tokens = TokenService(db)
        admin = (await tokens.issue(await _account(db, "admin"), "admin")).token
        lines = await _rushes(db, tokens, admin, {"one": one, "two": two}, db_pid)
        lines += await _checkins(db, tokens, {"one": one, "two": two}, db_pid)
        trainee = await _trainee_with_enrollments(db, tokens, one, admin)
    finally:
        await client.close()
    return lines, trainee


# ---- the rush ------------------------------------------------------------------------------------


async def _rushes(db: Any, tokens: TokenService, admin: str, servers: dict[str, Proc], db_pid: int) -> list[str]:
    results: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    for round_ in range(RUSH_ROUNDS):
        for name, proc in servers.items():
            session_id = await asyncio.to_thread(_session, proc, admin, f"RUSH-{name}-{round_}", RUSH_SEATS)
            bearer = await asyncio.gather(*(_trainee_token(db, tokens) for _ in range(RUSH_CLIENTS)))
            http = AsyncHTTPClient(force_instance=True, max_clients=RUSH_CLIENTS)
            app0, db0 = proc.cpu() + proc.children_cpu(), harness.cpu_seconds(db_pid)
            started = time.perf_counter()
            answers = await asyncio.gather(*(_enroll(http, proc, token, session_id) for token in bearer))
            wall = time.perf_counter() - started
            app_cpu, db_cpu = proc.cpu() + proc.children_cpu() - app0, harness.cpu_seconds(db_pid) - db0
            http.close()
            session = await db["sessions"].find_one({"_id": ObjectId(session_id)})
            active = await db["enrollments"].count_documents(
                {"session_id": ObjectId(session_id), "status": {"$nin": ["cancelled", "rejected", "expired"]}})
            latencies = sorted(ms for _, ms in answers)
            results[name].append({
                "wall": wall, "created": sum(s == 201 for s, _ in answers),
                "errors": sum(s >= 500 or s == 599 for s, _ in answers),
                "p50": harness.percentile(latencies, 50), "p99": harness.percentile(latencies, 99),
                "seats_taken": session["seats_taken"], "active": active, "app_cpu": app_cpu, "db_cpu": db_cpu})
    lines = [f"rush: {RUSH_CLIENTS} trainees at once for {RUSH_SEATS} seats, {RUSH_ROUNDS} rounds each, alternating"]
    for name, runs in results.items():
        for r in runs:
            oversold = max(r["active"], r["seats_taken"]) - RUSH_SEATS
            verdict = "ok" if r["created"] == RUSH_SEATS and oversold <= 0 and r["errors"] == 0 else "MISSED"
            lines.append(
                f"  {name:3}: all {RUSH_CLIENTS} answered in {r['wall']:.2f} s ({RUSH_CLIENTS / r['wall']:.0f} req/s), "
                f"p50/p99 {harness.fmt_ms(r['p50'])}/{harness.fmt_ms(r['p99'])} ms; {r['created']:.0f} created, "
                f"seats_taken {r['seats_taken']:.0f}, active {r['active']:.0f}, oversold {max(0, oversold):.0f}, "
                f"5xx {r['errors']:.0f}; CPU s per 1,000 requests: app {1000 * r['app_cpu'] / RUSH_CLIENTS:.1f}, "
                f"database {1000 * r['db_cpu'] / RUSH_CLIENTS:.1f}  {verdict}")
    best = {name: min(r["wall"] for r in runs) for name, runs in results.items()}
    lines.append(f"  rush time two ÷ one (best of each): {best['two'] / best['one']:.2f}")
    return lines


async def _trainee_token(db: Any, tokens: TokenService) -> str:
    return (await tokens.issue(await _account(db, "trainee"), "trainee")).token


async def _checkins(db: Any, tokens: TokenService, servers: dict[str, Proc], db_pid: int) -> list[str]:
    """First scans of CHECKIN_PASSES passes by 20 scanners (bench/passes.py's rush), on each side."""
    lines = [f"check-in: {CHECKIN_PASSES} first scans by {passes.CLIENTS} scanners on each side"]
    scanner = (await tokens.issue(await passes._account(db, "scanner"), "scanner")).token
    for name, proc in servers.items():
        session_id, enrollments = await passes._seed(db)
        await db["sessions"].update_one({"_id": ObjectId(session_id)}, {"$set": {"code": f"BENCH-PASS-{name}"}})
        enrollments = enrollments[:CHECKIN_PASSES]
        http = AsyncHTTPClient(force_instance=True, max_clients=passes.CLIENTS)
        pass_tokens = []
        for e in enrollments:
            bearer = (await tokens.issue(e["trainee_id"], "trainee")).token
            answer = await http.fetch(HTTPRequest(proc.url(f"/api/v1/enrollments/{e['_id']}/pass"),
                                                  headers={"Authorization": f"Bearer {bearer}"}))
            pass_tokens.append(json.loads(answer.body)["token"])
        app0, db0 = proc.cpu() + proc.children_cpu(), harness.cpu_seconds(db_pid)
        rps, p99, results = await passes._scans(http, proc, scanner, session_id, pass_tokens, name)
        app_cpu, db_cpu = proc.cpu() + proc.children_cpu() - app0, harness.cpu_seconds(db_pid) - db0
        http.close()
        ok = sum(r.get("result") == "ok" for r in results)
        lines.append(f"  {name:3}: {rps:.0f} scans/s, p99 {p99:.0f} ms, {ok}/{len(results)} ok; CPU s per 1,000: "
                     f"app {1000 * app_cpu / len(results):.1f}, database {1000 * db_cpu / len(results):.1f}"
                     f" → app {len(results) / app_cpu:.0f} scans/s per core")
    return lines


def _session(proc: Proc, admin: str, code: str, capacity: int) -> str:
    today = today_shanghai()
    status, course = harness.call(proc, "POST", "/api/v1/admin/courses", {
        "name": f"压测课程 {code}", "course_type": "继续教育", "activity_type": "培训", "specialty": "岩土工程",
        "hours": 8}, token=admin)
    if status != 201 or not isinstance(course, dict):
        raise BenchError(f"course: {status} {course}")
    status, session = harness.call(proc, "POST", "/api/v1/admin/sessions", {
        "course_id": course["id"], "code": code, "round": "一期",
        "enroll_start": str(today - timedelta(days=1)), "enroll_end": str(today + timedelta(days=5)),
        "start_date": str(today + timedelta(days=10)), "end_date": str(today + timedelta(days=11)),
        "fee_fen": 100000, "capacity": capacity, "venue": "上海"}, token=admin)
    if status != 201 or not isinstance(session, dict):
        raise BenchError(f"session: {status} {session}")
    status, _ = harness.call(proc, "POST", f"/api/v1/admin/sessions/{session['id']}/publish", token=admin)
    if status != 200:
        raise BenchError(f"publish: {status}")
    return str(session["id"])


async def _trainee_with_enrollments(db: Any, tokens: TokenService, proc: Proc, admin: str) -> str:
    """A trainee whose session-list page shows 20 sessions, 5 with an enrollment status (as bench sessions)."""
    ids = [await asyncio.to_thread(_session, proc, admin, f"LIST-{n:03d}", 100) for n in range(SESSIONS)]
    trainee = await _account(db, "trainee")
    statuses = ["pending_payment", "payment_submitted", "approved", "rejected", "cancelled", "approved"]
    await db["enrollments"].insert_many([
        {"trainee_id": trainee, "session_id": ObjectId(sid), "status": st, "created_at": datetime.now(UTC)}
        for sid, st in zip(ids[-len(statuses):], statuses, strict=True)])
    return (await tokens.issue(trainee, "trainee")).token


# ---- steady load -----------------------------------------------------------------------------------


def _alternate(sides: dict[str, tuple[Proc, str]], path: str, headers: dict[str, str] | None, db_pid: int,
               rounds: int, extra_pids: list[int] | None = None) -> dict[str, list[LoadResult]]:
    """Load each side in turn, ``rounds`` times; each result with the CPU of the app, the database, nginx."""
    results: dict[str, list[LoadResult]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, (proc, base) in sides.items():
            target = (base + path) if base else proc.url(path)
            harness.load(target, duration_s=WARMUP_S, connections=CONNECTIONS, headers=headers)
            kids = harness.descendants(proc.pid)
            kids0 = [harness.cpu_seconds(k) for k in kids]
            app0, db0 = proc.cpu() + proc.children_cpu(), harness.cpu_seconds(db_pid)
            fronts0 = sum(harness.cpu_seconds(p) for p in extra_pids or []) if base else 0.0
            result = harness.load(target, duration_s=DURATION_S, connections=CONNECTIONS, headers=headers)
            result.cpu_s = proc.cpu() + proc.children_cpu() - app0
            result.extra["db_cpu_s"] = harness.cpu_seconds(db_pid) - db0
            for n, (kid, before) in enumerate(zip(kids, kids0, strict=True)):
                result.extra[f"child{n}_cpu_s"] = harness.cpu_seconds(kid) - before
            if base:
                result.extra["nginx_cpu_s"] = sum(harness.cpu_seconds(p) for p in extra_pids or []) - fronts0
            if result.non_2xx or result.errors:
                raise BenchError(f"{name} {path}: {result.non_2xx} non-2xx, {result.errors} errors")
            results[name].append(result)
    return results


def _per_1000(results: list[LoadResult], key: str | None = None) -> float:
    requests = sum(r.requests for r in results)
    seconds = sum((r.extra.get(key, 0.0) if key else r.cpu_s) for r in results)
    return 1000 * seconds / requests if requests else float("nan")


def _compare(label: str, results: dict[str, list[LoadResult]], base: str, other: str, *,
             nginx: bool = False) -> list[str]:
    lines = [f"{label} ({len(results[base])} × {DURATION_S} s per side, {CONNECTIONS} connections, "
             f"{results[base][0].tool}):"]
    for name, runs in results.items():
        rps = sum(r.requests for r in runs) / sum(r.duration_s for r in runs)
        p99 = max(r.p99_ms for r in runs)
        app = _per_1000(runs)
        line = (f"  {name:6}: {rps:7.0f} req/s, p99 {harness.fmt_ms(p99)} ms; CPU s per 1,000: app {app:.2f}, "
                f"database {_per_1000(runs, 'db_cpu_s'):.2f}")
        if nginx and name == other:
            line += f", nginx {_per_1000(runs, 'nginx_cpu_s'):.2f}"
        shares = [sum(r.extra.get(f"child{n}_cpu_s", 0.0) for r in runs) for n in range(8)]
        if sum(shares) > 0 and len([x for x in shares if x]) > 1:
            line += "; CPU split between the processes " + "/".join(f"{100 * x / sum(shares):.0f}%" for x in shares if x)
        lines.append(line + f" → app {1000 / app:.0f} req/s per core" if app else line)
    rate = {name: sum(r.requests for r in runs) / sum(r.duration_s for r in runs) for name, runs in results.items()}
    lines.append(f"  req/s {other} ÷ {base}: {harness.ratio(rate[other], rate[base]):.2f}")
    return lines


# ---- nginx ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def nginx_in_front(port: int, folder: Path) -> Iterator[tuple[str, list[int]]]:
    """deploy/nginx.conf (as tests/deploy configures it) proxying to ``port``: its https URL and its pids."""
    sys.path.insert(0, str(harness.ROOT))
    from tests.deploy.test_deploy_files import nginx_prefix

    https = harness.free_port()
    prefix = nginx_prefix(folder, upstream=f"127.0.0.1:{port}", http=harness.free_port(), https=https)
    # The access log as deployed (one line per request) stays on; only the user line is the test's.
    server = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                               "-g", "daemon off; user root;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"https://127.0.0.1:{https}"
        deadline = time.monotonic() + 15
        while harness.load(base + "/healthz", duration_s=1, connections=1).requests == 0:
            if time.monotonic() > deadline or server.poll() is not None:
                raise BenchError("nginx did not start")
        yield base, [server.pid, *harness.descendants(server.pid)]
    finally:
        server.send_signal(signal.SIGQUIT)
        server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
