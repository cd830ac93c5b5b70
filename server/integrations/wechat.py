"""The WeChat server API, as far as the mini-program login needs it: ``code2session``.

``wx.login()`` in the mini-program gives a short-lived, single-use ``code``; the
server trades it at ``GET {api_base}/sns/jscode2session`` for the user's
``openid`` (and ``unionid`` when the app belongs to an open-platform account)
and a ``session_key``. The accounts service only sees :class:`WeChatApi`.

:class:`WechatpyApi` does the call through **wechatpy**, which is synchronous
(``requests``), so it runs in an executor, never on the event loop. Two of
wechatpy's habits are turned off here, see :class:`_Code2SessionClient`: it
would fetch an ``access_token`` before any call (jscode2session needs none,
and the fetch goes to a hard-coded host), and its ``wxa`` endpoints have a
hard-coded base URL (ours comes from ``WECHAT_API_BASE``, so tests and a
proxy can stand in for WeChat).

Every failure becomes an :class:`~server.errors.AppError`; the secret, the
session_key and the code never reach a log line in full.
"""

from __future__ import annotations

import asyncio
import logging
import re
import warnings
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from server import errors
from server.errors import AppError

# wechatpy 1.8.18 imports cleanly on Python 3.11 today; should a later release
# (or one of its dependencies) warn on import, the warning must not turn into
# an error under the tests' filterwarnings=error, nor pollute production logs.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", PendingDeprecationWarning)
    import requests
    from wechatpy.client import WeChatClient
    from wechatpy.exceptions import WeChatClientException

if TYPE_CHECKING:
    from server.config import Settings

log = logging.getLogger(__name__)

# requests' timeouts are per phase (connect, then each read), not a total; a
# total deadline (timeout + TOTAL_GRACE) keeps the caller from waiting on a
# response that drips.
CONNECT_TIMEOUT = 3.0
DEFAULT_TIMEOUT = 5.0
TOTAL_GRACE = 3.0
# A wx.login() code is 32 characters today; anything absurd is refused locally
# rather than sent to WeChat.
MAX_CODE_LENGTH = 256
# WeChat's 45011 is a per-user minute quota: try again in the next minute.
RATE_LIMIT_RETRY_SECONDS = 60

CODE_INVALID_MESSAGE = "微信登录凭证无效或已过期，请重新进入小程序"
UNAVAILABLE_MESSAGE = "微信服务暂时不可用，请稍后再试"
NOT_CONFIGURED_MESSAGE = "未配置微信小程序"
MISCONFIGURED_MESSAGE = "微信登录暂不可用，请联系协会"

# The user's fault (or the code's age): ask them to re-open the mini-program.
# 40029 invalid code, 40163 code been used, 40226 high-risk user blocked by
# WeChat, 41008 missing code.
CODE_INVALID_ERRCODES = frozenset({40029, 40163, 40226, 41008})
# The operator's fault: wrong appid/secret, the app lacks the API, or the
# server's IP is not on the whitelist. The user can do nothing about it.
MISCONFIGURED_ERRCODES = frozenset({40001, 40002, 40013, 40125, 40164, 41002, 41004, 48001})
RATE_LIMITED_ERRCODES = frozenset({45011})
BUSY_ERRCODES = frozenset({-1})

_SECRET_QUERY = re.compile(r"((?:secret|js_code|access_token)=)[^&\s'\"]*", re.IGNORECASE)


@dataclass(frozen=True)
class WeChatSession:
    """What ``jscode2session`` answers: who the user is, and the key of their WeChat session.

    ``session_key`` decrypts data the mini-program sends (phone number, ...);
    it is left out of ``repr`` so that logging a session never leaks it.
    """

    openid: str
    session_key: str = field(repr=False)
    unionid: str | None = None

    def __repr__(self) -> str:
        # Written out (not only field(repr=False)) so that a later field or a
        # dataclass option can never bring the key back into logs.
        return f"WeChatSession(openid={self.openid!r}, unionid={self.unionid!r}, session_key=<hidden>)"


class WeChatApi(Protocol):
    """The part of the WeChat server API the services use."""

    async def code2session(self, code: str) -> WeChatSession:
        """Trade a ``wx.login()`` code for the user's openid and session_key."""
        ...


class _Code2SessionClient(WeChatClient):  # type: ignore[misc]
    """wechatpy's client, minimally changed so that ``wxa.code_to_session`` is self-contained.

    jscode2session authenticates with appid + secret in the query. wechatpy
    still adds ``access_token`` to every request and, lacking one, fetches it
    from the hard-coded ``https://api.weixin.qq.com/cgi-bin/token`` first — an
    extra round trip, a second quota, and a host that ignores ``api_base``.
    A ``None`` token is dropped from the query by requests, so nothing is
    fetched and nothing is sent.
    """

    @property
    def access_token(self) -> None:
        return None

    def fetch_access_token(self) -> dict[str, Any]:
        # Only reachable through auto_retry, which is off; refuse loudly rather
        # than talk to a host we were not configured for.
        raise RuntimeError("code2session never needs an access_token")


