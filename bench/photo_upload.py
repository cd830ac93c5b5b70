"""``GET /healthz`` latency while the running server normalizes 4 ID photos at once.

    python -m bench photo_upload

Starts our server (embedded database, fresh ``DATA_DIR``), registers 4 trainees
through the API (SMS codes read from the server's outbox), then for ``ROUNDS``
rounds sends their 4 ``PUT /api/v1/me/photo`` uploads at once, of a 12-megapixel
phone picture (multipart, as wx.uploadFile sends it) while one client polls
``GET /healthz`` back to back. The photo pipeline runs in the executor, so the
event loop must stay responsive: goal p99 < 50 ms. Also prints the server's
peak RSS (``VmHWM`` of /proc/<pid>/status).
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

from bench import harness
from bench.photo_normalize import FIXTURE
from server.services.accounts.identity import resident_check_char

NAME = "photo_upload"
DESCRIPTION = "GET /healthz latency during 4 concurrent 12 MP photo uploads (goal p99 < 50 ms); server peak RSS"

CONCURRENT = 4
ROUNDS = 4
PHONES = [f"1390000222{i}" for i in range(CONCURRENT)]
GOAL_MS = "< 50"


def run() -> list[str]:
    photo = phone_photo()
    body, content_type = _multipart(photo)
    with harness.our_server() as proc:
        tokens = [harness.register_trainee(proc, _id_number(i), phone) for i, phone in enumerate(PHONES)]
        rss_before = _status_kib(proc.pid, "VmRSS")
        for token in tokens:  # warm-up: consent recorded, face cascades loaded
            first = _upload(proc, token, body, content_type)
            if first[0] != 200:
                raise harness.BenchError(f"first upload answered {first[0]}")
        latencies, uploads, wall = _rounds(proc, tokens, body, content_type)
        peak = _status_kib(proc.pid, "VmHWM")
    statuses = sorted({status for status, _ in uploads})
    upload_ms = sorted(ms for _, ms in uploads)
    latencies.sort()
    p50, p99 = harness.percentile(latencies, 50), harness.percentile(latencies, 99)
    return [
        f"input: 4000x3000 noisy JPEG + EXIF orientation 6, {len(photo) / 1e6:.1f} MB, multipart; "
        f"{ROUNDS} rounds x {CONCURRENT} concurrent uploads in {wall:.1f} s (statuses {statuses})",
        f"upload time per request: median {statistics.median(upload_ms):.0f} ms, max {max(upload_ms):.0f} ms",
        f"GET /healthz during uploads: {len(latencies)} requests, p50 {harness.fmt_ms(p50)} ms, "
        f"p99 {harness.fmt_ms(p99)} ms, max {harness.fmt_ms(latencies[-1])} ms",
        harness.goal_line("healthz p99 during uploads", p99, "ms", goal=GOAL_MS),
        f"server RSS: {rss_before / 1024:.0f} MiB before the uploads, peak (VmHWM) {peak / 1024:.0f} MiB",
    ]


def phone_photo() -> bytes:
    """3000x4000 portrait stored sideways + EXIF orientation 6, with sensor-like noise.

    The noise brings the file to the 3-5 MB a phone camera writes (a smooth
    upscaled picture would compress to 1 MB and flatter the upload path).
    """
    upright = Image.open(FIXTURE).convert("RGB").resize((3000, 4000), Image.Resampling.BICUBIC)
    pixels = np.asarray(upright, dtype=np.int16)
    noise = np.random.default_rng(7).integers(-16, 17, size=pixels.shape, dtype=np.int16)
    noisy = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "BenchPhone"
    out = BytesIO()
    noisy.transpose(Image.Transpose.ROTATE_90).save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def _id_number(i: int) -> str:
    """A valid resident ID number (GB 11643 check character) of nobody: born 1980-01-01."""
    first17 = f"11010519800101{101 + 2 * i:03d}"
    return first17 + resident_check_char(first17)


def _rounds(proc: harness.Proc, tokens: list[str], body: bytes, content_type: str
            ) -> tuple[list[float], list[tuple[int, float]], float]:
    """Rounds of one upload per trainee at once, with /healthz polled back to back meanwhile."""
    latencies: list[float] = []
    stop = threading.Event()
    poller = threading.Thread(target=_poll_healthz, args=(proc, stop, latencies))
    started = time.perf_counter()
    poller.start()
    uploads: list[tuple[int, float]] = []
    try:
        with ThreadPoolExecutor(CONCURRENT) as pool:
            for _ in range(ROUNDS):
                uploads += pool.map(lambda token: _upload(proc, token, body, content_type), tokens)
    finally:
        stop.set()
        poller.join()
    return latencies, uploads, time.perf_counter() - started


def _poll_healthz(proc: harness.Proc, stop: threading.Event, out: list[float]) -> None:
    conn = http.client.HTTPConnection(harness.HOST, proc.port, timeout=10)
    try:
        while not stop.is_set():
            t0 = time.perf_counter()
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            out.append((time.perf_counter() - t0) * 1000)
            if response.status != 200:
                raise harness.BenchError(f"/healthz answered {response.status}")
            time.sleep(0.005)  # a steady probe, not a load test
    finally:
        conn.close()


def _upload(proc: harness.Proc, token: str, body: bytes, content_type: str) -> tuple[int, float]:
    return harness.timed_upload(proc, "PUT", "/api/v1/me/photo", token, body, content_type)


def _multipart(photo: bytes) -> tuple[bytes, str]:
    boundary = "----bench" + uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="consent"\r\n\r\ntrue\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="IMG_0001.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + photo + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0
