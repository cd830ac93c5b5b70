"""The staff import commit under crashes, lost leases and a second committer: all or nothing, always.

Each test builds the import service on :class:`tests.faults.FaultyDatabase` (same server,
same transactions) and kills the commit before its N-th write, for every N; readers are
checked through the accounts repository on the real database, at every write and after
each crash, then the recovery runs and the batch must be consistent. The control runs
use subclasses of the service in this file that drop one guard, and must see the damage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from bson import ObjectId

from server.config import Settings
from server.errors import AppError
from server.services.container import Services
from server.services.staff import imports as imports_module
from server.services.staff.imports import StaffImportService
from tests.client import ApiClient
from tests.faults import Crash, FaultPlan, FaultyDatabase
from tests.services.staff.support import IMPORTS, Batch, after_lease, import_service, prepared_batch

GOOD = 5  # with groups of 2: three insert transactions, then the reveal


@pytest.fixture(autouse=True)
def small_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    # Several insert transactions with a handful of rows (the real size is 500 accounts).
    monkeypatch.setattr(imports_module, "INSERT_CHUNK", 2)


def watcher(batch: Batch, services: Services, seen: list[int]) -> Callable[[str, str], Awaitable[None]]:
    """A ``before_write`` hook recording what a reader sees before every write of the commit."""
    async def watch(collection: str, method: str) -> None:
        seen.append(await batch.visible(services.db))
    return watch


async def crash_commit(batch: Batch, services: Services, n: int, *, seen: list[int],
                       cls: type[StaffImportService] = StaffImportService) -> FaultPlan:
    """Run the commit on a database that dies before its ``n``-th write; the plan tells what happened."""
    plan = FaultPlan(crash_before=n, before_write=watcher(batch, services, seen))
    committing = import_service(services, FaultyDatabase(services.db, plan), cls=cls)
    try:
        await committing.commit(batch.principal, batch.import_id, ip="test")
    except Crash:
        assert plan.crashed
    return plan


async def test_crash_between_every_pair_of_writes_then_recovery_leaves_all_or_nothing(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    batch = await prepared_batch(api, settings, services, good=GOOD)
    recovery = import_service(services, services.db, now=after_lease())
    finals, crashed_at = [], []
    for n in range(1, 60):
        seen: list[int] = []
        plan = await crash_commit(batch, services, n, seen=seen)
        seen.append(await batch.visible(services.db))  # and right after the crash
        assert set(seen) <= {0, GOOD}, (n, plan.writes, seen)
        await recovery.rollback_unfinished_imports()
        finals.append(await batch.assert_consistent(services.db))
        if not plan.crashed:
            break
        crashed_at.append(plan.writes[-1] if plan.writes else None)
        if finals[-1] == "committed":  # the crash came after the reveal (the audit entry)
            break
    # every write of the commit was a crash point: before the claim, inside each insert
    # transaction, inside the reveal, after it
    assert finals[0] == "dry_run" and "failed" in finals and finals[-1] == "committed"
    assert n >= 1 + 1 + 3 * 3 + 3, n  # claim, chunk expiry, 3 groups of (lease, accounts, secrets), reveal
    # the batch committed last gives each person exactly once, with the verdicts of the dry run
    assert (await batch.unit.get("/api/v1/unit/staff")).json["total"] == GOOD
    r = await batch.unit.get(f"{IMPORTS}/{batch.import_id}/result.xlsx")
    assert r.status == 200


async def test_crashed_roll_back_is_started_over(api: ApiClient, settings: Settings, services: Services) -> None:
    batch = await prepared_batch(api, settings, services, good=GOOD)
    # the commit dies inside its second insert transaction: one group of hidden accounts is in
    plan = await crash_commit(batch, services, 7, seen=[])
    assert plan.crashed and await services.db["accounts"].count_documents({"import_pending": True}) == 2
    statuses = []
    for m in range(1, 20):
        # a recovery that itself dies before its m-th write …
        dying = FaultPlan(crash_before=m)
        try:
            await import_service(services, FaultyDatabase(services.db, dying), now=after_lease()).rollback_unfinished_imports()
        except Crash:
            pass
        statuses.append((await services.db["staff_imports"].find_one({"_id": batch.batch_id}))["status"])
        assert await batch.visible(services.db) == 0
        # … is finished by the next one once its own lease lapsed
        later = import_service(services, services.db, now=after_lease(2 * imports_module.COMMIT_LEASE))
        await later.rollback_unfinished_imports()
        assert await batch.assert_consistent(services.db) == "failed"
        if not dying.crashed:
            break
        plan = await crash_commit(batch, services, 7, seen=[])  # the same wreck for the next m
        assert plan.crashed
    # killed before the take-over, then after it, after deleting the accounts, after the secrets
    assert statuses[:4] == ["committing", "rolling_back", "rolling_back", "rolling_back"]
    assert statuses[4:] and set(statuses[4:]) == {"failed"}


class RecoveringCommitsOnly(StaffImportService):
    """Control: a recovery that forgets batches whose roll-back crashed."""

    UNFINISHED = ("committing",)


async def test_control_a_crashed_roll_back_stays_stuck_without_its_recovery(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    batch = await prepared_batch(api, settings, services, good=GOOD)
    assert (await crash_commit(batch, services, 7, seen=[])).crashed
    dying = FaultPlan(crash_before=3)  # after the take-over and the deletion of the accounts
    with pytest.raises(Crash):
        await import_service(services, FaultyDatabase(services.db, dying), now=after_lease()).rollback_unfinished_imports()
    later = after_lease(2 * imports_module.COMMIT_LEASE)
    assert await import_service(services, services.db, cls=RecoveringCommitsOnly, now=later).rollback_unfinished_imports() == 0
    with pytest.raises(AssertionError):
        await batch.assert_consistent(services.db)  # rolling_back for ever: the unit can never commit again
    assert (await batch.unit.post(f"{IMPORTS}/{batch.import_id}/commit")).status == 409
    assert await import_service(services, services.db, now=later).rollback_unfinished_imports() == 1
    assert await batch.assert_consistent(services.db) == "failed"


async def test_recoveries_in_several_processes_roll_a_batch_back_once(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    batch = await prepared_batch(api, settings, services, good=GOOD)
    assert (await crash_commit(batch, services, 7, seen=[])).crashed
    handled = await asyncio.gather(*(import_service(services, services.db, now=after_lease()).rollback_unfinished_imports()
                                     for _ in range(4)))
    assert sorted(handled) == [0, 0, 0, 1]
    assert await batch.assert_consistent(services.db) == "failed"


# ---- lost leases ----------------------------------------------------------------------------


class WithoutLeaseGuard(StaffImportService):
    """Control: a commit that writes on whether or not it still holds the batch."""

    def _holder(self, batch_id: ObjectId, lease: ObjectId) -> dict[str, Any]:
        return {"_id": batch_id}


def take_over_after_first_group(batch: Batch, services: Services, events: list[str]) -> Callable[[str, str], Awaitable[None]]:
    """Before the commit's second lease renewal: its lease lapses, the recovery rolls the batch
    back, and a second commit (another process) commits the batch whole."""
    renewals = 0

    async def hook(collection: str, method: str) -> None:
        nonlocal renewals
        if (collection, method) != ("staff_imports", "update_one"):
            return
        renewals += 1
        if renewals != 2:
            return
        assert await import_service(services, services.db, now=after_lease()).rollback_unfinished_imports() == 1
        events.append("rolled back")
        second = await batch.unit.post(f"{IMPORTS}/{batch.import_id}/commit")
        assert second.status == 200 and second.json["created"] == batch.good, second.body
        events.append("second commit")
    return hook


async def run_first_commit(batch: Batch, services: Services, cls: type[StaffImportService]) -> tuple[FaultPlan, Any]:
    events: list[str] = []
    plan = FaultPlan(before_write=take_over_after_first_group(batch, services, events))
    first = import_service(services, FaultyDatabase(services.db, plan), cls=cls)
    try:
        outcome: Any = await first.commit(batch.principal, batch.import_id, ip="test")
    except AppError as exc:
        outcome = exc
    assert events == ["rolled back", "second commit"]
    return plan, outcome


async def test_a_commit_that_lost_its_lease_stops_writing(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    batch = await prepared_batch(api, settings, services, good=GOOD)
    plan, outcome = await run_first_commit(batch, services, StaffImportService)
    assert isinstance(outcome, AppError) and outcome.status == 409 and outcome.code == "import_interrupted"
    # after the take-over the first commit tried one lease renewal and wrote nothing else
    takeover = [i for i, w in enumerate(plan.writes) if w == ("staff_imports", "update_one")][1]
    assert plan.writes[takeover:] == [("staff_imports", "update_one")]
    assert await batch.assert_consistent(services.db) == "committed"  # the second commit's batch, whole


async def test_control_without_the_lease_guard_the_first_commit_ruins_the_second(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    batch = await prepared_batch(api, settings, services, good=GOOD)
    plan, outcome = await run_first_commit(batch, services, WithoutLeaseGuard)
    # it wrote on after losing the batch: its inserts hit the second commit's ID numbers, and
    # its own roll-back marked the committed batch failed and threw away the secrets
    assert ("accounts", "insert_many") in plan.writes[[i for i, w in enumerate(plan.writes)
                                                       if w == ("staff_imports", "update_one")][1]:]
    assert isinstance(outcome, AppError) and outcome.code == "import_conflict"
    with pytest.raises(AssertionError):
        await batch.assert_consistent(services.db)


class WithoutLeaseExpiry(StaffImportService):
    """Control: a commit that checks its lease id but not whether the lease is still running."""

    def _holder(self, batch_id: ObjectId, lease: ObjectId) -> dict[str, Any]:
        return {"_id": batch_id, "status": "committing", "lease_id": lease}


async def run_lapsing_commit(batch: Batch, services: Services, cls: type[StaffImportService]) -> tuple[FaultPlan, Any, int]:
    """A commit that stalls past its lease before its second group (nobody takes over yet)."""
    renewals, lapsed_at = 0, -1

    async def lapse_before_second_group(collection: str, method: str) -> None:
        nonlocal renewals, lapsed_at
        if (collection, method) == ("staff_imports", "update_one"):
            renewals += 1
            if renewals == 2:
                lapsed_at = len(plan.writes)
                await services.db["staff_imports"].update_one(
                    {"_id": batch.batch_id}, {"$set": {"lease_until": after_lease()() - 2 * imports_module.COMMIT_LEASE}})

    plan = FaultPlan(before_write=lapse_before_second_group)
    try:
        outcome: Any = await import_service(services, FaultyDatabase(services.db, plan), cls=cls).commit(
            batch.principal, batch.import_id, ip="t")
    except AppError as exc:
        outcome = exc
    return plan, outcome, lapsed_at


async def test_a_commit_whose_lease_lapsed_stops_and_is_rolled_back(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    batch = await prepared_batch(api, settings, services, good=GOOD)
    plan, outcome, lapsed_at = await run_lapsing_commit(batch, services, StaffImportService)
    assert isinstance(outcome, AppError) and outcome.code == "import_interrupted"
    assert plan.writes[lapsed_at:] == [("staff_imports", "update_one")]  # the refused renewal, nothing else
    assert await batch.visible(services.db) == 0
    assert await import_service(services, services.db).rollback_unfinished_imports() == 1
    assert await batch.assert_consistent(services.db) == "failed"
    r = await batch.unit.post(f"{IMPORTS}/{batch.import_id}/commit")
    assert r.status == 200 and r.json["created"] == GOOD
    assert await batch.assert_consistent(services.db) == "committed"


async def test_control_without_the_expiry_check_a_lapsed_commit_writes_on(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    batch = await prepared_batch(api, settings, services, good=GOOD)
    plan, outcome, lapsed_at = await run_lapsing_commit(batch, services, WithoutLeaseExpiry)
    # it went on inserting into a batch the recovery was free to roll back at any moment
    assert ("accounts", "insert_many") in plan.writes[lapsed_at:]
    assert not isinstance(outcome, AppError)


# ---- control runs of all-or-nothing ----------------------------------------------------------


class InsertedVisible(StaffImportService):
    """Control: accounts inserted visible at once, group by group (no hidden step)."""

    def _account_docs(self, batch_id: ObjectId, payload: list[dict[str, Any]],
                      unit_id: ObjectId) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        docs, secrets = super()._account_docs(batch_id, payload, unit_id)
        for doc in docs:
            del doc["import_pending"]
        return docs, secrets


class RevealedOneByOne(StaffImportService):
    """Control: the reveal as one update per account, outside the transaction."""

    def _reveal(self, batch_id: ObjectId) -> Callable[[Any], Awaitable[None]]:
        async def step(session: Any) -> None:
            async for doc in self.collection.find({"import_id": batch_id}, {"_id": 1}, include_pending=True):
                await self.collection.update_one({"_id": doc["_id"]}, {"$unset": {"import_pending": ""}},
                                                 include_pending=True)
        return step


@pytest.mark.parametrize("cls", [InsertedVisible, RevealedOneByOne])
async def test_control_readers_see_half_a_batch_without_hiding_or_one_reveal(
    api: ApiClient, settings: Settings, services: Services, cls: type[StaffImportService]
) -> None:
    batch = await prepared_batch(api, settings, services, good=GOOD)
    seen: list[int] = []
    plan = await crash_commit(batch, services, 100, seen=seen, cls=cls)
    assert not plan.crashed
    assert set(seen) - {0, GOOD}, seen  # the check of the crash test would fail


async def test_readers_never_see_part_of_a_commit_in_progress(
    api: ApiClient, settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent readers (not only between writes): counts polled while a commit runs."""
    monkeypatch.setattr(imports_module, "INSERT_CHUNK", 10)
    for cls, partial_expected in ((StaffImportService, False), (RevealedOneByOne, True)):
        batch = await prepared_batch(api, settings, services, good=40)
        seen: set[int] = set()
        done = asyncio.Event()

        async def poll(batch: Batch = batch, seen: set[int] = seen, done: asyncio.Event = done) -> None:
            while not done.is_set():
                seen.add(await batch.visible(services.db))

        poller = asyncio.create_task(poll())
        await import_service(services, services.db, cls=cls).commit(batch.principal, batch.import_id, ip="t")
        done.set()
        await poller
        seen.add(await batch.visible(services.db))
        assert bool(seen - {0, 40}) is partial_expected, (cls.__name__, sorted(seen))

