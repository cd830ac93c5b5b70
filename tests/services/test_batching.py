"""Group commit (services/batching.py): the calls of one moment share one command, and each caller
still gets its own answer — its own document, its own duplicate-key refusal, the batch's failure.

The database tests count the commands a real client sends (PyMongo's command listener): without
the batcher each call would be a command of its own, and the counts below fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server.db import make_client
from server.metrics import CommandCounter
from server.services.batching import Batcher, insert_batcher, matches_batcher, one_each


class Recorder:
    """A batch function that records the batches it was given; ``gate`` holds a batch in flight."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate: asyncio.Event | None = None

    async def __call__(self, items: list[int]) -> list[int | BaseException]:
        self.batches.append(list(items))
        if self.gate is not None:
            await self.gate.wait()
        return [ValueError(f"no {i}") if i < 0 else i * 10 for i in items]


async def test_the_calls_of_one_moment_are_one_batch_in_order() -> None:
    run = Recorder()
    batcher = Batcher(run, name="test")
    assert await asyncio.gather(*(batcher(i) for i in range(1, 21))) == [i * 10 for i in range(1, 21)]
    assert run.batches == [list(range(1, 21))]


async def test_alone_a_call_is_not_kept_waiting() -> None:
    run = Recorder()
    batcher = Batcher(run, name="test")
    assert [await batcher(i) for i in (1, 2, 3)] == [10, 20, 30]
    assert run.batches == [[1], [2], [3]]


async def test_an_error_of_one_item_reaches_only_its_caller() -> None:
    batcher = Batcher(Recorder(), name="test")
    answers = await asyncio.gather(batcher(1), batcher(-2), batcher(3), return_exceptions=True)
    assert answers[0] == 10 and answers[2] == 30
    assert isinstance(answers[1], ValueError) and str(answers[1]) == "no -2"


