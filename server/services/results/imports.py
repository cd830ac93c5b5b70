"""Excel import of a session's results, after the staff-import pattern: a template, a check with a
verdict per row (nothing written), and an import of all rows or none.

The sheet is read in the CPU executor. A row is refused when its score is not an integer from 0 to
100 (or both a score and 缺考, or neither), its ID number belongs to nobody, the person is not
enrolled in the session with an approved payment, the result is already published (corrections
one by one, with a reason), or the ID number came earlier in the sheet. An import with any refused
row is 422 ``import_has_errors`` with every row's verdict, and writes nothing; otherwise every row is
saved as a draft in one transaction (:meth:`ResultService.save_drafts`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from server import errors
from server.documents.results_xlsx import read_results_sheet, render_import_verdicts, render_results_template
from server.models.results import VERDICT_LABELS, ResultImportOut, ResultImportRow, verdict_of
from server.services import Principal
from server.services.accounts.accounts import AccountService, login_forms
from server.services.accounts.identity import mask_id_number
from server.services.catalog.catalog import CatalogService
from server.services.results.results import SITTING, ResultService

ROW_LABELS = {"ok": "可导入", "bad_score": "成绩有误", "unknown_id": "查无此人", "not_enrolled": "未报名本班次",
              "published": "成绩已发布", "duplicate": "重复"}
MAX_ROWS = 2000


class ResultImportService:
    """Template, check and all-or-nothing import of a session's results sheet."""

    def __init__(self, *, results: ResultService, accounts: AccountService, catalog: CatalogService,
                 run_cpu: Callable[..., Awaitable[Any]]) -> None:
        self.results = results
        self.accounts = accounts
        self.catalog = catalog
        self.run_cpu = run_cpu

    async def template(self, session_id: str) -> tuple[str, str, bytes]:
        """The session's import template."""
        session = await self.catalog.get_session(session_id)
        return await self.run_cpu(render_results_template, session["code"])  # type: ignore[no-any-return]

    async def check(self, session_id: str, data: bytes) -> tuple[dict[str, Any], list[ResultImportRow], list[dict[str, Any]]]:
        """(session, each row's verdict, the drafts the good rows would be) — nothing written."""
        session = await self.catalog.get_session(session_id)
        course = await self.catalog.get_course(session["course_id"])
        rows = await self.run_cpu(read_results_sheet, data, max_rows=MAX_ROWS)
        enrollments = {e["trainee_id"]: e for e in await self.results.enrollment_docs.find(
            {"session_id": session["_id"]}).to_list()}
        published = {r["enrollment_id"] for r in await self.results.results.find(
            {"session_id": session["_id"], "status": "published"}, {"enrollment_id": 1}).to_list()}
        attendance = await self.results.attendance(session, list({e["_id"] for e in enrollments.values()}))
        verdicts, drafts, seen = [], [], set()
        for number, values in rows:
            compact = login_forms(str(values.get("id_number") or ""))[1]
            masked = mask_id_number(compact) if len(compact) >= 8 else None
            score, absent, problem = _score(values)
            base = {"row": number, "name": _text(values.get("name")), "id_masked": masked, "score": score,
                    "absent": absent}
            verdict, message = "ok", ""
            account = await self.accounts.find_by_login(compact) if compact else None
            if account is not None and account.get("role") != "trainee":
                account = None
            enrollment = enrollments.get(account["_id"]) if account else None
            if enrollment is not None:
                base["attendance"] = attendance[enrollment["_id"]].label
            if problem:
                verdict, message = "bad_score", problem
            elif account is None:
                verdict, message = "unknown_id", "系统中没有该身份证号的学员"
            elif enrollment is None or (enrollment["status"] not in SITTING and enrollment["_id"] not in published):
                verdict, message = "not_enrolled", "该学员未报名本班次或缴费未审核通过"
            elif enrollment["_id"] in published:
                verdict, message = "published", "该学员成绩已发布，请逐条更正并填写原因"
            elif compact in seen:
                verdict, message = "duplicate", "该身份证号在表中重复出现"
            seen.add(compact)
            if verdict == "ok":
                result = verdict_of(score, course["pass_mark"])
                message = f"{'缺考' if absent else f'{score} 分'}：{VERDICT_LABELS[result]}"
                drafts.append({"enrollment": enrollment, "score": score})
            verdicts.append(ResultImportRow(**base, verdict=verdict, verdict_label=ROW_LABELS[verdict], message=message))
        return session, verdicts, drafts

    async def run(self, staff: Principal, session_id: str, data: bytes, *, commit: bool, ip: str | None) -> ResultImportOut:
        """Check, and with ``commit`` import every row (422 ``import_has_errors`` when a row is refused)."""
        session, rows, drafts = await self.check(session_id, data)
        bad = sum(r.verdict != "ok" for r in rows)
        out = ResultImportOut(committed=False, rows=rows, ok=len(rows) - bad, errors=bad)
        if not commit:
            return out
        if bad:
            raise errors.validation(f"有 {bad} 行不能导入，请修改后重新上传（本次未导入任何成绩）",
                                    code="import_has_errors",
                                    fields={f"row{r.row}": r.message for r in rows if r.verdict != "ok"})
        await self.results.save_drafts(staff, session, drafts, ip=ip)
        return out.model_copy(update={"committed": True})

    async def verdict_sheet(self, session_id: str, data: bytes) -> tuple[str, str, bytes]:
        """The check as a spreadsheet (the result sheet: a verdict per row)."""
        _, rows, _ = await self.check(session_id, data)
        shown = [{**r.model_dump(), "score_text": "缺考" if r.absent else r.score} for r in rows]
        return await self.run_cpu(render_import_verdicts, shown)  # type: ignore[no-any-return]


def _score(values: dict[str, Any]) -> tuple[int | None, bool, str | None]:
    """(score, absent, the problem or None)."""
    absent = str(values.get("absent") or "").strip() in {"是", "缺考", "Y", "y", "1", "true", "TRUE"}
    raw = values.get("score")
    if absent:
        return (None, True, None) if raw is None else (None, True, "缺考时成绩须留空")
    if raw is None:
        return None, False, "请填写成绩，或在“缺考”列填“是”"
    try:
        number = float(str(raw).strip())
    except ValueError:
        return None, False, f"成绩“{_text(raw)}”不是数字"
    if number != int(number) or not 0 <= number <= 100:
        return None, False, f"成绩须为 0–100 的整数（表中为 {_text(raw)}）"
    return int(number), False, None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:40]
