"""Payments: the association's account, what is due, submitting a transfer proof, the review queue."""

from __future__ import annotations

import json

from server import errors
from server.handlers.base import ANY_ROLE, ApiHandler, Upload, endpoint, validate_model
from server.models.common import PageQuery
from server.models.payments import (
    MAX_PROOFS,
    REJECT_REASON_LABELS,
    AssociationAccountIn,
    AssociationAccountOut,
    PaymentDueOut,
    PaymentDueQuery,
    PaymentForm,
    PaymentOut,
    PaymentPage,
    PaymentSubmit,
    RejectIn,
    RejectReasonList,
    RejectReasonOut,
    ReviewQueueQuery,
)

TAGS = ["payments"]
REVIEW_TAGS = ["review"]
PAYERS = ["trainee", "unit"]
REVIEWERS = ["reviewer", "admin"]
# All proofs of one submit together (each at most 8 MB): a bigger body is refused with 413 from its
# Content-Length, before any of it is read.
PROOFS_BODY_MAX_BYTES = 15 * 1024 * 1024


class AssociationAccountHandler(ApiHandler):
    """``/api/v1/association/account``."""

    @endpoint("协会收款账户（户名、开户行、账号、备注）", response=AssociationAccountOut, roles=ANY_ROLE, tags=TAGS)
    async def get(self) -> AssociationAccountOut:
        """The account payers transfer to."""
        return await self.services.association_account.get()

    @endpoint("设置协会收款账户（管理员，记入审计日志）", body=AssociationAccountIn, response=AssociationAccountOut,
              roles=["admin"], tags=TAGS, fresh=True)
    async def put(self, body: AssociationAccountIn) -> AssociationAccountOut:
        """Replace the account."""
        assert self.principal is not None
        return await self.services.association_account.put(self.principal, body, ip=self.client_ip)


class PaymentDueHandler(ApiHandler):
    """``/api/v1/payments/due``."""

    @endpoint("缴费前：收款账户、应缴金额与缴费编号（转账附言）", query=PaymentDueQuery, response=PaymentDueOut,
              roles=PAYERS, tags=TAGS, errors=[404, 409])
    async def get(self, query: PaymentDueQuery) -> PaymentDueOut:
        """What to transfer where, for these enrollments (checked as a submit would check them)."""
        assert self.principal is not None
        return await self.services.payments.due(self.principal, query.ids())


class PaymentsHandler(ApiHandler):
    """``/api/v1/payments``."""

    @endpoint("我的缴费记录（学员本人 / 单位）", query=PageQuery, response=PaymentPage, roles=PAYERS, tags=TAGS)
    async def get(self, query: PageQuery) -> PaymentPage:
        """The caller's payments, newest first."""
        assert self.principal is not None
        service = self.services.payments
        docs, total = await service.list_mine(self.principal, skip=query.skip, limit=query.page_size)
        return PaymentPage(items=await service.shown(docs, staff=False), total=total)

    @endpoint(f"提交缴费：multipart 字段 payload（JSON）+ 1～{MAX_PROOFS} 张 proofs 缴费凭证截图"
              "（JPEG/PNG/WebP/HEIC）；金额由服务器计算",
              response=PaymentOut, status=201, roles=PAYERS, tags=TAGS, max_body_bytes=PROOFS_BODY_MAX_BYTES,
              errors=[404, 409], upload=Upload(files=("proofs",), fields=("payload",), form=PaymentForm))
    async def post(self) -> PaymentOut:
        """Submit a payment for the caller's unpaid enrollments."""
        assert self.principal is not None
        if not self.is_multipart():
            raise errors.unsupported_media("请以 multipart/form-data 格式提交缴费凭证")
        body = self._payload()
        files = [part.body for part in self.request.files.get("proofs", [])]
        service = self.services.payments
        doc = await service.submit(self.principal, body, files, ip=self.client_ip)
        return (await service.shown([doc], staff=False))[0]

    def _payload(self) -> PaymentSubmit:
        values = self.request.body_arguments.get("payload")
        if not values:
            raise errors.validation(fields={"payload": "必填项"})
        try:
            data = json.loads(values[-1])
        except ValueError:
            raise errors.bad_request("malformed_json", "payload 字段必须是 JSON 对象") from None
        if not isinstance(data, dict):
            raise errors.bad_request("malformed_json", "payload 字段必须是 JSON 对象")
        return validate_model(PaymentSubmit, data)


