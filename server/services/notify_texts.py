"""Notification texts the association edits: per kind, a wording with named placeholders, or the code's own.

Services word each notification themselves when they enqueue it (the text travels in the ``notify``
job) and put the facts it names in its ``data``. For the kinds of :data:`TEXT_KINDS`, an administrator
may store another wording here; the ``notify`` job renders it from the job's ``data`` when the message
goes out. Without a stored wording — or if rendering fails for an older job whose data lacks a fact —
the code's text is sent unchanged, so "restore default" is simply deleting the stored wording.

Placeholders are ``{名称}``: only the names listed for the kind, no format specs, no attribute access
(checked on save; see :func:`check_template`).

Owns ``notification_texts`` (``_id`` = kind).
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.models.notify_texts import NotificationTextIn, NotificationTextList, NotificationTextOut, PlaceholderOut
from server.services import Principal
from server.services.audit import AuditLog

SHANGHAI = timezone(timedelta(hours=8))
MAX_LENGTH = 300

Values = Callable[[dict[str, Any]], dict[str, str]]


@dataclass(frozen=True)
class TextKind:
    """One kind of notification whose wording may be edited."""

    label: str
    default: str
    placeholders: dict[str, str]  # name → what it is
    values: Values  # the job's data → the placeholders' values


def _local(iso: str, pattern: str) -> str:
    at = datetime.fromisoformat(iso)
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(SHANGHAI).strftime(pattern)


def _yuan(fen: Any) -> str:
    return f"{int(fen) / 100:.2f}"


def _deadline(iso: str) -> str:
    at = datetime.fromisoformat(iso)
    local = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(SHANGHAI)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


TEXT_KINDS: dict[str, TextKind] = {
    "payment_approved": TextKind(
        "缴费审核通过", "您提交的缴费（编号 {编号}，金额 {金额} 元）已审核通过。{班次}",
        {"编号": "缴费编号", "金额": "金额（元）", "班次": "所缴班次名称"},
        lambda d: {"编号": d["reference"], "金额": _yuan(d["amount_fen"]), "班次": "、".join(d["session_titles"])}),
    "payment_rejected": TextKind(
        "缴费审核未通过", "您提交的缴费（编号 {编号}）未通过审核：{原因}。请于 {截止时间} 前重新提交缴费凭证。",
        {"编号": "缴费编号", "原因": "驳回原因", "截止时间": "重新提交截止时间"},
        lambda d: {"编号": d["reference"], "原因": d["reason"], "截止时间": _local(d["pay_by"], "%Y-%m-%d %H:%M")}),
    "payment_deadline_near": TextKind(
        "缴费截止提醒",
        "您报名的「{班次}」尚未缴费（{金额}元），请于{截止时间} 前完成转账并上传缴费凭证，逾期名额将被释放。",
        {"班次": "班次名称", "金额": "应缴金额（元）", "截止时间": "缴费截止时间"},
        lambda d: {"班次": d["session_title"], "金额": _yuan(d["amount_fen"]), "截止时间": _deadline(d["pay_by"])}),
    "results_published": TextKind(
        "考试成绩发布", "您参加的「{课程}」考试成绩已发布：{结果}",
        {"课程": "课程名称", "结果": "合格 / 不合格 / 缺考"},
        lambda d: {"课程": d["course_name"], "结果": d["verdict_label"]}),
    "certificate_ready": TextKind(
        "合格证签发", "您的「{课程}」合格证已签发（{证书编号}），可在小程序中下载",
        {"课程": "课程名称", "证书编号": "合格证编号"},
        lambda d: {"课程": d["course_name"], "证书编号": d["number"]}),
    "unit_verified": TextKind(
        "单位认证通过", "贵单位的营业执照已通过协会审核，现在可以绑定已注册的学员。", {}, lambda d: {}),
    "unit_rejected": TextKind(
        "单位认证未通过", "贵单位的营业执照未通过协会审核，原因：{原因}。请重新上传。", {"原因": "驳回原因"},
        lambda d: {"原因": d["reason"]}),
}


def check_template(kind: TextKind, text: str) -> None:
    """422 on ``text`` unless every placeholder is one of the kind's, written plainly as ``{名称}``."""
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(text) if name is not None]
    except ValueError:
        raise errors.validation("花括号不成对：占位符请写成 {名称}，正文中不要单独使用 { 或 }",
                                {"text": "花括号不成对"}) from None
    for name, spec, conv in fields:
        if name not in kind.placeholders or spec or conv:
            allowed = "、".join("{" + n + "}" for n in kind.placeholders) or "无"
            message = f"不支持的占位符 {{{name}}}，可用：{allowed}"
            raise errors.validation(message, {"text": message})


class NotificationTexts:
    """The stored wordings, their defaults, and rendering at delivery."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], *, audit: AuditLog,
                 now: Callable[[], datetime] | None = None) -> None:
        self.texts = db["notification_texts"]
        self.audit = audit
        self.now = now or (lambda: datetime.now(UTC))

    async def list(self) -> NotificationTextList:
        """Every editable kind with its current and default wording."""
        stored = {d["_id"]: d for d in await self.texts.find({"_id": {"$in": list(TEXT_KINDS)}}).to_list()}
        return NotificationTextList(items=[self._out(k, stored.get(k)) for k in TEXT_KINDS])

    def _kind(self, kind: str) -> TextKind:
        if kind not in TEXT_KINDS:
            raise errors.not_found("没有这种通知", "notification_kind_not_found")
        return TEXT_KINDS[kind]

    def _out(self, kind: str, doc: dict[str, Any] | None) -> NotificationTextOut:
        spec = TEXT_KINDS[kind]
        return NotificationTextOut(
            kind=kind, label=spec.label, text=doc["text"] if doc else spec.default, default_text=spec.default,
            customized=doc is not None, updated_at=doc.get("updated_at") if doc else None,
            placeholders=[PlaceholderOut(name=n, description=d) for n, d in spec.placeholders.items()],
        )

    async def put(self, kind: str, body: NotificationTextIn, *, by: Principal, ip: str) -> NotificationTextOut:
        """Store a wording (validated); audited as ``notification_text.update``."""
        spec = self._kind(kind)
        check_template(spec, body.text)
        doc = {"_id": kind, "text": body.text, "updated_at": self.now(), "updated_by": by.account_id}
        await self.texts.replace_one({"_id": kind}, doc, upsert=True)
        await self.audit.record("notification_text.update", actor_id=by.account_id, actor_role=by.role,
                                subject=kind, ip=ip, details={"text": body.text})
        return self._out(kind, doc)

    async def restore(self, kind: str, *, by: Principal, ip: str) -> NotificationTextOut:
        """Back to the code's wording; audited as ``notification_text.restore``."""
        self._kind(kind)
        result = await self.texts.delete_one({"_id": kind})
        if result.deleted_count:
            await self.audit.record("notification_text.restore", actor_id=by.account_id, actor_role=by.role,
                                    subject=kind, ip=ip)
        return self._out(kind, None)

    async def render(self, kind: str, data: dict[str, Any], fallback: str) -> str:
        """The stored wording filled from the job's ``data``; ``fallback`` (the code's text) otherwise."""
        spec = TEXT_KINDS.get(kind)
        if spec is None:
            return fallback
        doc = await self.texts.find_one({"_id": kind})
        if doc is None:
            return fallback
        try:
            return str(doc["text"]).format_map(spec.values(data))
        except (KeyError, ValueError, TypeError, IndexError):
            return fallback  # an older job without the facts: its own wording is still right
