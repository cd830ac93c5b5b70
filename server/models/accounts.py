"""Accounts: registration, login, tokens, activation, WeChat binding."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

from server.models.common import (
    ID_NUMBER_PATTERN,
    NOT_BLANK_PATTERN,
    PHONE_PATTERN,
    USCC_PATTERN,
    FieldError,
    OrgName,
    PersonName,
    StrictModel,
    schema,
    sent_length,
)
from server.services.accounts.identity import (
    IdType,
    ProfileMismatch,
    check_profile_consistency,
    parse_resident_id,
    validate_birth_date,
    validate_cn_mobile,
    validate_id_number,
    validate_uscc,
)
from server.services.accounts.passwords import MAX_LENGTH, MIN_LENGTH

Role = Literal["trainee", "unit", "admin", "reviewer", "scanner"]
StaffRole = Literal["admin", "reviewer", "scanner"]
Sex = Literal["male", "female"]

ROLE_LABELS: dict[str, str] = {
    "trainee": "学员",
    "unit": "单位",
    "admin": "协会管理员",
    "reviewer": "协会审核员",
    "scanner": "协会验证员",
}

# Lengths are judged as sent (``sent_length``), as the schema's maxLength is, before a body is trimmed.
Phone = Annotated[str, sent_length(20), StringConstraints(max_length=20), AfterValidator(validate_cn_mobile),
                  schema(pattern=PHONE_PATTERN)]
Uscc = Annotated[str, sent_length(30), StringConstraints(max_length=30), AfterValidator(validate_uscc),
                 schema(pattern=USCC_PATTERN)]
IdNumberText = Annotated[str, sent_length(30), StringConstraints(max_length=30), schema(pattern=ID_NUMBER_PATTERN)]
# Length is checked by the password policy (which never truncates); this bound only
# stops absurd bodies before they reach the hasher.
Password = Annotated[str, sent_length(1024), StringConstraints(max_length=1024)]
# A password being set: the policy's length in the schema (strength and personal data it checks itself).
NewPassword = Annotated[str, sent_length(1024), StringConstraints(max_length=1024),
                        schema(minLength=MIN_LENGTH, maxLength=MAX_LENGTH)]


def one_of(*names: str) -> dict[str, Any]:
    """JSON Schema: exactly one of the (nullable) fields ``names`` is given as a string."""
    return {"oneOf": [{"required": [n], "properties": {n: {"type": "string"}}} for n in names]}
SmsCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
# The staff second factor: the 6 digits an authenticator app shows (RFC 6238, 30-second steps).
TotpCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
TOTP_HELP = "协会工作人员：身份验证器上的 6 位动态验证码"
Username = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{2,31}$")]
LoginAccount = Annotated[str, sent_length(64), StringConstraints(min_length=1, max_length=64),
                         schema(pattern=NOT_BLANK_PATTERN)]
# Opaque codes and tickets are taken as sent: printable ASCII, never white space (WeChat's codes,
# our URL-safe tickets).
OpaqueCode = Annotated[str, StringConstraints(strip_whitespace=False, min_length=1, max_length=128,
                                              pattern=r"^[\x21-\x7e]+$")]
BindTicket = Annotated[str, StringConstraints(strip_whitespace=False, min_length=10, max_length=128,
                                              pattern=r"^[\x21-\x7e]+$")]


def _plausible_birth_date(value: date) -> date:
    return validate_birth_date(value)


# Every ID type: not after today (Asia/Shanghai), not before 1900 (a field-level 422).
BirthDate = Annotated[date, AfterValidator(_plausible_birth_date)]


class TraineeRegister(StrictModel):
    """A trainee registers with the basic profile, a verified phone and a password."""

    name: PersonName = Field(description="姓名")
    sex: Sex | None = Field(default=None, description="性别；居民身份证可省略（由号码推出）")
    id_type: IdType = Field(default=IdType.resident, description="证件类型")
    id_number: IdNumberText = Field(description="证件号码")
    birth_date: BirthDate | None = Field(default=None, description="出生日期；居民身份证可省略")
    phone: Phone = Field(description="手机号")
    email: EmailStr = Field(description="邮箱")
    password: NewPassword
    sms_code: SmsCode

    @model_validator(mode="after")
    def _id_consistent(self) -> TraineeRegister:
        settle_identity(self)
        return self


def settle_identity(person: Any) -> None:
    """Normalize ``id_number`` and derive or check ``birth_date`` and ``sex`` (per-field 422s).

    A resident ID number encodes both (a contradicting input is refused); other
    documents do not, so there both are required.
    """
    try:
        person.id_number = validate_id_number(person.id_type, person.id_number)
    except ValueError as exc:
        raise FieldError("id_number", str(exc)) from None
    try:
        check_profile_consistency(person.id_type, person.id_number, person.birth_date, person.sex)
    except ProfileMismatch as exc:
        raise FieldError(exc.field, exc.message) from None
    if person.id_type is IdType.resident:
        parsed = parse_resident_id(person.id_number)
        try:
            validate_birth_date(parsed.birth_date)  # the parser itself accepts old sample numbers (1880)
        except ValueError:
            raise FieldError("id_number", "居民身份证号码中的出生日期早于1900年，请核对") from None
        person.birth_date, person.sex = parsed.birth_date, parsed.sex
    elif person.sex is None or person.birth_date is None:
        raise FieldError("birth_date" if person.birth_date is None else "sex", "必填项")


class UnitRegister(StrictModel):
    """A unit registers with its unified social credit code."""

    name: OrgName = Field(description="单位名称")
    uscc: Uscc = Field(description="统一社会信用代码")
    contact_name: PersonName = Field(description="联系人")
    phone: Phone = Field(description="联系人手机号")
    password: NewPassword
    sms_code: SmsCode


class LoginIn(StrictModel):
    """Account is an ID number (trainee), a USCC (unit) or a staff username."""

    account: LoginAccount
    password: Password
    totp_code: TotpCode | None = Field(default=None, description=TOTP_HELP)


class SmsLoginIn(StrictModel):
    """Log in with an SMS code (purpose ``login``) sent to the phone on record of the account."""

    account: LoginAccount = Field(description="身份证号 / 统一社会信用代码 / 协会用户名")
    sms_code: SmsCode = Field(description="发送到该账号登记手机号的登录验证码（用途 login）")
    totp_code: TotpCode | None = Field(default=None, description=TOTP_HELP)


class PasswordResetIn(StrictModel):
    """Set a new password, proven by an SMS code (purpose ``reset``) to the phone on record."""

    account: LoginAccount = Field(description="身份证号 / 统一社会信用代码 / 协会用户名")
    sms_code: SmsCode = Field(description="发送到该账号登记手机号的重置密码验证码（用途 reset）")
    new_password: NewPassword = Field(description="新密码")


class TokenOut(BaseModel):
    """A new login."""

    token: str
    role: Role
    must_change_password: bool = Field(
        description="true: logged in with a one-time secret; only the password change is allowed"
    )
    totp_setup_required: bool = Field(
        default=False,
        description="true: a staff member without a second factor yet; only the TOTP enrolment is allowed",
    )
    expires_at: str


class AccountOut(BaseModel):
    """The caller's own account; personal data in full (it is theirs)."""

    id: str
    role: Role
    role_label: str
    status: Literal["active", "pending", "disabled"]
    name: str
    phone: str | None = None
    id_type: IdType | None = None
    id_number: str | None = None
    uscc: str | None = None
    username: str | None = None
    wechat_bound: bool = False
    must_change_password: bool = False
    totp_enrolled: bool = Field(default=False, description="staff: the second factor (TOTP) is set up")
    totp_setup_required: bool = Field(
        default=False, description="staff logged in without a second factor: the enrolment page comes first"
    )


