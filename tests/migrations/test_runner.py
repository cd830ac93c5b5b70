"""The migration runner: each step once across concurrent runners (the lease), failures stop and retry."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from server import db as db_module
from server.config import generate_secrets
from server.db import INDEXES, CollectionIndexes
from server.migrations.runner import MigrationError, MigrationRunner, Step
from server.migrations.steps import STEPS, indexes_fingerprint, run_migrations
from server.services.pii import FieldCipher
from tests.faults import FaultPlan, FaultyDatabase


@pytest.fixture
def cipher() -> FieldCipher:
    """The personal data cipher with fresh keys (the PII step needs it)."""
    secrets = generate_secrets()
    return FieldCipher.from_spec(secrets["data_keys"], secrets["index_key"])


def _counting_step(step_id: str, seconds: float = 0.3) -> Step:
    """A step that counts its runs in the database and takes a while (so two runners overlap)."""
    async def run(db: AsyncDatabase[dict[str, Any]], context: Any) -> dict[str, int]:
        await db["step_runs"].update_one({"_id": step_id}, {"$inc": {"n": 1}}, upsert=True)
        await asyncio.sleep(seconds)
        return {"ok": 1}
    return Step(step_id, f"count {step_id}", run)


async def _runs(db: AsyncDatabase[dict[str, Any]]) -> dict[str, int]:
    return {doc["_id"]: doc["n"] async for doc in db["step_runs"].find()}


async def test_two_runners_at_once_run_each_step_once(db: AsyncDatabase[dict[str, Any]]) -> None:
    steps = (_counting_step("a"), _counting_step("b"))
    first, second = (MigrationRunner(db, steps, poll_seconds=0.05) for _ in range(2))
    outcomes = await asyncio.gather(first.run(), second.run())
    assert await _runs(db) == {"a": 1, "b": 1}
    # One ran both steps; the other waited for the lease, then found them done.
    assert sorted((o.ran, o.already_done) for o in outcomes) == [([], ["a", "b"]), (["a", "b"], [])]
    assert await db["migrations"].find_one({"_id": "lock"}) is None, "the lease is released"


def _without_lease_guard(collection: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Control: the lease's filter without its guard — anyone 'takes' a held lease."""
    if collection.endswith("migrations") and method == "find_one_and_update" and args[0].get("_id") == "lock":
        return ({"_id": "lock"}, *args[1:]), kwargs
    return args, kwargs


async def test_control_without_the_lease_runs_each_step_twice(db: AsyncDatabase[dict[str, Any]]) -> None:
    faulty = FaultyDatabase(db, FaultPlan(rewrite=_without_lease_guard))
    steps = (_counting_step("a"), _counting_step("b"))
    await asyncio.gather(*(MigrationRunner(faulty, steps, poll_seconds=0.05).run() for _ in range(2)))
    assert await _runs(db) == {"a": 2, "b": 2}


async def test_a_lapsed_lease_is_taken_over(db: AsyncDatabase[dict[str, Any]]) -> None:
    """A runner killed mid-step leaves its lease: after it lapses, the next start runs the steps."""
    stuck = MigrationRunner(db, (), lease_seconds=0.3)
    assert await stuck._try_lease()
    other = MigrationRunner(db, (_counting_step("a", 0),), poll_seconds=0.05)
    assert not await other._try_lease()
    outcome = await asyncio.wait_for(other.run(), 5)
    assert outcome.ran == ["a"]


async def test_a_failing_step_stops_with_a_clear_message_and_is_retried(db: AsyncDatabase[dict[str, Any]]) -> None:
    broken = {"yes": True}

    async def fragile(db: AsyncDatabase[dict[str, Any]], context: Any) -> None:
        if broken["yes"]:
            raise ValueError("disk full")
        await db["step_runs"].insert_one({"_id": "fragile", "n": 1})

    steps = (_counting_step("a", 0), Step("b-fragile", "a fragile step", fragile), _counting_step("c", 0))
    with pytest.raises(MigrationError, match=r"b-fragile \(a fragile step\) failed: ValueError: disk full"):
        await MigrationRunner(db, steps).run()
    assert await _runs(db) == {"a": 1}, "the steps after the failed one did not run"
    status = {row["id"]: row for row in await MigrationRunner(db, steps).status()}
    assert status["b-fragile"]["last_error"] == "ValueError: disk full" and not status["b-fragile"]["done"]

    broken["yes"] = False  # the operator fixed the cause; the next start
    outcome = await MigrationRunner(db, steps).run()
    assert (outcome.ran, outcome.already_done) == (["b-fragile", "c"], ["a"])
    assert await _runs(db) == {"a": 1, "fragile": 1, "c": 1}
    assert all(row["done"] and not row["last_error"] for row in await MigrationRunner(db, steps).status())


async def test_index_step_is_versioned_by_the_indexes_of_server_db(
    db: AsyncDatabase[dict[str, Any]], cipher: FieldCipher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """INDEXES is read when the step runs: an index added to server/db.py is built at the next start."""
    outcome = await run_migrations(db, cipher)
    assert outcome.ran[0] == "0001-indexes"
    record = await db["migrations"].find_one({"_id": "step:0001-indexes"})
    assert record is not None and record["version"] == indexes_fingerprint()
    assert (await run_migrations(db, cipher)).already_done == [s.id for s in STEPS]

    added = CollectionIndexes("brand_new", (IndexModel([("x", ASCENDING)], name="x_added"),))
    monkeypatch.setattr(db_module, "INDEXES", (*INDEXES, added))  # what a merge into server/db.py does
    outcome = await run_migrations(db, cipher)
    assert outcome.ran == ["0001-indexes"]
    assert "x_added" in await db["brand_new"].index_information()


async def test_the_pii_step_runs_until_nothing_is_left_in_clear(
    db: AsyncDatabase[dict[str, Any]], cipher: FieldCipher
) -> None:
    await db["invoice_templates"].insert_one({"owner_id": 1, "email": "13900000000@139.com"})
    first = await run_migrations(db, cipher)
    assert "0002-pii-sealed" in first.ran
    record = await db["migrations"].find_one({"_id": "step:0002-pii-sealed"})
    assert record["done_at"] is None and record["result"] == {"invoice_templates": 1}  # changed: run again
    second = await run_migrations(db, cipher)
    assert second.ran == ["0002-pii-sealed"]
    third = await run_migrations(db, cipher)
    assert third.ran == [] and (await db["invoice_templates"].find_one())["email"] != "13900000000@139.com"
