"""Time the OCR pre-check on generated 1080×2400 transfer screenshots, and the OCR process's peak memory.

    python -m bench ocr        (or: .venv/bin/python bench/ocr.py [rounds])

Renders the three layouts (WeChat Pay, Alipay, bank app; noise and JPEG artefacts), starts the
OCR process as a server does (:class:`OcrWorker`: ``spawn``, ``RLIMIT_AS`` at ``OCR_MEMORY_MB``,
niced by ``EXECUTOR_NICENESS``), reads each screenshot ``rounds`` times (default 3) one call per
screenshot, and prints the time of the first call (the models loading included), the median and
worst seconds per screenshot afterwards, whether every field was read exactly, and the OCR
process's peak memory (``ru_maxrss`` of the reaped child, and its peak address space against the
cap). The measurement runs in a child process of its own, so only the OCR process is its child.
Goals: median <= 3 s per screenshot on 2 cores; peak address space under the 2048 MB default cap.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import goal_line  # noqa: E402
from server.demo.screenshots import LAYOUTS, render_transfer_screenshot  # noqa: E402
from server.services.payments.ocr_reader import OcrWorker  # noqa: E402

NAME = "ocr"
DESCRIPTION = "OCR pre-check of a 1080x2400 transfer screenshot (goal: median <= 3 s; peak memory)"

PAYEE, ACCOUNT, REMARK, AMOUNT = "上海市安全生产职业技能协会", "6222021001234567890", "JP7K3Q9A 培训费", 128000
PAID_AT = datetime(2026, 11, 30, 6, 3, tzinfo=UTC)


def _vm(pid: int, field: str) -> float:
    """A ``/proc/<pid>/status`` figure in MiB (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measure(rounds: int) -> None:
    """Child process: read every layout ``rounds`` times in one OCR worker; print the figures."""
    memory_mb = int(os.environ.get("OCR_MEMORY_MB", "2048"))
    niceness = int(os.environ.get("EXECUTOR_NICENESS", "10"))
    shots = {layout: render_transfer_screenshot(layout=layout, amount_fen=AMOUNT, payee_name=PAYEE,  # type: ignore[arg-type]
                                                payee_account=ACCOUNT, remark=REMARK, paid_at=PAID_AT)
             for layout in LAYOUTS}
    worker = OcrWorker(memory_mb=memory_mb, timeout=600, niceness=niceness)
    started = time.perf_counter()
    worker.read_blocking([shots["wechat"]])
    first = time.perf_counter() - started
    timings, exact = [], 0
    for _ in range(rounds):
        for shot in shots.values():
            started = time.perf_counter()
            [reading] = worker.read_blocking([shot])
            timings.append(time.perf_counter() - started)
            remark = "".join((reading.remark or "").split())  # a space between two words is not always seen
            exact += (reading.amount_fen, reading.payee_name, reading.payee_account_tail, remark) == (
                AMOUNT, PAYEE, "7890", "".join(REMARK.split())) and reading.paid_at == PAID_AT
    peak_vm = _vm(worker.pid or 0, "VmPeak")
    worker.close()
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux; the OCR process only
    print(f"screenshots: {len(shots)} layouts x {rounds} rounds, 1080x2400 JPEG ~{len(shots['bank']) / 1e3:.0f} KB; "
          f"OCR process nice {niceness}, RLIMIT_AS {memory_mb} MB")
    print(f"first call (spawn + models loaded + 1 screenshot): {first:.2f} s")
    print(goal_line("seconds per screenshot, median", statistics.median(timings), "s", goal="<= 3")
          + f"  (min {min(timings):.2f} s, max {max(timings):.2f} s)")
    print(f"read exactly (amount, payee, account tail, remark without spaces, time): {exact}/{len(timings)}")
    print(f"OCR process peak RSS (ru_maxrss): {child_rss:.0f} MiB")
    print(goal_line("OCR process peak address space (VmPeak, MiB)", peak_vm, "MiB", goal=f"< {memory_mb}"))


def run(rounds: int = 3) -> list[str]:
    """Measure in a child process; the printed lines."""
    done = subprocess.run([sys.executable, __file__, "--measure", str(rounds)], check=True, capture_output=True,
                          text=True)
    return done.stdout.splitlines()


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        measure(int(sys.argv[2]))
        return
    print("\n".join(run(int(sys.argv[1]) if len(sys.argv) > 1 else 3)))


if __name__ == "__main__":
    main()
