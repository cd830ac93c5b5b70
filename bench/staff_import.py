"""Staff Excel import and bulk photos on a real server: dry run and commit of 5,000 rows, a photo ZIP.

Peak memory is the server's VmHWM (high-water mark, so cumulative: each figure is
the peak up to the end of that step). Photos are small portraits made from the
test fixture (600x800, mirrored and brightness-varied), each normalized by the
server's pipeline (face detection, crop, JPEG) in its executor.
"""

from __future__ import annotations

import http.client
import io
import json
import time
import zipfile
from pathlib import Path

from PIL import Image, ImageEnhance, ImageOps

from bench import harness
from server.services.accounts.identity import resident_check_char, uscc_check_char
from tests.staff_helpers import sheet_bytes, staff_row

NAME = "import"
DESCRIPTION = "staff import: 5,000-row dry run (goal <= 2 s), commit (goal <= 10 s), photo ZIP (photos/s), peak memory"
ROWS = 5000
PHOTOS = 100
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PORTRAIT = harness.ROOT / "tests" / "fixtures" / "photos" / "portrait.jpg"


def run() -> list[str]:
    people = [(f"员工{i}", _id(i), f"139{i:08d}") for i in range(ROWS)]
    sheet = sheet_bytes([staff_row(name=n, id_number=id_, phone=p, sex=None) for n, id_, p in people])
    photos = _photo_zip(people[:PHOTOS])
    with harness.our_server() as proc:
        token = harness.register_unit(proc, _uscc(), "13800009999")
        t0 = time.perf_counter()
        status, answer = _post(proc, "/api/v1/unit/staff/imports", sheet, XLSX, token)
        dry = time.perf_counter() - t0
        _check(status == 201 and answer["counts"].get("ok") == ROWS, "dry run", status, answer)
        mem_dry = _vm_hwm(proc.pid)
        t0 = time.perf_counter()
        status, answer = _post(proc, f"/api/v1/unit/staff/imports/{answer['id']}/commit", b"", None, token)
        commit = time.perf_counter() - t0
        _check(status == 200 and answer["created"] == ROWS, "commit", status, answer)
        mem_commit = _vm_hwm(proc.pid)
        t0 = time.perf_counter()
        status, answer = _post(proc, "/api/v1/unit/staff/photos?consent=true", photos, "application/zip", token)
        _check(status == 200, "photos", status, answer)
        job = answer["job_id"]
        while answer["status"] == "running" and time.perf_counter() - t0 < 120:
            time.sleep(0.2)
            status, answer = harness.call(proc, "GET", f"/api/v1/unit/staff/photo-jobs/{job}", token=token)
        elapsed = time.perf_counter() - t0
        saved = answer["counts"].get("saved", 0)
        mem_photos = _vm_hwm(proc.pid)
    return [
        f"sheet: {ROWS} rows, {len(sheet) / 1e6:.2f} MB; photo ZIP: {PHOTOS} portraits, {len(photos) / 1e6:.1f} MB",
        harness.goal_line(f"dry run of {ROWS} rows", dry, "s", goal="<= 2"),
        harness.goal_line(f"commit of {ROWS} rows", commit, "s", goal="<= 10"),
        f"photo ZIP: {saved}/{PHOTOS} saved in {elapsed:.1f} s = {saved / elapsed:.1f} photos/s "
        f"({answer['counts']})",
        f"server peak memory (VmHWM, cumulative): after dry run {mem_dry:.0f} MB, after commit {mem_commit:.0f} MB, "
        f"after photos {mem_photos:.0f} MB",
    ]


def _id(i: int) -> str:
    first17 = f"310101{1960 + i % 40}{1 + i % 12:02d}{1 + i % 28:02d}{i // 480 % 1000:03d}"
    return first17 + resident_check_char(first17)


def _uscc() -> str:
    first17 = "91310000MA1K00001"
    return first17 + uscc_check_char(first17)


def _photo_zip(people: list[tuple[str, str, str]]) -> bytes:
    base = Image.open(PORTRAIT).convert("RGB").resize((600, 800))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for i, (name, id_number, _) in enumerate(people):
            image = ImageOps.mirror(base) if i % 2 else base
            image = ImageEnhance.Brightness(image).enhance(0.85 + (i % 7) * 0.05)
            buf = io.BytesIO()
            image.save(buf, "JPEG", quality=85)
            archive.writestr(f"{name}-{id_number}.jpg", buf.getvalue())
    return out.getvalue()


def _post(proc: harness.Proc, path: str, body: bytes, content_type: str | None, token: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    conn = http.client.HTTPConnection(harness.HOST, proc.port, timeout=300)
    headers = {"Authorization": f"Bearer {token}"}
    if content_type:
        headers["Content-Type"] = content_type
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def _vm_hwm(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _check(ok: bool, step: str, status: int, answer: object) -> None:
    if not ok:
        raise harness.BenchError(f"{step}: {status} {str(answer)[:500]}")
