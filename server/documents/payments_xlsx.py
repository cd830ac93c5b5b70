"""Excel sheets of the payment area: the logistics (mailing) list of a session, the payments of a period.

Pure renderers: rows in (plain dicts the services prepared, personal data already decided),
``(filename, content_type, bytes)`` out. Write-only workbooks (constant memory), Chinese
headers, column widths fitted to Chinese text, times as real Excel dates in Beijing time
(``yyyy-mm-dd hh:mm``, sortable and shown as Chinese users write them), amounts in 元 as
numbers with two decimals, and every text cell through :func:`escape_cell` (a name that starts
with ``=`` stays text).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from server.documents.xlsx_common import XLSX_CONTENT_TYPE, escape_cell

DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DATE_FORMAT = "yyyy-mm-dd"
YUAN_FORMAT = "#,##0.00"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Column:
    """One column: the row key, the Chinese header, the width in characters, the number format."""

    key: str
    label: str
    width: int
    number_format: str | None = None
    wrap: bool = False


LOGISTICS_COLUMNS = (
    Column("index", "序号", 6),
    Column("trainee_name", "学员姓名", 10),
    Column("unit_name", "单位", 28, wrap=True),
    Column("recipient", "收件人", 10),
    Column("phone", "收件人电话", 14),
    Column("region", "省市区", 18),
    Column("address", "详细地址", 36, wrap=True),
    Column("postcode", "邮编", 8),
    Column("contents", "寄送内容", 30, wrap=True),
    Column("note", "备注", 20, wrap=True),
)

PAYMENT_COLUMNS = (
    Column("reference", "缴费编号", 12),
    Column("payer_kind", "付款方类型", 9),
    Column("payer_name", "付款方", 24, wrap=True),
    Column("unit_name", "单位", 28, wrap=True),
    Column("trainees", "报名人员（证件号脱敏）", 40, wrap=True),
    Column("sessions", "培训班次", 36, wrap=True),
    Column("amount_yuan", "金额（元）", 12, YUAN_FORMAT),
    Column("status", "状态", 8),
    Column("submitted_at", "提交时间", 17, DATETIME_FORMAT),
    Column("reviewer", "审核人", 10),
    Column("decided_at", "审核时间", 17, DATETIME_FORMAT),
    Column("reason", "驳回原因", 20, wrap=True),
    Column("invoice_number", "发票号码", 22),
    Column("invoice_type", "发票类型", 10),
    Column("invoice_date", "开票日期", 11, DATE_FORMAT),
)


def _value(value: Any) -> Any:
    """Beijing wall-clock time for a datetime (Excel has no zones); text escaped against formulas."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(SHANGHAI)
        return value.replace(tzinfo=None, microsecond=0)
    if isinstance(value, (date, int, float)) or value is None:
        return value
    return escape_cell(str(value))


def _sheet(title: str, heading: str, columns: Sequence[Column], rows: Iterable[dict[str, Any]]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    for index, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    sheet.freeze_panes = "A3"
    title_cell = WriteOnlyCell(sheet, value=escape_cell(heading))
    title_cell.font = Font(bold=True, size=13)
    sheet.append([title_cell])
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, value=column.label)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(horizontal="center", vertical="center")
        header.append(cell)
    sheet.append(header)
    wrap = Alignment(wrap_text=True, vertical="top")
    top = Alignment(vertical="top")
    for row in rows:
        cells = []
        for column in columns:
            cell = WriteOnlyCell(sheet, value=_value(row.get(column.key)))
            if column.number_format:
                cell.number_format = column.number_format
            cell.alignment = wrap if column.wrap else top
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def render_logistics(session_title: str, session_code: str, rows: Iterable[dict[str, Any]]) -> tuple[str, str, bytes]:
    """The mailing list of one session: who gets books or a paper invoice, where (one row per enrollment)."""
    numbered = ({**row, "index": i} for i, row in enumerate(rows, start=1))
    data = _sheet("物流清单", f"{session_title} 物流清单（培训书籍 / 纸质发票）", LOGISTICS_COLUMNS, numbered)
    return f"物流清单-{session_code}.xlsx", XLSX_CONTENT_TYPE, data


def render_payments(start: date, end: date, rows: Iterable[dict[str, Any]]) -> tuple[str, str, bytes]:
    """The payments submitted from ``start`` to ``end`` (Beijing days, both included)."""
    heading = f"缴费记录 {start.isoformat()} 至 {end.isoformat()}（按提交时间，北京时间）"
    data = _sheet("缴费记录", heading, PAYMENT_COLUMNS, rows)
    return f"缴费记录-{start.isoformat()}-{end.isoformat()}.xlsx", XLSX_CONTENT_TYPE, data