async def test_a_failing_batch_fails_every_caller_and_the_next_batch_runs() -> None:
    calls = 0

    async def broken(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database down")
        return items

    batcher = Batcher(broken, name="test")
    answers = await asyncio.gather(batcher(1), batcher(2), return_exceptions=True)
    assert all(isinstance(a, ConnectionError) for a in answers)
    assert await batcher(3) == 3  # not stuck "busy"


async def test_one_batch_in_flight_the_calls_meanwhile_go_together_next() -> None:
    run = Recorder()
    run.gate = asyncio.Event()
    batcher = Batcher(run, name="test")
    first = asyncio.ensure_future(batcher(1))
    await asyncio.sleep(0.01)  # the first batch is in flight, held at the gate
    later = [asyncio.ensure_future(batcher(i)) for i in range(2, 12)]
    await asyncio.sleep(0.01)
    assert run.batches == [[1]]  # nobody sent while one is in flight
    run.gate.set()
    assert await first == 10 and await asyncio.gather(*later) == [i * 10 for i in range(2, 12)]
    assert run.batches == [[1], list(range(2, 12))]


async def test_a_caller_that_goes_away_does_not_stop_the_others() -> None:
    run = Recorder()
    batcher = Batcher(run, name="test")
    gone = asyncio.ensure_future(batcher(1))
    stays = asyncio.ensure_future(batcher(2))
    gone.cancel()
    assert await stays == 20
    assert run.batches == [[2]]
    assert await batcher(3) == 30


async def test_max_batch_splits_a_crowd() -> None:
    run = Recorder()
    batcher = Batcher(run, name="test", max_batch=4)
    assert await asyncio.gather(*(batcher(i) for i in range(10))) == [i * 10 for i in range(10)]
    assert [len(b) for b in run.batches] == [4, 4, 2]


def test_one_each_gives_a_key_asked_twice_its_own_copy() -> None:
    doc = {"_id": 1, "trainee": {"photo": "x"}}
    first, second, missing = one_each([1, 1, 2], {1: doc})
    assert first == second == doc and missing is None
    assert first is doc and second is not doc and second["trainee"] is not doc["trainee"]


@pytest.fixture
async def counted_db(mongo_url: str, db: AsyncDatabase[dict[str, Any]]
                     ) -> AsyncIterator[tuple[AsyncDatabase[dict[str, Any]], CommandCounter]]:
    """The test database on a client whose commands are counted."""
    counter = CommandCounter()
    client = make_client(mongo_url, event_listeners=[counter])
    try:
        yield client[db.name], counter
    finally:
        await client.close()


async def test_inserts_of_one_moment_are_one_command_and_a_duplicate_is_refused_alone(
    counted_db: tuple[AsyncDatabase[dict[str, Any]], CommandCounter],
) -> None:
    db, counter = counted_db
    await db["pairs"].create_index([("who", 1)], unique=True)
    await db["pairs"].insert_one({"who": "taken"})
    insert = insert_batcher(db["pairs"], name="test")
    before = counter.counts[("insert", "pairs")]
    answers = await asyncio.gather(*(insert({"who": who}) for who in ("a", "taken", "b", "a", "c")),
                                   return_exceptions=True)
    assert counter.counts[("insert", "pairs")] - before == 1
    assert [type(a).__name__ for a in answers] == ["NoneType", "DuplicateKeyError", "NoneType",
                                                   "DuplicateKeyError", "NoneType"]
    assert isinstance(answers[1], DuplicateKeyError) and answers[1].code == 11000
    assert sorted(d["who"] for d in await db["pairs"].find().to_list()) == ["a", "b", "c", "taken"]


async def test_matches_of_one_moment_are_one_query_per_group_and_each_caller_gets_its_own(
    counted_db: tuple[AsyncDatabase[dict[str, Any]], CommandCounter],
) -> None:
    db, counter = counted_db
    people, courses = [ObjectId() for _ in range(4)], [ObjectId(), ObjectId()]
    await db["rows"].insert_many([
        {"trainee_id": people[0], "course_id": courses[0], "active": True},
        {"trainee_id": people[1], "course_id": courses[0], "active": False},  # filtered out by `where`
        {"trainee_id": people[2], "course_id": courses[1], "active": True},
        {"trainee_id": people[3], "course_id": courses[0], "active": True},  # asked about the other course
    ])
    find = matches_batcher(db["rows"], by="trainee_id", within="course_id", where={"active": True},
                           projection={"_id": 1}, name="test")
    before = counter.counts[("find", "rows")]
    asked = [(people[0], courses[0]), (people[1], courses[0]), (people[2], courses[1]), (people[3], courses[1]),
             (people[0], courses[0])]
    answers = await asyncio.gather(*(find(pair) for pair in asked))
    assert counter.counts[("find", "rows")] - before == 2  # one per course asked about
    assert [len(a) for a in answers] == [1, 0, 1, 0, 1]
    assert answers[0] == answers[4] and answers[0] is not answers[4]  # its own copy


def test_a_batch_left_in_flight_on_another_loop_does_not_hold_up_this_one() -> None:
    """A batch still in flight on an event loop that is no longer run (a CLI command's earlier
    ``asyncio.run``, a test) must not leave the batcher waiting for it on the next loop."""
    calls: list[list[int]] = []

    async def first_slow(items: list[int]) -> list[int]:
        calls.append(items)
        if len(calls) == 1:
            await asyncio.sleep(3600)
        return items

    batcher = Batcher(first_slow, name="test")
    earlier = asyncio.new_event_loop()
    try:
        stuck = earlier.create_task(batcher(1))
        for _ in range(3):
            earlier.run_until_complete(asyncio.sleep(0))  # the batch of 1 is in flight there
        assert asyncio.run(batcher(2)) == 2  # a new loop: not held up behind it
        assert calls == [[1], [2]]
        stuck.cancel()
        earlier.run_until_complete(asyncio.gather(stuck, return_exceptions=True))
    finally:
        earlier.close()
