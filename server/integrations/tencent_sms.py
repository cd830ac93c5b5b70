"""Tencent Cloud SMS (腾讯云短信, ``SendSms`` of API version 2021-01-11) over its signed HTTP API.

``SMS_BACKEND=tencent``. One ``POST`` to ``TENCENT_SMS_ENDPOINT`` (``https://sms.tencentcloudapi.com``
by default; a local stub in the tests) with a JSON body, signed with **TC3-HMAC-SHA256**
(:func:`tc3_authorization`), through Tornado's own asynchronous HTTP client: no SDK, no thread.

Tencent sends only approved templates with an approved signature (签名), so a message is a template
id and its parameters, not free text:

- a one-time code (``purpose`` is one of the code purposes, ``code`` set) goes with the template of
  its purpose, or the template ``code``; its one parameter is the code (the template holds the rest,
  e.g. ``您的验证码为{1}，5分钟内有效，如非本人操作请忽略。``);
- a notification (``code`` empty, ``purpose`` the notification kind) goes with the template of its
  kind, or the template ``notice``; its one parameter is the notification's text.

``TENCENT_SMS_TEMPLATES`` maps those names to template ids: ``code=1234567,notice=1234568`` (a
purpose or kind may have its own: ``reset=1234569``).

What Tencent answers, and what it becomes (:func:`raise_for_status`):

- ``Ok`` for the number: sent.
- The number's frequency limits (``LimitExceeded.PhoneNumberDailyLimit``, ``…OneHourLimit``,
  ``…ThirtySecondLimit``, ``…SameContentDailyLimit``): a 429 with a Chinese message and
  ``retry_after`` (until Beijing midnight for the daily limit).
- A number Tencent cannot deliver to (wrong format, on the blacklist): a 400.
- Our own misconfiguration (credentials, signature, template, balance): a 503 "短信服务暂不可用" and
  an error log line saying what to fix — retrying cannot help.
- Tencent busy or unreachable (``InternalError.*``, ``RequestLimitExceeded``, HTTP 5xx, time-out,
  refused connection): a 503 with ``retry_after``; the job runner retries a notification.

All of them are :class:`~server.errors.AppError` subclasses (:class:`SmsError`), so the SMS-code
endpoint passes the message on and the job runner retries. The phone number reaches logs masked only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from server.errors import AppError
from server.services.accounts.identity import mask_phone

if TYPE_CHECKING:
    from server.config import Settings

log = logging.getLogger(__name__)

SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host;x-tc-action"

# The fallback templates: of every one-time code, of every notification.
CODE_TEMPLATE = "code"
NOTICE_TEMPLATE = "notice"

UNAVAILABLE_MESSAGE = "短信发送失败，请稍后重试"
MISCONFIGURED_MESSAGE = "短信服务暂不可用，请联系协会"
RETRY_SECONDS = 30
SHANGHAI = timedelta(hours=8)

# The number's frequency limits: (message, seconds to wait; None = until Beijing midnight).
LIMITS: dict[str, tuple[str, int | None]] = {
    "LimitExceeded.PhoneNumberDailyLimit": ("该手机号今日接收短信已达上限，请明天再试", None),
    "LimitExceeded.PhoneNumberSameContentDailyLimit": ("该手机号今日已收到相同内容的短信，请明天再试", None),
    "LimitExceeded.PhoneNumberOneHourLimit": ("该手机号一小时内接收短信过多，请稍后再试", 3600),
    "LimitExceeded.PhoneNumberThirtySecondLimit": ("发送过于频繁，请 30 秒后再试", 30),
    "LimitExceeded.DeliveryFrequencyLimit": ("发送过于频繁，请稍后再试", 60),
}
# Tencent cannot deliver to this number: the person must give another one.
UNDELIVERABLE = frozenset({
    "InvalidParameterValue.IncorrectPhoneNumber", "FailedOperation.PhoneNumberInBlacklist",
    "FailedOperation.PhoneNumberOnBlacklist", "UnsupportedOperation.UnsupportedRegion",
    "FailedOperation.PhoneNumberParseFail",
})
# Tencent busy: try again.
TRANSIENT_PREFIXES = ("InternalError", "RequestLimitExceeded", "ResourceUnavailable", "FailedOperation.FailResolvePacket")


class SmsError(AppError):
    """Tencent did not send the message; ``status``/``message`` say what the person can do."""

    def __init__(self, status: int, code: str, message: str, *, provider_code: str,
                 retry_after: int | None = None) -> None:
        details: dict[str, Any] = {"provider_code": provider_code}
        headers = {}
        if retry_after is not None:
            details["retry_after"] = retry_after
            headers["Retry-After"] = str(retry_after)
        super().__init__(status, code, message, details, headers=headers)
        self.provider_code = provider_code
        self.retry_after = retry_after


def parse_templates(value: str) -> dict[str, str]:
    """``"code=1234567, notice=1234568"`` as a dict; raises ``ValueError`` naming a bad item."""
    templates: dict[str, str] = {}
    for item in (part.strip() for part in value.replace(";", ",").split(",")):
        if not item:
            continue
        name, sep, template_id = (s.strip() for s in item.partition("="))
        if not sep or not name or not template_id.isdigit():
            raise ValueError(f"TENCENT_SMS_TEMPLATES: expected name=digits, got {item!r}")
        templates[name] = template_id
    return templates


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def tc3_authorization(*, secret_id: str, secret_key: str, host: str, payload: bytes, timestamp: int,
                      service: str = SERVICE, action: str = ACTION) -> str:
    """The ``Authorization`` header of a TC3-HMAC-SHA256 signed POST (Tencent Cloud API v3 signing)."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical_headers = f"content-type:{CONTENT_TYPE}\nhost:{host}\nx-tc-action:{action.lower()}\n"
    canonical_request = "\n".join(
        ["POST", "/", "", canonical_headers, SIGNED_HEADERS, _sha256_hex(payload)])
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [ALGORITHM, str(timestamp), scope, _sha256_hex(canonical_request.encode("utf-8"))])
    signing_key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode("utf-8"), date), service), "tc3_request")
    signature = hmac.new(signing_key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}"


