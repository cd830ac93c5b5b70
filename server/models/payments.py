"""Payments by bank transfer: the association's account, submitting a proof, the review queue."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from server.models.common import FieldError, PageQuery, StrictModel
from server.models.invoices import InvoiceIssueOut
from server.models.templates import InvoiceKind, InvoiceMedium, InvoiceTemplateIn, TitleType

ObjectIdStr = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]
MAX_PROOFS = 5
MAX_ENROLLMENTS_PER_PAYMENT = 200


# ---- the association's account (协会账号信息) -----------------------------------------------------

class AssociationAccountIn(StrictModel):
    """The account payers transfer to (set by an administrator)."""

    account_name: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(description="户名")
    bank_name: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(description="开户行")
    account_number: Annotated[str, StringConstraints(pattern=r"^[0-9][0-9 ]{5,38}[0-9]$")] = Field(
        description="账号（数字，可含空格）")
    remark: Annotated[str, StringConstraints(max_length=300)] = Field(default="", description="备注（转账说明）")


class AssociationAccountOut(BaseModel):
    """The account shown on every payment page; ``configured`` false until an administrator sets it."""

    configured: bool
    account_name: str = ""
    bank_name: str = ""
    account_number: str = ""
    remark: str = ""
    updated_at: datetime | None = None


# ---- submitting ---------------------------------------------------------------------------------

class PaymentSubmit(StrictModel):
    """The JSON ``payload`` field of ``POST /payments``: what is paid for and the invoice details.

    Exactly one of ``invoice_template_id`` (one of the payer's invoice templates, copied) and
    ``invoice`` (typed in). ``amount_fen`` is accepted and ignored: the server computes the amount.
    """

    enrollment_ids: list[ObjectIdStr] = Field(min_length=1, max_length=MAX_ENROLLMENTS_PER_PAYMENT)
    invoice_template_id: ObjectIdStr | None = Field(default=None, description="选择的发票模板")
    invoice: InvoiceTemplateIn | None = Field(default=None, description="直接填写的发票信息")
    amount_fen: int | None = Field(default=None, description="忽略：金额由服务器按报名费用计算")

    @model_validator(mode="after")
    def _one_invoice(self) -> PaymentSubmit:
        if (self.invoice_template_id is None) == (self.invoice is None):
            raise FieldError("invoice", "请选择发票模板或填写发票信息（二选一）")
        return self


class PaymentForm(BaseModel):
    """The text field of the multipart body (documented; parsed by the service)."""

    payload: str = Field(description="JSON：{enrollment_ids, invoice_template_id | invoice}（见 PaymentSubmit）")


class PaymentDueQuery(BaseModel):
    """``?enrollment_ids=a,b,c``: the enrollments about to be paid."""

    enrollment_ids: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}(,[0-9a-f]{24}){0,199}$")] = Field(
        description="报名记录 id，逗号分隔")

    def ids(self) -> list[str]:
        """The ids, in order, without repeats."""
        return list(dict.fromkeys(self.enrollment_ids.split(",")))


class PaymentLineOut(BaseModel):
    """One enrollment paid for."""

    enrollment_id: str
    trainee_id: str
    trainee_name: str
    id_masked: str = Field(description="证件号（打码）")
    session_id: str
    session_code: str
    course_name: str
    fee_fen: int


class PaymentDueOut(BaseModel):
    """What a payer sees before transferring: where to, how much, and the reference for the remark."""

    account: AssociationAccountOut
    amount_fen: int
    reference: str = Field(description="付款附言中请填写的缴费编号")
    lines: list[PaymentLineOut]


# ---- a payment as shown ---------------------------------------------------------------------------

class PaymentStatus(StrEnum):
    """A payment's status."""

    submitted = "submitted"
    approved = "approved"
    rejected = "rejected"


PAYMENT_STATUS_LABELS = {"submitted": "待审核", "approved": "已通过", "rejected": "已驳回"}


class RejectReason(StrEnum):
    """The fixed reasons of a rejection (``other`` needs a note)."""

    amount_mismatch = "amount_mismatch"
    payee_mismatch = "payee_mismatch"
    proof_unclear = "proof_unclear"
    proof_reused = "proof_reused"
    not_received = "not_received"
    invoice_wrong = "invoice_wrong"
    other = "other"


REJECT_REASON_LABELS: dict[RejectReason, str] = {
    RejectReason.amount_mismatch: "转账金额与应缴金额不符",
    RejectReason.payee_mismatch: "收款账户不是协会账户",
    RejectReason.proof_unclear: "缴费凭证不清晰或不完整",
    RejectReason.proof_reused: "缴费凭证已在其他缴费中使用",
    RejectReason.not_received: "协会未收到该笔转账",
    RejectReason.invoice_wrong: "发票信息有误，请修改后重新提交",
    RejectReason.other: "其他原因",
}


class InvoiceSnapshotOut(BaseModel):
    """The invoice details kept with the payment (a copy: the template may change later)."""

    template_id: str | None
    kind: InvoiceKind
    medium: InvoiceMedium
    title_type: TitleType
    title: str
    tax_id: str = ""
    address_phone: str = ""
    bank_account: str = ""
    email: str | None = None


class ProofOut(BaseModel):
    """One stored proof image (read it at ``url``)."""

    index: int
    url: str
    content_type: str
    size: int
    width: int
    height: int


class ReviewOut(BaseModel):
    """A reviewer's decision."""

    decision: Literal["approved", "rejected"]
    reason_code: str | None = None
    reason: str | None = None
    reviewer_id: str
    reviewer_name: str = Field(default="", description="审核人员姓名")
    at: datetime


class OcrReadingOut(BaseModel):
    """What the OCR read on one proof picture (``None`` where it could not read it)."""

    amount_fen: int | None = Field(description="转账金额（分）")
    paid_at: datetime | None = Field(description="转账时间")
    payee_name: str | None = Field(description="收款方")
    payee_account_tail: str | None = Field(description="收款账号尾号")
    remark: str | None = Field(description="转账备注")
    lines: list[str] = Field(description="识别出的全部文字行")
    seconds: float | None = Field(description="识别用时（秒）")
    error: str | None = Field(description="无法识别时的原因")


class OcrFlagOut(BaseModel):
    """A hint beside the image: where the reading differs from what is expected (never a decision)."""

    code: str
    message: str
    proof_index: int | None = Field(description="所指的凭证序号（0 起）；None：整笔缴费")
    soft: bool = Field(description="弱提示（未能识别、备注无付款编号：请人工核对）")


class OcrReviewOut(BaseModel):
    """The OCR pre-check as reviewers see it (the job's bookkeeping, such as image hashes, stays inside)."""

    status: Literal["pending", "done", "failed"]
    readings: list[OcrReadingOut]
    flags: list[OcrFlagOut]
    at: datetime | None
    error: str | None


class PaymentOut(BaseModel):
    """A payment as its payer and the reviewers see it (the reused-screenshot hint only for reviewers)."""

    id: str
    reference: str
    status: PaymentStatus
    status_label: str
    payer_role: Literal["trainee", "unit"]
    payer_id: str
    payer_name: str
    unit_id: str | None
    amount_fen: int
    lines: list[PaymentLineOut]
    proofs: list[ProofOut]
    invoice: InvoiceSnapshotOut
    submitted_at: datetime
    review: ReviewOut | None
    ocr: OcrReviewOut | None = Field(
        default=None, description="OCR 预审读数与提示（仅供参考，以人工审核为准；重复截图提示仅审核人员可见）")
    invoice_issue: InvoiceIssueOut | None = Field(default=None, description="已开发票信息")


class PaymentPage(BaseModel):
    """A page of payments."""

    items: list[PaymentOut]
    total: int


# ---- review -----------------------------------------------------------------------------------------

class ReviewQueueQuery(PageQuery):
    """The review queue's filters (default: the payments waiting for a decision, oldest first)."""

    status: Literal["submitted", "approved", "rejected", "all"] = "submitted"
    session_id: ObjectIdStr | None = None
    unit_id: ObjectIdStr | None = None
    flag: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")] | None = Field(
        default=None,
        description="OCR 提示：any 有明确提示（金额、收款方、账号、时间、重复截图）/ soft 仅“请人工核对”类提示 / "
                    "none 已识别且无提示 / 某一提示代码")


class RejectIn(StrictModel):
    """A rejection: a reason from the list, and a note (required for ``other``)."""

    reason_code: RejectReason
    note: Annotated[str, StringConstraints(max_length=200)] = ""

    @model_validator(mode="after")
    def _note_for_other(self) -> RejectIn:
        if self.reason_code is RejectReason.other and not self.note:
            raise FieldError("note", "请填写驳回原因")
        return self

    @property
    def text(self) -> str:
        """The reason the payer reads."""
        label = REJECT_REASON_LABELS[self.reason_code]
        if self.reason_code is RejectReason.other:
            return self.note
        return f"{label}：{self.note}" if self.note else label


class RejectReasonOut(BaseModel):
    """One reason of the list."""

    code: RejectReason
    label: str


class RejectReasonList(BaseModel):
    """The reasons a reviewer picks from."""

    items: list[RejectReasonOut]
