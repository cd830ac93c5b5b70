"""Certificates: one PDF in ms; a unit's 500-certificate download (seconds, peak memory); the
verification page's requests/s against bare Tornado.

    python -m bench certificates

PDF: :func:`server.documents.certificate_pdf.render_certificate` with the demo portrait, a seal and
the QR, 20 times after a warm-up (font registration), p50 and max.

500-certificate download: what the ``certificate_bundle`` job does per certificate — render in the
same process (the job runs it in the executor, one at a time) and append to a ZIP in a temporary
file — for 500 certificates; wall seconds, and the process's peak RSS growth (tracemalloc is not used:
it slows reportlab tenfold). The database reads of the job (one query, one photo per person) are not
in this figure.

Verification page: ``GET /verify/{code}`` of a certificate inserted directly in the bench's embedded
database, against ``GET /`` of bare Tornado; 2 rounds x 4 s per side, 32 connections. The limiter
stays on (``VERIFY_RATE_PER_MINUTE`` raised so that the load is not refused): each request is one
counter update and one indexed read, then the page.
"""

from __future__ import annotations

import io
import os
import resource
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from bson import ObjectId
from PIL import Image
from pymongo import MongoClient

from bench import harness
from bench.harness import BenchError, LoadResult

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.db import EmbeddedMongo  # noqa: E402
from server.documents.certificate_pdf import CertificateSheet, render_certificate  # noqa: E402

NAME = "certificates"
DESCRIPTION = "certificate PDF ms; 500-certificate unit download s + peak memory; /verify rps vs bare"

PDF_RUNS = 20
BUNDLE = 500
DB_NAME = "bench"
ROUNDS = 2
DURATION_S = 4
WARMUP_S = 1
CONNECTIONS = 32
CODE = "benchbenchbenchbenchbench2"


def _sheet(n: int) -> CertificateSheet:
    seal = io.BytesIO()
    Image.new("RGBA", (400, 400), (200, 20, 20, 120)).save(seal, "PNG")
    return CertificateSheet(
        association="上海市勘察设计行业协会", number=f"SKX-2026-{n:06d}", name="张三", id_masked="3101**********1234",
        unit="上海示例勘察设计有限公司", course="岩土工程勘察专项培训", hours=24, start_date="2026-03-01",
        end_date="2026-03-03", verdict="合格", issued_on="2026-03-10",
        verify_url=f"https://train.example.org/verify/{CODE}", photo=(ROOT / "server/data/demo-portrait.jpg").read_bytes(),
        seal=seal.getvalue())


def run() -> list[str]:
    lines = _pdf() + _bundle()
    with tempfile.TemporaryDirectory(prefix="bench-certificates-db-") as tmp:
        database = EmbeddedMongo(Path(tmp) / "db")
        url = database.start()
        try:
            lines += _verify(url)
        finally:
            database.stop()
    return lines


def _pdf() -> list[str]:
    sheet = _sheet(1)
    render_certificate(sheet)  # the font is registered once per process
    times = []
    size = 0
    for _ in range(PDF_RUNS):
        started = time.perf_counter()
        size = len(render_certificate(sheet))
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return [f"certificate PDF (A4, photo, seal, vector QR; {size / 1024:.0f} KB): "
            f"p50 {harness.percentile(times, 50):.0f} ms, max {times[-1]:.0f} ms over {PDF_RUNS}"]


def _bundle() -> list[str]:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-bundle-") as tmp:
        path = os.path.join(tmp, "bundle.zip")
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
            for n in range(1, BUNDLE + 1):  # one sheet (its photo) at a time, as the job reads them
                sheet = _sheet(n)
                archive.writestr(f"{sheet.number}.pdf", render_certificate(sheet))
        size = os.path.getsize(path)
    wall = time.perf_counter() - started
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before  # KiB on Linux
    return [f"unit download of {BUNDLE} certificates (ZIP, {size / 1024 / 1024:.0f} MB): {wall:.1f} s, "
            f"peak RSS growth {rss_growth / 1024:.0f} MB"]


def _verify(url: str) -> list[str]:
    now = datetime.now(UTC)
    with MongoClient(url, tz_aware=True) as client:
        client[DB_NAME]["certificates"].insert_one({
            "_id": ObjectId(), "enrollment_id": ObjectId(), "live": ObjectId(), "session_id": ObjectId(),
            "course_id": ObjectId(), "trainee_id": ObjectId(), "unit_id": None, "type": "SKX", "year": now.year,
            "seq": 1, "number": f"SKX-{now.year}-000001", "code": CODE, "status": "valid",
            "issued_on": now.date().isoformat(), "issued_at": now,
            "printed": {"name": "张三", "id_masked": "3101**********1234", "unit": None, "course": "岩土工程勘察专项培训",
                        "hours": 24, "start_date": "2026-03-01", "end_date": "2026-03-03", "verdict": "合格"}})
    path = f"/verify/{CODE}"
    results: dict[str, list[LoadResult]] = {"ours": [], "bare": []}
    env = {"MONGODB_URL": url, "MONGODB_DB": DB_NAME, "VERIFY_RATE_PER_MINUTE": "10000000"}
    with harness.our_server(env) as ours, harness.bare_tornado() as bare:
        status, _ = harness.call(ours, "GET", f"/api/v1/certificates/verify/{CODE}")
        if status != 200:
            raise BenchError(f"verify: {status}")
        for _ in range(ROUNDS):
            for side, proc, target in (("ours", ours, path), ("bare", bare, "/")):
                harness.load(proc.url(target), duration_s=WARMUP_S, connections=CONNECTIONS)
                results[side].append(harness.measure(proc, target, duration_s=DURATION_S, connections=CONNECTIONS))

    def rps(runs: list[LoadResult]) -> float:
        return sum(r.requests for r in runs) / sum(r.duration_s for r in runs)

    o, b = results["ours"], results["bare"]
    lines = [f"verification page: load {o[0].tool}, {CONNECTIONS} connections, {ROUNDS} rounds x {DURATION_S} s per side",
             f"requests/s: ours {rps(o):.0f}, bare {rps(b):.0f}",
             harness.ratio_line("verification page requests/s", rps(o), rps(b))]
    bad = sum(r.non_2xx + r.errors for r in o + b)
    if bad:
        lines.append(f"non-2xx or socket errors: {bad}")
    return lines
