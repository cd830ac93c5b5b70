"""Excel import of a unit's staff: a dry run with a verdict per row, then a commit of all good rows or none.

Readers see a commit's accounts all at once or not at all, whatever the sheet's size:

1. **Claim**: ``dry_run | failed → committing`` with ``find_one_and_update`` (one commit
   wins), with a lease: a fresh ``lease_id`` and ``lease_until``.
2. **Insert hidden**: the accounts, with ``import_id`` and ``import_pending: true``, in
   groups (``INSERT_CHUNK`` accounts, ``GROUP_BYTES`` of BSON), one transaction per group
   that also stores the group's encrypted one-time secrets and first renews the lease
   with an update of the batch filtered on ``lease_id`` and a live ``lease_until``. The
   accounts repository (``server/services/accounts/accounts.py``) hides ``import_pending``
   accounts from every reader.
3. **Reveal**: one transaction marks the batch ``committed`` (under the same lease check)
   and unsets ``import_pending`` on all its accounts: the moment they become visible is
   one commit of the database.

A commit that has lost its lease (it lapsed, or the recovery took the batch over) finds
the batch update matching nothing, aborts that transaction and writes nothing more
(409 ``import_interrupted``). Because the lease check *writes* the batch document, it
conflicts with a concurrent take-over instead of reading a stale lease.

A failure in step 2 (a duplicate ID number, an error) rolls back: ``committing →
rolling_back`` under the lease, delete the batch's hidden accounts and secrets,
``rolling_back → failed`` (a re-commit works). :meth:`rollback_unfinished_imports` (run
at start-up and periodically) takes over every ``committing`` or ``rolling_back`` batch
whose lease lapsed — a crashed commit, or a crashed roll-back — and finishes the roll-back.

The batch document holds the status and counts only; its rows' verdicts, the
good rows' data (ID numbers and phones encrypted) and, after the commit, the
encrypted one-time secrets live in ``staff_import_chunks`` documents (keyed by
batch id, kind and sequence, each at most ``CHUNK_BYTES`` of BSON), so a sheet
of any allowed size fits MongoDB's 16 MiB document limit. Chunks are written
before their batch document (a dry run that fails deletes them; a batch nobody
can see is harmless), carry the batch's ``expires_at`` (TTL, one day), and are
extended with it when a commit starts: the claim moves ``expires_at`` to a day
from then, so neither TTL can remove a batch while its commit may still have to
be rolled back. Recovery also deletes hidden ``import_pending`` accounts older
than ``ORPHAN_AGE`` whose batch no longer exists (left by a crash before this rule).

The one-time secrets are shown in the commit answer and once more in the first
download of the result sheet, then erased. The template's example row gets the
verdict ``example`` and is never imported. Fault injection lives in the tests
(``tests/faults.py``, subclasses): this module has no test switches.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import bson
from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from server import errors
from server.documents.staff_xlsx import COLUMNS, read_staff_sheet, render_import_result, render_template
from server.documents.xlsx_common import check_xlsx_container
from server.models.staff import CreatedAccountOut, ImportCommitOut, ImportOut, ImportRowOut
from server.services import Principal
from server.services.accounts.accounts import AccountService, NewPerson
from server.services.accounts.identity import IdType, mask_id_number
from server.services.accounts.personal import id_number_of, seal_trainee
from server.services.accounts.repository import AccountRepository
from server.services.audit import AuditLog
from server.services.cpu import CpuRunner
from server.services.ids import parse_object_id
from server.services.pii import FieldCipher, unseal
from server.services.staff.rows import CheckedRow, check_rows
from server.services.staff.staff import StaffService

log = logging.getLogger(__name__)

BATCH_LIFETIME = timedelta(days=1)
COMMIT_LEASE = timedelta(minutes=10)
ORPHAN_AGE = timedelta(hours=1)  # hidden import accounts of a vanished batch older than this are removed
INSERT_CHUNK = 500  # accounts inserted per transaction
GROUP_BYTES = 8 * 1024 * 1024  # and at most this much BSON per transaction
CHUNK_BYTES = 4 * 1024 * 1024  # BSON of one chunk document's items (MongoDB allows 16 MiB a document)
FIELD_LABELS = {c.field: c.label for c in COLUMNS}
VERDICT_LABELS = {"ok": "可导入", "error": "有误", "exists": "存在账号", "example": "示例行", "created": "已导入"}
EXAMPLE_NOTE = "模板示例行，已跳过（不会导入）"


def parse_sheet(data: bytes, max_bytes: int, max_rows: int) -> list[CheckedRow]:
    """Container checks, then the rows, then the per-row checks (CPU work: run in the executor)."""
    check_xlsx_container(data, max_bytes=max_bytes)
    return check_rows(read_staff_sheet(data, max_rows=max_rows))


def pack(items: list[dict[str, Any]], limit: int = CHUNK_BYTES) -> list[list[dict[str, Any]]]:
    """``items`` in order, in groups of at most ``limit`` bytes of BSON (CPU work: run in the executor).

    One item larger than ``limit`` by itself refuses the file (``import_too_large``, 413):
    the caps on every cell make that impossible for a sheet of the template.
    """
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for item in items:
        n = len(bson.encode(item))
        if n > limit:
            raise errors.AppError(413, "import_too_large", "导入文件的内容过多，请拆分为几个较小的文件后分别导入",
                                  {"limit_bytes": limit})
        if current and size + n > limit:
            chunks.append(current)
            current, size = [], 0
        current.append(item)
        size += n
    if current:
        chunks.append(current)
    return chunks


def _groups(
    docs: list[dict[str, Any]], secrets: list[dict[str, Any]]
) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Accounts (with their secrets) in groups of at most ``INSERT_CHUNK`` and ``GROUP_BYTES`` of BSON:
    one transaction each, well within MongoDB's transaction limits (CPU work: run in the executor)."""
    groups: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = []
    size = 0
    for doc, secret in zip(docs, secrets, strict=True):
        n = len(bson.encode(doc))
        if not groups or len(groups[-1][0]) >= INSERT_CHUNK or size + n > GROUP_BYTES:
            groups.append(([], []))
            size = 0
        groups[-1][0].append(doc)
        groups[-1][1].append(secret)
        size += n
    return groups


