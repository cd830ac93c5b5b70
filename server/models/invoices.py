"""Invoices recorded on approved payments, and the exports of payments and logistics.

``invoice_issue`` is the stored shape on a payment (see the payments contract): number, date,
type (普票/专票), medium (电子/纸质), the e-invoice PDF's GridFS id, who recorded it and when.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from server.models.common import StrictModel, schema, sent_length

# Literal rather than the templates' enums: the multipart form's fields are documented from this model's
# own JSON schema, where an enum would be a ``$ref`` to a definition the form does not carry.
InvoiceType = Literal["normal", "special"]
InvoiceMediumValue = Literal["electronic", "paper"]
KIND_LABELS = {"normal": "普票", "special": "专票"}
MEDIUM_LABELS = {"electronic": "电子", "paper": "纸质"}

# 发票号码: 8 (old 普票), 10/12 (发票代码), or 20 digits (全电发票); letters tolerated for odd issuers.
InvoiceNumber = Annotated[str, sent_length(32), StringConstraints(max_length=32, pattern=r"^[0-9A-Za-z]{6,32}$"),
                          schema(pattern=r"^\s*[0-9A-Za-z]{6,32}\s*$")]


class InvoiceIssueIn(StrictModel):
    """What a reviewer records: the invoice as issued by the tax system."""

    number: InvoiceNumber = Field(description="发票号码（6–32 位数字或字母）")
    date: dt.date = Field(description="开票日期 YYYY-MM-DD")
    type: InvoiceType = Field(description="发票类型：normal 普票 / special 专票")
    medium: InvoiceMediumValue = Field(description="electronic 电子发票 / paper 纸质发票")


class InvoiceIssueOut(BaseModel):
    """The invoice of a payment as its payer and the reviewers see it."""

    number: str
    date: dt.date
    type: InvoiceType
    type_label: str = Field(description="普票 / 专票")
    medium: InvoiceMediumValue
    medium_label: str = Field(description="电子 / 纸质")
    has_file: bool = Field(description="是否附有电子发票 PDF（GET /api/v1/payments/{id}/invoice.pdf 下载）")
    at: dt.datetime = Field(description="登记时间")


class InvoiceRecordedOut(BaseModel):
    """The answer to a recording: the invoice, and whether the payer is being told."""

    payment_id: str
    invoice_issue: InvoiceIssueOut
    notified: bool = Field(description="本次登记是否通知了付款方（同一发票号码重复登记不再通知）")


def invoice_issue_out(doc: dict[str, Any]) -> InvoiceIssueOut | None:
    """The ``invoice_issue`` of a stored payment document for its reader, or None when none is recorded."""
    issue = doc.get("invoice_issue")
    if not issue:
        return None
    return InvoiceIssueOut(
        number=issue["number"], date=dt.date.fromisoformat(issue["date"]), type=issue["type"],
        type_label=KIND_LABELS[issue["type"]], medium=issue["medium"], medium_label=MEDIUM_LABELS[issue["medium"]],
        has_file=issue.get("file_id") is not None, at=issue["at"],
    )


def invoice_label(issue: dict[str, Any] | None) -> str:
    """``普票·电子`` for a list or a sheet; empty when no invoice is recorded."""
    if not issue:
        return ""
    return f"{KIND_LABELS[issue['type']]}·{MEDIUM_LABELS[issue['medium']]}"


class PaymentsExportQuery(BaseModel):
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD``: payments submitted on these days (Beijing time), both included."""

    from_: dt.date = Field(alias="from", description="起始日期（含），北京时间")
    to: dt.date = Field(description="截止日期（含），北京时间；与起始日期相隔不超过 366 天")


class LogisticsQuery(BaseModel):
    """``?session_id=``: the session whose mailing list is wanted."""

    session_id: str = Field(min_length=1, max_length=64, description="班次 id")
