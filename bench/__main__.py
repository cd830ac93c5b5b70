"""``python -m bench [name ...]``: run the named benchmarks (default: all); ``--list``."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from types import ModuleType

from bench import (
    certificates,
    deploy,
    enroll,
    healthz,
    login_under_load,
    me,
    ocr,
    passes,
    payments,
    photo_normalize,
    photo_upload,
    rush,
    sessions_list,
    staff_import,
    web_first_load,
)

# Add a benchmark: a module with NAME, DESCRIPTION and run() -> list[str], listed here.
BENCHMARKS: tuple[ModuleType, ...] = (
    healthz, me, photo_normalize, photo_upload, sessions_list, enroll, staff_import, login_under_load,
    ocr,
    payments,
    passes,
    certificates,
    deploy,
    rush,
    web_first_load,
)


def main(argv: list[str] | None = None) -> int:
    by_name = {module.NAME: module for module in BENCHMARKS}
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="name", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for module in BENCHMARKS:
            print(f"{module.NAME:12} {module.DESCRIPTION}")
        return 0
    unknown = [name for name in args.names if name not in by_name]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)} (known: {', '.join(by_name)})")
    failed = 0
    for name in args.names or list(by_name):
        module = by_name[name]
        print(f"== {module.NAME}: {module.DESCRIPTION}", flush=True)
        started = time.perf_counter()
        try:
            lines = module.run()
        except Exception:  # report it, go on with the others, exit non-zero
            traceback.print_exc()
            failed += 1
            print(f"   FAILED after {time.perf_counter() - started:.1f} s\n", flush=True)
            continue
        for line in lines:
            print(f"   {line}")
        print(f"   ({time.perf_counter() - started:.1f} s)\n", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
