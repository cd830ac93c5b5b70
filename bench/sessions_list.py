"""``GET /api/v1/sessions`` (20 rows with my_status, as a trainee) against ``GET /`` of bare Tornado.

Set-up (not measured): the bench starts its own embedded database and points
``python -m server`` at it (``MONGODB_URL``), so that it can create an admin
with ``python -m server create-staff`` against the same database and settings
(``DATA_DIR``), create a course and 24 published sessions through the admin
API, register a trainee through the API, and give that trainee enrollments in
6 of the sessions (inserted directly: documents with ``trainee_id``,
``session_id``, ``status``). Each measured request then authenticates the
token, reads a page of 20 sessions and its total, and reads the trainee's
enrollments for that page in one query.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bson import ObjectId
from pymongo import MongoClient

from bench import harness
from bench.harness import BenchError, LoadResult, Proc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.db import EmbeddedMongo, make_client  # noqa: E402
from server.services.accounts.identity import resident_check_char  # noqa: E402
from server.services.accounts.tokens import TokenService  # noqa: E402

NAME = "sessions"
DESCRIPTION = "GET /api/v1/sessions, 20 rows with my_status as a trainee, vs bare Tornado: requests/s"

ROUNDS = 2
DURATION_S = 4
WARMUP_S = 1
CONNECTIONS = 32
SESSIONS = 24
ENROLLED = 6
GOAL_RPS = ">= 0.3"
DB_NAME = "bench"
PATH = "/api/v1/sessions?page_size=20"


def run() -> list[str]:
    with tempfile.TemporaryDirectory(prefix="bench-sessions-db-") as tmp:
        database = EmbeddedMongo(Path(tmp) / "db")
        url = database.start()
        try:
            return _run(url)
        finally:
            database.stop()


def _run(url: str) -> list[str]:
    results: dict[str, list[LoadResult]] = {"ours": [], "bare": []}
    with harness.our_server({"MONGODB_URL": url, "MONGODB_DB": DB_NAME}) as ours:
        token, enrolled = _prepare(ours, url)
        headers = {"Authorization": f"Bearer {token}"}
        with harness.bare_tornado() as bare:
            targets = ((("ours", ours, PATH, headers)), ("bare", bare, "/", None))
            for _ in range(ROUNDS):
                for side, proc, path, hdrs in targets:
                    harness.load(proc.url(path), duration_s=WARMUP_S, connections=CONNECTIONS, headers=hdrs)
                    results[side].append(
                        harness.measure(proc, path, duration_s=DURATION_S, connections=CONNECTIONS, headers=hdrs)
                    )
    return _report(results, enrolled)


def _prepare(proc: Proc, url: str) -> tuple[str, int]:
    """Admin, course, published sessions, a trainee with enrollments; the trainee's token."""
    admin = _admin_token(proc, url)
    status, course = harness.call(proc, "POST", "/api/v1/admin/courses", {
        "name": "压测专项培训", "course_type": "继续教育", "activity_type": "培训", "specialty": "岩土工程",
        "hours": 24, "mails_books": True}, admin)
    _expect(status, 201, "course", course)
    assert isinstance(course, dict)
    ids = [_published_session(proc, admin, course["id"], n) for n in range(SESSIONS)]
    token = harness.register_trainee(proc, _resident_id(), "139" + str(os.getpid() % 10**8).zfill(8))
    status, me = harness.call(proc, "GET", "/api/v1/me", token=token)
    _expect(status, 200, "me", me)
    assert isinstance(me, dict)
    statuses = ["pending_payment", "payment_submitted", "approved", "rejected", "cancelled", "approved"]
    with MongoClient(url, tz_aware=True) as client:
        client[DB_NAME]["enrollments"].insert_many([
            {"trainee_id": ObjectId(me["id"]), "session_id": ObjectId(sid), "status": st,
             "created_at": datetime.now(UTC)}
            for sid, st in zip(ids[-ENROLLED:], statuses, strict=True)
        ])
    status, page = harness.call(proc, "GET", PATH, token=token)
    _expect(status, 200, "session list", page)
    assert isinstance(page, dict)
    rows = page["items"]
    shown = sum(1 for r in rows if r["my_status"]["code"] != "not_applied")
    if len(rows) != 20 or shown != ENROLLED - 1:  # the cancelled one shows as not_applied
        raise BenchError(f"unexpected page: {len(rows)} rows, {shown} with an enrollment status")
    return token, shown


