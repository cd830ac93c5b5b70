"""The unit's staff sheets: import template, import reader, import result, staff export.

Pure functions: data in, ``(filename, content_type, bytes)`` out (or rows out
for the reader); the caller runs them in the executor. The columns are the
manual's 基本信息 form (§3.3), in its order; required ones are marked ``*``
(性别 and 出生年月 are not: a resident ID gives them, other IDs need them, and
the 说明 sheet says so). The columns typed as text (ID number, phone, 出生年月,
参加工作时间, 邮编) are formatted as text on every row a sheet may hold, so
Excel keeps leading zeros and long digits and does not turn ``2010.10`` into a
number. The example row carries the public example number of GB 11643: the
import recognises it and skips the row (verdict ``example``).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation

from server.documents.xlsx_budget import SheetBudget, scan_budget, scan_worksheets, unreadable
from server.documents.xlsx_common import XLSX_CONTENT_TYPE, escape_cell, load_workbook_safely, refused
from server.documents.xlsx_fast import NotFast, read_sheet_values
from server.errors import AppError
from server.models.profile import EDUCATION_LEVELS, ETHNICITIES, HONORS, POLITICAL_STATUSES
from server.services.accounts.identity import ID_TYPE_LABELS

SEX_LABELS = {"male": "男", "female": "女"}
EXAMPLE_ID = "11010519491231002X"  # the public test number of GB 11643
SHEET_STAFF = "学员信息"
SHEET_HELP = "说明"
SHEET_OPTIONS = "选项"
MAX_COLUMNS = 40
MAX_EMPTY_ROWS = 1000  # blank rows tolerated below the last allowed data row
# <row> and <c> elements per allowed row: the template's 19 columns (text-formatted cells
# included) with room for notes beside them. More is no sheet of ours.
CELLS_PER_ROW = 25


@dataclass(frozen=True)
class Column:
    """One column of the staff sheet."""

    field: str
    label: str
    required: bool = False
    choices: tuple[str, ...] = ()
    width: int = 14
    text: bool = False  # formatted as text, so Excel keeps leading zeros and long digits


COLUMNS: tuple[Column, ...] = (
    Column("name", "姓名", True, width=10),
    Column("sex", "性别", False, tuple(SEX_LABELS.values()), width=6),
    Column("id_type", "证件类型", True, tuple(ID_TYPE_LABELS.values()), width=22),
    Column("id_number", "身份证号", True, width=22, text=True),
    Column("phone", "手机号", True, width=14, text=True),
    Column("email", "邮箱", True, width=22),
    Column("birth_date", "出生年月", False, width=12, text=True),
    Column("education", "学历", False, EDUCATION_LEVELS),
    Column("ethnicity", "民族", False, ETHNICITIES, width=10),
    Column("political_status", "政治面貌", False, POLITICAL_STATUSES),
    Column("work_start", "参加工作时间", True, width=14, text=True),
    Column("title", "职称"),
    Column("specialty", "从事专业", True),
    Column("position", "职务"),
    Column("honor", "院士/大师", False, HONORS, width=20),
    Column("postcode", "邮编", width=8, text=True),
    Column("employer", "所属单位", width=24),
    Column("address", "联系地址", True, width=30),
    Column("remarks", "备注", width=20),
)
BY_LABEL = {c.label: c for c in COLUMNS}

EXAMPLE_ROW = {
    "name": "张三", "sex": "女", "id_type": "居民身份证", "id_number": EXAMPLE_ID, "phone": "13800138000",
    "email": "zhangsan@example.com", "birth_date": "1949-12-31", "education": "大学本科", "ethnicity": "汉族",
    "political_status": "群众", "work_start": "1972-07", "title": "高级工程师", "specialty": "岩土工程勘察",
    "position": "总工程师", "honor": "无", "postcode": "200000", "employer": "上海某某勘察设计有限公司",
    "address": "上海市黄浦区某某路 1 号", "remarks": "示例行：导入时自动跳过，可保留或删除",
}

HELP_LINES = (
    "批量导入学员（未在本系统注册的人员）说明",
    "1. 在“学员信息”表中每行填写一名人员，带 * 的列为必填项；第 2 行为示例（灰色，证件号码为国家标准的示例号码），"
    "导入时自动跳过，可保留或删除。",
    "2. 性别、证件类型、学历、民族、政治面貌、院士/大师请从下拉列表中选择。",
    "3. 性别和出生年月：证件类型为居民身份证时可留空（由号码推出），填写时须与号码一致；其他证件必须填写。",
    "4. 身份证号、手机号、邮编、出生年月、参加工作时间已设为文本格式，请直接输入，不要改为数字格式。",
    "5. 出生年月填写 YYYY-MM-DD、YYYY-MM、YYYY年MM月 或 YYYY.MM（只填年月时须为居民身份证，与号码核对），"
    "参加工作时间填写 YYYY-MM（如 2010-10）；若单元格已成数字，"
    "2010.05、2010.12 按 5 月、12 月读取，2010.1 无法区分 1 月和 10 月，会提示改为文本。",
    "6. 不要使用公式；单元格请填写数值或文字。文件不超过 5 MB、5000 行，不要设置密码，不要另存为 .xlsm。",
    "7. 上传后系统先逐行检查（不会写入）：已有账号的人员显示为“存在账号”，可改用“绑定已注册学员”；",
    "   确认无误后点击“确认导入”，所有正确的行一次性导入，要么全部成功，要么全部不导入。",
    "8. 导入的账号不设默认密码：每人获得一个一次性密码（仅显示一次，见导入结果表），"
    "或用登记的手机号通过短信验证激活，首次登录须设置自己的密码。",
    "9. 导入成功后，请批量上传照片：文件名为“姓名-身份证号.jpg”，如 张三-11010519491231002X.jpg。",
)


def _wb_bytes(workbook: Workbook) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _header(sheet: Any, labels: Sequence[str], widths: Sequence[int]) -> None:
    sheet.append(list(labels))
    for index, width in enumerate(widths, start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font = Font(bold=True, color="C00000" if cell.value.endswith("*") else "000000")
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(horizontal="center")
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"


def render_template(max_rows: int = 5000) -> tuple[str, str, bytes]:
    """The import template: header (required marked *), drop-downs, an example row, 说明."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = SHEET_STAFF
    _header(sheet, [c.label + ("*" if c.required else "") for c in COLUMNS], [c.width for c in COLUMNS])
    sheet.append([escape_cell(EXAMPLE_ROW.get(c.field)) for c in COLUMNS])
    for cell in sheet[2]:
        cell.font = Font(italic=True, color="808080")
    options = workbook.create_sheet(SHEET_OPTIONS)
    options.sheet_state = "hidden"
    last_row = max_rows + 1
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        if column.text:  # every row an import may hold, and the column's default below
            sheet.column_dimensions[letter].number_format = "@"
            for row in range(2, last_row + 1):
                sheet.cell(row=row, column=index).number_format = "@"
        if not column.choices:
            continue
        # Lists live in a hidden sheet: an inline list is capped at 255 characters (民族 is longer).
        options.cell(row=1, column=index, value=column.label)
        for row, choice in enumerate(column.choices, start=2):
            options.cell(row=row, column=index, value=choice)
        source = f"={quote_sheetname(SHEET_OPTIONS)}!${letter}$2:${letter}${len(column.choices) + 1}"
        validation = DataValidation(type="list", formula1=source, allow_blank=not column.required,
                                    showErrorMessage=True, errorTitle="输入有误",
                                    error=f"请从下拉列表中选择{column.label}")
        validation.add(f"{letter}2:{letter}{last_row}")
        sheet.add_data_validation(validation)
    help_sheet = workbook.create_sheet(SHEET_HELP)
    help_sheet.column_dimensions["A"].width = 110
    for line in HELP_LINES:
        help_sheet.append([line])
    help_sheet["A1"].font = Font(bold=True, size=14)
    return "单位人员导入模板.xlsx", XLSX_CONTENT_TYPE, _wb_bytes(workbook)