class PasswordChangeIn(StrictModel):
    """Change one's own password; every other login is revoked."""

    old_password: Password
    new_password: NewPassword


class ActivateIn(StrictModel):
    """Activate an account created by someone else, with its one-time secret or an SMS code."""

    account: LoginAccount
    secret: Annotated[str, StringConstraints(max_length=64)] | None = None
    sms_code: SmsCode | None = None
    new_password: NewPassword

    model_config = ConfigDict(json_schema_extra=one_of("secret", "sms_code"))

    @model_validator(mode="after")
    def _one_proof(self) -> ActivateIn:
        if (self.secret is None) == (self.sms_code is None):
            raise FieldError("secret", "请提供一次性密码或短信验证码（二选一）")
        return self


class WeChatLoginIn(StrictModel):
    """The code of ``wx.login()``."""

    code: OpaqueCode


class WeChatBindIn(StrictModel):
    """Bind the WeChat identity of a ticket to an account proven by password or SMS code."""

    bind_ticket: BindTicket
    account: LoginAccount
    password: Password | None = None
    sms_code: SmsCode | None = None

    model_config = ConfigDict(json_schema_extra=one_of("password", "sms_code"))

    @model_validator(mode="after")
    def _one_proof(self) -> WeChatBindIn:
        if (self.password is None) == (self.sms_code is None):
            raise FieldError("password", "请提供密码或短信验证码（二选一）")
        return self


class StaffCreate(StrictModel):
    """An association staff account (made with ``python -m server create-staff``)."""

    username: Username
    role: StaffRole
    name: PersonName
    password: NewPassword




class TotpSetupOut(BaseModel):
    """A new pending TOTP secret for the caller's authenticator (shown once, at enrolment only)."""

    secret: str = Field(description="Base32 secret, for manual entry")
    secret_groups: str = Field(description="the secret in groups of 4, easier to type")
    otpauth_uri: str = Field(description="otpauth:// URI, drawn as a QR code")
    issuer: str
    account_name: str
    digits: int = 6
    period: int = 30


class TotpEnrolIn(StrictModel):
    """The first code of the authenticator, proving the secret was added."""

    code: TotpCode = Field(description=TOTP_HELP)


class ReauthIn(StrictModel):
    """Prove password and second factor again, for admin actions (valid 15 minutes)."""

    password: Password
    totp_code: TotpCode | None = Field(default=None, description=TOTP_HELP)


class ReauthOut(BaseModel):
    """When the identity was last proven on this login."""

    authenticated_at: str
    fresh_until: str
