"""The enrollments of one session as staff export them (报名名单). Pure."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, timedelta, timezone
from typing import Any

from openpyxl import Workbook

from server.documents.xlsx_common import XLSX_CONTENT_TYPE, escape_cell

HEADER = ["序号", "姓名", "证件号（脱敏）", "报名单位", "报名方式", "审批状态", "费用（元）", "报名时间"]
BEIJING = timezone(timedelta(hours=8))
ROLE_LABELS = {"trainee": "个人报名", "unit": "单位报名"}


@dataclass(frozen=True)
class RosterSheetRow:
    """One enrollment as exported."""

    name: str
    id_masked: str
    unit: str
    by: str
    status: str
    fee_yuan: float
    created: str

    @classmethod
    def of(cls, row: Any) -> RosterSheetRow:
        """From a :class:`server.models.roster.SessionEnrollmentRow` (times in Beijing time)."""
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
        return cls(name=row.name, id_masked=row.id_masked, unit=row.unit_name or "",
                   by=ROLE_LABELS.get(row.created_by_role, row.created_by_role), status=row.status.label,
                   fee_yuan=round(row.fee_fen / 100, 2), created=created.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M"))


def render_roster(title: str, session_code: str, rows: list[RosterSheetRow]) -> tuple[str, str, bytes]:
    """One sheet: a title line, the header, one row per enrollment."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("报名名单")
    sheet.append([escape_cell(f"{title} 报名名单（共 {len(rows)} 人）")])
    sheet.append(HEADER)
    for n, r in enumerate(rows, start=1):
        sheet.append([n, *(escape_cell(v) for v in (r.name, r.id_masked, r.unit, r.by, r.status)), r.fee_yuan,
                      r.created])
    out = io.BytesIO()
    book.save(out)
    return f"报名名单-{session_code}.xlsx", XLSX_CONTENT_TYPE, out.getvalue()