class PaymentHandler(ApiHandler):
    """``/api/v1/payments/{payment_id}``."""

    @endpoint("缴费详情（付款人本人；审核人员）", response=PaymentOut, roles=[*PAYERS, *REVIEWERS], tags=TAGS,
              errors=[404])
    async def get(self, payment_id: str) -> PaymentOut:
        """One payment the caller may see (others' are 404); a rejection shows its reason."""
        assert self.principal is not None
        service = self.services.payments
        doc = await service.get_visible(self.principal, payment_id)
        return (await service.shown([doc], staff=self.principal.role in REVIEWERS))[0]


class ProofHandler(ApiHandler):
    """``/api/v1/payments/{payment_id}/proofs/{index}``."""

    @endpoint("缴费凭证图片（付款人本人；审核人员）", roles=[*PAYERS, *REVIEWERS], tags=TAGS, produces="image/*",
              errors=[404])
    async def get(self, payment_id: str, index: str) -> None:
        """The ``index``-th proof image (0-based)."""
        assert self.principal is not None
        number = int(index) if index.isdigit() and len(index) <= 2 else -1  # anything else: no such proof
        content_type, data = await self.services.payments.proof(self.principal, payment_id, number)
        self.write_inline(content_type, data)


class ReviewQueueHandler(ApiHandler):
    """``/api/v1/review/payments``."""

    @endpoint("缴费审核队列（按班次、单位、状态、OCR 提示筛选）", query=ReviewQueueQuery, response=PaymentPage,
              roles=REVIEWERS, tags=REVIEW_TAGS)
    async def get(self, query: ReviewQueueQuery) -> PaymentPage:
        """Payments to review (default: waiting, oldest first), with the OCR reading and flags."""
        service = self.services.payments
        docs, total = await service.queue(query)
        return PaymentPage(items=await service.shown(docs, staff=True), total=total)


class RejectReasonsHandler(ApiHandler):
    """``/api/v1/review/payments/reasons``."""

    @endpoint("驳回原因列表", response=RejectReasonList, roles=REVIEWERS, tags=REVIEW_TAGS)
    async def get(self) -> RejectReasonList:
        """The fixed reasons (``other`` with a note)."""
        return RejectReasonList(items=[RejectReasonOut(code=c, label=t) for c, t in REJECT_REASON_LABELS.items()])


class ApproveHandler(ApiHandler):
    """``/api/v1/review/payments/{payment_id}/approve``."""

    @endpoint("审核通过（该缴费的全部报名变为通过）", response=PaymentOut, roles=REVIEWERS, tags=REVIEW_TAGS,
              errors=[404, 409])
    async def post(self, payment_id: str) -> PaymentOut:
        """Approve; 409 ``already_decided`` (with the decision that won) or ``enrollment_changed``."""
        assert self.principal is not None
        service = self.services.payments
        doc = await service.approve(self.principal, payment_id, ip=self.client_ip)
        return (await service.shown([doc], staff=True))[0]


class RejectHandler(ApiHandler):
    """``/api/v1/review/payments/{payment_id}/reject``."""

    @endpoint("驳回（选择原因或填写说明；学员可重新缴费）", body=RejectIn, response=PaymentOut, roles=REVIEWERS,
              tags=REVIEW_TAGS, errors=[404, 409])
    async def post(self, payment_id: str, body: RejectIn) -> PaymentOut:
        """Reject with a reason; 409 ``already_decided`` with the decision that won."""
        assert self.principal is not None
        service = self.services.payments
        doc = await service.reject(self.principal, payment_id, body, ip=self.client_ip)
        return (await service.shown([doc], staff=True))[0]


_ID = r"(?P<payment_id>[^/]+)"
routes = [
    (r"/api/v1/association/account", AssociationAccountHandler),
    (r"/api/v1/payments", PaymentsHandler),
    (r"/api/v1/payments/due", PaymentDueHandler),  # before the id route, which would take "due"
    (rf"/api/v1/payments/{_ID}", PaymentHandler),
    (rf"/api/v1/payments/{_ID}/proofs/(?P<index>[^/]+)", ProofHandler),
    (r"/api/v1/review/payments", ReviewQueueHandler),
    (r"/api/v1/review/payments/reasons", RejectReasonsHandler),
    (rf"/api/v1/review/payments/{_ID}/approve", ApproveHandler),
    (rf"/api/v1/review/payments/{_ID}/reject", RejectHandler),
]
