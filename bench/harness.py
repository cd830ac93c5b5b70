"""Shared helpers of the benchmarks: processes under test, load, CPU, result lines.

- :func:`our_server` / :func:`bare_tornado`: context managers starting ``python -m
  server`` (embedded database, fresh ``DATA_DIR``) or the bare Tornado app as a
  subprocess, waiting for the first 200 (``cold_start_s``), and stopping it with
  SIGTERM at the end (it must exit 0; it is killed if it does not stop).
- :func:`load`: ``wrk`` when on PATH, else a raw-asyncio HTTP/1.1 keep-alive client.
- :func:`cpu_seconds` / :func:`descendants`: CPU time from ``/proc/<pid>/stat``.
- :func:`ratio_line`, :func:`fmt_ms`: the lines benchmarks print.

Traffic goes to 127.0.0.1 only; every run is bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """A process under test misbehaved (did not start, did not stop cleanly, ...)."""


# ---- processes under test ------------------------------------------------------------


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def http_status(url_path: str, port: int, host: str = HOST, timeout: float = 1.0) -> int | None:
    """Status of one ``GET`` (None when the connection fails)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", url_path)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


@dataclass
class Proc:
    """A running process under test."""

    name: str
    popen: subprocess.Popen[bytes]
    port: int
    health_path: str
    log_path: Path
    workdir: Path
    cold_start_s: float = 0.0
    exit_code: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def url(self, path: str = "/") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def cpu(self) -> float:
        """CPU seconds of this process (all its threads)."""
        return cpu_seconds(self.pid)

    def children_cpu(self) -> float:
        """CPU seconds of its live descendants (our server: the embedded database)."""
        return sum(cpu_seconds(pid) for pid in descendants(self.pid))


@contextlib.contextmanager
def run_process(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    health_path: str,
    env: Mapping[str, str],
    workdir: Path,
    start_timeout: float = 60.0,
    stop_timeout: float = 30.0,
) -> Iterator[Proc]:
    """Start ``argv``, wait for ``GET health_path`` == 200, yield, then SIGTERM and reap.

    Output goes to ``workdir/<name>.log`` (drained by the kernel, never a full pipe).
    Raises :class:`BenchError` when it does not start, or does not exit 0 when stopped.
    """
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as log_file:  # the child keeps its own descriptor
        started = time.perf_counter()
        popen = subprocess.Popen(
            list(argv), cwd=server_tree() if name == "ours" else ROOT, env=dict(env), stdout=log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    proc = Proc(name, popen, port, health_path, log_path, workdir)
    try:
        deadline = started + start_timeout
        while True:
            if popen.poll() is not None:
                raise BenchError(
                    f"{name} exited with code {popen.returncode} before answering:\n{proc.log_tail()}"
                )
            if http_status(health_path, port, timeout=1.0) == 200:
                proc.cold_start_s = time.perf_counter() - started
                break
            if time.perf_counter() > deadline:
                raise BenchError(f"{name} did not answer 200 within {start_timeout:.0f} s:\n{proc.log_tail()}")
            time.sleep(0.02)
        yield proc
    finally:
        proc.exit_code = _stop(popen, stop_timeout)
    if proc.exit_code != 0:
        raise BenchError(f"{name} exited with code {proc.exit_code} after SIGTERM:\n{proc.log_tail()}")


def _profiler() -> list[str]:
    """``BENCH_PYSPY=/path/profile.txt``: run our server under ``py-spy record`` (raw folded stacks,
    ``--idle`` so waiting shows too). py-spy cannot attach to a running process in this container,
    so it starts the server; the CPU figures of such a run then count py-spy, not the server."""
    out = os.environ.get("BENCH_PYSPY")
    if not out:
        return []
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return [spy, "record", "--format", "raw", "--rate", "250", "--idle", "-o", out, "--"]


def _stop(popen: subprocess.Popen[bytes], timeout: float) -> int:
    if popen.poll() is None and os.environ.get("BENCH_PYSPY"):
        for pid in descendants(popen.pid)[:1]:  # the server under py-spy: py-spy writes when it ends
            os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout)
    if popen.poll() is None:
        popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()
    return popen.returncode


