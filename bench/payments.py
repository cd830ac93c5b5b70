"""``POST /api/v1/payments`` with 2 proof images under 20 concurrent payers; the review queue's first page.

    python -m bench payments

Set-up (not measured): the bench starts its own embedded database and points ``python -m server``
at it (``MONGODB_URL``), creates an admin with ``python -m server create-staff``, a course and a
published session through the admin API, registers 20 trainees through the API, and inserts
``ROUNDS`` unpaid enrollments per trainee directly (each in its own course id, so the
one-per-course index lets them be). Proofs: a 1080×2000 PNG transfer screenshot (drawn with the
CJK font) and the same as a 1080×2000 JPEG, so each submit cleans two pictures in the executor.

Submit: 20 threads, one per payer, each sending ``ROUNDS`` submits back to back (multipart,
``payload`` JSON + 2 ``proofs``). A 503 ``server_busy`` (the executor queue full) is retried after
its ``Retry-After`` as the mini-program does; the time reported is the payer's, retries included,
and the number of 503s is printed.

Review queue: ``GET /api/v1/review/payments?page_size=20`` as the admin (the submitted payments:
names, masked ID numbers, sessions, invoice decrypted) against ``GET /`` of bare Tornado; 2 rounds
× 4 s per side, 32 connections. Reported as a ratio, without a goal: each request is a token lookup,
a count and a sorted page of the queue, and one read of the names, and the embedded database spends
~6 ms on the count and the page; a handful of reviewers use the queue (see bench/README.md).
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

from bson import ObjectId
from PIL import Image
from pymongo import MongoClient

from bench import harness
from bench.harness import BenchError, LoadResult, Proc
from bench.sessions_list import _admin_token, _expect, _published_session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.db import EmbeddedMongo  # noqa: E402
from server.demo.screenshots import render_transfer_screenshot  # noqa: E402
from server.services.accounts.identity import resident_check_char  # noqa: E402

NAME = "payments"
DESCRIPTION = "POST /api/v1/payments with 2 proofs, 20 concurrent payers (p50/p99 ms); review queue rps vs bare"

PAYERS = 20
ROUNDS = 3
DB_NAME = "bench"
QUEUE_PATH = "/api/v1/review/payments?page_size=20"
QUEUE_ROUNDS = 2
DURATION_S = 4
WARMUP_S = 1
CONNECTIONS = 32


def run() -> list[str]:
    with tempfile.TemporaryDirectory(prefix="bench-payments-db-") as tmp:
        database = EmbeddedMongo(Path(tmp) / "db")
        url = database.start()
        try:
            return _run(url)
        finally:
            database.stop()


def _run(url: str) -> list[str]:
    proofs = _proofs()
    with harness.our_server({"MONGODB_URL": url, "MONGODB_DB": DB_NAME}) as ours:
        admin, payers = _prepare(ours, url)
        submits, busy, wall = _submit_rounds(ours, payers, proofs)
        status, page = harness.call(ours, "GET", QUEUE_PATH, token=admin)
        _expect(status, 200, "review queue", page)
        assert isinstance(page, dict)
        if len(page["items"]) != 20:
            raise BenchError(f"review queue: {len(page['items'])} items")
        results: dict[str, list[LoadResult]] = {"ours": [], "bare": []}
        headers = {"Authorization": f"Bearer {admin}"}
        with harness.bare_tornado() as bare:
            for _ in range(QUEUE_ROUNDS):
                for side, proc, path, hdrs in (("ours", ours, QUEUE_PATH, headers), ("bare", bare, "/", None)):
                    harness.load(proc.url(path), duration_s=WARMUP_S, connections=CONNECTIONS, headers=hdrs)
                    results[side].append(harness.measure(proc, path, duration_s=DURATION_S,
                                                         connections=CONNECTIONS, headers=hdrs))
    return _report(proofs, submits, busy, wall, results, page["total"])


def _proofs() -> list[tuple[str, bytes]]:
    big = Image.open(BytesIO(render_transfer_screenshot(
        layout="wechat", amount_fen=120000, payee_name="上海市勘察设计行业协会", payee_account="1001 2440 0902 6688 123",
        remark="BENCH123", paid_at=datetime(2026, 12, 2, 8, 30, tzinfo=UTC), width=1080, height=2000, noise=False,
        jpeg_quality=95)))
    png, jpeg = BytesIO(), BytesIO()
    big.save(png, "PNG")
    big.save(jpeg, "JPEG", quality=88)
    return [("screenshot.png", png.getvalue()), ("screenshot.jpg", jpeg.getvalue())]


def _prepare(proc: Proc, url: str) -> tuple[str, list[tuple[str, list[str]]]]:
    """The admin's token; per payer, a token and ``ROUNDS`` unpaid enrollment ids."""
    admin = _admin_token(proc, url)
    status, course = harness.call(proc, "POST", "/api/v1/admin/courses", {
        "name": "压测专项培训", "course_type": "继续教育", "activity_type": "培训", "specialty": "岩土工程",
        "hours": 24, "mails_books": False}, admin)
    _expect(status, 201, "course", course)
    assert isinstance(course, dict)
    session_id = ObjectId(_published_session(proc, admin, course["id"], 0))
    payers = []
    now = datetime.now(UTC)
    with MongoClient(url, tz_aware=True) as client:
        enrollments = client[DB_NAME]["enrollments"]
        for i in range(PAYERS):
            token = harness.register_trainee(proc, _id_number(i), f"139000044{i:02d}")
            status, me = harness.call(proc, "GET", "/api/v1/me", token=token)
            _expect(status, 200, "me", me)
            assert isinstance(me, dict)
            docs = [{"_id": ObjectId(), "session_id": session_id, "course_id": ObjectId(), "trainee_id": ObjectId(me["id"]),
                     "unit_id": None, "created_by": {"account_id": ObjectId(me["id"]), "role": "trainee"},
                     "status": "pending_payment", "active": True, "fee_fen": 120000, "address": None,
                     "pay_by": now + timedelta(days=7), "created_at": now, "updated_at": now}
                    for _ in range(ROUNDS)]
            enrollments.insert_many(docs)
            payers.append((token, [str(d["_id"]) for d in docs]))
    return admin, payers


