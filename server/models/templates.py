"""Templates of the caller (trainee or unit): shipping addresses and invoice details."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

from server.models.accounts import Phone
from server.models.common import (
    BLANK_PATTERN,
    REQUIRED_TEXT_PATTERN,
    USCC_PATTERN,
    FieldError,
    PersonName,
    StrictModel,
    optional_text,
    required_text,
)
from server.services.accounts.identity import validate_uscc

Region = required_text(100)
StreetAddress = required_text(200)
Postcode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
InvoiceTitle = required_text(100)
OptionalText = optional_text(200)


# ---- shipping addresses ---------------------------------------------------------------------


class AddressIn(StrictModel):
    """A shipping address (物流信息) for mailed training books."""

    recipient: PersonName = Field(description="收件人")
    phone: Phone = Field(description="收件人手机号")
    region: Region = Field(description="省/市/区")
    address: StreetAddress = Field(description="详细地址")
    postcode: Postcode | None = Field(default=None, description="邮编（6位数字）")
    is_default: bool = False


class AddressOut(BaseModel):
    """A shipping address, in full (only its owner sees it)."""

    id: str
    recipient: str
    phone: str
    region: str
    address: str
    postcode: str | None
    is_default: bool
    created_at: datetime
    updated_at: datetime


class AddressList(BaseModel):
    """All addresses of the caller, the default first."""

    items: list[AddressOut]
    total: int


# ---- invoice templates -----------------------------------------------------------------------


class InvoiceKind(StrEnum):
    """普票 or 专票."""

    normal = "normal"
    special = "special"


class InvoiceMedium(StrEnum):
    """电子 or 纸质."""

    electronic = "electronic"
    paper = "paper"


class TitleType(StrEnum):
    """A person's or a company's invoice."""

    personal = "personal"
    company = "company"


class InvoiceTemplateIn(StrictModel):
    """Invoice details (发票信息) to pick when paying.

    A company's title needs its 纳税人识别号 (a USCC); a person's 普票 has none.
    A 专票 is for companies only and needs 地址电话 and 开户行及账号;
    an electronic invoice needs an e-mail address to be sent to.
    """

    kind: InvoiceKind = Field(description="发票类型：normal 普票 / special 专票")
    medium: InvoiceMedium = Field(description="electronic 电子 / paper 纸质")
    title_type: TitleType = Field(description="抬头类型：personal 个人 / company 单位")
    title: InvoiceTitle = Field(description="发票抬头")
    tax_id: Annotated[str, StringConstraints(max_length=30)] = Field(default="", description="纳税人识别号")
    address_phone: OptionalText = Field(default="", description="地址、电话（专票必填）")
    bank_account: OptionalText = Field(default="", description="开户行及账号（专票必填）")
    email: EmailStr | None = Field(default=None, description="接收邮箱（电子发票必填）")
    is_default: bool = False

    # The rules of ``_rules`` in the schema, so that generated clients check them too.
    model_config = ConfigDict(json_schema_extra={"allOf": [
        {"if": {"properties": {"medium": {"const": "electronic"}}, "required": ["medium"]},
         "then": {"required": ["email"], "properties": {"email": {"type": "string"}}}},
        {"if": {"properties": {"kind": {"const": "special"}}, "required": ["kind"]},
         "then": {"required": ["address_phone", "bank_account"], "properties": {
             "title_type": {"const": "company"},
             "address_phone": {"minLength": 1, "pattern": REQUIRED_TEXT_PATTERN},
             "bank_account": {"minLength": 1, "pattern": REQUIRED_TEXT_PATTERN}}}},
        {"if": {"properties": {"title_type": {"const": "company"}}, "required": ["title_type"]},
         "then": {"required": ["tax_id"], "properties": {"tax_id": {"pattern": USCC_PATTERN}}},
         "else": {"properties": {"tax_id": {"pattern": BLANK_PATTERN}}}},
    ]})

    @model_validator(mode="after")
    def _rules(self) -> InvoiceTemplateIn:
        self._check_tax_id()
        if self.kind is InvoiceKind.special:
            if self.title_type is TitleType.personal:
                raise FieldError("kind", "增值税专用发票只能开给单位")
            for name in ("address_phone", "bank_account"):
                if not getattr(self, name):
                    raise FieldError(name, "专票必填")
        if self.medium is InvoiceMedium.electronic and self.email is None:
            raise FieldError("email", "电子发票须填写接收邮箱")
        return self

    def _check_tax_id(self) -> None:
        if self.title_type is TitleType.personal:
            if self.tax_id.strip():
                raise FieldError("tax_id", "个人抬头无需填写纳税人识别号")
            self.tax_id = ""
            return
        if not self.tax_id.strip():
            raise FieldError("tax_id", "单位抬头须填写纳税人识别号")
        try:
            self.tax_id = validate_uscc(self.tax_id)
        except ValueError as exc:
            raise FieldError("tax_id", str(exc)) from None


class InvoiceTemplateOut(BaseModel):
    """An invoice template of the caller."""

    id: str
    kind: InvoiceKind
    medium: InvoiceMedium
    title_type: TitleType
    title: str
    tax_id: str
    address_phone: str
    bank_account: str
    email: str | None
    is_default: bool
    created_at: datetime
    updated_at: datetime


class InvoiceTemplateList(BaseModel):
    """All invoice templates of the caller, the default first."""

    items: list[InvoiceTemplateOut]
    total: int


def out_fields(doc: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """The fields of ``model`` from a stored template (id as text)."""
    return {"id": str(doc["_id"]), **{k: doc.get(k) for k in model.model_fields if k != "id"}}
