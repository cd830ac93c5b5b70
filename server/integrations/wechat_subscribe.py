"""WeChat subscribe messages (小程序订阅消息, ``subscribeMessage.send``): the adapter and the template data.

A mini-program may send a person one message per template each time they accepted it in
``wx.requestSubscribeMessage`` (one-time subscriptions). The server sends it with
``POST {api_base}/cgi-bin/message/subscribe/send?access_token=…``; the ``access_token`` comes
from ``GET {api_base}/cgi-bin/token`` (appid + secret) and is cached until shortly before it
expires.

:class:`WechatpySubscribeMessenger` does both calls through **wechatpy** (synchronous, so in an
executor). Two of wechatpy's habits are changed, see :class:`_SubscribeClient`: its token fetch
goes to a hard-coded host (ours comes from ``WECHAT_API_BASE``, so tests stand a local stub in)
and has no timeout.

What a failure means for the caller:

- :class:`SubscribeRefused`: this message cannot go to this person by WeChat (43101 the person
  did not accept the template or used the acceptance up, 40003 unknown openid; or an operator
  problem such as a wrong template id or wrong credentials). Send it another way (SMS) now.
- :class:`SubscribeUnavailable`: WeChat is busy or cannot be reached. Raise, and let the job
  runner retry with backoff.

The data of each template is built by :func:`template_data`, a pure function: WeChat checks every
value against its field type (``thing`` ≤ 20 characters, ``amount`` a number with 元, …) and refuses
the whole message (47003) when one does not fit.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import warnings
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from server.integrations.wechat import CONNECT_TIMEOUT, DEFAULT_TIMEOUT, TOTAL_GRACE, redact

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", PendingDeprecationWarning)
    import requests
    from wechatpy.client import WeChatClient
    from wechatpy.exceptions import WeChatClientException

if TYPE_CHECKING:
    from server.config import Settings

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")  # template times are Beijing time

# The person's side: not accepted / acceptance used up (43101), an openid unknown to this app (40003).
REFUSED_ERRCODES = frozenset({43101, 40003})
# The operator's side: wrong template id (40037), data not fitting the template (47003), a page not in
# the app (41030), wrong appid/secret or IP not whitelisted (40013, 40125, 40164, 41002, 41004, 48001).
# Retrying cannot help; the person still gets the message by SMS, and the log says what to fix.
MISCONFIGURED_ERRCODES = frozenset({40037, 47003, 41030, 40013, 40125, 40164, 41002, 41004, 48001})

# WeChat's limits on template values (subscribeMessage.send, "订阅消息参数值内容限制说明").
THING_MAX = 20
CHARACTER_STRING_MAX = 32
PHRASE_MAX = 5
_NOT_CHARACTER_STRING = re.compile(r"[^\x21-\x7e]")  # digits, letters and ASCII symbols only
_NOT_HAN = re.compile(r"[^\u4e00-\u9fff]")


class SubscribeRefused(Exception):  # noqa: N818 — an outcome the caller handles, named for it
    """WeChat will not deliver this message to this person: send it another way."""

    def __init__(self, errcode: int | None, message: str) -> None:
        super().__init__(f"{errcode}: {message}")
        self.errcode = errcode


class SubscribeUnavailable(Exception):  # noqa: N818
    """WeChat is busy or unreachable: try again later (the job runner's retry)."""


class SubscribeMessenger(Protocol):
    """Sends one subscribe message."""

    async def send(self, openid: str, template_id: str, data: dict[str, dict[str, str]], page: str) -> None:
        """Send; raises :class:`SubscribeRefused` or :class:`SubscribeUnavailable`."""
        ...


# The token WeChat refused: expired (42001), replaced by a newer fetch or invalid (40001, 40014).
STALE_TOKEN_ERRCODES = frozenset({40001, 40014, 42001})


class _StaleToken(Exception):  # noqa: N818
    """WeChat refused the access token: get a fresh one (from the shared store) and send again once."""


class TokenSource(Protocol):
    """Where the access token comes from: shared by all processes (services/wechat_tokens.py) or local."""

    async def get(self, appid: str, fetch: Callable[[], Awaitable[tuple[str, int]]], *,
                  stale: str | None = None) -> str:
        """A valid token other than ``stale``; ``fetch`` gets one from WeChat when needed."""
        ...


class LocalAccessToken:
    """A token kept by this process only (one process, or the tests of the adapter alone)."""

    def __init__(self) -> None:
        self._token: str | None = None
        self._until = 0.0
        self._lock = asyncio.Lock()

    async def get(self, appid: str, fetch: Callable[[], Awaitable[tuple[str, int]]], *,
                  stale: str | None = None) -> str:
        """The cached token, or a fetched one when it is missing, expiring or ``stale``."""
        async with self._lock:
            if self._token is None or self._token == stale or time.time() > self._until - 300:
                self._token, expires_in = await fetch()
                self._until = time.time() + expires_in
            return self._token


class _SubscribeClient(WeChatClient):  # type: ignore[misc]
    """wechatpy's client with its ``access_token`` fetched from our API base, with a timeout.

    The token is passed with each call (from a :class:`TokenSource`), so wechatpy's own per-process
    cache and its automatic refetch on 40001 are not used: the adapter refreshes through the source.
    """

    def __init__(self, appid: str, secret: str, api_base: str, timeout: tuple[float, float]) -> None:
        super().__init__(appid, secret, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = api_base + "/cgi-bin/"  # the instance's own, no global state
        self.token_url = api_base + "/cgi-bin/token"

    def fetch_access_token(self) -> dict[str, Any]:
        res = self._http.get(self.token_url, timeout=self.timeout, params={
            "grant_type": "client_credential", "appid": self.appid, "secret": self.secret})
        res.raise_for_status()
        result = res.json()
        if not isinstance(result, dict) or result.get("errcode") or not result.get("access_token"):
            raise WeChatClientException(
                int((result or {}).get("errcode") or -1) if isinstance(result, dict) else -1,
                str(result.get("errmsg", "no access_token")) if isinstance(result, dict) else "not an object",
                client=self, request=res.request, response=res)
        expires_in = int(result.get("expires_in") or 7200)
        self.session.set(self.access_token_key, result["access_token"], expires_in)
        self.expires_at = int(time.time()) + expires_in
        return result


class WechatpySubscribeMessenger:
    """The real adapter: ``subscribeMessage.send`` through wechatpy, off the event loop."""

    def __init__(
        self, appid: str, secret: str, api_base: str, executor: Executor, *,
        miniprogram_state: str = "formal", timeout: float = DEFAULT_TIMEOUT, tokens: TokenSource | None = None,
    ) -> None:
        self._appid = appid.strip()
        self._tokens = tokens or LocalAccessToken()
        self._executor = executor
        self._state = miniprogram_state
        self._total_timeout = timeout + TOTAL_GRACE
        self._client = _SubscribeClient(self._appid, secret.strip(), api_base.rstrip("/"),
                                        (min(CONNECT_TIMEOUT, timeout), timeout))

    def __repr__(self) -> str:
        return f"WechatpySubscribeMessenger(appid={self._appid!r}, api_base={self._client.API_BASE_URL!r})"

    async def send(self, openid: str, template_id: str, data: dict[str, dict[str, str]], page: str) -> None:
        """Send one subscribe message to ``openid``.

        :class:`SubscribeRefused` when WeChat will not deliver it (43101, 40003, a configuration
        error: the caller sends an SMS instead); :class:`SubscribeUnavailable` when WeChat is
        busy, answers nonsense or cannot be reached (the caller's job is retried).
        """
        if not self._appid or not self._client.secret:
            raise SubscribeRefused(None, "WECHAT_APPID / WECHAT_SECRET are not set")
        body = {"touser": openid, "template_id": template_id, "page": page, "data": data,
                "miniprogram_state": self._state, "lang": "zh_CN"}
        token = await self._tokens.get(self._appid, self._fetch_token)
        try:
            await self._in_executor(self._call, body, token)
        except _StaleToken:
            token = await self._tokens.get(self._appid, self._fetch_token, stale=token)
            try:
                await self._in_executor(self._call, body, token)
            except _StaleToken:
                raise SubscribeUnavailable("access token refused twice") from None

    async def _in_executor(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._executor, fn, *args), self._total_timeout)
        except TimeoutError:
            log.warning("wechat %s took over %ss", fn.__name__.strip("_"), self._total_timeout)
            raise SubscribeUnavailable("timeout") from None

    async def _fetch_token(self) -> tuple[str, int]:
        """A new access token from WeChat (through the executor): (token, expires_in)."""
        result = await self._in_executor(self._fetch_blocking)
        return str(result["access_token"]), int(result.get("expires_in") or 7200)

    def _fetch_blocking(self) -> dict[str, Any]:
        try:
            return self._client.fetch_access_token()  # type: ignore[no-any-return]
        except WeChatClientException as exc:
            raise _from_wechat_error(exc, "-") from None
        except (requests.RequestException, ValueError) as exc:
            log.warning("wechat token fetch failed: %s: %s", type(exc).__name__, redact(str(exc)))
            raise SubscribeUnavailable(type(exc).__name__) from None

    def _call(self, body: dict[str, Any], token: str) -> None:
        """The blocking call, in the executor."""
        openid = mask_openid(body["touser"])
        try:
            self._client.post("message/subscribe/send", data=body, params={"access_token": token})
        except WeChatClientException as exc:
            if exc.errcode in STALE_TOKEN_ERRCODES:
                raise _StaleToken() from None
            raise _from_wechat_error(exc, openid) from None
        except (requests.RequestException, ValueError) as exc:
            # requests' messages carry the URL, whose query holds the token or the secret.
            log.warning("wechat subscribe/send failed: %s: %s (openid %s)",
                        type(exc).__name__, redact(str(exc)), openid)
            raise SubscribeUnavailable(type(exc).__name__) from None

    def close(self) -> None:
        """Close the pooled HTTP connections (call at shutdown)."""
        self._client._http.close()


def _from_wechat_error(exc: WeChatClientException, openid: str) -> Exception:
    errcode, errmsg = exc.errcode, redact(str(exc.errmsg))
    if errcode in REFUSED_ERRCODES:
        log.info("wechat refused a subscribe message to %s: %s %s", openid, errcode, errmsg)
        return SubscribeRefused(errcode, errmsg)
    if errcode in MISCONFIGURED_ERRCODES:
        log.error("wechat subscribe/send: fix the configuration (template, page, appid/secret): %s %s",
                  errcode, errmsg)
        return SubscribeRefused(errcode, errmsg)
    status = getattr(exc.response, "status_code", "?")
    log.warning("wechat subscribe/send unavailable: %s %s (HTTP %s)", errcode, errmsg, status)
    return SubscribeUnavailable(f"{errcode}: {errmsg}")


def make_subscribe_messenger(
    settings: Settings, executor: Executor, tokens: TokenSource | None = None
) -> WechatpySubscribeMessenger:
    """The subscribe-message adapter for these settings (refuses every message until appid and secret are set).

    ``tokens``: where the access token is kept — the database-shared one in a server (every process
    uses the same token, one fetch at a time), this process's own when omitted.
    """
    return WechatpySubscribeMessenger(
        settings.wechat_appid, settings.wechat_secret.get_secret_value(), settings.wechat_api_base, executor,
        miniprogram_state=settings.wechat_miniprogram_state, tokens=tokens,
    )


def mask_openid(openid: str) -> str:
    """Enough of an openid to match log lines, not the identifier itself."""
    return openid[:6] + "…" if len(openid) > 6 else "…"


# ---- the template data (pure) ------------------------------------------------------------------------

TEMPLATE_KINDS = ("payment_approved", "payment_rejected", "invoice_ready", "payment_deadline_near",
                  "results_published", "certificate_ready")

# kind → the template's fields in order, as the operator picks them from WeChat's template library
# (README, "Notifications"); documented there so that the chosen template's keys match.
TEMPLATE_FIELDS: dict[str, tuple[str, ...]] = {
    "payment_approved": ("thing1", "amount2", "character_string3", "phrase4"),
    "payment_rejected": ("character_string1", "phrase2", "thing3", "time4"),
    "invoice_ready": ("character_string1", "character_string2", "thing3"),
    "payment_deadline_near": ("thing1", "amount2", "time3", "thing4"),
    "results_published": ("thing1", "phrase2", "thing3"),  # 课程名称, 考核结果, 备注
    "certificate_ready": ("thing1", "character_string2", "thing3"),  # 课程名称, 证书编号, 备注
}


def thing(text: object) -> str:
    """A ``thing`` value: at most 20 characters (cut with …), never empty."""
    value = " ".join(str(text or "").split())
    if len(value) > THING_MAX:
        value = value[: THING_MAX - 1] + "…"
    return value or "无"


def character_string(text: object) -> str:
    """A ``character_string`` value: digits, letters and ASCII symbols, at most 32."""
    return _NOT_CHARACTER_STRING.sub("", str(text or ""))[:CHARACTER_STRING_MAX] or "-"


def phrase(text: str) -> str:
    """A ``phrase`` value: at most 5 Chinese characters."""
    return _NOT_HAN.sub("", text)[:PHRASE_MAX]


def amount(fen: object) -> str:
    """An ``amount`` value from fen: ``1280.00元``."""
    value = int(fen or 0)  # type: ignore[call-overload]
    return f"{value // 100}.{value % 100:02d}元"


def time_value(iso: object) -> str:
    """A ``time`` value in Beijing time, ``2025年3月8日 10:00``, from an ISO datetime."""
    at = iso if isinstance(iso, datetime) else datetime.fromisoformat(str(iso))
    local = at.astimezone(SHANGHAI)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def template_data(kind: str, data: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The ``data`` of the subscribe message of ``kind`` from the notification's ``data`` (the contract).

    ``KeyError`` for a kind that has no template (it goes by SMS).
    """
    keys = TEMPLATE_FIELDS[kind]
    if kind == "payment_approved":
        values = [thing("、".join(data.get("session_titles") or [])), amount(data.get("amount_fen")),
                  character_string(data.get("reference")), phrase("已通过")]
    elif kind == "payment_rejected":
        values = [character_string(data.get("reference")), phrase("未通过"), thing(data.get("reason")),
                  time_value(data["pay_by"])]
    elif kind == "invoice_ready":
        values = [character_string(data.get("reference")), character_string(data.get("invoice_number")),
                  thing("发票已开具，可在小程序查看下载")]
    elif kind == "results_published":
        values = [thing(data.get("course_name")), phrase(data.get("verdict_label") or ""),
                  thing("成绩已发布，可在小程序查看")]
    elif kind == "certificate_ready":
        values = [thing(data.get("course_name")), character_string(data.get("number")),
                  thing("合格证已签发，可在小程序下载")]
    else:  # payment_deadline_near
        values = [thing(data.get("session_title")), amount(data.get("amount_fen")), time_value(data["pay_by"]),
                  thing("逾期未缴费，名额将被释放")]
    return {key: {"value": value} for key, value in zip(keys, values, strict=True)}


def template_page(kind: str, data: dict[str, Any], page: str) -> str:
    """The mini-program page the message opens: ``page`` with the payment or the enrollment in the query."""
    for name in ("payment_id", "enrollment_id"):
        if data.get(name):
            return f"{page}?{name}={character_string(data[name])}"
    return page
