"""Services hold the business rules. They never import Tornado.

:func:`build_services` wires every service once at start-up from the settings,
the database and the executor for CPU work; handlers reach them through
``ApiHandler.services``; tests build their own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account, its role, and the token that proved it."""

    account_id: ObjectId
    role: str
    token_id: ObjectId | None = None


@dataclass
class Services:
    """Every service of the process, built once and passed down."""

    settings: Settings
    db: AsyncDatabase[dict[str, Any]]
    executor: Executor
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def authenticate(self, token: str) -> Principal | None:
        """The principal behind a bearer token, or None (accounts are wired in by their issue)."""
        return None

    async def run_cpu(self, fn: Callable[..., T], *args: Any) -> T:
        """Run CPU work (images, PDF, Excel, hashing) off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def start_periodic(self, name: str, seconds: float, job: Callable[[], Awaitable[Any]]) -> None:
        """Run ``job`` every ``seconds`` until :meth:`close` (jobs must be safe in many processes)."""
        self._tasks.append(asyncio.create_task(_every(name, seconds, job), name=name))

    async def close(self) -> None:
        """Stop background tasks and the executor."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self.executor.shutdown(wait=True, cancel_futures=True)


async def _every(name: str, seconds: float, job: Callable[[], Awaitable[Any]]) -> None:
    # A periodic job logs its failure and lives on: one bad run must not stop it.
    while True:
        try:
            await job()
        except Exception:
            log.exception("periodic job %s failed", name)
        await asyncio.sleep(seconds)


def build_services(
    settings: Settings, db: AsyncDatabase[dict[str, Any]], executor: Executor | None = None
) -> Services:
    """Wire every service from the settings and the database."""
    executor = executor or ThreadPoolExecutor(
        max_workers=settings.executor_workers, thread_name_prefix="cpu"
    )
    return Services(settings=settings, db=db, executor=executor)
