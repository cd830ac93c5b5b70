"""The invoice service under concurrency: one notification per invoice number, and the control without the transaction."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server.models.invoices import InvoiceIssueIn
from server.services import Principal
from server.services.container import Services
from server.services.payments.invoices import InvoiceService
from tests.client import ApiClient
from tests.services.payments.helpers import admin_token, approved_trainee_payment, demo_pdf

FIELDS = {"number": "26312000000012345678", "date": "2026-03-02", "type": "normal", "medium": "electronic"}
SAVES = 3


class Interleaved(InvoiceService):
    """Test-only interleaving: the first read of each save waits until every save has read the payment."""

    def __init__(self, *args: Any, parties: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads = 0
        self.all_read = asyncio.Event()
        self.parties = parties

    async def _current(self, s: AsyncClientSession | None, oid: ObjectId) -> dict[str, Any]:
        payment = await super()._current(s, oid)
        if not self.all_read.is_set():
            self.reads += 1
            if self.reads >= self.parties:
                self.all_read.set()
            await asyncio.wait_for(self.all_read.wait(), 10)
        return payment


class WithoutTransaction(Interleaved):
    """The control: the same read and writes, one after another, outside a transaction."""

    async def _in_transaction(self, work: Any) -> Any:
        return await work(None)


@pytest.mark.parametrize("guarded", [True, False])
async def test_concurrent_saves_of_one_invoice_notify_once_and_the_control_notifies_each(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]], guarded: bool,
) -> None:
    _, payment = await approved_trainee_payment(api, services, await admin_token(services))
    cls = Interleaved if guarded else WithoutTransaction
    invoices = cls(db, jobs=services.jobs, audit=services.audit, run_cpu=services.run_cpu, parties=SAVES)
    body = InvoiceIssueIn.model_validate(FIELDS)
    answers = await asyncio.gather(*(
        invoices.record(Principal(ObjectId(), "reviewer"), str(payment["_id"]), body, demo_pdf(), ip=None)
        for _ in range(SAVES)))
    assert invoices.all_read.is_set()  # every save read the payment before any wrote it
    jobs = await db["jobs"].count_documents({"payload.kind": "invoice_ready"})
    if guarded:
        assert sum(a.notified for a in answers) == 1 and jobs == 1
    else:  # read-then-write without the transaction: each save saw no invoice and told the payer
        assert jobs == SAVES
    stored = await db["payments"].find_one({"_id": payment["_id"]})
    files = [f["_id"] for f in await db["invoice_files.files"].find().to_list()]
    assert stored is not None and stored["invoice_issue"]["file_id"] in files
    if guarded:  # exactly the file the payment points at: each replaced one was deleted
        assert len(files) == 1
    else:  # each save replaced "nothing": the other saves' files are orphans
        assert len(files) == SAVES
