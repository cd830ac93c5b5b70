"""A local stand-in for Tencent Cloud SMS (``POST /`` with ``X-TC-Action: SendSms``), over real HTTP.

It checks every request as Tencent does — the TC3-HMAC-SHA256 signature recomputed here from the
request as received (method, host, headers, body) with the secret key only the stub and the test
know, the timestamp within five minutes, the SdkAppId, the signature name and the template id — and
answers in Tencent's shapes: ``{"Response": {"SendStatusSet": [...], "RequestId"}}`` with a per-number
``Code`` ("Ok" or an error such as ``LimitExceeded.PhoneNumberDailyLimit``), or
``{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`` for a request it refuses as a whole
(``AuthFailure.SignatureFailure``, ``AuthFailure.SignatureExpire``, ``InternalError.Timeout``).

The signature check is written here from Tencent's documentation, not imported from the adapter,
so a mistake in the adapter's signing fails the tests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web

SECRET_ID = "AKIDstub0123456789abcdefghijklmnop"
SECRET_KEY = "stub-secret-key-0123456789abcdef"
SDK_APP_ID = "1400123456"
SIGN_NAME = "某某协会"
TEMPLATES = {"code": "1000001", "notice": "1000002", "reset": "1000003"}
_AUTH = re.compile(r"^TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/sms/tc3_request, "
                   r"SignedHeaders=([a-z;-]+), Signature=([0-9a-f]{64})$")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


@dataclass
class TencentSmsStub:
    """Tencent Cloud SMS on a free loopback port; see the module's docstring."""

    sent: list[dict[str, Any]] = field(default_factory=list)  # accepted messages: phone, template, params
    refused: list[str] = field(default_factory=list)  # the error code of each refused request
    phone_errors: dict[str, str] = field(default_factory=dict)  # "+8613…" -> per-number Code
    request_error: str | None = None  # refuse every request with this Code (e.g. "InternalError.Timeout")
    port: int = 0

    def settings_overrides(self, **changes: Any) -> dict[str, Any]:
        """Settings pointing ``SMS_BACKEND=tencent`` at this stub."""
        return {"sms_backend": "tencent", "tencent_sms_endpoint": f"http://127.0.0.1:{self.port}/",
                "tencent_sms_secret_id": SECRET_ID, "tencent_sms_secret_key": SECRET_KEY,
                "tencent_sms_sdk_app_id": SDK_APP_ID, "tencent_sms_sign_name": SIGN_NAME,
                "tencent_sms_templates": ",".join(f"{k}={v}" for k, v in TEMPLATES.items()), **changes}

    def check(self, request: tornado.httputil.HTTPServerRequest) -> str | None:
        """The error Code Tencent would give this request's envelope, or None when it is right."""
        match = _AUTH.match(request.headers.get("Authorization", ""))
        if not match:
            return "AuthFailure.InvalidAuthorization"
        secret_id, date, signed_headers, signature = match.groups()
        if secret_id != SECRET_ID:
            return "AuthFailure.SecretIdNotFound"
        try:
            timestamp = int(request.headers.get("X-TC-Timestamp", ""))
        except ValueError:
            return "AuthFailure.InvalidAuthorization"
        if abs(time.time() - timestamp) > 300:
            return "AuthFailure.SignatureExpire"
        if datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d") != date:
            return "AuthFailure.SignatureFailure"
        names = signed_headers.split(";")
        if "content-type" not in names or "host" not in names:
            return "AuthFailure.SignatureFailure"
        canonical_headers = "".join(f"{n}:{request.headers.get(n, '').strip().lower()}\n" for n in names)
        canonical = "\n".join([request.method, request.path or "/", request.query, canonical_headers,
                               signed_headers, hashlib.sha256(request.body).hexdigest()])
        to_sign = "\n".join(["TC3-HMAC-SHA256", str(timestamp), f"{date}/sms/tc3_request",
                             hashlib.sha256(canonical.encode()).hexdigest()])
        key = _hmac(_hmac(_hmac(("TC3" + SECRET_KEY).encode(), date), "sms"), "tc3_request")
        if not hmac.compare_digest(hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), signature):
            return "AuthFailure.SignatureFailure"
        if request.headers.get("X-TC-Action") != "SendSms" or request.headers.get("X-TC-Version") != "2021-01-11":
            return "InvalidAction"
        return None

    def answer(self, request: tornado.httputil.HTTPServerRequest) -> dict[str, Any]:
        """Tencent's JSON answer to one request."""
        request_id = str(uuid.uuid4())
        error = self.check(request) or self.request_error
        body: dict[str, Any] = {}
        if error is None:
            try:
                body = json.loads(request.body)
            except ValueError:
                error = "InvalidParameter.JsonParseFail"
        if error is None and body.get("SmsSdkAppId") != SDK_APP_ID:
            error = "InvalidParameterValue.SdkAppIdNotExist"
        if error is None and body.get("SignName") != SIGN_NAME:
            error = "FailedOperation.SignatureIncorrectOrUnapproved"
        if error is None and body.get("TemplateId") not in TEMPLATES.values():
            error = "FailedOperation.TemplateIncorrectOrUnapproved"
        if error is not None:
            self.refused.append(error)
            return {"Response": {"Error": {"Code": error, "Message": f"stub: {error}"}, "RequestId": request_id}}
        statuses = []
        for phone in body.get("PhoneNumberSet", []):
            code = self.phone_errors.get(phone, "Ok")
            if code == "Ok":
                self.sent.append({"phone": phone, "template": body["TemplateId"],
                                  "params": body.get("TemplateParamSet", [])})
            else:
                self.refused.append(code)
            statuses.append({"SerialNo": uuid.uuid4().hex if code == "Ok" else "", "PhoneNumber": phone,
                             "Fee": 1 if code == "Ok" else 0, "SessionContext": "", "Code": code,
                             "Message": "send success" if code == "Ok" else f"stub: {code}", "IsoCode": "CN"})
        return {"Response": {"SendStatusSet": statuses, "RequestId": request_id}}

    async def __aenter__(self) -> TencentSmsStub:
        stub = self

        class Handler(tornado.web.RequestHandler):
            def post(self) -> None:
                self.set_header("Content-Type", "application/json")
                self.finish(json.dumps(stub.answer(self.request), ensure_ascii=False))

        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self._server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/", Handler)]))
        self._server.add_sockets(sockets)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.stop()
        await self._server.close_all_connections()
