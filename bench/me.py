"""Authenticated ``GET /api/v1/me`` against bare Tornado, and the cost of a password login.

``/me`` resolves the bearer token (from the process's token cache after the first
request; one indexed find on ``tokens`` with ``TOKEN_CACHE=false``) and reads the
account (one find, two AES-GCM decryptions), so the ratio says what
authentication costs over Tornado itself. The login median shows the argon2id
parameters at work: slow enough to cost an attacker, quick enough for a person.
"""

from __future__ import annotations

import statistics
import time

from bench import harness
from server.config import Settings

NAME = "me"
DESCRIPTION = "authenticated GET /api/v1/me vs bare Tornado (goal >= 0.5); argon2 login median (150-400 ms)"

DURATION_S = 4
CONNECTIONS = 32
GOAL_RPS = ">= 0.5"
LOGINS = 9
ID_NUMBER = "11010519491231002X"  # a public test vector
PASSWORD = "Bench#Pass-2026"


def run() -> list[str]:
    with harness.our_server() as ours, harness.bare_tornado() as bare:
        token = harness.register_trainee(ours, ID_NUMBER, "13900001111", PASSWORD)
        auth = {"Authorization": f"Bearer {token}"}
        harness.load(ours.url("/api/v1/me"), duration_s=1, connections=CONNECTIONS, headers=auth)
        mine = harness.measure(ours, "/api/v1/me", duration_s=DURATION_S, connections=CONNECTIONS, headers=auth)
        harness.load(bare.url("/"), duration_s=1, connections=CONNECTIONS)
        theirs = harness.measure(bare, "/", duration_s=DURATION_S, connections=CONNECTIONS)
        login_ms = _login_times(ours)
    defaults = Settings()
    return [
        f"GET /api/v1/me requests/s: ours {mine.rps:.0f}, bare {theirs.rps:.0f} "
        f"(non-2xx {mine.non_2xx}, p99 {harness.fmt_ms(mine.p99_ms)} ms)",
        harness.ratio_line("authenticated /me requests/s", mine.rps, theirs.rps, goal=GOAL_RPS),
        f"CPU ms per request: our server {1000 * mine.cpu_s / max(mine.requests, 1):.2f} "
        f"+ embedded database {1000 * mine.child_cpu_s / max(mine.requests, 1):.2f}, "
        f"bare {1000 * theirs.cpu_s / max(theirs.requests, 1):.2f} — the database (one find per request, the "
        "account; the token is cached), ~2,000 finds/s on SecantusDB here, is the ceiling; on MongoDB the "
        "server's own CPU is what counts (goal < 1 ms)",
        f"argon2id parameters: time_cost={defaults.argon2_time_cost}, "
        f"memory={defaults.argon2_memory_kib // 1024} MiB, parallelism=1",
        harness.goal_line("password login median", statistics.median(login_ms), "ms", goal="150-400"),
        f"password login min/max: {min(login_ms):.0f}/{max(login_ms):.0f} ms over {LOGINS} logins",
    ]


def _login_times(proc: harness.Proc) -> list[float]:
    times = []
    for _ in range(LOGINS):
        started = time.perf_counter()
        status, _ = harness.call(proc, "POST", "/api/v1/auth/login", {"account": ID_NUMBER, "password": PASSWORD})
        times.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise harness.BenchError(f"login answered {status}")
    return times
