"""Running CPU work (images, Excel, PDF) off the event loop, in the process's executor."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any

CpuRunner = Callable[..., Awaitable[Any]]


def cpu_runner(executor: Executor) -> CpuRunner:
    """``await run(fn, *args, **kwargs)`` runs ``fn`` in ``executor`` and returns its result."""

    async def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(executor, functools.partial(fn, *args, **kwargs))

    return run
