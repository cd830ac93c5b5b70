"""Excel exports of payments: the logistics list of a session (reviewers), the payments of a period (admins)."""

from __future__ import annotations

from server.documents.xlsx_common import XLSX_CONTENT_TYPE
from server.handlers.base import ApiHandler, endpoint
from server.models.invoices import LogisticsQuery, PaymentsExportQuery

TAGS = ["payments"]


class LogisticsExportHandler(ApiHandler):
    """``/api/v1/review/exports/logistics.xlsx``."""

    @endpoint("导出班次物流清单（邮寄培训书籍 / 纸质发票；收件人电话完整显示，下载记入审计日志）",
              query=LogisticsQuery, roles=["reviewer", "admin"], tags=TAGS, produces=XLSX_CONTENT_TYPE, errors=[404])
    async def get(self, query: LogisticsQuery) -> None:
        """Who gets books or a paper invoice mailed where, one row per approved enrollment of the session."""
        assert self.principal is not None
        self.write_file(*await self.services.payment_exports.logistics(self.principal, query.session_id,
                                                                       ip=self.client_ip))


class PaymentsExportHandler(ApiHandler):
    """``/api/v1/admin/exports/payments.xlsx``."""

    @endpoint("导出缴费记录（按提交日期，北京时间，时间段不超过 366 天；证件号脱敏）", query=PaymentsExportQuery,
              roles=["admin"], tags=TAGS, produces=XLSX_CONTENT_TYPE, errors=[400])
    async def get(self, query: PaymentsExportQuery) -> None:
        """Every payment submitted in the period: payer, people, amount, status, review, invoice."""
        assert self.principal is not None
        self.write_file(*await self.services.payment_exports.payments(self.principal, query, ip=self.client_ip))


routes = [
    (r"/api/v1/review/exports/logistics\.xlsx", LogisticsExportHandler),
    (r"/api/v1/admin/exports/payments\.xlsx", PaymentsExportHandler),
]
