"""The results sheets (pure): the import template, the import reader, the verdict sheet.

Columns: 身份证号* · 姓名 · 成绩 · 缺考 ("是" for 缺考). The template's example row (grey, the ID
number ``示例``) is skipped. Reading goes through the same container checks as the staff import
(size, zip bombs, macros, encryption) and refuses formulas; values are returned raw, judged by the
service.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from server.documents.xlsx_budget import unreadable
from server.documents.xlsx_common import XLSX_CONTENT_TYPE, check_xlsx_container, escape_cell, load_workbook_safely, refused
from server.errors import AppError

SHEET = "成绩"
COLUMNS = (("id_number", "身份证号*", 24), ("name", "姓名", 12), ("score", "成绩", 10), ("absent", "缺考", 8))
BY_LABEL = {label.rstrip("*"): field for field, label, _ in COLUMNS}
EXAMPLE_ID = "示例"
HELP = ("成绩为 0–100 的整数；缺考者“缺考”填“是”，成绩留空。身份证号须为本班次已缴费审核通过的学员。"
        "先检查（逐行结果），全部正确后方可导入：要么全部导入，要么全部不导入。")
MAX_BYTES = 2 * 1024 * 1024


def _header(sheet: Any, labels: Sequence[tuple[str, int]]) -> None:
    sheet.append([label for label, _ in labels])
    for index, (_, width) in enumerate(labels, start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(horizontal="center")
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"


def _bytes(workbook: Workbook) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def render_results_template(session_code: str) -> tuple[str, str, bytes]:
    """The template of a session: header, an example row, the rules."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = SHEET
    _header(sheet, [(label, width) for _, label, width in COLUMNS])
    sheet.append([EXAMPLE_ID, "张三", 85, None])
    for cell in sheet[2]:
        cell.font = Font(italic=True, color="808080")
    sheet.column_dimensions["A"].number_format = "@"
    notes = workbook.create_sheet("说明")
    notes.column_dimensions["A"].width = 100
    notes.append([HELP])
    return f"成绩导入模板-{session_code}.xlsx", XLSX_CONTENT_TYPE, _bytes(workbook)


def read_results_sheet(data: bytes, *, max_rows: int) -> list[tuple[int, dict[str, Any]]]:
    """The non-empty data rows as ``(row number, {field: raw value})`` (the example row skipped)."""
    check_xlsx_container(data, max_bytes=MAX_BYTES)
    try:
        workbook = load_workbook_safely(data)
    except AppError:
        raise
    except Exception:
        raise unreadable() from None
    try:
        sheet = workbook[SHEET] if SHEET in workbook.sheetnames else workbook.worksheets[0]
        rows = sheet.iter_rows(min_row=1, max_row=max_rows + 50, max_col=len(COLUMNS) + 4)
        header = next(rows, None)
        fields = {i: BY_LABEL[str(c.value).replace("*", "").strip()] for i, c in enumerate(header or ())
                  if c.value is not None and str(c.value).replace("*", "").strip() in BY_LABEL}
        if "id_number" not in fields.values():
            raise refused("xlsx_bad_header", "表头缺少必填列：身份证号，请使用导入模板", missing=["身份证号"])
        found: list[tuple[int, dict[str, Any]]] = []
        for number, row in enumerate(rows, start=2):
            values: dict[str, Any] = {}
            for i, cell in enumerate(row):
                if i not in fields:
                    continue
                if getattr(cell, "data_type", None) == "f":
                    raise refused("xlsx_formula", f"单元格 {cell.coordinate} 含有公式，请粘贴为数值后再上传",
                                  cell=cell.coordinate)
                value = cell.value.strip() or None if isinstance(cell.value, str) else cell.value
                values[fields[i]] = value
            if all(v is None for v in values.values()) or values.get("id_number") == EXAMPLE_ID:
                continue
            if len(found) >= max_rows:
                raise refused("xlsx_too_many_rows", f"数据行过多，每次最多导入 {max_rows} 行", limit=max_rows)
            found.append((number, values))
        if not found:
            raise refused("xlsx_empty", "表格中没有成绩，请使用导入模板填写")
        return found
    except AppError:
        raise
    except Exception:
        raise unreadable() from None
    finally:
        workbook.close()


def render_import_verdicts(rows: Sequence[dict[str, Any]]) -> tuple[str, str, bytes]:
    """Each row's verdict (ID numbers masked)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "检查结果"
    _header(sheet, [("行号", 8), ("姓名", 12), ("身份证号", 22), ("成绩", 8), ("出勤", 10), ("结果", 10),
                    ("说明", 50)])
    for row in rows:
        sheet.append([escape_cell(v) for v in (row["row"], row.get("name"), row.get("id_masked"), row.get("score_text"),
                                               row.get("attendance"), row["verdict_label"], row["message"])])
    return "成绩导入检查结果.xlsx", XLSX_CONTENT_TYPE, _bytes(workbook)