def _seconds_to_beijing_midnight(now: float) -> int:
    local = datetime.fromtimestamp(now, UTC) + SHANGHAI
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(60, int((midnight - local).total_seconds()))


def raise_for_status(code: str, message: str, *, phone: str, now: float) -> None:
    """Turn Tencent's error ``code`` into an :class:`SmsError` (nothing for ``Ok``)."""
    if code == "Ok":
        return
    masked = mask_phone(phone)
    if code in LIMITS:
        text, seconds = LIMITS[code]
        retry = seconds if seconds is not None else _seconds_to_beijing_midnight(now)
        log.warning("tencent sms refused %s for %s: %s", masked, code, message)
        raise SmsError(429, "sms_limited", text, provider_code=code, retry_after=retry)
    if code in UNDELIVERABLE:
        log.warning("tencent sms cannot deliver to %s: %s %s", masked, code, message)
        raise SmsError(400, "sms_undeliverable", "该手机号无法接收短信，请检查号码", provider_code=code)
    if code.startswith(TRANSIENT_PREFIXES):
        log.warning("tencent sms busy (%s %s) for %s", code, message, masked)
        raise SmsError(503, "sms_unavailable", UNAVAILABLE_MESSAGE, provider_code=code, retry_after=RETRY_SECONDS)
    # AuthFailure.*, signature or template not approved, balance, a missing parameter: the operator's.
    log.error("tencent sms misconfigured, fix the TENCENT_SMS_* settings or the console: %s %s", code, message)
    raise SmsError(503, "sms_misconfigured", MISCONFIGURED_MESSAGE, provider_code=code)


