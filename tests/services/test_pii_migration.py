"""The migration of personal data stored the old way: sealed, masks removed, idempotent, crash- and race-safe.

The old documents are made by running today's realistic flow (``tests/test_pii_dump.py``)
and rewriting what it stored into the shape the old code wrote: ``trainee.id_masked``
beside the birth date and e-mail in clear, audit subjects that are masks, phone masks in
``profile.phone_change``, invoice e-mails and phones in clear, import payloads with clear
birth dates and e-mails. The dump counter shows the leak before and none after.
"""

from __future__ import annotations

import re
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services.accounts.identity import mask_id_number, mask_phone
from server.services.accounts.personal import id_number_of, open_trainee
from server.services.container import Services
from server.services.enrollment.templates import INVOICE_SEALED
from server.services.pii import FieldCipher, is_token, unseal
from server.services.pii_migration import migrate
from server.services.staff.photos import masked_file_name
from tests.client import ApiClient
from tests.faults import Crash, FaultPlan, FaultyDatabase
from tests.test_pii_dump import _run_flow, dump, leaks

_REF = re.compile(r"trainee:([0-9a-f]{24})")


async def write_the_old_way(db: AsyncDatabase[dict[str, Any]], cipher: FieldCipher) -> None:
    """Rewrite today's documents into what the code before issue 10 stored."""
    masks: dict[str, str] = {}
    async for account in db["accounts"].find({"role": "trainee"}):
        t = open_trainee(cipher, account["trainee"])
        masks[str(account["_id"])] = mask_id_number(id_number_of(cipher, t))
        await db["accounts"].update_one({"_id": account["_id"]}, {"$set": {
            "trainee.birth_date": t.get("birth_date"), "trainee.email": t.get("email"),
            "trainee.id_masked": masks[str(account["_id"])]}})
    async for entry in db["audit_log"].find({"subject": _REF}):
        subject = _REF.sub(lambda m: masks.get(m[1], m[0]), entry["subject"])
        details = entry.get("details") or {}
        if entry["action"] == "profile.phone_change":
            details = {"from": mask_phone("13800001234"), "to": mask_phone("13900005678")}
        await db["audit_log"].update_one({"_id": entry["_id"]}, {"$set": {"subject": subject, "details": details}})
    async for doc in db["invoice_templates"].find({}):
        await db["invoice_templates"].update_one({"_id": doc["_id"]}, {"$set": {
            name: unseal(cipher, doc.get(name), context=context) for name, context in INVOICE_SEALED.items()}})
    async for chunk in db["staff_import_chunks"].find({"kind": "payload"}):
        items = [{**i, "birth_date": unseal(cipher, i["birth_date"], context="birth_date"),
                  "profile": open_trainee(cipher, i["profile"])} for i in chunk["items"]]
        await db["staff_import_chunks"].update_one({"_id": chunk["_id"]}, {"$set": {"items": items}})
    async for chunk in db["staff_import_chunks"].find({"kind": "rows"}):
        items = [{**{k: v for k, v in i.items() if k != "id_number"},
                  "id_masked": mask_id_number(cipher.decrypt(i["id_number"], context="id_number"))
                  if i.get("id_number") else None} for i in chunk["items"]]
        await db["staff_import_chunks"].update_one({"_id": chunk["_id"]}, {"$set": {"items": items}})
    async for job in db["photo_jobs"].find({}):
        files = [{**f, "file": masked_file_name(unseal(cipher, f["file"], context="photo_file_name") or "")}
                 for f in job["files"]]
        await db["photo_jobs"].update_one({"_id": job["_id"]}, {"$set": {"files": files}})


async def shown(services: Services) -> dict[str, Any]:
    """What the readers show of every trainee and invoice template (must not change through the migration)."""
    accounts = await services.db["accounts"].find({"role": "trainee"}).sort("_id", 1).to_list()
    invoices = await services.db["invoice_templates"].find({}).sort("_id", 1).to_list()
    rows = await services.db["staff_import_chunks"].find({"kind": "rows"}).sort("_id", 1).to_list()
    jobs = await services.db["photo_jobs"].find({}).sort("_id", 1).to_list()
    return {
        "import_rows": [services.staff_imports._row_mask(i) for c in rows for i in c["items"]],
        "photo_jobs": [services.staff_photos._job_out(j, None).model_dump() for j in jobs],
        "profiles": [services.profiles.profile_out(a).model_dump() for a in accounts],
        "staff": [services.staff.item(a).model_dump() for a in accounts if a["trainee"].get("unit_id")],
        "invoices": [services.templates._invoice_out(d).model_dump() for d in invoices],
    }