class LeaseLost(Exception):
    """This commit no longer holds its batch (the lease lapsed or the recovery took it over)."""


class StaffImportService:
    """Dry runs, commits, result sheets and recovery of staff imports."""

    # What the recovery rolls back once the lease lapsed: ``rolling_back`` too, since a
    # roll-back that crashed itself must be started over.
    UNFINISHED = ("committing", "rolling_back")

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        accounts: AccountService,
        staff: StaffService,
        cipher: FieldCipher,
        audit: AuditLog,
        run_cpu: CpuRunner,
        max_bytes: int,
        max_rows: int,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.batches = db["staff_imports"]
        self.chunks = db["staff_import_chunks"]
        self.client = db.client
        self.accounts = accounts
        # The accounts repository on this very database (tests build the service on a faulty one).
        self.collection = AccountRepository(db)
        self.staff = staff
        self.cipher = cipher
        self.audit = audit
        self.run_cpu = run_cpu
        self.max_bytes = max_bytes
        self.max_rows = max_rows
        self.now = now or (lambda: datetime.now(UTC))

    async def template(self) -> tuple[str, str, bytes]:
        """The import template (rendered off the event loop)."""
        return await self.run_cpu(render_template, self.max_rows)  # type: ignore[no-any-return]

    # ---- dry run --------------------------------------------------------------------

    async def dry_run(self, unit: Principal, data: bytes, *, ip: str) -> ImportOut:
        """Check every row; nothing is written to accounts; the batch is kept for the commit."""
        # Parsing, thousands of blind indexes, verdict models and encryption all run off the loop.
        checked = await self.run_cpu(parse_sheet, data, self.max_bytes, self.max_rows)
        keys = await self.run_cpu(self._login_keys, [r.id_number for r in checked if r.id_number])
        existing = await self._existing(keys)
        rows, row_chunks, payload_chunks = await self.run_cpu(self._judge, checked, existing, unit.account_id)
        now = self.now()
        batch = {
            "_id": ObjectId(), "unit_id": unit.account_id, "status": "dry_run", "created_at": now,
            "expires_at": now + BATCH_LIFETIME, "counts": dict(Counter(r.verdict for r in rows)),
            "chunks": {"rows": len(row_chunks), "payload": len(payload_chunks)},
        }
        chunk_docs = (self._chunk_docs(batch, "rows", row_chunks)
                      + self._chunk_docs(batch, "payload", payload_chunks))
        try:
            if chunk_docs:
                await self.chunks.insert_many(chunk_docs, ordered=True)
            await self.batches.insert_one(batch)
        except BaseException:
            await self.chunks.delete_many({"batch_id": batch["_id"]})
            raise
        await self.audit.record("staff.import_dry_run", actor_id=unit.account_id, actor_role=unit.role,
                                subject_id=batch["_id"], ip=ip, details={"counts": batch["counts"]})
        return ImportOut(id=str(batch["_id"]), status="dry_run", rows=rows, counts=batch["counts"],
                         expires_at=batch["expires_at"])

    def _login_keys(self, id_numbers: list[str]) -> dict[str, str]:
        """Login key (blind index) → ID number."""
        return {self.accounts.trainee_key(n): n for n in id_numbers}

    def _judge(
        self, checked: list[CheckedRow], existing: dict[str, dict[str, Any]], unit_id: ObjectId
    ) -> tuple[list[ImportRowOut], list[list[dict[str, Any]]], list[list[dict[str, Any]]]]:
        """Every row's verdict, the same packed for storage, and the good rows' encrypted payload packed."""
        rows = [self._verdict(r, existing, unit_id) for r in checked]
        good = [r for r, out in zip(checked, rows, strict=True) if out.verdict == "ok"]
        stored = [self._stored_row(out, r) for out, r in zip(rows, checked, strict=True)]
        return rows, pack(stored), pack(self._payload(good))

    def _stored_row(self, out: ImportRowOut, row: CheckedRow) -> dict[str, Any]:
        """A verdict as kept for the result sheet: the ID number sealed, masked only when shown."""
        stored = out.model_dump(exclude={"id_masked"})
        stored["id_number"] = self.cipher.encrypt(row.id_number, context="id_number") if row.id_number else None
        return stored

    @staticmethod
    def _chunk_docs(batch: dict[str, Any], kind: str, chunks: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        return [{"batch_id": batch["_id"], "kind": kind, "seq": seq, "items": items, "expires_at": batch["expires_at"]}
                for seq, items in enumerate(chunks)]

    async def _load(self, batch: dict[str, Any], kind: str) -> list[dict[str, Any]] | None:
        """The items of one kind of a batch, in order; None when a chunk is missing (expired)."""
        docs = await self.chunks.find({"batch_id": batch["_id"], "kind": kind}).sort("seq", 1).to_list()
        if len(docs) != (batch.get("chunks") or {}).get(kind):
            return None
        return [item for doc in docs for item in doc["items"]]

    async def _existing(self, keys: dict[str, str]) -> dict[str, dict[str, Any]]:
        """The accounts that already hold one of the ID numbers (by login key), per ID number."""
        found: dict[str, dict[str, Any]] = {}
        key_list = list(keys)
        for start in range(0, len(key_list), 1000):
            cursor = self.collection.find({"login_key": {"$in": key_list[start:start + 1000]}},
                                          {"login_key": 1, "trainee.unit_id": 1, "import_pending": 1},
                                          include_pending=True)  # a hidden account holds its number too
            async for doc in cursor:
                found[keys[doc["login_key"]]] = doc
        return found

    def _verdict(self, row: CheckedRow, existing: dict[str, dict[str, Any]], unit_id: ObjectId) -> ImportRowOut:
        base = {"row": row.row, "name": row.name, "id_masked": row.id_masked}
        if row.example:
            return ImportRowOut(**base, verdict="example", note=EXAMPLE_NOTE)
        account = existing.get(row.id_number or "")
        if account is not None and "id_number" not in row.errors:
            unit = (account.get("trainee") or {}).get("unit_id")
            note = "存在账号" + ("，已是本单位人员" if unit == unit_id else "，可改用“绑定已注册学员”" if unit is None else "")
            return ImportRowOut(**base, verdict="exists", errors={"id_number": note},
                                can_bind=unit is None and not account.get("import_pending"))
        if row.errors or row.data is None:
            return ImportRowOut(**base, verdict="error", errors=row.errors)
        return ImportRowOut(**base, verdict="ok")

    def _payload(self, good: list[CheckedRow]) -> list[dict[str, Any]]:
        """The good rows to create, ID numbers, phones, birth dates and e-mails encrypted (never plain at rest)."""
        out = []
        for row in good:
            body = row.data
            assert body is not None and body.birth_date is not None
            out.append({
                "row": row.row, "name": body.name, "sex": body.sex, "id_type": str(body.id_type),
                "id_number": self.cipher.encrypt(body.id_number, context="id_number"),
                "phone": self.cipher.encrypt(body.phone, context="phone"),
                "birth_date": self.cipher.encrypt(body.birth_date.isoformat(), context="birth_date"),
                "profile": seal_trainee(self.cipher, StaffService.profile_fields(body)),
            })
        return out

    # ---- commit ---------------------------------------------------------------------

    async def commit(self, unit: Principal, import_id: str, *, ip: str) -> ImportCommitOut:
        """Create every good row of a dry run, or none; readers see all of them at once or none."""
        batch = await self._claim(unit, parse_object_id(import_id, "导入批次不存在"))
        lease = batch["lease_id"]
        docs: list[dict[str, Any]] = []
        try:
            # The claim moved the batch's expiry; its chunks follow before they are read.
            await self.chunks.update_many({"batch_id": batch["_id"]}, {"$set": {"expires_at": batch["expires_at"]}})
            payload = await self._load(batch, "payload")
            if payload is None:
                raise errors.not_found("导入批次不存在或已过期，请重新上传", code="import_not_found")
            docs, secrets = await self.run_cpu(self._account_docs, batch["_id"], payload, unit.account_id)
            groups = await self.run_cpu(_groups, docs, secrets)
            for seq, (group, group_secrets) in enumerate(groups):
                await self._leased(batch["_id"], lease, {"$set": {"lease_until": self.now() + COMMIT_LEASE}},
                                   self._insert_group(batch, seq, group, group_secrets))
            await self._leased(batch["_id"], lease, {
                "$set": {"status": "committed", "committed_at": self.now(), "chunks.secrets": len(groups)},
                "$unset": {"lease_id": "", "lease_until": "", "chunks.payload": ""},
            }, self._reveal(batch["_id"]))
        except LeaseLost:  # whoever took the batch over rolls it back: write nothing more
            raise errors.conflict("import_interrupted", "导入超时已被撤销，本批次未导入任何人员，请重新导入") from None
        except BaseException as exc:
            await self._abandon(batch["_id"], lease, reason=type(exc).__name__)
            if isinstance(exc, BulkWriteError | DuplicateKeyError):
                raise self._conflict(exc, docs) from None
            raise
        await self.audit.record("staff.import_commit", actor_id=unit.account_id, actor_role=unit.role,
                                subject_id=batch["_id"], ip=ip, details={"created": len(docs)})
        return ImportCommitOut(id=str(batch["_id"]), status="committed", created=len(docs), accounts=[
            CreatedAccountOut(row=s["row"], id=str(d["_id"]), name=d["name"],
                              id_masked=mask_id_number(id_number_of(self.cipher, d["trainee"])),
                              one_time_secret=self.cipher.decrypt(s["secret"], context="one_time_secret"))
            for d, s in zip(docs, secrets, strict=True)
        ])

    async def _claim(self, unit: Principal, batch_id: ObjectId) -> dict[str, Any]:
        """``dry_run | failed → committing`` with a new lease, one winner; the batch then lives a day from now."""
        now = self.now()
        batch = await self.batches.find_one_and_update(
            {"_id": batch_id, "unit_id": unit.account_id, "status": {"$in": ["dry_run", "failed"]},
             "expires_at": {"$gt": now}},
            {"$set": {"status": "committing", "lease_id": ObjectId(), "lease_until": now + COMMIT_LEASE,
                      "commit_started_at": now, "expires_at": now + BATCH_LIFETIME}},
            return_document=ReturnDocument.AFTER,
        )
        if batch is not None:
            return batch
        current = await self.batches.find_one({"_id": batch_id, "unit_id": unit.account_id}, {"status": 1, "expires_at": 1})
        if current is None or current["expires_at"] <= now:
            raise errors.not_found("导入批次不存在或已过期，请重新上传", code="import_not_found")
        if current["status"] == "committed":
            raise errors.conflict("import_already_committed", "该批次已导入")
        raise errors.conflict("import_in_progress", "该批次正在导入，请稍候")

    def _account_docs(self, batch_id: ObjectId, payload: list[dict[str, Any]],
                      unit_id: ObjectId) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        docs, secrets = [], []
        now = self.now()
        for p in payload:
            person = NewPerson(p["name"], p["sex"], IdType(p["id_type"]),
                               self.cipher.decrypt(p["id_number"], context="id_number"),
                               date.fromisoformat(unseal(self.cipher, p["birth_date"], context="birth_date") or ""),
                               self.cipher.decrypt(p["phone"], context="phone"),
                               unseal(self.cipher, p["profile"].get("email"), context="email"))
            profile = p["profile"] | {"unit_id": unit_id, "bound_at": now}
            doc, secret = self.accounts.pending_trainee_doc(person, created_by=unit_id, profile=profile)
            doc.update(import_id=batch_id, import_pending=True, import_row=p["row"])
            docs.append(doc)
            secrets.append({"row": p["row"], "account_id": doc["_id"],
                            "secret": self.cipher.encrypt(secret, context="one_time_secret")})
        return docs, secrets

    def _holder(self, batch_id: ObjectId, lease: ObjectId) -> dict[str, Any]:
        """The batch as long as this commit holds it: still committing, under its lease, not lapsed."""
        return {"_id": batch_id, "status": "committing", "lease_id": lease, "lease_until": {"$gt": self.now()}}

    async def _leased(self, batch_id: ObjectId, lease: ObjectId, batch_update: dict[str, Any],
                      step: Callable[[AsyncClientSession], Awaitable[None]]) -> None:
        """Run ``step`` in one transaction that first updates the batch under this commit's lease.

        The lease check is a *write* of the batch document, not a read: a recovery
        taking the batch over writes that document too, so the two conflict and one of
        them waits or retries. A commit whose lease lapsed or was taken over therefore
        raises :class:`LeaseLost` with nothing of the step written.
        """
        async def run(session: AsyncClientSession) -> None:
            held = await self.batches.update_one(self._holder(batch_id, lease), batch_update, session=session)
            if held.matched_count == 0:
                raise LeaseLost(batch_id)
            await step(session)

        async with self.client.start_session() as session:
            await session.with_transaction(run)

    def _insert_group(self, batch: dict[str, Any], seq: int, docs: list[dict[str, Any]],
                      secrets: list[dict[str, Any]]) -> Callable[[AsyncClientSession], Awaitable[None]]:
        """One group of hidden accounts with its one-time secrets (encrypted), as a transaction step."""
        async def step(session: AsyncClientSession) -> None:
            await self.collection.insert_many(docs, ordered=True, session=session)
            await self.chunks.insert_one({"batch_id": batch["_id"], "kind": "secrets", "seq": seq, "items": secrets,
                                          "expires_at": batch["expires_at"]}, session=session)
        return step

    def _reveal(self, batch_id: ObjectId) -> Callable[[AsyncClientSession], Awaitable[None]]:
        """Every hidden account of the batch visible, in the transaction that marks it committed.

        One transaction for the whole batch, whatever its size: each account's change is
        one ``$unset`` (some 100 bytes of oplog, 0.5 MB for the largest sheet), far
        within MongoDB's transaction limits, while the inserts are what the groups split.
        """
        async def step(session: AsyncClientSession) -> None:
            await self.collection.update_many({"import_id": batch_id, "import_pending": True},
                                              {"$unset": {"import_pending": ""}}, include_pending=True, session=session)
            await self.chunks.delete_many({"batch_id": batch_id, "kind": "payload"}, session=session)
        return step

    def _conflict(self, exc: Exception, docs: list[dict[str, Any]]) -> errors.AppError:
        row = None
        if isinstance(exc, BulkWriteError) and exc.details.get("writeErrors"):
            failed_id = (exc.details["writeErrors"][0].get("op") or {}).get("_id")
            row = next((d["import_row"] for d in docs if d["_id"] == failed_id), None)
        where = f"第 {row} 行" if row else "有一行"
        return errors.conflict("import_conflict", f"{where}的人员刚刚已有账号，本批次未导入任何人员，请重新检查后再导入",
                               {"row": row})

    async def _abandon(self, batch_id: ObjectId, lease: ObjectId, *, reason: str) -> None:
        """A failed commit rolls its batch back itself, if it still holds it (else the holder does)."""
        taken = await self.batches.update_one(self._holder(batch_id, lease), {"$set": {
            "status": "rolling_back", "lease_until": self.now() + COMMIT_LEASE}})
        if taken.matched_count:
            await self._roll_back(batch_id, lease, reason=reason)

    async def _roll_back(self, batch_id: ObjectId, lease: ObjectId, *, reason: str) -> None:
        """Delete every account of a ``rolling_back`` batch (all still hidden) and mark it failed.

        Each step may be repeated: a crash in between leaves the batch ``rolling_back``
        with a lease, and the recovery starts over once that lapses.
        """
        deleted = await self.collection.delete_many({"import_id": batch_id, "import_pending": True},
                                                    include_pending=True)
        await self.chunks.delete_many({"batch_id": batch_id, "kind": "secrets"})
        await self.batches.update_one(
            {"_id": batch_id, "status": "rolling_back", "lease_id": lease},
            {"$set": {"status": "failed", "failed_at": self.now(), "failure": reason},
             "$unset": {"lease_id": "", "lease_until": ""}},
        )
        log.warning("staff import %s rolled back (%s): %d accounts removed", batch_id, reason, deleted.deleted_count)

    async def rollback_unfinished_imports(self) -> int:
        """Finish what crashed commits left (lease lapsed): roll back, remove orphans; how many batches."""
        handled = 0
        now = self.now()
        while (batch := await self.batches.find_one_and_update(
                {"status": {"$in": list(self.UNFINISHED)}, "lease_until": {"$lt": now}},
                {"$set": {"status": "rolling_back", "lease_id": ObjectId(), "lease_until": now + COMMIT_LEASE}},
                return_document=ReturnDocument.AFTER)):
            await self._roll_back(batch["_id"], batch["lease_id"], reason="interrupted")
            handled += 1
        handled += await self._finish_publishing(now)
        return handled + await self._remove_orphans(now - ORPHAN_AGE)

    async def _finish_publishing(self, now: datetime) -> int:
        """Batches an earlier version left ``publishing`` (every insert done): revealed in one transaction."""
        handled = 0
        while (batch := await self.batches.find_one_and_update(
                {"status": "publishing", "lease_until": {"$lt": now}},
                {"$set": {"status": "committing", "lease_id": ObjectId(), "lease_until": now + COMMIT_LEASE}},
                return_document=ReturnDocument.AFTER)):
            await self._leased(batch["_id"], batch["lease_id"], {
                "$set": {"status": "committed", "committed_at": self.now()},
                "$unset": {"lease_id": "", "lease_until": "", "chunks.payload": ""},
            }, self._reveal(batch["_id"]))
            log.warning("staff import %s rolled forward after an interruption", batch["_id"])
            handled += 1
        return handled

    async def _remove_orphans(self, cutoff: datetime) -> int:
        """Hidden import accounts (they hold their ID numbers' login keys) whose batch is gone."""
        batch_ids = {doc["import_id"] async for doc in self.collection.find(
            {"import_pending": True, "created_at": {"$lt": cutoff}}, {"import_id": 1}, include_pending=True)}
        removed = 0
        for batch_id in batch_ids:
            if await self.batches.count_documents({"_id": batch_id}, limit=1):
                continue  # a batch that still exists is finished by the steps above
            deleted = await self.collection.delete_many({"import_id": batch_id, "import_pending": True},
                                                        include_pending=True)
            log.warning("staff import %s vanished: %d hidden accounts removed", batch_id, deleted.deleted_count)
            removed += 1
        return removed

    # ---- results ----------------------------------------------------------------------

    async def result_sheet(self, unit: Principal, import_id: str) -> tuple[str, str, bytes]:
        """Every row's verdict; after a commit the first download also carries the secrets (then erased)."""
        batch_id = parse_object_id(import_id, "导入批次不存在")
        batch = await self.batches.find_one(
            {"_id": batch_id, "unit_id": unit.account_id, "expires_at": {"$gt": self.now()}},
            {"chunks": 1, "status": 1, "secrets_released": 1},
        )
        stored = await self._load(batch, "rows") if batch is not None else None
        if batch is None or stored is None:
            raise errors.not_found("导入批次不存在或已过期", code="import_not_found")
        committed = batch["status"] == "committed"
        secrets: dict[int, str] = {}
        if committed and not batch.get("secrets_released"):
            released = await self.batches.update_one(  # one download wins the secrets
                {"_id": batch_id, "status": "committed", "secrets_released": {"$ne": True}},
                {"$set": {"secrets_released": True}})
            if released.modified_count:
                where = {"batch_id": batch_id, "kind": "secrets"}
                found = [s for doc in await self.chunks.find(where).to_list() for s in doc["items"]]
                await self.chunks.delete_many(where)
                secrets = {s["row"]: self.cipher.decrypt(s["secret"], context="one_time_secret") for s in found}
        rows = []
        for row in stored:
            verdict = "created" if committed and row["verdict"] == "ok" else row["verdict"]
            message = "；".join(f"{FIELD_LABELS.get(k, k)}：{v}" for k, v in (row.get("errors") or {}).items())
            rows.append({**row, "id_masked": self._row_mask(row), "verdict_label": VERDICT_LABELS[verdict],
                         "message": message or row.get("note"),
                         "secret": secrets.get(row["row"], "（已领取）" if committed and row["verdict"] == "ok" else None)})
        return await self.run_cpu(render_import_result, rows, committed)  # type: ignore[no-any-return]

    def _row_mask(self, row: dict[str, Any]) -> str:
        """The masked ID number of a stored verdict (a batch of an older version holds the mask, sealed
        by the migration)."""
        if row.get("id_number"):
            return mask_id_number(self.cipher.decrypt(row["id_number"], context="id_number"))
        return unseal(self.cipher, row.get("id_masked"), context="id_masked") or ""
