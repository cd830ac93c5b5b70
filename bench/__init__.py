"""Benchmarks: ``python -m bench [name ...]`` (``make bench``); see bench/README.md.

Each benchmark is a module of this package exposing ``NAME``, ``DESCRIPTION`` and
``run() -> list[str]`` (the lines to print), listed in ``bench.__main__.BENCHMARKS``.
Shared helpers (processes under test, load, CPU, result lines) are in ``bench.harness``.
"""