class WechatpyApi:
    """The real adapter: ``jscode2session`` through wechatpy, off the event loop."""

    def __init__(
        self,
        appid: str,
        secret: str,
        api_base: str,
        executor: Executor,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._appid = appid.strip()
        self._secret = secret.strip()
        self._executor = executor
        self._total_timeout = timeout + TOTAL_GRACE
        self._client = _Code2SessionClient(
            self._appid,
            self._secret,
            timeout=(min(CONNECT_TIMEOUT, timeout), timeout),
            # auto_retry would answer 40001 with an access_token fetch and a retry.
            auto_retry=False,
        )
        # The wxa endpoints read their base from a class attribute; wechatpy
        # gives each client its own endpoint objects, so setting it on the
        # instance changes this client only, and no global state.
        self._client.wxa.API_BASE_URL = api_base.rstrip("/") + "/"

    def __repr__(self) -> str:
        return f"WechatpyApi(appid={self._appid!r}, api_base={self._client.wxa.API_BASE_URL!r})"

    async def code2session(self, code: str) -> WeChatSession:
        """Trade a ``wx.login()`` code for the user's openid and session_key.

        401 ``wechat_code_invalid`` for a bad, used or expired code; 429 when
        WeChat rate-limits the user; 503 ``wechat_unavailable`` when WeChat
        cannot be reached or answers nonsense; 503 ``wechat_not_configured`` /
        ``wechat_misconfigured`` for operator problems.
        """
        if not self._appid or not self._secret:
            log.error("wechat login attempted but WECHAT_APPID / WECHAT_SECRET are not set")
            raise AppError(503, "wechat_not_configured", NOT_CONFIGURED_MESSAGE)
        code = code.strip()
        if not code or len(code) > MAX_CODE_LENGTH or not code.isprintable():
            raise errors.unauthorized(CODE_INVALID_MESSAGE, code="wechat_code_invalid")
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self._executor, self._call, code)
        try:
            result = await asyncio.wait_for(call, self._total_timeout)
        except TimeoutError:
            # The worker thread finishes on its own within requests' timeouts.
            log.warning(
                "wechat jscode2session took over %ss (code %s)", self._total_timeout, _mask(code)
            )
            raise _unavailable() from None
        return _session_from(result, code)

    def _call(self, code: str) -> dict[str, Any]:
        """The blocking call, run in the executor; returns the JSON or raises AppError."""
        try:
            result = self._client.wxa.code_to_session(code)
        except WeChatClientException as exc:
            raise _from_wechat_error(exc, code) from None
        except requests.RequestException as exc:
            # requests' messages carry the URL, whose query holds the secret:
            # log a redacted text and drop the cause.
            log.warning(
                "wechat jscode2session failed: %s: %s (code %s)",
                type(exc).__name__, redact(str(exc)), _mask(code),
            )
            raise _unavailable() from None
        if not isinstance(result, dict):
            # wechatpy hands back the raw response when the body is not JSON.
            status = getattr(result, "status_code", "?")
            log.warning("wechat jscode2session answered non-JSON (HTTP %s, code %s)", status, _mask(code))
            raise _unavailable()
        return result

    def close(self) -> None:
        """Close the pooled HTTP connections (call at shutdown)."""
        self._client._http.close()


def make_wechat_api(settings: Settings, executor: Executor) -> WeChatApi:
    """The WeChat adapter for these settings; it refuses logins (503) until appid and secret are set."""
    return WechatpyApi(
        appid=settings.wechat_appid,
        secret=settings.wechat_secret.get_secret_value(),
        api_base=settings.wechat_api_base,
        executor=executor,
    )


def redact(text: str) -> str:
    """``text`` with the values of ``secret``, ``js_code`` and ``access_token`` query parameters hidden."""
    return _SECRET_QUERY.sub(r"\1***", text)


def _session_from(result: dict[str, Any], code: str) -> WeChatSession:
    openid = result.get("openid")
    session_key = result.get("session_key")
    unionid = result.get("unionid")
    if not isinstance(openid, str) or not openid or not isinstance(session_key, str) or not session_key:
        log.warning("wechat jscode2session answered without openid/session_key (code %s)", _mask(code))
        raise _unavailable()
    return WeChatSession(
        openid=openid,
        session_key=session_key,
        unionid=unionid if isinstance(unionid, str) and unionid else None,
    )


def _from_wechat_error(exc: WeChatClientException, code: str) -> AppError:
    errcode = exc.errcode
    errmsg = redact(str(exc.errmsg))
    if errcode is None:
        # wechatpy's wrapper of an HTTP error status (5xx from WeChat or a proxy).
        status = getattr(exc.response, "status_code", "?")
        log.warning("wechat jscode2session answered HTTP %s (code %s)", status, _mask(code))
        return _unavailable()
    if errcode in CODE_INVALID_ERRCODES:
        log.info("wechat refused the login code %s: %s %s", _mask(code), errcode, errmsg)
        return errors.unauthorized(CODE_INVALID_MESSAGE, code="wechat_code_invalid")
    if errcode in RATE_LIMITED_ERRCODES:
        log.warning("wechat rate-limited jscode2session: %s %s", errcode, errmsg)
        return errors.throttled(RATE_LIMIT_RETRY_SECONDS)
    if errcode in MISCONFIGURED_ERRCODES:
        # An operator must act (fix WECHAT_APPID / WECHAT_SECRET, the IP whitelist).
        log.error("wechat refused our credentials for jscode2session: %s %s", errcode, errmsg)
        return AppError(503, "wechat_misconfigured", MISCONFIGURED_MESSAGE)
    if errcode in BUSY_ERRCODES:
        log.warning("wechat is busy: %s %s", errcode, errmsg)
    else:
        log.error("wechat jscode2session answered an unexpected error: %s %s", errcode, errmsg)
    return _unavailable()


def _unavailable() -> AppError:
    return AppError(503, "wechat_unavailable", UNAVAILABLE_MESSAGE)


def _mask(code: str) -> str:
    """Enough of a code to match log lines of one attempt, not enough to use it."""
    return code[:4] + "…" if len(code) > 4 else "…"
