"""The payment sheets: Chinese headers, widths, Beijing times as real dates, 元 with two decimals, no formulas."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import openpyxl

from server.documents.payments_xlsx import render_logistics, render_payments


def test_payments_sheet_cells() -> None:
    row = {"reference": "JP7K3Q9A", "payer_name": "=HYPERLINK(\"http://x\")", "amount_yuan": 1200.5,
           "submitted_at": datetime(2026, 3, 10, 1, 30, tzinfo=UTC), "status": "已通过",
           "invoice_date": date(2026, 3, 2)}
    name, ctype, data = render_payments(date(2026, 3, 1), date(2026, 3, 31), [row])
    assert name == "缴费记录-2026-03-01-2026-03-31.xlsx" and ctype.endswith("spreadsheetml.sheet")
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet["A2"].value == "缴费编号" and sheet["G2"].value == "金额（元）"
    assert sheet["C3"].value.startswith("'=")  # stays text
    assert sheet["G3"].value == 1200.5 and sheet["G3"].number_format == "#,##0.00"
    assert sheet["I3"].value == datetime(2026, 3, 10, 9, 30) and sheet["I3"].number_format == "yyyy-mm-dd hh:mm"
    assert sheet["O3"].number_format == "yyyy-mm-dd"
    assert sheet.column_dimensions["E"].width >= 30 and sheet.freeze_panes == "A3"


def test_logistics_sheet_numbers_its_rows() -> None:
    rows = [{"trainee_name": "张三", "contents": "培训书籍"}, {"trainee_name": "李四", "contents": "培训书籍"}]
    name, _, data = render_logistics("岩土培训（S0001 一期）", "S0001", rows)
    assert name == "物流清单-S0001.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert [r[:2] for r in sheet.iter_rows(min_row=3, values_only=True)] == [(1, "张三"), (2, "李四")]