def _admin_token(proc: Proc, url: str) -> str:
    """An admin's token, issued directly in the database: a staff login asks for a second factor
    (TOTP), which is not what these benchmarks measure."""
    del proc  # the same database the server uses

    async def issue() -> str:
        client = make_client(url)
        try:
            db = client[DB_NAME]
            admin = {"_id": ObjectId(), "role": "admin", "status": "active", "name": "压测管理员",
                     "login_key": f"staff:bench-{ObjectId()}", "staff": {"username": f"bench-{ObjectId()}"}}
            await db["accounts"].insert_one(admin)
            return (await TokenService(db).issue(admin["_id"], "admin")).token
        finally:
            await client.close()

    return asyncio.run(issue())


def _published_session(proc: Proc, admin: str, course_id: str, n: int) -> str:
    today = date.today()
    status, session = harness.call(proc, "POST", "/api/v1/admin/sessions", {
        "course_id": course_id, "code": f"BENCH-{n:03d}", "round": f"{n + 1}期",
        "enroll_start": str(today - timedelta(days=5)), "enroll_end": str(today + timedelta(days=10)),
        "start_date": str(today + timedelta(days=15)), "end_date": str(today + timedelta(days=17)),
        "fee_fen": 120000, "capacity": 100, "venue": "上海"}, admin)
    _expect(status, 201, "session", session)
    assert isinstance(session, dict)
    status, published = harness.call(proc, "POST", f"/api/v1/admin/sessions/{session['id']}/publish", token=admin)
    _expect(status, 200, "publish", published)
    return str(session["id"])


def _resident_id() -> str:
    first17 = f"11010519900307{os.getpid() % 1000:03d}"
    return first17 + resident_check_char(first17)


def _expect(status: int, wanted: int, what: str, answer: object) -> None:
    if status != wanted:
        raise BenchError(f"{what}: {status} {answer}")


def _report(results: dict[str, list[LoadResult]], enrolled: int) -> list[str]:
    def rps(runs: list[LoadResult]) -> float:
        return sum(r.requests for r in runs) / sum(r.duration_s for r in runs)

    def cpu_k(runs: list[LoadResult]) -> float:
        return 1000 * sum(r.cpu_s for r in runs) / max(1, sum(r.requests for r in runs))

    o, b = results["ours"], results["bare"]
    bad = sum(r.non_2xx + r.errors for r in o + b)
    lines = [
        f"load: {o[0].tool}, {CONNECTIONS} connections, {ROUNDS} rounds x {DURATION_S} s per side "
        f"(alternating, {WARMUP_S} s warm-up before each); {SESSIONS} published sessions, "
        f"page of 20, {enrolled} rows with an enrollment status",
        f"requests/s: ours {rps(o):.0f}, bare {rps(b):.0f}  "
        f"(rounds: ours {', '.join(f'{r.rps:.0f}' for r in o)}; bare {', '.join(f'{r.rps:.0f}' for r in b)})",
        harness.ratio_line("sessions requests/s", rps(o), rps(b), goal=GOAL_RPS),
        f"server CPU s per 1,000 requests: ours {cpu_k(o):.3f}, bare {cpu_k(b):.3f} "
        "(the database is a separate process here, not counted)",
        f"latency p50/p99 ms (mean of rounds): ours {harness.fmt_ms(sum(r.p50_ms for r in o) / len(o))}/"
        f"{harness.fmt_ms(sum(r.p99_ms for r in o) / len(o))}, bare {harness.fmt_ms(sum(r.p50_ms for r in b) / len(b))}/"
        f"{harness.fmt_ms(sum(r.p99_ms for r in b) / len(b))}",
    ]
    if bad:
        lines.append(f"non-2xx or socket errors: {bad}")
    return lines
