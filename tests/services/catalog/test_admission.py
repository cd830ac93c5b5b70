"""The rush's line per session (catalog/admission.py): first come first served, ``concurrency`` at a
time, and everyone still waiting let go at once when the session sells out."""

from __future__ import annotations

import asyncio

from bson import ObjectId

from server.services.catalog.admission import Admission


async def _walk_through(admission: Admission, session_id: ObjectId, name: int, log: list[str],
                        hold: asyncio.Event) -> None:
    async with admission.turn(session_id):
        log.append(f"in {name}")
        await hold.wait()
    log.append(f"out {name}")


async def test_turns_go_in_arrival_order_a_few_at_a_time() -> None:
    admission = Admission(concurrency=2)
    session_id, log, hold = ObjectId(), [], asyncio.Event()
    walkers = [asyncio.ensure_future(_walk_through(admission, session_id, n, log, hold)) for n in range(6)]
    await asyncio.sleep(0.01)
    assert log == ["in 0", "in 1"]  # two at a time, the first two
    hold.set()
    await asyncio.gather(*walkers)
    assert [e for e in log if e.startswith("in")] == [f"in {n}" for n in range(6)]
    assert session_id not in admission._lines  # an empty line is dropped


async def test_a_sold_out_session_lets_everyone_waiting_go_at_once() -> None:
    admission = Admission(concurrency=2)
    session_id, course_id, log, hold = ObjectId(), ObjectId(), [], asyncio.Event()
    walkers = [asyncio.ensure_future(_walk_through(admission, session_id, n, log, hold)) for n in range(10)]
    await asyncio.sleep(0.01)
    assert log == ["in 0", "in 1"]
    admission.mark_sold_out(session_id, course_id, generation=0)
    await asyncio.sleep(0.01)
    # The 8 waiting left the line without a turn while the two inside still hold theirs.
    assert sorted(log[2:]) == sorted([f"in {n}" for n in range(2, 10)]) and log.count("out 0") == 0
    hold.set()
    await asyncio.gather(*walkers)
    assert admission.sold_out(session_id, 0) == course_id


async def test_a_waiter_that_goes_away_passes_its_turn_on() -> None:
    admission = Admission(concurrency=1)
    session_id, log, hold = ObjectId(), [], asyncio.Event()
    first = asyncio.ensure_future(_walk_through(admission, session_id, 0, log, hold))
    gone = asyncio.ensure_future(_walk_through(admission, session_id, 1, log, hold))
    last = asyncio.ensure_future(_walk_through(admission, session_id, 2, log, hold))
    await asyncio.sleep(0.01)
    gone.cancel()
    hold.set()
    await asyncio.gather(first, last)
    assert log == ["in 0", "out 0", "in 2", "out 2"]
    assert session_id not in admission._lines
