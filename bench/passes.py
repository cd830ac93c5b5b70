"""Venue check-in under a door rush, side by side with bare Tornado; token verification; pass PDFs.

The bench starts its own database server and points ``python -m server`` at it, seeds a session
training today with approved enrollments (the payment review is not measured here), fetches each
pass over HTTP (the server signs with its own key), then 20 concurrent clients scan: first scans
(each pass once), then repeat scans (every answer must carry the first scan's time). The same 20
clients then fetch ``GET /`` of bare Tornado, for the ratio. Token verification and the PDF are
measured in-process. pretix 2026.8 on this class of machine (the issue's figures): 18.9 first
scans/s (p99 1.4 s), 28 repeat scans/s.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from bench import harness
from server.db import EmbeddedMongo, make_client
from server.documents.pass_pdf import PassCard, render_passes
from server.services.accounts.identity import today_shanghai
from server.services.accounts.tokens import TokenService
from server.services.passes.tokens import PassPayload, sign, verify

NAME = "passes"
DESCRIPTION = "check-in rush (20 clients) vs bare Tornado; token verification µs; pass PDF ms; 500-pass PDF"

PASSES = 400
CLIENTS = 20
DB_NAME = "bench"
FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
GOAL_FIRST = ">= 190"
GOAL_REPEAT = ">= 280"
GOAL_P99 = "< 200"
METRICS_TOKEN = "bench-metrics-token"


def run() -> list[str]:
    lines = _in_process()
    database = EmbeddedMongo(":memory:")
    url = database.start()
    try:
        with harness.our_server(extra_env={"MONGODB_URL": url, "MONGODB_DB": DB_NAME,
                                           "METRICS_TOKEN": METRICS_TOKEN}) as ours, \
                harness.bare_tornado() as bare:
            return asyncio.run(_rush(ours, bare, url)) + lines
    finally:
        database.stop()


def _in_process() -> list[str]:
    key = Ed25519PrivateKey.generate()
    keys = {1: key.public_key()}
    texts = [sign(PassPayload(1, os.urandom(10), 7, 1_760_000_000, 1_760_259_200), key) for _ in range(2000)]
    started = time.perf_counter()
    for text in texts:
        verify(text, keys)
    verify_us = (time.perf_counter() - started) / len(texts) * 1e6
    card = PassCard(association="某某市勘察设计协会", name="张三", id_masked="1101**********0000", unit="某某设计院",
                    course="岩土工程勘察专项培训", session="S2026-01 一期", days="2026-03-01 至 2026-03-03",
                    venue="上海市某某路 1 号", serial="00" * 10, token=texts[0],
                    photo=(Path(__file__).resolve().parents[1] / "tests/fixtures/photos/portrait.jpg").read_bytes())
    lines = [f"token verification: {verify_us:.0f} µs each (Ed25519, in-process)"]
    if not FONT.exists():
        return lines + ["pass PDF: skipped (no WenQuanYi font)"]
    render_passes([card], font_path=FONT)  # font loaded once
    started = time.perf_counter()
    for _ in range(20):
        render_passes([card], font_path=FONT)
    one_ms = (time.perf_counter() - started) / 20 * 1000
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    _, _, pdf = render_passes([card] * 500, font_path=FONT)
    many_s = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return lines + [f"pass PDF: {one_ms:.0f} ms each; 500 passes in one PDF: {many_s:.1f} s, {len(pdf) / 1e6:.1f} MB; "
                    f"peak RSS of the process {rss_after / 1024:.0f} MB (+{(rss_after - rss_before) / 1024:.0f} MB)"]


async def _rush(ours: harness.Proc, bare: harness.Proc, url: str) -> list[str]:
    client = make_client(url)
    try:
        db = client[DB_NAME]
        tokens = TokenService(db)
        session_id, enrollments = await _seed(db)
        bearer = {e["trainee_id"]: (await tokens.issue(e["trainee_id"], "trainee")).token for e in enrollments}
        scanner = await _account(db, "scanner")
        scanner_token = (await tokens.issue(scanner, "scanner")).token
        http = AsyncHTTPClient(force_instance=True, max_clients=CLIENTS)
        pass_tokens = []
        for e in enrollments:
            answer = await http.fetch(HTTPRequest(ours.url(f"/api/v1/enrollments/{e['_id']}/pass"),
                                                  headers={"Authorization": f"Bearer {bearer[e['trainee_id']]}"}))
            pass_tokens.append(json.loads(answer.body)["token"])
        counts = [await asyncio.to_thread(harness.db_commands, ours, METRICS_TOKEN)]
        cpu = [ours.cpu()]
        first = await _scans(http, ours, scanner_token, session_id, pass_tokens, "first")
        counts.append(await asyncio.to_thread(harness.db_commands, ours, METRICS_TOKEN))
        cpu.append(ours.cpu())
        repeat = await _scans(http, ours, scanner_token, session_id, pass_tokens, "again")
        counts.append(await asyncio.to_thread(harness.db_commands, ours, METRICS_TOKEN))
        cpu.append(ours.cpu())
        base = await _bare(http, bare, len(pass_tokens))
        http.close()
        recorded = await db["checkins"].count_documents({})
    finally:
        await client.close()
    f_rps, f_p99, f_results = first
    r_rps, r_p99, r_results = repeat
    with_time = sum(1 for r in r_results if r.get("result") == "already_checked_in" and r.get("first_at"))
    return [
        f"{len(pass_tokens)} passes, {CLIENTS} concurrent scanners",
        harness.goal_line("first scans/s", f_rps, "/s", goal=GOAL_FIRST) + "  (pretix 18.9/s)",
        harness.goal_line("first scan p99", f_p99, "ms", goal=GOAL_P99) + "  (pretix 1400 ms)",
        harness.goal_line("repeat scans/s", r_rps, "/s", goal=GOAL_REPEAT) + f"  (pretix 28/s), p99 {r_p99:.0f} ms",
        f"repeat answers with the first scan's time: {with_time}/{len(r_results)}",
        f"check-ins recorded: {recorded} (must equal {len(pass_tokens)}); "
        f"first-scan answers ok: {sum(r.get('result') == 'ok' for r in f_results)}",
        harness.ratio_line("check-in requests/s, ours ÷ bare GET /", f_rps, base),
        *(f"{label}: {_per_scan(counts[n], counts[n + 1], len(pass_tokens))}; server CPU "
          f"{1000 * (cpu[n + 1] - cpu[n]) / len(pass_tokens):.2f} ms per scan"
          for n, label in enumerate(("first scan", "repeat scan"))),
    ]


def _per_scan(before: dict[tuple[str, str], int], after: dict[tuple[str, str], int], scans: int) -> str:
    """Database commands per scan over a phase (the /metrics reading's own, under 0.01 per scan, included)."""
    delta = {k: n / scans for k, n in harness.command_delta(before, after).items() if n / scans >= 0.05}
    return f"{sum(delta.values()):.1f} database commands (" + ", ".join(f"{k} {v:.1f}" for k, v in delta.items()) + ")"


async def _scans(http: AsyncHTTPClient, ours: harness.Proc, token: str, session_id: str, passes: list[str],
                 tag: str) -> tuple[float, float, list[dict[str, Any]]]:
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for i, text in enumerate(passes):
        queue.put_nowait((i, text))
    latencies: list[float] = []
    results: list[dict[str, Any]] = []

    async def worker(n: int) -> None:
        while not queue.empty():
            i, text = queue.get_nowait()
            body = json.dumps({"token": text, "session_id": session_id, "client_id": f"{tag}-{i}",
                               "device_id": f"door-{n}"})
            started = time.perf_counter()
            answer = await http.fetch(HTTPRequest(ours.url("/api/v1/checkins"), method="POST", body=body, headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {token}"}), raise_error=False)
            latencies.append((time.perf_counter() - started) * 1000)
            results.append(json.loads(answer.body) if answer.code == 200 else {"status": answer.code})

    started = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(CLIENTS)))
    wall = time.perf_counter() - started
    latencies.sort()
    return len(passes) / wall, harness.percentile(latencies, 99), results


async def _bare(http: AsyncHTTPClient, bare: harness.Proc, n: int) -> float:
    remaining = [n]

    async def worker() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            await http.fetch(bare.url("/"))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return n / (time.perf_counter() - started)


async def _seed(db: Any) -> tuple[str, list[dict[str, Any]]]:
    today = today_shanghai()
    course_id, session_id = ObjectId(), ObjectId()
    await db["sessions"].insert_one({
        "_id": session_id, "course_id": course_id, "code": "BENCH-PASS", "round": "一期", "status": "published",
        "start_date": today.isoformat(), "end_date": (today + timedelta(days=1)).isoformat(),
        "enroll_start": (today - timedelta(days=20)).isoformat(), "enroll_end": (today - timedelta(days=5)).isoformat(),
        "venue": "上海", "capacity": PASSES, "seats_taken": 0, "fee_fen": 100000, "course_name": "压测课程",
        "created_at": datetime.now(UTC), "updated_at": datetime.now(UTC)})
    enrollments = []
    for _ in range(PASSES):
        trainee = await _account(db, "trainee")
        enrollments.append({"_id": ObjectId(), "session_id": session_id, "course_id": course_id, "trainee_id": trainee,
                            "unit_id": None, "status": "approved", "active": True, "fee_fen": 100000,
                            "created_by": {"account_id": trainee, "role": "trainee"}, "address": None,
                            "created_at": datetime.now(UTC), "updated_at": datetime.now(UTC)})
    await db["enrollments"].insert_many(enrollments)
    return str(session_id), enrollments


async def _account(db: Any, role: str) -> ObjectId:
    doc: dict[str, Any] = {"_id": ObjectId(), "role": role, "status": "active", "name": "压测",
                           "login_key": f"{role}:{ObjectId()}"}
    if role == "trainee":
        doc["trainee"] = {"id_masked": "1101**********0000"}
    await db["accounts"].insert_one(doc)
    return doc["_id"]
