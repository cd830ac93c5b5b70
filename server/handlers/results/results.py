"""Exam results: staff enter and publish per session; trainees and units read the published ones."""

from __future__ import annotations

from server.documents.xlsx_common import XLSX_CONTENT_TYPE
from server.handlers.base import ApiHandler, Upload, endpoint
from server.models.results import (
    ImportQuery,
    PublishOut,
    ResultImportOut,
    ResultIn,
    ResultOut,
    ResultPage,
    ResultQuery,
    SessionResultsOut,
)

TAGS = ["results"]
REVIEWERS = ["reviewer", "admin"]


class SessionResultsHandler(ApiHandler):
    """``/api/v1/review/sessions/{session_id}/results``."""

    @endpoint("班次成绩登记表（已缴费审核通过的学员、出勤及成绩，含草稿）", response=SessionResultsOut, roles=REVIEWERS,
              tags=TAGS, errors=[404])
    async def get(self, session_id: str) -> SessionResultsOut:
        """The roster of the session with what is entered."""
        return await self.services.results.roster(session_id)


class EnterResultHandler(ApiHandler):
    """``/api/v1/review/enrollments/{enrollment_id}/result``."""

    @endpoint("登记成绩或缺考（发布前为草稿；发布后更正须填原因，记入审计日志）", body=ResultIn, response=ResultOut,
              roles=REVIEWERS, tags=TAGS, errors=[404, 409])
    async def put(self, enrollment_id: str, body: ResultIn) -> ResultOut:
        """Enter or correct one result."""
        assert self.principal is not None
        return await self.services.results.enter(self.principal, enrollment_id, body, ip=self.client_ip)


class PublishResultsHandler(ApiHandler):
    """``/api/v1/review/sessions/{session_id}/results/publish``."""

    @endpoint("发布班次成绩（学员、单位可见；报名随之结业：合格 / 不合格 / 缺考）", response=PublishOut,
              roles=REVIEWERS, tags=TAGS, errors=[404, 409])
    async def post(self, session_id: str) -> PublishOut:
        """Publish the session's drafts; 409 ``results_missing`` / ``nothing_to_publish``."""
        assert self.principal is not None
        return await self.services.results.publish(self.principal, session_id, ip=self.client_ip)


class MyResultsHandler(ApiHandler):
    """``/api/v1/results``."""

    @endpoint("查看成绩（学员本人 / 单位员工；仅已发布；含出勤）", query=ResultQuery, response=ResultPage,
              roles=["trainee", "unit"], tags=TAGS)
    async def get(self, query: ResultQuery) -> ResultPage:
        """Published results of the caller (a trainee) or the caller's staff (a unit)."""
        assert self.principal is not None
        items, total = await self.services.results.list_visible(
            self.principal, session_id=query.session_id, skip=query.skip, limit=query.page_size)
        return ResultPage(items=items, total=total)


SHEET_BYTES = 2 * 1024 * 1024
SHEET = Upload(files=("file",), raw=(XLSX_CONTENT_TYPE,))


class ResultImportTemplateHandler(ApiHandler):
    """``/api/v1/review/sessions/{session_id}/results/template.xlsx``."""

    @endpoint("成绩导入模板（Excel）", roles=REVIEWERS, tags=TAGS, produces=XLSX_CONTENT_TYPE, errors=[404])
    async def get(self, session_id: str) -> None:
        """The template: 身份证号 · 姓名 · 成绩 · 缺考, an example row, the rules."""
        name, ctype, data = await self.services.result_imports.template(session_id)
        self.write_file(name, ctype, data)


class ImportHandler(ApiHandler):
    """``/api/v1/review/sessions/{session_id}/results/import``."""

    @endpoint("成绩导入：先检查（逐行结果，不写入）；?commit=true 全部正确时一次性导入为草稿，否则不导入任何一行",
              query=ImportQuery, response=ResultImportOut, roles=REVIEWERS, tags=TAGS, max_body_bytes=SHEET_BYTES,
              errors=[400, 404, 409, 413, 415, 422], upload=SHEET)
    async def post(self, session_id: str, query: ImportQuery) -> ResultImportOut:
        """Check or import the uploaded .xlsx (multipart field ``file`` or the raw body)."""
        assert self.principal is not None
        upload = self.uploaded_file("file", raw_types=(XLSX_CONTENT_TYPE,))
        assert upload is not None
        return await self.services.result_imports.run(self.principal, session_id, upload[1], commit=query.commit,
                                                      ip=self.client_ip)


class ImportVerdictsHandler(ApiHandler):
    """``/api/v1/review/sessions/{session_id}/results/import-check.xlsx``."""

    @endpoint("成绩导入检查结果表（Excel：每行的结果与说明；不写入）", roles=REVIEWERS, tags=TAGS,
              produces=XLSX_CONTENT_TYPE, max_body_bytes=SHEET_BYTES, errors=[400, 404, 413, 415, 422], upload=SHEET)
    async def post(self, session_id: str) -> None:
        """The verdict sheet of the uploaded .xlsx."""
        upload = self.uploaded_file("file", raw_types=(XLSX_CONTENT_TYPE,))
        assert upload is not None
        name, ctype, data = await self.services.result_imports.verdict_sheet(session_id, upload[1])
        self.write_file(name, ctype, data)


routes = [
    (r"/api/v1/results", MyResultsHandler),
    (r"/api/v1/review/sessions/(?P<session_id>[^/]+)/results", SessionResultsHandler),
    (r"/api/v1/review/sessions/(?P<session_id>[^/]+)/results/publish", PublishResultsHandler),
    (r"/api/v1/review/sessions/(?P<session_id>[^/]+)/results/template\.xlsx", ResultImportTemplateHandler),
    (r"/api/v1/review/sessions/(?P<session_id>[^/]+)/results/import", ImportHandler),
    (r"/api/v1/review/sessions/(?P<session_id>[^/]+)/results/import-check\.xlsx", ImportVerdictsHandler),
    (r"/api/v1/review/enrollments/(?P<enrollment_id>[^/]+)/result", EnterResultHandler),
]
