"""Demo invoice: an e-invoice (a generated PDF) recorded on an approved payment.

The payments area's demo creates the approved payment; ``add_demo_invoice`` is called with its
id (wired into ``LOADERS`` at merge, after the payments loader).
"""

from __future__ import annotations

import functools

from bson import ObjectId

from server.documents.invoice_pdf import render_demo_invoice
from server.models.invoices import InvoiceIssueIn
from server.services import Principal
from server.services.accounts.identity import today_shanghai
from server.services.container import Services

LOCAL = "127.0.0.1"
DEMO_INVOICE_NUMBER = "26312000000012345678"


async def add_demo_invoice(services: Services, payment_id: str | ObjectId, *,
                           number: str = DEMO_INVOICE_NUMBER) -> list[str]:
    """Record an electronic 普票 with a generated PDF on the approved payment ``payment_id``; lines to print."""
    payment = await services.db["payments"].find_one({"_id": ObjectId(payment_id)})
    staff = await services.db["accounts"].find_one({"role": {"$in": ["admin", "reviewer"]}}, {"_id": 1, "role": 1})
    if payment is None or staff is None or payment.get("status") != "approved":
        return []
    payer = await services.db["accounts"].find_one({"_id": payment["payer"]["account_id"]}, {"name": 1})
    issued_on = today_shanghai()
    render = functools.partial(render_demo_invoice, number=number, issued_on=issued_on,
                               buyer=(payer or {}).get("name", "示例单位"), item="培训费", amount_fen=payment["amount_fen"])
    _, _, pdf = await services.run_cpu(render)
    body = InvoiceIssueIn(number=number, date=issued_on, type="normal", medium="electronic")
    await services.invoices.record(Principal(staff["_id"], staff["role"]), str(payment["_id"]), body, pdf, ip=LOCAL)
    first_session = (payment.get("session_ids") or [None])[0]
    return [
        f"  发票 / invoice: 缴费 {payment.get('reference')} 已开具电子普票 {number}；付款方下载 "
        f"GET /api/v1/payments/{payment['_id']}/invoice.pdf",
        f"  物流清单 / logistics: GET /api/v1/review/exports/logistics.xlsx?session_id={first_session}；"
        "缴费导出 / payments: GET /api/v1/admin/exports/payments.xlsx?from=YYYY-MM-DD&to=YYYY-MM-DD",
    ]