async def test_old_documents_are_sealed_and_read_the_same(api: ApiClient, settings: Settings,
                                                         services: Services) -> None:
    """Control first: the old shape leaks (about 9 candidates); after the migration nothing does."""
    ids, phones = await _run_flow(api, settings, services)
    before = await shown(services)
    await write_the_old_way(services.db, services.cipher)
    assert await shown(services) == before  # the readers cope with unmigrated documents
    old = leaks(await dump(services), ids, phones)
    assert {c for c, *_ in old} >= {"accounts", "invoice_templates", "staff_import_chunks"}
    assert "*" * 10 in str(await dump(services))  # masks at rest
    assert min(n for *_, n in old) < 20

    counts = await migrate(services.db, services.cipher)
    assert counts["accounts"] == 4 and counts["invoice_templates"] == 1 and counts["photo_jobs"] == 1
    assert counts["staff_import_chunks"] == 3  # the open payload, and the verdicts of both dry runs
    assert counts["audit_log"] > 5
    assert leaks(await dump(services), ids, phones) == []
    assert await shown(services) == before
    assert "*" * 10 not in str(await dump(services))  # no mask at rest anywhere
    async for account in services.db["accounts"].find({"role": "trainee"}):
        t = account["trainee"]
        assert "id_masked" not in t and is_token(t["birth_date"]) and is_token(t["email"])
    async for entry in services.db["audit_log"].find({}):
        assert "*" not in (entry.get("subject") or "") and "from" not in entry.get("details", {})
    enrolled = await services.db["audit_log"].find_one({"action": "enrollment.create"})
    enrollment = await services.db["enrollments"].find_one({"_id": enrolled["subject_id"]})
    assert enrolled["subject"].startswith(f"trainee:{enrollment['trainee_id']} → ")
    assert set((await migrate(services.db, services.cipher)).values()) == {0}  # idempotent


async def test_a_crash_anywhere_then_a_rerun_finishes(api: ApiClient, settings: Settings, services: Services) -> None:
    """A crash after each write; each rerun picks up where the last stopped, none double-seals."""
    ids, phones = await _run_flow(api, settings, services)
    before = await shown(services)
    await write_the_old_way(services.db, services.cipher)
    crashes = 0
    while True:
        plan = FaultPlan(crash_before=2)  # one write, then the crash: the next run finds that one done
        try:
            await migrate(FaultyDatabase(services.db, plan), services.cipher)
            break
        except Crash:
            crashes += 1
        assert crashes < 200
    assert crashes > 10  # one per document to rewrite
    assert leaks(await dump(services), ids, phones) == [] and await shown(services) == before


async def _race(services: Services, plan: FaultPlan, account_id: ObjectId) -> None:
    """The owner changes the e-mail (sealed, as the running server writes it) just before the migration's write."""
    async def owner_writes(collection: str, method: str) -> None:
        if collection == "accounts" and plan.before_write is not None:
            plan.before_write = None
            await services.db["accounts"].update_one({"_id": account_id}, {"$set": {
                "trainee.email": services.cipher.encrypt("new@example.com", context="email")}})
    plan.before_write = owner_writes
    await migrate(FaultyDatabase(services.db, plan), services.cipher)


async def test_a_concurrent_change_is_not_overwritten(api: ApiClient, settings: Settings, services: Services) -> None:
    """The update names the clear values it read; control: without that guard the owner's change is lost."""
    from tests.factories import register_trainee

    async def email_after(plan: FaultPlan) -> str | None:
        token, _ = await register_trainee(api, settings.sms_outbox, email="old@example.com")
        me = (await api.get("/api/v1/me", token=token)).json
        account_id = ObjectId(me["id"])
        await write_the_old_way(services.db, services.cipher)
        await _race(services, plan, account_id)
        account = await services.db["accounts"].find_one({"_id": account_id})
        return unseal(services.cipher, account["trainee"]["email"], context="email")

    assert await email_after(FaultPlan()) == "new@example.com"

    def without_guard(collection: str, method: str, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if collection == "accounts" and method == "update_one":
            return ({"_id": args[0]["_id"]}, *args[1:]), kwargs
        return args, kwargs

    await services.db["accounts"].delete_many({})
    assert await email_after(FaultPlan(rewrite=without_guard)) == "old@example.com"  # the change is lost


async def test_the_command_line_runs_the_same_step(api: ApiClient, settings: Settings, services: Services,
                                                   capsys: Any) -> None:
    """``python -m server migrate-pii`` (also run by ``serve`` at start-up) migrates and prints counts only."""
    import argparse

    from server.commands import COMMANDS
    from tests.factories import register_trainee

    _, body = await register_trainee(api, settings.sms_outbox)
    await write_the_old_way(services.db, services.cipher)
    assert await COMMANDS["migrate-pii"][2](services, argparse.Namespace()) == 0
    out = capsys.readouterr().out
    assert "accounts=1" in out and body["id_number"][:4] not in out and body["phone"][-4:] not in out
    account = await services.db["accounts"].find_one({"role": "trainee"})
    assert "id_masked" not in account["trainee"] and is_token(account["trainee"]["email"])