# ---- reading -------------------------------------------------------------------------


def read_staff_sheet(data: bytes, *, max_rows: int) -> list[tuple[int, dict[str, Any]]]:
    """The non-empty data rows of an import sheet as ``(row number, {field: raw value})``.

    The bytes must have passed ``check_xlsx_container``. A formula cell refuses
    the whole file (naming the cell); so does a missing required column or more
    than ``max_rows`` rows. calamine reads the values when it safely can (15x
    faster), openpyxl otherwise; both give the same values. Either way the sheet's
    budget (:func:`sheet_budget`) is enforced while its XML streams by, before any
    reader walks the rows.
    """
    try:
        rows = read_sheet_values(data, prefer=SHEET_STAFF, max_cols=MAX_COLUMNS, budget=sheet_budget(max_rows))
    except NotFast:
        pass
    else:
        return _data_rows(((number, [_clean(v) for v in values]) for number, values in rows), max_rows)
    return read_staff_sheet_openpyxl(data, max_rows=max_rows)


def sheet_budget(max_rows: int) -> SheetBudget:
    """The most an import sheet may reach: ``max_rows`` data rows, a header and some blank rows."""
    last_row = max_rows + MAX_EMPTY_ROWS
    return SheetBudget(max_rows=last_row, max_cells=last_row * CELLS_PER_ROW)


