"""The demo invoice: recorded on an approved payment, with a generated PDF the payer can download."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.demo.invoices import DEMO_INVOICE_NUMBER, add_demo_invoice
from server.documents.invoice_pdf import check_invoice_pdf
from server.services.container import Services
from tests.client import ApiClient
from tests.services.payments.helpers import admin_token, approved_trainee_payment


async def test_the_demo_invoice_is_recorded_and_downloadable(api: ApiClient, services: Services,
                                                             db: AsyncDatabase[dict[str, Any]]) -> None:
    admin = await admin_token(services)
    trainee, payment = await approved_trainee_payment(api, services, admin)
    lines = await add_demo_invoice(services, payment["_id"])
    assert any(DEMO_INVOICE_NUMBER in line for line in lines) and any("logistics.xlsx" in line for line in lines)
    r = await api.get(f"/api/v1/payments/{payment['_id']}/invoice.pdf", token=trainee)
    assert r.status == 200 and check_invoice_pdf(r.body) == 1
    assert await db["jobs"].count_documents({"payload.kind": "invoice_ready"}) == 1
    assert await add_demo_invoice(services, ObjectId()) == []  # no such payment: nothing, no error
