"""The bounded pools: refuse past workers + queue, free a place when a task ends, wait when patient."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

from server.errors import AppError
from server.services.cpu import BoundedExecutor, cpu_runner, make_pools, patient


@pytest.fixture
def pool():  # type: ignore[no-untyped-def]
    executor = BoundedExecutor("test", workers=1, queue=1)
    yield executor
    executor.shutdown(wait=True, cancel_futures=True)


async def test_refuses_past_workers_plus_queue_with_retry_after(pool: BoundedExecutor) -> None:
    gate = threading.Event()
    run = cpu_runner(pool)
    held = [asyncio.ensure_future(run(gate.wait, 5)) for _ in range(2)]  # one running, one queued
    await asyncio.sleep(0)
    with pytest.raises(AppError) as busy:
        await run(time.sleep, 0)
    assert (busy.value.status, busy.value.code) == (503, "server_busy")
    assert busy.value.headers == {"Retry-After": "2"} and busy.value.details["pool"] == "test"
    assert "繁忙" in busy.value.message
    gate.set()
    assert await asyncio.gather(*held) == [True, True]
    assert pool.in_flight == 0
    assert await run(sum, [1, 2]) == 3  # room again


async def test_a_failing_task_gives_its_place_back(pool: BoundedExecutor) -> None:
    run = cpu_runner(pool)
    for _ in range(5):
        with pytest.raises(ZeroDivisionError):
            await run(lambda: 1 / 0)
    assert pool.in_flight == 0


async def test_patient_work_waits_for_room_instead_of_503(pool: BoundedExecutor) -> None:
    gate = threading.Event()
    run = cpu_runner(pool)
    held = [asyncio.ensure_future(run(gate.wait, 5)) for _ in range(2)]
    await asyncio.sleep(0)

    async def later() -> None:
        await asyncio.sleep(0.3)
        gate.set()

    opener = asyncio.ensure_future(later())
    with patient():
        assert await asyncio.ensure_future(run(sum, [2, 3])) == 5  # a task started inside inherits it
    await asyncio.gather(*held, opener)


@pytest.mark.parametrize("frees_after", [0.2, None], ids=["room_within_the_wait", "still_full"])
async def test_a_bounded_wait_gets_the_room_that_frees_in_time_else_503(pool: BoundedExecutor,
                                                                       frees_after: float | None) -> None:
    gate = threading.Event()
    run = cpu_runner(pool)
    held = [asyncio.ensure_future(run(gate.wait, 5)) for _ in range(2)]
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    if frees_after is not None:
        loop.call_later(frees_after, gate.set)
    started = loop.time()
    with patient(max_wait=0.6):
        if frees_after is not None:
            assert await run(sum, [2, 3]) == 5
            assert loop.time() - started < 0.6
        else:
            with pytest.raises(AppError) as busy:
                await run(sum, [2, 3])
            assert busy.value.code == "server_busy" and loop.time() - started >= 0.6
    gate.set()
    await asyncio.gather(*held)


def test_plain_run_in_executor_is_bounded_too(pool: BoundedExecutor) -> None:
    """The hasher and the WeChat adapter call loop.run_in_executor: submit itself refuses."""
    gate = threading.Event()
    futures = [pool.submit(gate.wait, 5) for _ in range(2)]
    with pytest.raises(AppError):
        pool.submit(time.sleep, 0)
    gate.set()
    assert [f.result() for f in futures] == [True, True]


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread nice values are Linux's")
def test_document_threads_run_at_a_lower_priority() -> None:
    """Niceness +10: a login's hashing thread gets the core first (bench/login_under_load.py measures it)."""

    def own_nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    base = own_nice()
    pools = make_pools(hash_workers=1, hash_queue=0, document_workers=1, document_queue=0,
                       network_workers=1, network_queue=0, document_niceness=10)
    try:
        assert pools.documents.submit(own_nice).result() == min(19, base + 10)
        assert pools.hashing.submit(own_nice).result() == base  # control: the other pools keep theirs
        assert pools.network.submit(own_nice).result() == base
    finally:
        pools.shutdown()
