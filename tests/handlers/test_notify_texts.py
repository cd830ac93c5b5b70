"""Notification wordings: the admin edits one (placeholders checked), messages go out in it, restore brings back the code's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services import Principal
from server.services.container import Services
from server.services.enrollment.deadlines import reminder_text
from server.services.jobs.notify import enqueue_notification
from server.services.notify_texts import TEXT_KINDS
from tests.client import ApiClient
from tests.factories import staff_token
from tests.outbox import wait_for_notes

pytestmark = pytest.mark.usefixtures("db")

TEXTS = "/api/v1/admin/notification-texts"


def test_defaults_say_what_the_code_says() -> None:
    """The default wording, filled from a job's data, is the text the service enqueues."""
    pay_by = datetime(2026, 12, 5, 8, 30, tzinfo=UTC)
    data = {"session_title": "勘察安全培训", "pay_by": pay_by.isoformat(), "amount_fen": 120050}
    spec = TEXT_KINDS["payment_deadline_near"]
    assert spec.default.format_map(spec.values(data)) == reminder_text("勘察安全培训", pay_by, 120050)
    spec = TEXT_KINDS["payment_rejected"]
    rendered = spec.default.format_map(spec.values({"reference": "P1", "reason": "金额不符", "pay_by": pay_by.isoformat()}))
    assert rendered == "您提交的缴费（编号 P1）未通过审核：金额不符。请于 2026-12-05 16:30 前重新提交缴费凭证。"


async def test_an_edited_wording_is_sent_and_restore_brings_back_the_default(
    api: ApiClient, settings: Settings, services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    admin = await staff_token(services, "admin")
    listed = (await api.get(TEXTS, token=admin)).json["items"]
    unit_rejected = next(i for i in listed if i["kind"] == "unit_rejected")
    assert unit_rejected["customized"] is False and unit_rejected["text"] == unit_rejected["default_text"]
    assert [p["name"] for p in unit_rejected["placeholders"]] == ["原因"]

    r = await api.put(TEXTS + "/unit_rejected", {"text": "【协会】执照审核未通过：{原因}。请登录后重新上传。"}, token=admin)
    assert r.status == 200, r.body
    assert r.json["customized"] is True
    account = ObjectId()
    await enqueue_notification(services.jobs, account, "unit_rejected", "code text", {"reason": "照片模糊"})
    [note] = await wait_for_notes(settings.notify_outbox, str(account), "unit_rejected")
    assert note["text"] == "【协会】执照审核未通过：照片模糊。请登录后重新上传。"
    [entry] = await db["audit_log"].find({"action": "notification_text.update"}).to_list()
    assert entry["subject"] == "unit_rejected" and entry["actor_role"] == "admin"

    r = await api.delete(TEXTS + "/unit_rejected", token=admin)
    assert r.status == 200 and r.json["customized"] is False and r.json["text"] == unit_rejected["default_text"]
    other = ObjectId()
    await enqueue_notification(services.jobs, other, "unit_rejected", "code text", {"reason": "照片模糊"})
    [note] = await wait_for_notes(settings.notify_outbox, str(other), "unit_rejected")
    assert note["text"] == "code text"
    assert await db["audit_log"].count_documents({"action": "notification_text.restore"}) == 1


async def test_a_job_without_the_facts_keeps_its_own_text(api: ApiClient, settings: Settings, services: Services) -> None:
    admin = await staff_token(services, "admin")
    assert (await api.put(TEXTS + "/unit_rejected", {"text": "原因：{原因}"}, token=admin)).status == 200
    account = ObjectId()
    await enqueue_notification(services.jobs, account, "unit_rejected", "code text", {})
    [note] = await wait_for_notes(settings.notify_outbox, str(account), "unit_rejected")
    assert note["text"] == "code text"


@pytest.mark.parametrize("text", ["原因：{理由}", "原因：{原因!r}", "原因：{原因:>10}", "未闭合 {原因", "多余 }", "", "字" * 301,
                                  "{0}", "{原因.upper}"])
async def test_bad_wordings_are_422_and_nothing_is_stored(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]], text: str
) -> None:
    admin = await staff_token(services, "admin")
    r = await api.put(TEXTS + "/unit_rejected", {"text": text}, token=admin)
    assert r.status == 422, r.body
    assert any("\u4e00" <= ch <= "\u9fff" for ch in r.json["error"]["message"])
    assert await db["notification_texts"].count_documents({}) == 0


async def test_unknown_kinds_are_404(api: ApiClient, services: Services) -> None:
    admin = await staff_token(services, "admin")
    assert (await api.put(TEXTS + "/no_such_kind", {"text": "x"}, token=admin)).status == 404
    assert (await api.delete(TEXTS + "/no_such_kind", token=admin)).status == 404


@pytest.mark.parametrize("role", ["reviewer", "scanner"])
async def test_only_admins_edit_wordings(api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]],
                                         role: str) -> None:
    token = await staff_token(services, role)
    assert (await api.get(TEXTS, token=token)).status == 403
    assert (await api.put(TEXTS + "/unit_rejected", {"text": "x"}, token=token)).status == 403
    assert (await api.delete(TEXTS + "/unit_rejected", token=token)).status == 403
    assert await db["notification_texts"].count_documents({}) == 0


async def test_the_seal_preview_is_admin_only_and_404_before_one_is_set(api: ApiClient, services: Services) -> None:
    """``/api/v1/admin/seal.png`` (the settings page's preview)."""
    import io

    from PIL import Image

    admin = await staff_token(services, "admin")
    r = await api.get("/api/v1/admin/seal.png", token=admin)
    assert (r.status, r.json["error"]["code"]) == (404, "seal_not_set")
    png = io.BytesIO()
    seal = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    seal.paste((200, 0, 0, 255), (40, 40, 160, 160))
    seal.save(png, "PNG")
    await services.certificates.set_seal(Principal(ObjectId(), "admin"), png.getvalue(), ip=None)
    r = await api.get("/api/v1/admin/seal.png", token=admin)
    assert r.status == 200 and r.body[:8] == b"\x89PNG\r\n\x1a\n"
    assert (await api.get("/api/v1/admin/seal.png", token=await staff_token(services, "reviewer"))).status == 403
