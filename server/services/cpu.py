"""Blocking work off the event loop, in bounded pools kept apart by kind.

One shared pool let two hostile uploads fill both its threads while a password
login waited behind them. So each kind of blocking work has its own pool
(:class:`Pools`): password hashing; CPU documents (images, Excel, PDF); blocking
network calls (WeChat). Each pool has a bounded queue (:class:`BoundedExecutor`):
once ``workers + queue`` tasks are in flight, the next submission is refused at
once with 503 ``server_busy`` and ``Retry-After`` instead of waiting behind
work that may take seconds. Background work that should wait rather than fail
(bulk photo jobs) runs inside :func:`patient`; a request whose wait would be short
(a payment's proof pictures) inside ``patient(max_wait=…)``: it waits that long for
room, then gets the 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import math
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from server.errors import AppError

CpuRunner = Callable[..., Awaitable[Any]]
T = TypeVar("T")

BUSY_RETRY_SECONDS = 2  # a busy pool usually drains in a second or two
PATIENT_POLL_SECONDS = 0.05
# None: refuse at once; a number: wait that many seconds at most for room (math.inf: for ever).
_PATIENT: contextvars.ContextVar[float | None] = contextvars.ContextVar("patient_cpu", default=None)


def server_busy(pool: str, retry_after: int = BUSY_RETRY_SECONDS) -> AppError:
    """503 ``server_busy`` with ``Retry-After``: the pool for this kind of work is full."""
    return AppError(
        503, "server_busy", f"服务器繁忙，请 {retry_after} 秒后重试",
        {"retry_after": retry_after, "pool": pool}, headers={"Retry-After": str(retry_after)},
    )


class BoundedExecutor(Executor):
    """A thread pool that refuses work (503 ``server_busy``) past ``workers + queue`` tasks in flight.

    ``submit`` is what ``loop.run_in_executor`` calls, so every user of an
    :class:`~concurrent.futures.Executor` (the password hasher, the WeChat
    adapter, :func:`cpu_runner`) gets the bound without knowing of it.
    """

    def __init__(
        self, name: str, *, workers: int, queue: int, niceness: int = 0, retry_after: int = BUSY_RETRY_SECONDS
    ) -> None:
        self.name = name
        self.workers = workers
        self.capacity = workers + queue
        self.retry_after = retry_after
        self._pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=f"cpu-{name}", initializer=_lower_priority, initargs=(niceness,)
        )
        self._lock = threading.Lock()  # submissions come from the loop, completions from the workers
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Tasks running or waiting in this pool."""
        return self._in_flight

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Queue ``fn``; 503 ``server_busy`` at once when the pool and its queue are full."""
        with self._lock:
            if self._in_flight >= self.capacity:
                raise server_busy(self.name, self.retry_after)
            self._in_flight += 1
        try:
            future = self._pool.submit(fn, *args, **kwargs)
        except BaseException:
            self._done(None)
            raise
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future[Any] | None) -> None:
        with self._lock:
            self._in_flight -= 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the threads (queued work cancelled when asked)."""
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def _lower_priority(niceness: int) -> None:
    # Linux gives each thread its own nice value: a document thread at +10 gets about a tenth
    # of a core while a login's hashing thread (at 0) wants it, and all of it otherwise.
    if niceness and hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


@dataclass(frozen=True)
class Pools:
    """The process's blocking-work pools, one per kind, sized from the settings."""

    hashing: Executor  # argon2: ~240 ms and 64 MiB each
    documents: Executor  # images, Excel, PDF: CPU-bound, sometimes seconds
    network: Executor  # blocking HTTP (wechatpy): mostly waiting

    def shutdown(self) -> None:
        """Stop every pool; queued work is cancelled."""
        for pool in (self.hashing, self.documents, self.network):
            pool.shutdown(wait=True, cancel_futures=True)


def make_pools(
    *, hash_workers: int, hash_queue: int, document_workers: int, document_queue: int,
    network_workers: int, network_queue: int, document_niceness: int = 0,
) -> Pools:
    """Three bounded pools with these sizes."""
    return Pools(
        hashing=BoundedExecutor("hash", workers=hash_workers, queue=hash_queue),
        documents=BoundedExecutor("documents", workers=document_workers, queue=document_queue,
                                  niceness=document_niceness),
        network=BoundedExecutor("network", workers=network_workers, queue=network_queue),
    )


@contextlib.contextmanager
def patient(max_wait: float = math.inf) -> Iterator[None]:
    """Within this block (and the tasks it starts), :func:`cpu_runner` waits for room instead of a 503:
    for ever by default, or at most ``max_wait`` seconds per call (then the 503)."""
    token = _PATIENT.set(max_wait)
    try:
        yield
    finally:
        _PATIENT.reset(token)


def cpu_runner(executor: Executor) -> CpuRunner:
    """``await run(fn, *args, **kwargs)`` runs ``fn`` in ``executor`` and returns its result.

    A full :class:`BoundedExecutor` answers 503 ``server_busy``, or, inside
    :func:`patient`, is asked again a moment later (until its ``max_wait`` is up).
    """

    async def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        call = functools.partial(fn, *args, **kwargs)
        loop = asyncio.get_running_loop()
        max_wait = _PATIENT.get()
        give_up = None if max_wait is None else loop.time() + max_wait
        while True:
            try:
                future = loop.run_in_executor(executor, call)
            except AppError as exc:
                if exc.code != "server_busy" or give_up is None or loop.time() >= give_up:
                    raise
                await asyncio.sleep(PATIENT_POLL_SECONDS)
                continue
            return await future

    return run
