"""Time ``normalize_id_photo`` on a 12-megapixel phone picture.

    python -m bench photo        (or: .venv/bin/python bench/photo_normalize.py [runs])

Builds a 4000x3000 JPEG (as a phone stores a portrait shot: sideways pixels
plus EXIF orientation 6) from the astronaut fixture, normalises it ``runs``
times (default 15) and prints the median and worst time and the peak RSS.
The timing runs in a child process, so that building the 12 MP input does
not count in its peak RSS. Goal: median <= 250 ms.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.documents.photo import normalize_id_photo  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "photos" / "portrait.jpg"

NAME = "photo"
DESCRIPTION = "ID photo normalization of a 12-megapixel phone picture (goal: median <= 250 ms)"


def phone_photo() -> bytes:
    """3000x4000 upright portrait stored as 4000x3000 + orientation 6, quality 90."""
    upright = Image.open(FIXTURE).convert("RGB").resize((3000, 4000), Image.Resampling.BICUBIC)
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "BenchPhone"
    out = BytesIO()
    stored.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def measure(path: str, runs: int) -> None:
    """Child process: normalise the file ``runs`` times and print the numbers."""
    data = Path(path).read_bytes()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    normalize_id_photo(data)  # warm-up: loads the face cascade
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        _, _, out = normalize_id_photo(data)
        timings.append((time.perf_counter() - started) * 1000)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"input: 4000x3000 JPEG + EXIF orientation 6, {len(data) / 1e6:.1f} MB; output {len(out) / 1e3:.1f} KB")
    print(f"runs: {runs}  median: {statistics.median(timings):.1f} ms  min: {min(timings):.1f} ms  max: {max(timings):.1f} ms")
    print(f"peak RSS: {peak / 1024:.1f} MiB (before the first run: {rss_before / 1024:.1f} MiB)")


def run(runs: int = 15) -> list[str]:
    """Build the phone picture, time it in a child process, return the printed lines."""
    with tempfile.NamedTemporaryFile(suffix=".jpg") as tmp:
        tmp.write(phone_photo())
        tmp.flush()
        done = subprocess.run(
            [sys.executable, __file__, "--measure", tmp.name, str(runs)],
            check=True, capture_output=True, text=True,
        )
    return done.stdout.splitlines()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":
        measure(sys.argv[2], int(sys.argv[3]))
        return
    print("\n".join(run(int(sys.argv[1]) if len(sys.argv) > 1 else 15)))


if __name__ == "__main__":
    main()