def server_tree() -> Path:
    """Where ``python -m server`` runs from: this checkout, or ``BENCH_SERVER_TREE`` (another
    checkout, e.g. an export of the commit before a change, for a before/after in one run)."""
    return Path(os.environ.get("BENCH_SERVER_TREE") or ROOT)


def db_commands(proc: Proc, metrics_token: str) -> dict[tuple[str, str], int]:
    """``db_commands_total`` of the server now, by (command, collection); {} when not exported."""
    conn = http.client.HTTPConnection(HOST, proc.port, timeout=30)
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    found: dict[tuple[str, str], int] = {}
    for match in re.finditer(r'^db_commands_total\{collection="([^"]*)",command="([^"]*)"\} ([0-9.e+]+)$', text, re.M):
        found[(match[2], match[1])] = int(float(match[3]))
    return found


def command_delta(before: Mapping[tuple[str, str], int], after: Mapping[tuple[str, str], int]) -> dict[str, int]:
    """The commands sent between two :func:`db_commands` readings, as ``{"find tokens": 1, ...}``."""
    delta = {f"{cmd} {coll}".strip(): n - before.get((cmd, coll), 0) for (cmd, coll), n in after.items()}
    return {k: n for k, n in sorted(delta.items()) if n > 0}


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


@contextlib.contextmanager
def our_server(extra_env: Mapping[str, str] | None = None, start_timeout: float = 60.0) -> Iterator[Proc]:
    """``python -m server`` with the embedded database in a fresh temporary ``DATA_DIR``.

    Deployed defaults otherwise (``LOG_LEVEL`` INFO unless the caller's environment or
    ``extra_env`` says otherwise: one access-log line per request, to a file).
    """
    with tempfile.TemporaryDirectory(prefix="bench-ours-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        env = _base_env()
        env.pop("MONGODB_URL", None)
        env.update({"DATA_DIR": str(workdir / "var"), "APP_ENV": "dev"})
        env.update(extra_env or {})
        with run_process(
            "ours", [*_profiler(), sys.executable, "-m", "server", "--port", str(port)],
            port=port, health_path="/healthz", env=env, workdir=workdir,
            start_timeout=start_timeout,
        ) as proc:
            yield proc


@contextlib.contextmanager
def bare_tornado(start_timeout: float = 30.0) -> Iterator[Proc]:
    """``bench/bare_tornado.py``: ``GET /`` answers ``{"status": "ok"}``."""
    with tempfile.TemporaryDirectory(prefix="bench-bare-") as tmp:
        port = free_port()
        with run_process(
            "bare", [sys.executable, str(BENCH_DIR / "bare_tornado.py"), "--port", str(port)],
            port=port, health_path="/", env=_base_env(), workdir=Path(tmp),
            start_timeout=start_timeout,
        ) as proc:
            yield proc


# ---- CPU -------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may hold spaces and parentheses: split after the last ")"
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (every thread), in seconds; 0 when it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # after ")": state(3) ppid(4) ... utime(14) stime(15) -> indexes 11 and 12 here
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def descendants(pid: int) -> list[int]:
    """Live descendants of ``pid`` (children, grandchildren, ...)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


# ---- load --------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """One load run against one URL."""

    tool: str
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int = 0
    errors: int = 0
    cpu_s: float = 0.0  # CPU seconds of the measured process during the run (filled by measure())
    child_cpu_s: float = 0.0  # ... of its descendants
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def load(
    url: str,
    *,
    duration_s: int = 5,
    connections: int = 32,
    headers: Mapping[str, str] | None = None,
    tool: str | None = None,
) -> LoadResult:
    """GET ``url`` for ``duration_s`` seconds over ``connections`` keep-alive connections.

    ``tool``: "wrk" or "asyncio"; default wrk when on PATH (env BENCH_LOAD overrides).
    """
    _check_local(url)
    tool = tool or os.environ.get("BENCH_LOAD") or ("wrk" if have_wrk() else "asyncio")
    if tool == "wrk":
        return wrk(url, duration_s=duration_s, connections=connections, headers=headers)
    if tool == "asyncio":
        return asyncio.run(
            asyncio_load(url, duration_s=duration_s, connections=connections, headers=headers)
        )
    raise ValueError(f"unknown load tool {tool!r}")


def measure(proc: Proc, url_path: str, **kwargs: object) -> LoadResult:
    """:func:`load` on ``proc``'s ``url_path``, with its CPU seconds during the run."""
    cpu0, child0 = proc.cpu(), proc.children_cpu()
    result = load(proc.url(url_path), **kwargs)  # type: ignore[arg-type]
    result.cpu_s = proc.cpu() - cpu0
    result.child_cpu_s = proc.children_cpu() - child0
    return result


def _check_local(url: str) -> None:
    host = re.match(r"^https?://([^/:]+|\[[^\]]+\])", url)
    if not host or host.group(1) not in ("127.0.0.1", "localhost", "[::1]"):
        raise ValueError(f"benchmarks only send traffic to the loopback address, not {url}")


_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def wrk(
    url: str, *, duration_s: int, connections: int, headers: Mapping[str, str] | None = None
) -> LoadResult:
    """Run ``wrk -t1 -cN -dDs --latency`` and parse its report."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{int(duration_s)}s", "--latency"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(url)
    out = subprocess.run(
        argv, capture_output=True, text=True, timeout=duration_s + 30, check=True
    ).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> LoadResult:
    """The numbers of a ``wrk --latency`` report."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if not total:
        raise BenchError(f"cannot parse wrk output:\n{out}")
    duration_s = float(total.group(2)) * _WRK_UNITS[total.group(3)] / 1e3
    pcts = {
        int(p): float(v) * _WRK_UNITS[u]
        for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.M)
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return LoadResult(
        tool="wrk",
        requests=int(total.group(1)),
        duration_s=duration_s,
        p50_ms=pcts.get(50, float("nan")),
        p90_ms=pcts.get(90, float("nan")),
        p99_ms=pcts.get(99, float("nan")),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=sum(int(x) for x in sock.groups()) if sock else 0,
    )


async def asyncio_load(
    url: str, *, duration_s: float, connections: int, headers: Mapping[str, str] | None = None
) -> LoadResult:
    """A small wrk: raw asyncio streams, HTTP/1.1 keep-alive (``https://`` too), a latency per request."""
    m = re.match(r"^(https?)://([^/:]+|\[[^\]]+\])(?::(\d+))?(/.*)?$", url)
    if not m:
        raise ValueError(url)
    host, path = m.group(2).strip("[]"), m.group(4) or "/"
    port = int(m.group(3) or (443 if m.group(1) == "https" else 80))
    # https (nginx in front, bench/deploy.py): TLS on loopback to a throw-away certificate, not verified.
    tls = ssl._create_unverified_context() if m.group(1) == "https" else None
    head = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    request = ("\r\n".join(head) + "\r\n\r\n").encode()
    latencies: list[float] = []
    counts = {"non_2xx": 0, "errors": 0}
    start = time.perf_counter()
    deadline = start + duration_s

    async def worker() -> None:
        reader = writer = None
        while time.perf_counter() < deadline:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port, ssl=tls)
                assert reader is not None
                t0 = time.perf_counter()
                writer.write(request)
                status, keep = await _read_response(reader)
                latencies.append(time.perf_counter() - t0)
                if not 200 <= status < 400:
                    counts["non_2xx"] += 1
                if not keep:
                    writer.close()
                    writer = None
            except (OSError, asyncio.IncompleteReadError, ValueError):
                counts["errors"] += 1
                if writer is not None:
                    writer.close()
                writer = None
                await asyncio.sleep(0.01)
        if writer is not None:
            writer.close()

    tasks = [asyncio.create_task(worker()) for _ in range(connections)]
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), duration_s + 10)
    except TimeoutError:
        counts["errors"] += 1
    elapsed = time.perf_counter() - start
    latencies.sort()
    return LoadResult(
        tool="asyncio",
        requests=len(latencies),
        duration_s=elapsed,
        p50_ms=1e3 * percentile(latencies, 50),
        p90_ms=1e3 * percentile(latencies, 90),
        p99_ms=1e3 * percentile(latencies, 99),
        non_2xx=counts["non_2xx"],
        errors=counts["errors"],
    )


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; (status, connection stays open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    hdrs = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    if "content-length" in hdrs:
        await reader.readexactly(int(hdrs["content-length"]))
    elif hdrs.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif status not in (204, 304):
        raise ValueError("response without length")
    return status, hdrs.get("connection", "").lower() != "close"


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (nan when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


# ---- result lines --------------------------------------------------------------------------


def ratio(ours: float, bare: float) -> float:
    return ours / bare if bare else float("nan")


def ratio_line(label: str, ours: float, bare: float, *, goal: str | None = None) -> str:
    """``healthz requests/s ours/bare: 0.83 (goal >= 0.7) ok``; goal like ">= 0.7" or "<= 1.5"."""
    value = ratio(ours, bare)
    line = f"{label} ours/bare: {value:.2f}"
    if goal:
        line += f" (goal {goal}) {'ok' if meets(value, goal) else 'MISSED'}"
    return line


def goal_line(label: str, value: float, unit: str, *, goal: str) -> str:
    """``cold start: 2.10 s (goal < 3) ok``."""
    return f"{label}: {value:.2f} {unit} (goal {goal}) {'ok' if meets(value, goal) else 'MISSED'}"


def meets(value: float, goal: str) -> bool:
    """Whether ``value`` meets ``goal``: ">= 0.7", "< 3" or a range "150-400"."""
    if " " not in goal and "-" in goal:
        low, high = (float(part) for part in goal.split("-"))
        return low <= value <= high
    op, _, number = goal.partition(" ")
    limit = float(number)
    return {
        ">=": value >= limit, ">": value > limit, "<=": value <= limit, "<": value < limit
    }[op]


def fmt_ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


# ---- API calls on a server under test ----------------------------------------------------


def call(proc: Proc, method: str, path: str, body: object = None, token: str | None = None) -> tuple[int, object]:
    """One JSON request to ``proc``; returns (status, parsed body or None)."""
    conn = http.client.HTTPConnection(HOST, proc.port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, (json.loads(raw) if raw.startswith((b"{", b"[")) else None)
    finally:
        conn.close()


def timed_upload(proc: Proc, method: str, path: str, token: str, body: bytes, content_type: str) -> tuple[int, float]:
    """One upload to ``proc`` on its own connection; returns (status, milliseconds to the whole answer)."""
    conn = http.client.HTTPConnection(HOST, proc.port, timeout=60)
    try:
        started = time.perf_counter()
        conn.request(method, path, body=body, headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
        return response.status, (time.perf_counter() - started) * 1000
    finally:
        conn.close()


def register_trainee(proc: Proc, id_number: str, phone: str, password: str = "Bench#Pass-2026") -> str:
    """Register a trainee through the API (SMS code read from the server's outbox); its token."""
    return _register(proc, "trainee", phone, {
        "name": "压测学员", "id_number": id_number, "phone": phone, "email": "bench@example.com", "password": password,
    })


def register_unit(proc: Proc, uscc: str, phone: str, password: str = "Bench#Pass-2026") -> str:
    """Register a unit through the API (SMS code read from the server's outbox); its token."""
    return _register(proc, "unit", phone, {
        "name": "压测单位", "uscc": uscc, "contact_name": "压测", "phone": phone, "password": password,
    })


def _register(proc: Proc, kind: str, phone: str, body: dict[str, str]) -> str:
    status, _ = call(proc, "POST", "/api/v1/auth/sms-codes", {"phone": phone, "purpose": "register"})
    if status != 201:
        raise BenchError(f"sms code: {status}")
    outbox = proc.workdir / "var" / "sms-outbox.jsonl"
    code = [json.loads(line) for line in outbox.read_text().splitlines() if phone in line][-1]["code"]
    status, answer = call(proc, "POST", f"/api/v1/auth/register/{kind}", {**body, "sms_code": code})
    if status != 201 or not isinstance(answer, dict):
        raise BenchError(f"register {kind}: {status} {answer}")
    return str(answer["token"])
