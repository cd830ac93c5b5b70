"""The trainee's profile (the manual's 基本信息 form), phone change, qualifications, ID photo.

The enumerations are plain tuples of the Chinese values that are stored and
shown, in display order; the Excel import (and any other input path) validates
against the same tuples, so ``"汉族" in ETHNICITIES`` is the whole check:

- ``EDUCATION_LEVELS`` 学历, highest first;
- ``ETHNICITIES`` the 56 民族 in the order of GB/T 3304;
- ``POLITICAL_STATUSES`` the 13 政治面貌 of GB/T 4762, in their usual short form;
- ``HONORS`` 院士/大师 titles, ``"无"`` first;
- ``REQUIRED_PROFILE_FIELDS`` the starred fields of the form (completeness).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, EmailStr, Field, StringConstraints, model_validator

from server.models.accounts import BirthDate, Phone, Sex, SmsCode
from server.models.common import (
    REQUIRED_TEXT_PATTERN,
    TEXT_PATTERN,
    FieldError,
    PersonName,
    StrictModel,
    clean_text,
    schema,
    sent_length,
)
from server.services.accounts.identity import IdType

EDUCATION_LEVELS: tuple[str, ...] = (
    "博士研究生", "硕士研究生", "大学本科", "大学专科", "中专", "高中", "初中及以下",
)

ETHNICITIES: tuple[str, ...] = (
    "汉族", "蒙古族", "回族", "藏族", "维吾尔族", "苗族", "彝族", "壮族", "布依族", "朝鲜族",
    "满族", "侗族", "瑶族", "白族", "土家族", "哈尼族", "哈萨克族", "傣族", "黎族", "傈僳族",
    "佤族", "畲族", "高山族", "拉祜族", "水族", "东乡族", "纳西族", "景颇族", "柯尔克孜族", "土族",
    "达斡尔族", "仫佬族", "羌族", "布朗族", "撒拉族", "毛南族", "仡佬族", "锡伯族", "阿昌族", "普米族",
    "塔吉克族", "怒族", "乌孜别克族", "俄罗斯族", "鄂温克族", "德昂族", "保安族", "裕固族", "京族",
    "塔塔尔族", "独龙族", "鄂伦春族", "赫哲族", "门巴族", "珞巴族", "基诺族",
)

POLITICAL_STATUSES: tuple[str, ...] = (
    "中共党员", "中共预备党员", "共青团员", "民革党员", "民盟盟员", "民建会员", "民进会员",
    "农工党党员", "致公党党员", "九三学社社员", "台盟盟员", "无党派人士", "群众",
)

HONORS: tuple[str, ...] = (
    "无", "中国科学院院士", "中国工程院院士", "全国工程勘察设计大师", "省级工程勘察设计大师", "其他大师称号",
)

# The starred fields of the manual's form, by their API names (name, sex, id and
# phone always exist on a trainee account, so they are listed but never missing).
REQUIRED_PROFILE_FIELDS: tuple[str, ...] = (
    "name", "sex", "id_type", "id_number", "phone", "email", "birth_date",
    "work_start", "specialty", "address",
)

# Fields only an administrator may change: the ID is the login and the identity.
_NOT_SELF_SERVICE = {
    "id_type": "证件类型不能自行修改，如有错误请联系协会",
    "id_number": "证件号码不能自行修改，如有错误请联系协会",
    "phone": "请通过“更换手机号”修改（需短信验证）",
}


def choice(values: tuple[str, ...], what: str) -> Any:
    """A string type accepting only ``values`` (after NFKC and trimming), documented as an enum."""

    def check(value: str) -> str:
        folded = unicodedata.normalize("NFKC", value).strip()
        if folded not in values:
            raise ValueError(f"不是有效的{what}")
        return folded

    return Annotated[str, StringConstraints(max_length=30), AfterValidator(check),
                     Field(json_schema_extra={"enum": list(values)})]


def _optional_text(value: str) -> str | None:
    return clean_text(value) or None


def _required_text(value: str) -> str:
    value = clean_text(value)
    if not value:
        raise ValueError("必填项")
    return value


def _year_month(value: str) -> str:
    if not re.fullmatch(r"(19|20)[0-9]{2}-(0[1-9]|1[0-2])", value):
        raise ValueError("应为年月（YYYY-MM）")
    if value > date.today().strftime("%Y-%m"):
        raise ValueError("不能晚于当前月份")
    return value


def _postcode(value: str) -> str | None:
    value = unicodedata.normalize("NFKC", value).strip()
    if value and not re.fullmatch(r"[0-9]{6}", value):
        raise ValueError("邮编应为6位数字")
    return value or None


def _text(max_length: int, *, required: bool = False) -> Any:
    return Annotated[str, sent_length(max_length), StringConstraints(max_length=max_length),
                     AfterValidator(_required_text if required else _optional_text),
                     schema(minLength=1, pattern=REQUIRED_TEXT_PATTERN) if required else schema(pattern=TEXT_PATTERN)]


Education = choice(EDUCATION_LEVELS, "学历")
Ethnicity = choice(ETHNICITIES, "民族")
PoliticalStatus = choice(POLITICAL_STATUSES, "政治面貌")
Honor = choice(HONORS, "院士/大师称号")
YearMonth = Annotated[str, StringConstraints(max_length=7), AfterValidator(_year_month),
                      schema(pattern=r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$")]
Postcode = Annotated[str, StringConstraints(max_length=10), AfterValidator(_postcode),
                     schema(pattern=r"^\s*(?:[0-9]{6})?\s*$")]


class ProfileUpdate(StrictModel):
    """The whole editable profile (PUT replaces it; an omitted optional field is cleared).

    ID type and number are not in this model: they are not self-service (a body
    naming them, or ``phone``, is refused with 422 and the reason).
    """

    name: PersonName = Field(description="姓名")
    sex: Sex | None = Field(default=None, description="性别；居民身份证须与号码一致，可省略")
    birth_date: BirthDate | None = Field(default=None, description="出生日期；居民身份证须与号码一致，可省略")
    email: EmailStr = Field(description="邮箱")
    work_start: YearMonth = Field(description="参加工作时间（YYYY-MM）")
    specialty: _text(50, required=True) = Field(description="从事专业")  # type: ignore[valid-type]
    address: _text(200, required=True) = Field(description="联系地址")  # type: ignore[valid-type]
    education: Education | None = Field(default=None, description="学历")  # type: ignore[valid-type]
    ethnicity: Ethnicity | None = Field(default=None, description="民族")  # type: ignore[valid-type]
    political_status: PoliticalStatus | None = Field(default=None, description="政治面貌")  # type: ignore[valid-type]
    title: _text(50) | None = Field(default=None, description="职称")  # type: ignore[valid-type]
    position: _text(50) | None = Field(default=None, description="职务")  # type: ignore[valid-type]
    honor: Honor | None = Field(default=None, description="院士/大师")  # type: ignore[valid-type]
    postcode: Postcode | None = Field(default=None, description="邮编（6位数字）")
    employer: _text(100) | None = Field(default=None, description="所属单位")  # type: ignore[valid-type]
    remarks: _text(500) | None = Field(default=None, description="备注")  # type: ignore[valid-type]

    @model_validator(mode="before")
    @classmethod
    def _no_identity_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, message in _NOT_SELF_SERVICE.items():
                if key in data:
                    raise FieldError(key, message)
        return data

    @model_validator(mode="after")
    def _work_after_birth(self) -> ProfileUpdate:
        if self.birth_date is not None and self.work_start < self.birth_date.strftime("%Y-%m"):
            raise FieldError("work_start", "参加工作时间不能早于出生日期")
        return self

    def stored_fields(self) -> dict[str, Any]:
        """The ``trainee`` subdocument fields this update sets (name and identity excluded)."""
        data = self.model_dump(mode="json", exclude={"name", "sex", "birth_date"})
        data["email"] = str(self.email)
        return data


class ProfileOut(BaseModel):
    """The caller's own profile, personal data in full (it is theirs), and its completeness."""

    id: str
    name: str
    sex: Sex | None = None
    id_type: IdType
    id_type_label: str
    id_number: str
    phone: str | None = None
    email: str | None = None
    birth_date: date | None = None
    work_start: str | None = None
    specialty: str | None = None
    address: str | None = None
    education: str | None = None
    ethnicity: str | None = None
    political_status: str | None = None
    title: str | None = None
    position: str | None = None
    honor: str | None = None
    postcode: str | None = None
    employer: str | None = None
    remarks: str | None = None
    has_photo: bool = False
    photo_updated_at: datetime | None = None
    profile_complete: bool = Field(description="带 * 的必填项是否都已填写")
    missing_fields: list[str] = Field(description="尚未填写的必填项（字段名）")