def read_staff_sheet_openpyxl(data: bytes, *, max_rows: int) -> list[tuple[int, dict[str, Any]]]:
    """:func:`read_staff_sheet` through openpyxl: the path for files calamine should not read."""
    budget = sheet_budget(max_rows)
    try:
        scans = scan_worksheets(data, budget)  # before openpyxl reads any sheet's dimension
        workbook = load_workbook_safely(data)
    except AppError:
        raise
    except Exception:  # an untrusted file openpyxl cannot make sense of: the user's problem, not ours
        raise _unreadable() from None
    try:
        sheet = workbook[SHEET_STAFF] if SHEET_STAFF in workbook.sheetnames else workbook.worksheets[0]
        # The walk stops at the last row that holds a cell (the declared dimension may lie, and
        # read-only rows pad every gap); the part openpyxl reads was scanned above.
        scan = scans.get(sheet._worksheet_path)
        if scan is None:  # not found the way openpyxl found it: scan the very part it reads
            with sheet._get_source() as source:
                scan = scan_budget(source, budget)
        last_row = scan.max_row
        # Read-only rows start at row 1 and pad the gaps; an empty first cell has no ``.row``.
        cells = enumerate(sheet.iter_rows(min_row=1, max_row=max(1, last_row), max_col=MAX_COLUMNS), start=1)
        return _data_rows(((number, [_cell_value(c) for c in row]) for number, row in cells), max_rows)
    except AppError:
        raise
    except Exception:
        raise _unreadable() from None
    finally:
        workbook.close()


def _unreadable() -> AppError:
    return unreadable()


def _data_rows(rows: Iterator[tuple[int, list[Any]]], max_rows: int) -> list[tuple[int, dict[str, Any]]]:
    fields = _header_fields(rows)
    found: list[tuple[int, dict[str, Any]]] = []
    for number, cells in rows:
        if number > max_rows + MAX_EMPTY_ROWS:  # a stray cell far below the data: do not walk to it
            raise refused("xlsx_too_many_rows", f"表格行数过多，每次最多导入 {max_rows} 行", limit=max_rows)
        values = {fields[i]: v for i, v in enumerate(cells) if i in fields}
        if all(v is None for v in values.values()):
            continue
        if len(found) >= max_rows:
            raise refused("xlsx_too_many_rows", f"数据行过多，每次最多导入 {max_rows} 行", limit=max_rows)
        found.append((number, values))
    return found


def _header_fields(rows: Iterator[tuple[int, list[Any]]]) -> dict[int, str]:
    for _, values in rows:
        labels = [_label(v) for v in values]
        if not any(labels):
            continue
        fields = {i: BY_LABEL[label].field for i, label in enumerate(labels) if label in BY_LABEL}
        missing = [c.label for c in COLUMNS if c.required and c.field not in fields.values()]
        if missing:
            raise refused("xlsx_bad_header", "表头缺少必填列：" + "、".join(missing) + "，请使用导入模板",
                          missing=missing)
        return fields
    raise refused("xlsx_empty", "表格是空的，请使用导入模板填写")


def _label(value: Any) -> str:
    return str(value).replace("*", "").replace("＊", "").strip() if value is not None else ""


def _cell_value(cell: Any) -> Any:
    if getattr(cell, "data_type", None) == "f":
        raise refused("xlsx_formula", f"单元格 {cell.coordinate} 含有公式，请复制后“粘贴为数值”再上传",
                      cell=cell.coordinate)
    return _clean(getattr(cell, "value", None))


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip() or None
    return value


# ---- writing results and exports --------------------------------------------------------


def _cell_text(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()[:10]
    return escape_cell(value)


def render_import_result(rows: Sequence[dict[str, Any]], with_secrets: bool) -> tuple[str, str, bytes]:
    """Each row's verdict, and the one-time secrets of created accounts when ``with_secrets``."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "导入结果"
    labels = ["行号", "姓名", "证件号码", "结果", "说明"] + (["一次性密码"] if with_secrets else [])
    _header(sheet, labels, [8, 10, 22, 12, 60, 28][: len(labels)])
    for row in rows:
        values = [row["row"], row.get("name"), row.get("id_masked"), row["verdict_label"], row.get("message")]
        if with_secrets:
            values.append(row.get("secret"))
        sheet.append([_cell_text(v) for v in values])
    return "单位人员导入结果.xlsx", XLSX_CONTENT_TYPE, _wb_bytes(workbook)


EXPORT_EXTRA = (("status", "账号状态", 10), ("has_photo", "照片", 6))


def render_staff_export(people: Iterable[dict[str, Any]]) -> tuple[str, str, bytes]:
    """The unit's staff with full values (the access is audited by the caller)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("单位人员")
    widths = [c.width for c in COLUMNS] + [w for _, _, w in EXPORT_EXTRA]
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.append([c.label for c in COLUMNS] + [label for _, label, _ in EXPORT_EXTRA])
    for person in people:
        sheet.append([_cell_text(person.get(c.field)) for c in COLUMNS]
                     + [_cell_text(person.get(f)) for f, _, _ in EXPORT_EXTRA])
    return "单位人员.xlsx", XLSX_CONTENT_TYPE, _wb_bytes(workbook)
