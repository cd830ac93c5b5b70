"""The attendance export of one session (the record kept for continuing-education hours). Pure."""

from __future__ import annotations

import io
from dataclasses import dataclass

from openpyxl import Workbook

from server.documents.xlsx_common import XLSX_CONTENT_TYPE, escape_cell

HEADER = ["培训日期", "签到时间", "姓名", "证件号（脱敏）", "单位", "听课证编号", "签到设备", "方式"]


@dataclass(frozen=True)
class AttendanceRow:
    """One check-in as exported (times already in Beijing time, text)."""

    day: str
    time: str
    name: str
    id_masked: str
    unit: str
    serial: str
    device: str
    source: str


def render_attendance(session_code: str, rows: list[AttendanceRow]) -> tuple[str, str, bytes]:
    """One sheet, one row per check-in, by day then time."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("签到记录")
    sheet.append(HEADER)
    for r in rows:
        sheet.append([escape_cell(v) for v in (r.day, r.time, r.name, r.id_masked, r.unit, r.serial, r.device,
                                                 "离线" if r.source == "offline" else "在线")])
    out = io.BytesIO()
    book.save(out)
    return f"签到记录-{session_code}.xlsx", XLSX_CONTENT_TYPE, out.getvalue()