class TencentSmsSender:
    """Sends through Tencent Cloud SMS with approved templates; see the module's docstring."""

    def __init__(self, *, secret_id: str, secret_key: str, sdk_app_id: str, sign_name: str,
                 templates: dict[str, str], endpoint: str = "https://sms.tencentcloudapi.com",
                 region: str = "ap-guangzhou", timeout: float = 5.0, clock: Any = time.time) -> None:
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.sdk_app_id = sdk_app_id
        self.sign_name = sign_name
        self.templates = templates
        self.endpoint = endpoint
        self.host = urlsplit(endpoint).netloc
        self.region = region
        self.timeout = timeout
        self.clock = clock

    def template_for(self, purpose: str, code: str) -> tuple[str, list[str]]:
        """The template id and its parameters for one message; raises when none is configured."""
        fallback, params = (CODE_TEMPLATE, [code]) if code else (NOTICE_TEMPLATE, [])
        template_id = self.templates.get(purpose) or self.templates.get(fallback)
        if template_id is None:
            log.error("tencent sms: no template for %r (set %s=… or %s=… in TENCENT_SMS_TEMPLATES)",
                      purpose, purpose, fallback)
            raise SmsError(503, "sms_misconfigured", MISCONFIGURED_MESSAGE, provider_code="NoTemplate")
        return template_id, params

    async def send(self, *, phone: str, purpose: str, code: str, text: str) -> None:
        """Send one templated message to ``phone`` (11 digits, mainland); raises :class:`SmsError`."""
        template_id, params = self.template_for(purpose, code)
        if not code:
            params = [text]
        body = json.dumps({
            "PhoneNumberSet": [phone if phone.startswith("+") else "+86" + phone],
            "SmsSdkAppId": self.sdk_app_id, "SignName": self.sign_name,
            "TemplateId": template_id, "TemplateParamSet": params,
        }, ensure_ascii=False).encode("utf-8")
        now = int(self.clock())
        headers = {
            "Authorization": tc3_authorization(secret_id=self.secret_id, secret_key=self.secret_key,
                                               host=self.host, payload=body, timestamp=now),
            "Content-Type": CONTENT_TYPE, "Host": self.host,
            "X-TC-Action": ACTION, "X-TC-Version": VERSION, "X-TC-Timestamp": str(now),
            "X-TC-Region": self.region,
        }
        request = HTTPRequest(self.endpoint, method="POST", headers=headers, body=body,
                              connect_timeout=min(3.0, self.timeout), request_timeout=self.timeout)
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as exc:  # refused, reset, DNS; time-outs come back as 599
            log.warning("tencent sms unreachable for %s: %s", mask_phone(phone), type(exc).__name__)
            raise SmsError(503, "sms_unavailable", UNAVAILABLE_MESSAGE, provider_code="Unreachable",
                           retry_after=RETRY_SECONDS) from None
        if response.code == 599 or response.code >= 500:
            log.warning("tencent sms answered HTTP %s for %s", response.code, mask_phone(phone))
            raise SmsError(503, "sms_unavailable", UNAVAILABLE_MESSAGE, provider_code=f"HTTP{response.code}",
                           retry_after=RETRY_SECONDS)
        try:
            answer = json.loads(response.body)["Response"]
        except (ValueError, KeyError, TypeError):
            log.warning("tencent sms answered HTTP %s without JSON for %s", response.code, mask_phone(phone))
            raise SmsError(503, "sms_unavailable", UNAVAILABLE_MESSAGE, provider_code="NotJson",
                           retry_after=RETRY_SECONDS) from None
        error = answer.get("Error")
        if error:
            raise_for_status(str(error.get("Code")), str(error.get("Message")), phone=phone, now=now)
        statuses = answer.get("SendStatusSet") or [{"Code": "InternalError.EmptyStatus", "Message": "no status"}]
        status = statuses[0]
        raise_for_status(str(status.get("Code")), str(status.get("Message")), phone=phone, now=now)
        log.info("tencent sms sent (%s) to %s serial=%s", purpose, mask_phone(phone), status.get("SerialNo"))


def make_tencent_sender(settings: Settings) -> TencentSmsSender:
    """The sender for ``SMS_BACKEND=tencent`` from the ``TENCENT_SMS_*`` settings."""
    return TencentSmsSender(
        secret_id=settings.tencent_sms_secret_id,
        secret_key=settings.tencent_sms_secret_key.get_secret_value(),
        sdk_app_id=settings.tencent_sms_sdk_app_id, sign_name=settings.tencent_sms_sign_name,
        templates=parse_templates(settings.tencent_sms_templates), endpoint=settings.tencent_sms_endpoint,
        region=settings.tencent_sms_region, timeout=settings.tencent_sms_timeout_seconds,
    )
