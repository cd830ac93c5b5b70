"""The logistics list and the payments export: open with openpyxl, the expected rows, nothing from elsewhere."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.services.accounts.identity import SHANGHAI, mask_id_number
from server.services.container import Services
from tests.client import ApiClient
from tests.handlers.enrollment.test_enrollments import RECIPIENT_PHONE
from tests.services.payments.helpers import (
    admin_token,
    enrolled_trainee,
    make_payment,
    session_id,
    staff_enrolled,
)
from tests.staff_helpers import unit_client

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
async def admin(services: Services) -> str:
    return await admin_token(services)


@pytest.fixture
async def reviewer(services: Services) -> str:
    return await admin_token(services, "reviewer")


def sheet_rows(body: bytes) -> list[list[Any]]:
    """The rows of the only sheet (title row, header row, data)."""
    workbook = openpyxl.load_workbook(io.BytesIO(body))
    assert len(workbook.worksheets) == 1
    return [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]


def all_text(rows: list[list[Any]]) -> list[str]:
    """Every cell as text (a zipped workbook cannot be searched as bytes)."""
    return [str(value) for row in rows for value in row if value is not None]


def as_dicts(rows: list[list[Any]]) -> list[dict[str, Any]]:
    header = rows[1]
    return [dict(zip(header, row, strict=True)) for row in rows[2:]]


async def invoice(api: ApiClient, token: str, payment_id: Any, number: str, medium: str = "paper") -> None:
    r = await api.put(f"/api/v1/review/payments/{payment_id}/invoice",
                      {"number": number, "date": "2026-03-02", "type": "normal", "medium": medium}, token=token)
    assert r.status == 200, r.body


async def test_logistics_lists_books_and_paper_invoices_of_the_session_only(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]], admin: str, reviewer: str,
) -> None:
    books = await session_id(api, admin, mails_books=True)
    _, first_id, first = await enrolled_trainee(api, services, books, address=True)
    _, second_id, second = await enrolled_trainee(api, services, books, address=True)
    _, waiting_id, waiting = await enrolled_trainee(api, services, books, address=True)
    paid = await make_payment(services, [first], payer_role="trainee", payer_id=first_id)
    await make_payment(services, [second], payer_role="trainee", payer_id=second_id)
    await make_payment(services, [waiting], payer_role="trainee", payer_id=waiting_id, status="submitted")
    await invoice(api, reviewer, paid["_id"], "11110000")
    # another session (no books): an approved payment with a paper invoice shows only in its own list
    other = await session_id(api, admin)
    _, other_id, other_enrollment = await enrolled_trainee(api, services, other)
    elsewhere = await make_payment(services, [other_enrollment], payer_role="trainee", payer_id=other_id)
    await invoice(api, reviewer, elsewhere["_id"], "99990000")

    r = await api.get(f"/api/v1/review/exports/logistics.xlsx?session_id={books}", token=reviewer)
    assert r.status == 200 and r.headers["Content-Type"] == XLSX, r.body[:200]
    assert "filename*=UTF-8''" in r.headers["Content-Disposition"]
    rows = sheet_rows(r.body)
    assert "物流清单" in rows[0][0]
    assert rows[1] == ["序号", "学员姓名", "单位", "收件人", "收件人电话", "省市区", "详细地址", "邮编", "寄送内容", "备注"]
    data = as_dicts(rows)
    assert len(data) == 2  # the payment under review is not mailed anything yet
    by_content = {row["寄送内容"]: row for row in data}
    assert set(by_content) == {"培训书籍、纸质普票 发票号码 11110000", "培训书籍"}
    row = by_content["培训书籍、纸质普票 发票号码 11110000"]
    assert row["收件人电话"] == RECIPIENT_PHONE  # in full: the courier calls the recipient
    assert row["详细地址"] == "宜山路 700 号" and row["收件人"] == "张三" and row["学员姓名"] == "张三"
    assert not any("99990000" in text for text in all_text(rows))  # nothing of the other session

    r = await api.get(f"/api/v1/review/exports/logistics.xlsx?session_id={other}", token=admin)
    data = as_dicts(sheet_rows(r.body))
    assert [row["寄送内容"] for row in data] == ["纸质普票 发票号码 99990000"]
    assert data[0]["备注"] == "未填写收货地址，请联系付款方"  # a session without books asked for no address
    assert await db["audit_log"].count_documents({"action": "payment.logistics_export"}) == 2


async def test_a_unit_payments_paper_invoice_is_listed_once(
    api: ApiClient, services: Services, admin: str, reviewer: str,
) -> None:
    sid = await session_id(api, admin, mails_books=True)
    unit = await unit_client(api, services.settings.sms_outbox)
    unit_id = (await unit.get("/api/v1/me")).json["id"]
    staff = [e for _, _, e in await staff_enrolled(api, services, unit, sid, 3, address=True)]
    payment = await make_payment(services, staff, payer_role="unit", payer_id=unit_id)
    await invoice(api, reviewer, payment["_id"], "22220000")
    data = as_dicts(sheet_rows((await api.get(f"/api/v1/review/exports/logistics.xlsx?session_id={sid}",
                                              token=reviewer)).body))
    assert [row["寄送内容"] for row in data] == ["培训书籍、纸质普票 发票号码 22220000", "培训书籍", "培训书籍"]
    assert data[0]["备注"].startswith("发票含 3 人的费用") and data[0]["单位"] == "上海某某勘察设计有限公司"


async def test_logistics_is_for_reviewers_and_needs_a_real_session(
    api: ApiClient, services: Services, admin: str, reviewer: str,
) -> None:
    sid = await session_id(api, admin)
    scanner = await admin_token(services, "scanner")
    unit = await unit_client(api, services.settings.sms_outbox)
    for token in (scanner, unit.token):
        assert (await api.get(f"/api/v1/review/exports/logistics.xlsx?session_id={sid}", token=token)).status == 403
    r = await api.get(f"/api/v1/review/exports/logistics.xlsx?session_id={ObjectId()}", token=reviewer)
    assert r.status == 404
    assert (await api.get("/api/v1/review/exports/logistics.xlsx", token=reviewer)).status == 422
    empty = await api.get(f"/api/v1/review/exports/logistics.xlsx?session_id={sid}", token=reviewer)
    assert empty.status == 200 and len(sheet_rows(empty.body)) == 2  # title and header, no rows


async def test_payments_export_of_a_period(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]], admin: str, reviewer: str,
) -> None:
    sid = await session_id(api, admin)
    reviewer_id = (await api.get("/api/v1/me", token=reviewer)).json["id"]
    people = []
    for _ in range(4):
        people.append(await enrolled_trainee(api, services, sid))
    march = datetime(2026, 3, 10, 9, 30, tzinfo=SHANGHAI).astimezone(UTC)
    inside = await make_payment(services, [people[0][2]], payer_role="trainee", payer_id=people[0][1],
                                submitted_at=march, reviewer_id=ObjectId(reviewer_id))
    await invoice(api, reviewer, inside["_id"], "33330000", medium="electronic")
    rejected = await make_payment(services, [people[1][2]], payer_role="trainee", payer_id=people[1][1],
                                  status="rejected", reason="金额不符", submitted_at=march + timedelta(days=1))
    # the last Beijing day of the period, 23:59, is in; the next Beijing midnight is out
    late = datetime(2026, 3, 31, 23, 59, tzinfo=SHANGHAI).astimezone(UTC)
    last_day = await make_payment(services, [people[2][2]], payer_role="trainee", payer_id=people[2][1],
                                  status="submitted", submitted_at=late)
    await make_payment(services, [people[3][2]], payer_role="trainee", payer_id=people[3][1],
                       status="submitted", submitted_at=late + timedelta(minutes=1))

    r = await api.get("/api/v1/admin/exports/payments.xlsx?from=2026-03-01&to=2026-03-31", token=admin)
    assert r.status == 200 and r.headers["Content-Type"] == XLSX, r.body[:300]
    data = as_dicts(sheet_rows(r.body))
    assert [row["缴费编号"] for row in data] == [inside["reference"], rejected["reference"], last_day["reference"]]
    first = data[0]
    id_number = await _id_number(services, people[0][1])
    assert first["报名人员（证件号脱敏）"] == f"张三（{mask_id_number(id_number)}）"
    assert not any(id_number in text for text in all_text(sheet_rows(r.body)))  # masked everywhere
    assert first["金额（元）"] == 1200 and first["状态"] == "已通过" and first["付款方类型"] == "个人"
    assert first["提交时间"] == datetime(2026, 3, 10, 9, 30)  # Beijing wall-clock time
    assert first["审核人"].startswith("reviewer")
    assert first["发票号码"] == "33330000" and first["发票类型"] == "普票·电子"
    assert data[1]["状态"] == "已驳回" and data[1]["驳回原因"] == "金额不符"
    assert data[2]["状态"] == "待审核" and data[2]["审核人"] is None
    assert await db["audit_log"].count_documents({"action": "payment.export"}) == 1


@pytest.mark.parametrize("query,code", [
    ("from=2025-01-01&to=2026-01-02", "period_too_long"),
    ("from=2026-03-02&to=2026-03-01", "period_reversed"),
])
async def test_payments_export_refuses_a_bad_period(api: ApiClient, admin: str, query: str, code: str) -> None:
    r = await api.get(f"/api/v1/admin/exports/payments.xlsx?{query}", token=admin)
    assert r.status == 400 and r.error_code == code
    assert r.json["error"]["message"]


async def test_payments_export_is_for_admins_and_a_full_year_is_allowed(api: ApiClient, admin: str,
                                                                        reviewer: str) -> None:
    assert (await api.get("/api/v1/admin/exports/payments.xlsx?from=2026-01-01&to=2026-01-31",
                          token=reviewer)).status == 403
    r = await api.get("/api/v1/admin/exports/payments.xlsx?from=2024-01-01&to=2024-12-31", token=admin)  # 366 days
    assert r.status == 200 and len(sheet_rows(r.body)) == 2
    assert (await api.get("/api/v1/admin/exports/payments.xlsx?from=2026-01-01", token=admin)).status == 422


async def _id_number(services: Services, trainee_id: str) -> str:
    account = await services.db["accounts"].find_one({"_id": ObjectId(trainee_id)})
    assert account is not None
    return services.cipher.decrypt(account["trainee"]["id_number"], context="id_number")
