"""200 trainees enroll into one session at the same moment: enrollments/s and latency.

The bench starts its own database server and points ``python -m server`` at
it (``MONGODB_URL``), so it can seed 200 trainees with photos and their login
tokens directly (registration and photos are measured elsewhere); the rush
itself goes through HTTP like real clients, each request its own connection.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from bson import ObjectId
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from bench import harness
from server.db import EmbeddedMongo, make_client
from server.services.accounts.identity import today_shanghai
from server.services.accounts.tokens import TokenService

NAME = "enroll"
DESCRIPTION = "200 clients enrolling into one session at once: enrollments/s, p50/p99 latency"

CLIENTS = 200
DB_NAME = "bench"


def run() -> list[str]:
    database = EmbeddedMongo(":memory:")
    url = database.start()
    try:
        with harness.our_server(extra_env={"MONGODB_URL": url, "MONGODB_DB": DB_NAME}) as ours:
            return asyncio.run(_rush(ours, url))
    finally:
        database.stop()


async def _rush(ours: harness.Proc, url: str) -> list[str]:
    client = make_client(url)
    try:
        db = client[DB_NAME]
        tokens = TokenService(db)
        admin = await _account(db, "admin")
        admin_token = (await tokens.issue(admin, "admin")).token
        session_id = await asyncio.to_thread(_published_session, ours, admin_token)
        trainees = [await _account(db, "trainee") for _ in range(CLIENTS)]
        bearer = [(await tokens.issue(t, "trainee")).token for t in trainees]
        http = AsyncHTTPClient(force_instance=True, max_clients=CLIENTS)
        started = time.perf_counter()
        answers = await asyncio.gather(*(_enroll(http, ours, token, session_id) for token in bearer))
        wall = time.perf_counter() - started
        http.close()
        session = await db["sessions"].find_one({"_id": ObjectId(session_id)})
    finally:
        await client.close()
    latencies = sorted(ms for _, ms in answers)
    ok = sum(status == 201 for status, _ in answers)
    return [
        f"{CLIENTS} concurrent enrollments: {ok} created in {wall:.2f} s → {ok / wall:.0f} enrollments/s",
        f"latency p50/p99/max: {harness.fmt_ms(harness.percentile(latencies, 50))}/"
        f"{harness.fmt_ms(harness.percentile(latencies, 99))}/{harness.fmt_ms(latencies[-1])} ms",
        f"seats_taken after the rush: {session['seats_taken']} of {session['capacity']} (must equal {ok})",
    ]


async def _account(db: Any, role: str) -> ObjectId:
    doc: dict[str, Any] = {"_id": ObjectId(), "role": role, "status": "active", "name": "压测",
                           "login_key": f"{role}:{ObjectId()}"}
    if role == "trainee":
        doc["trainee"] = {"id_masked": "1101**********0000", "photo": {"file_id": ObjectId()}}
    await db["accounts"].insert_one(doc)
    return doc["_id"]


def _published_session(ours: harness.Proc, admin: str) -> str:
    status, course = harness.call(ours, "POST", "/api/v1/admin/courses", {
        "name": "压测课程", "course_type": "继续教育", "activity_type": "培训", "specialty": "岩土工程",
        "hours": 8}, token=admin)
    assert status == 201 and isinstance(course, dict), (status, course)
    today = today_shanghai()
    status, session = harness.call(ours, "POST", "/api/v1/admin/sessions", {
        "course_id": course["id"], "code": "BENCH-1", "round": "一期",
        "enroll_start": (today - timedelta(days=1)).isoformat(), "enroll_end": (today + timedelta(days=5)).isoformat(),
        "start_date": (today + timedelta(days=10)).isoformat(), "end_date": (today + timedelta(days=11)).isoformat(),
        "fee_fen": 100000, "capacity": CLIENTS, "venue": "上海"}, token=admin)
    assert status == 201 and isinstance(session, dict), (status, session)
    status, _ = harness.call(ours, "POST", f"/api/v1/admin/sessions/{session['id']}/publish", token=admin)
    assert status == 200, status
    return str(session["id"])


async def _enroll(http: AsyncHTTPClient, ours: harness.Proc, token: str, session_id: str) -> tuple[int, float]:
    request = HTTPRequest(
        ours.url("/api/v1/enrollments"), method="POST", body=f'{{"session_id": "{session_id}"}}',
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"}, request_timeout=120,
    )
    started = time.perf_counter()
    answer = await http.fetch(request, raise_error=False)
    return answer.code, (time.perf_counter() - started) * 1000