def _submit_rounds(proc: Proc, payers: list[tuple[str, list[str]]], proofs: list[tuple[str, bytes]]
                   ) -> tuple[list[tuple[int, float]], int, float]:
    """Every payer submits its enrollments one payment after the other, all payers at once."""
    busy = [0]
    lock = threading.Lock()

    def payer(token: str, ids: list[str]) -> list[tuple[int, float]]:
        done = []
        for enrollment_id in ids:
            body, content_type = _multipart(enrollment_id, proofs)
            started = time.perf_counter()
            while True:
                status, retry_after = _post(proc, token, body, content_type)
                if status != 503:
                    break
                with lock:
                    busy[0] += 1
                time.sleep(retry_after)
            done.append((status, (time.perf_counter() - started) * 1000))
        return done

    started = time.perf_counter()
    with ThreadPoolExecutor(PAYERS) as pool:
        results = [r for rs in pool.map(lambda p: payer(*p), payers) for r in rs]
    return results, busy[0], time.perf_counter() - started


def _post(proc: Proc, token: str, body: bytes, content_type: str) -> tuple[int, float]:
    conn = http.client.HTTPConnection(harness.HOST, proc.port, timeout=120)
    try:
        conn.request("POST", "/api/v1/payments", body=body,
                     headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
        return response.status, float(response.getheader("Retry-After") or 1)
    finally:
        conn.close()


def _multipart(enrollment_id: str, proofs: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = "----bench" + uuid.uuid4().hex
    payload = {"enrollment_ids": [enrollment_id], "amount_fen": 1,
               "invoice": {"kind": "normal", "medium": "paper", "title_type": "personal", "title": "压测学员"}}
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="payload"\r\n\r\n'.encode()
             + json.dumps(payload, ensure_ascii=False).encode() + b"\r\n"]
    for name, data in proofs:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="proofs"; filename="{name}"\r\n'
                     "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _id_number(i: int) -> str:
    first17 = f"11010519850101{201 + 2 * i:03d}"
    return first17 + resident_check_char(first17)


def _report(proofs: list[tuple[str, bytes]], submits: list[tuple[int, float]], busy: int, wall: float,
            results: dict[str, list[LoadResult]], queued: int) -> list[str]:
    ms = sorted(t for s, t in submits if s == 201)
    statuses = sorted({s for s, _ in submits})
    if not ms:
        raise BenchError(f"no submit succeeded: statuses {statuses}")

    def rps(runs: list[LoadResult]) -> float:
        return sum(r.requests for r in runs) / sum(r.duration_s for r in runs)

    o, b = results["ours"], results["bare"]
    sizes = " + ".join(f"{name} {len(data) / 1024:.0f} KB" for name, data in proofs)
    lines = [
        f"submit: {PAYERS} payers at once x {ROUNDS} payments each, 2 proofs per payment ({sizes}); "
        f"{len(submits)} submits in {wall:.1f} s, statuses {statuses}, 503 server_busy retried: {busy}",
        f"submit time per payment (retries included): p50 {harness.percentile(ms, 50):.0f} ms, "
        f"p99 {harness.percentile(ms, 99):.0f} ms, median {statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms",
        f"review queue: {queued} payments waiting; load {o[0].tool}, {CONNECTIONS} connections, "
        f"{QUEUE_ROUNDS} rounds x {DURATION_S} s per side",
        f"requests/s: ours {rps(o):.0f}, bare {rps(b):.0f}",
        harness.ratio_line("review queue requests/s", rps(o), rps(b)),
        f"latency p50/p99 ms (mean of rounds): ours {harness.fmt_ms(sum(r.p50_ms for r in o) / len(o))}/"
        f"{harness.fmt_ms(sum(r.p99_ms for r in o) / len(o))}, bare {harness.fmt_ms(sum(r.p50_ms for r in b) / len(b))}/"
        f"{harness.fmt_ms(sum(r.p99_ms for r in b) / len(b))}",
    ]
    bad = sum(r.non_2xx + r.errors for r in o + b)
    if bad:
        lines.append(f"non-2xx or socket errors: {bad}")
    return lines
