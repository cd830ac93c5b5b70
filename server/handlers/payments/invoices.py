"""Invoices on approved payments: a reviewer records one (with an optional e-invoice PDF); the payer downloads it."""

from __future__ import annotations

from server.documents.invoice_pdf import INVOICE_PDF_MAX_BYTES, PDF_CONTENT_TYPE
from server.handlers.base import ApiHandler, Upload, endpoint
from server.models.invoices import InvoiceIssueIn, InvoiceIssueOut, InvoiceRecordedOut

TAGS = ["payments"]
REVIEWERS = ["reviewer", "admin"]
MULTIPART_SLACK = 64 * 1024


class PaymentInvoiceHandler(ApiHandler):
    """``/api/v1/review/payments/{payment_id}/invoice``."""

    @endpoint("登记发票（审核通过的缴费）：multipart 字段 number、date、type、medium 与可选的电子发票 PDF（file），"
              "或同样字段的 JSON；重复登记即替换，同一发票号码不重复通知",
              response=InvoiceRecordedOut, roles=REVIEWERS, tags=TAGS,
              max_body_bytes=INVOICE_PDF_MAX_BYTES + MULTIPART_SLACK, errors=[404, 409, 413, 415, 422],
              upload=Upload(files=("file",), fields=("number", "date", "type", "medium"), form=InvoiceIssueIn))
    async def put(self, payment_id: str) -> InvoiceRecordedOut:
        """Record or replace the invoice of an approved payment; the payer is told (once per number)."""
        assert self.principal is not None
        if self.is_multipart():
            body = self.parse_form(InvoiceIssueIn)
            upload = self.uploaded_file("file", required=False)
            pdf = upload[1] if upload is not None else None
        else:
            body, pdf = self.parse_json_body(InvoiceIssueIn), None
        return await self.services.invoices.record(self.principal, payment_id, body, pdf, ip=self.client_ip)


class PaymentInvoiceInfoHandler(ApiHandler):
    """``/api/v1/payments/{payment_id}/invoice``."""

    @endpoint("发票登记信息（付款方或审核人员）", response=InvoiceIssueOut, roles=["trainee", "unit", *REVIEWERS],
              tags=TAGS, errors=[404])
    async def get(self, payment_id: str) -> InvoiceIssueOut:
        """The invoice recorded on the payment; 404 when none or not the caller's payment."""
        assert self.principal is not None
        return await self.services.invoices.issue_of(self.principal, payment_id)


class PaymentInvoicePdfHandler(ApiHandler):
    """``/api/v1/payments/{payment_id}/invoice.pdf``."""

    @endpoint("下载电子发票 PDF（付款方：学员本人或付款单位；审核人员）", roles=["trainee", "unit", *REVIEWERS],
              tags=TAGS, produces=PDF_CONTENT_TYPE, errors=[404])
    async def get(self, payment_id: str) -> None:
        """The e-invoice PDF attached to the caller's payment."""
        assert self.principal is not None
        self.write_file(*await self.services.invoices.read_pdf(self.principal, payment_id))


routes = [
    (r"/api/v1/review/payments/(?P<payment_id>[^/]+)/invoice", PaymentInvoiceHandler),
    (r"/api/v1/payments/(?P<payment_id>[^/]+)/invoice", PaymentInvoiceInfoHandler),
    (r"/api/v1/payments/(?P<payment_id>[^/]+)/invoice\.pdf", PaymentInvoicePdfHandler),
]
