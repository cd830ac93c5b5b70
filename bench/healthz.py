"""``GET /healthz`` of our server against ``GET /`` of a bare Tornado app.

Both run side by side; the load alternates (ours, bare, ours, bare), each run
after its own warm-up, so machine noise hits both. Our /healthz pings the
embedded database on every request; the bare app does nothing at all, so the
ratios say what our stack (handler base, request id, access log, the ping)
costs over Tornado itself.
"""

from __future__ import annotations

from bench import harness
from bench.harness import LoadResult

NAME = "healthz"
DESCRIPTION = "GET /healthz (ours) vs GET / (bare Tornado): requests/s, CPU per request, latency, cold start"

ROUNDS = 2
DURATION_S = 4
WARMUP_S = 1
CONNECTIONS = 32

GOAL_RPS = ">= 0.7"  # ours/bare requests per second
GOAL_CPU = "<= 1.5"  # ours/bare server CPU seconds per 1,000 requests
GOAL_COLD_START = "< 3"  # seconds from Popen to the first 200 of /healthz


def run() -> list[str]:
    results: dict[str, list[LoadResult]] = {"ours": [], "bare": []}
    with harness.our_server() as ours:
        cold_ours = ours.cold_start_s
        with harness.bare_tornado() as bare:
            cold_bare = bare.cold_start_s
            targets = (("ours", ours, "/healthz"), ("bare", bare, "/"))
            for _ in range(ROUNDS):
                for side, proc, path in targets:
                    harness.load(proc.url(path), duration_s=WARMUP_S, connections=CONNECTIONS)
                    results[side].append(
                        harness.measure(proc, path, duration_s=DURATION_S, connections=CONNECTIONS)
                    )
    return report(results, cold_ours, cold_bare)


def report(results: dict[str, list[LoadResult]], cold_ours: float, cold_bare: float) -> list[str]:
    o, b = _totals(results["ours"]), _totals(results["bare"])
    tool = results["ours"][0].tool
    lines = [
        f"load: {tool}, {CONNECTIONS} connections, {ROUNDS} rounds x {DURATION_S} s per side "
        f"(alternating, {WARMUP_S} s warm-up before each)",
        f"requests/s: ours {o['rps']:.0f}, bare {b['rps']:.0f}  "
        f"(rounds: ours {_each(results['ours'], 'rps')}; bare {_each(results['bare'], 'rps')})",
        harness.ratio_line("healthz requests/s", o["rps"], b["rps"], goal=GOAL_RPS),
        f"CPU s per 1,000 requests: ours server {o['cpu_k']:.3f} (+ database child {o['child_k']:.3f} "
        f"= {o['cpu_k'] + o['child_k']:.3f}), bare {b['cpu_k']:.3f}",
        harness.ratio_line("healthz CPU s/1k req (server process)", o["cpu_k"], b["cpu_k"], goal=GOAL_CPU),
        harness.ratio_line(
            "healthz CPU s/1k req (server + database child)", o["cpu_k"] + o["child_k"], b["cpu_k"]
        ),
        f"cores busy: ours server {o['busy']:.2f} + database {o['child_busy']:.2f}, bare {b['busy']:.2f}",
        f"latency p50/p99 ms (mean of rounds): ours {harness.fmt_ms(o['p50'])}/{harness.fmt_ms(o['p99'])}, "
        f"bare {harness.fmt_ms(b['p50'])}/{harness.fmt_ms(b['p99'])}",
    ]
    if o["bad"] or b["bad"]:
        lines.append(f"non-2xx or socket errors: ours {o['bad']}, bare {b['bad']}")
    lines.append(
        harness.goal_line(
            "cold start python -m server (embedded database) to first 200 /healthz",
            cold_ours, "s", goal=GOAL_COLD_START,
        )
    )
    lines.append(f"cold start bare Tornado to first 200: {cold_bare:.2f} s")
    return lines


def _totals(runs: list[LoadResult]) -> dict[str, float]:
    requests = sum(r.requests for r in runs)
    duration = sum(r.duration_s for r in runs)
    cpu = sum(r.cpu_s for r in runs)
    child = sum(r.child_cpu_s for r in runs)
    return {
        "rps": requests / duration,
        "cpu_k": 1000 * cpu / requests if requests else float("nan"),
        "child_k": 1000 * child / requests if requests else float("nan"),
        "busy": cpu / duration,
        "child_busy": child / duration,
        "p50": sum(r.p50_ms for r in runs) / len(runs),
        "p99": sum(r.p99_ms for r in runs) / len(runs),
        "bad": sum(r.non_2xx + r.errors for r in runs),
    }


def _each(runs: list[LoadResult], attr: str) -> str:
    return ", ".join(f"{getattr(r, attr):.0f}" for r in runs)