class ProfileOptionsOut(BaseModel):
    """The choices of the profile form's drop-downs."""

    education: list[str]
    ethnicity: list[str]
    political_status: list[str]
    honor: list[str]
    id_type: dict[str, str]


class PhoneChangeIn(StrictModel):
    """Change the phone: a code sent to the new phone (purpose ``change_phone``) proves it."""

    phone: Phone = Field(description="新手机号")
    sms_code: SmsCode


class PhotoUploadQuery(BaseModel):
    """``?consent=true`` for a raw image body (multipart sends ``consent`` as a form field)."""

    consent: bool = False


class PhotoForm(BaseModel):
    """The text fields of a multipart photo upload."""

    consent: bool = False


class PhotoOut(BaseModel):
    """The stored ID photo."""

    width: int
    height: int
    updated_at: datetime
    consent_version: str


class QualificationCreate(StrictModel):
    """A professional licence (执业资格证书); the image is an optional file part ``image``."""

    type: _text(50, required=True) = Field(description="执业资格证书类型")  # type: ignore[valid-type]
    number: _text(64, required=True) = Field(description="执业资格证书编号")  # type: ignore[valid-type]


class QualificationOut(BaseModel):
    """One licence of the caller."""

    id: str
    type: str
    number: str
    has_image: bool
    image_url: str | None = None
    created_at: datetime

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> QualificationOut:
        """From a stored ``qualifications`` document."""
        qid = str(doc["_id"])
        has_image = doc.get("image_file_id") is not None
        return cls(
            id=qid, type=doc["type"], number=doc["number"], has_image=has_image,
            image_url=f"/api/v1/me/qualifications/{qid}/image" if has_image else None,
            created_at=doc["created_at"],
        )


class QualificationList(BaseModel):
    """Every licence of the caller, oldest first, and how many more may be added."""

    items: list[QualificationOut]
    total: int
    limit: int
