"""Building the staff import service on another database (a faulty one) for crash and race tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services import Principal
from server.services.accounts.repository import AccountRepository
from server.services.audit import AuditLog
from server.services.container import Services
from server.services.staff.imports import COMMIT_LEASE, StaffImportService
from tests.client import ApiClient
from tests.faults import Crash, FaultPlan, FaultyDatabase
from tests.staff_helpers import XLSX, sheet_bytes, staff_row, unit_client

IMPORTS = "/api/v1/unit/staff/imports"


def import_service(
    services: Services, db: AsyncDatabase[dict[str, Any]], *, cls: type[StaffImportService] = StaffImportService,
    now: Callable[[], datetime] | None = None,
) -> StaffImportService:
    """The import service of ``services``, but writing through ``db`` (and a subclass, for control runs)."""
    real = services.staff_imports
    return cls(db, accounts=services.accounts, staff=services.staff, cipher=services.cipher, audit=AuditLog(db),
               run_cpu=real.run_cpu, max_bytes=real.max_bytes, max_rows=real.max_rows, now=now)


async def prepared_batch(api: ApiClient, settings: Settings, services: Services, *, good: int) -> Batch:
    """A unit and a dry run of ``good`` good rows and one bad row, ready to commit."""
    unit = await unit_client(api, settings.sms_outbox)
    rows = [staff_row(name=f"员工{i}") for i in range(good)] + [staff_row(phone="1")]
    r = await unit.request("POST", IMPORTS, body=sheet_bytes(rows), headers={"Content-Type": XLSX})
    assert r.status == 201 and r.json["counts"] == {"ok": good, "error": 1}, r.body
    batch_id = ObjectId(r.json["id"])
    stored = await services.db["staff_imports"].find_one({"_id": batch_id})
    unit_id = stored["unit_id"]
    verdicts = await services.staff_imports._load(stored, "rows")
    assert verdicts is not None
    return Batch(unit, Principal(unit_id, "unit"), batch_id, good, verdicts)


@dataclass
class Batch:
    """A dry-run batch of a unit, and what must hold of it whatever happens to its commit."""

    unit: ApiClient
    principal: Principal
    batch_id: ObjectId
    good: int
    verdicts: list[dict[str, Any]]

    @property
    def import_id(self) -> str:
        return str(self.batch_id)

    async def visible(self, db: AsyncDatabase[dict[str, Any]]) -> int:
        """How many of the unit's staff a reader sees, through the accounts repository."""
        return await AccountRepository(db).count_documents({"role": "trainee", "trainee.unit_id": self.principal.account_id})

    async def assert_consistent(self, db: AsyncDatabase[dict[str, Any]]) -> str:
        """After the recovery: a final status, all accounts or none, nothing hidden left, verdicts intact."""
        batch = await db["staff_imports"].find_one({"_id": self.batch_id})
        assert batch is not None
        status = batch["status"]
        assert status in ("dry_run", "failed", "committed"), status
        assert "lease_id" not in batch and "lease_until" not in batch
        assert await db["accounts"].count_documents({"import_pending": True}) == 0  # no hidden orphan
        assert await self.visible(db) == (self.good if status == "committed" else 0)
        assert await db["accounts"].count_documents({"import_id": self.batch_id}) == (
            self.good if status == "committed" else 0)
        chunks = db["staff_import_chunks"]
        assert await load_items(chunks, batch, "rows") == self.verdicts
        secrets = [s async for doc in chunks.find({"batch_id": self.batch_id, "kind": "secrets"}) for s in doc["items"]]
        payload = await load_items(chunks, batch, "payload")
        if status == "committed":
            assert len(secrets) == self.good and batch["chunks"]["secrets"] > 0
            assert payload is None and await chunks.count_documents({"batch_id": self.batch_id, "kind": "payload"}) == 0
        else:
            assert secrets == [] and payload is not None and len(payload) == self.good
        return str(status)


async def load_items(chunks: AsyncCollection[dict[str, Any]], batch: dict[str, Any], kind: str) -> list[Any] | None:
    """The items of one kind of a batch as stored, or None when they are not all there."""
    docs = await chunks.find({"batch_id": batch["_id"], "kind": kind}).sort("seq", 1).to_list()
    if not docs or len(docs) != (batch.get("chunks") or {}).get(kind):
        return None
    return [item for doc in docs for item in doc["items"]]


def after_lease(extra: timedelta = timedelta(0)) -> Callable[[], datetime]:
    """A clock past the commit lease (the recovery of a crashed commit runs then)."""
    return lambda: datetime.now(UTC) + COMMIT_LEASE + timedelta(seconds=1) + extra


async def crash_before_reveal(services: Services, unit_id: ObjectId, import_id: str) -> FaultPlan:
    """What a commit leaves when its process dies just before the reveal: hidden accounts, batch committing."""
    async def die_at_reveal(collection: str, method: str) -> None:
        if (collection, method) == ("accounts", "update_many"):
            plan.crash_before = len(plan.writes) + 1  # this write and every later one
    plan = FaultPlan(before_write=die_at_reveal)
    try:
        await import_service(services, FaultyDatabase(services.db, plan)).commit(Principal(unit_id, "unit"), import_id,
                                                                                 ip="test")
    except Crash:
        return plan
    raise AssertionError("the commit did not reach its reveal")
