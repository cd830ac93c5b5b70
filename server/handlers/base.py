"""ApiHandler: the one place where HTTP meets the services.

Every endpoint is a method decorated with :func:`endpoint`, which declares what
it takes and returns. The declaration does the work that would otherwise be
repeated in each handler — authentication and role check, JSON body → pydantic
model, serialization of the result — and it is what the OpenAPI document is
generated from. ``write_error`` is the single translator from exceptions to the
error envelope of the API outline.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import hashlib
import hmac
import ipaddress
import itertools
import json
import logging
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import tornado.httputil
import tornado.ioloop
import tornado.web
from pydantic import BaseModel, ValidationError
from pymongo.errors import ConnectionFailure, PyMongoError

from server import errors
from server.config import proxy_networks
from server.errors import AppError
from server.models.common import FieldError
from server.services.accounts.tokens import FRESH_WINDOW

if TYPE_CHECKING:
    from server.config import Settings
    from server.services import Principal
    from server.services.container import Services

log = logging.getLogger("server.handlers")
access_log = logging.getLogger("server.access")

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T", bound=BaseModel)

PUBLIC: frozenset[str] | None = None  # no authentication
ANY_ROLE: frozenset[str] = frozenset()  # any logged-in account
STAFF_ROLES = frozenset({"admin", "reviewer", "scanner"})

_METHODS = ("get", "post", "put", "patch", "delete")
# The web view's session (README "Web view"): the login token in an HttpOnly cookie, and a
# double-submit XSRF token (a readable cookie the page echoes in a header on unsafe requests).
SESSION_COOKIE = "session"
XSRF_COOKIE = "XSRF-TOKEN"
XSRF_HEADER = "X-XSRF-Token"
SESSION_REQUEST_HEADER = "X-Session"  # "cookie" on a login: answer with the cookies, not the token
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Request ids: a random prefix per process (drawn again in each forked child) and a counter —
# unique across processes and restarts for any practical purpose, and nearly free
# (``secrets.token_hex`` per request was 4 % of /healthz's CPU).
_ID_PREFIX = secrets.token_hex(4)
_ID_COUNTER = itertools.count(1)


def _new_id_prefix() -> None:
    global _ID_PREFIX
    _ID_PREFIX = secrets.token_hex(4)


os.register_at_fork(after_in_child=_new_id_prefix)


def new_request_id() -> str:
    """A new request id (16 hex digits: this process's random prefix, then a counter)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFF:08x}"


@dataclass(frozen=True)
class Upload:
    """A file upload body: multipart ``files`` and text ``fields``, or a raw body of ``raw`` types."""

    files: tuple[str, ...]
    fields: tuple[str, ...] = ()
    raw: tuple[str, ...] = ()
    form: type[BaseModel] | None = None  # the model ``fields`` are parsed with (their documented types)


@dataclass(frozen=True)
class Endpoint:
    """What one handler method takes and returns; read by the wrapper and by OpenAPI."""

    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    roles: frozenset[str] | None = PUBLIC
    tags: tuple[str, ...] = ()
    produces: str | None = None  # a non-JSON response (a file), e.g. "application/pdf"
    max_body_bytes: int | None = None  # None: the JSON default of the settings
    errors: tuple[int, ...] = field(default=())  # statuses worth documenting
    allow_restricted: bool = False  # reachable with a password_change-scope token
    upload: Upload | None = None  # documents a file upload body (parsed by the method itself)
    allow_totp_setup: bool = False  # reachable with a totp_setup-scope token (staff without a second factor)
    fresh: bool = False  # an admin action: password and second factor proven within FRESH_WINDOW


def endpoint(
    summary: str,
    *,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    roles: Iterable[str] | None = PUBLIC,
    tags: Iterable[str] = (),
    produces: str | None = None,
    max_body_bytes: int | None = None,
    errors: Iterable[int] = (),
    allow_restricted: bool = False,
    upload: Upload | None = None,
    allow_totp_setup: bool = False,
    fresh: bool = False,
) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[None]]]:
    """Declare a handler method: auth, body and query models, response model.

    ``fresh=True`` marks an admin action that changes something: the caller must have proven
    password and second factor within the last 15 minutes (403 ``reauth_required`` otherwise;
    ``POST /api/v1/auth/reauth`` refreshes it). ``allow_totp_setup`` lets a staff member without a
    second factor yet reach the endpoint (enrolment, ``/me``, logout).

    The method receives the parsed body (``body=``) and query (``query=``) as
    keyword arguments of those names, and returns a model instance (written as
    JSON with ``status``) or ``None`` when it has written the response itself.
    """
    spec = Endpoint(
        summary=summary,
        body=body,
        query=query,
        response=response,
        status=status,
        roles=None if roles is None else frozenset(roles),
        tags=tuple(tags),
        produces=produces,
        max_body_bytes=max_body_bytes,
        errors=tuple(errors),
        allow_restricted=allow_restricted,
        upload=upload,
        allow_totp_setup=allow_totp_setup,
        fresh=fresh,
    )

    def decorate(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[None]]:
        @functools.wraps(method)
        async def wrapper(self: ApiHandler, *args: str, **path: str) -> None:
            self.take_body()
            if spec.roles is not None and self.principal is None:
                await self.require_spec(spec)
            kwargs: dict[str, Any] = dict(path)
            if spec.body is not None:
                kwargs["body"] = self.parse_json_body(spec.body)
            if spec.query is not None:
                kwargs["query"] = self.parse_query(spec.query)
            result = await method(self, *args, **kwargs)
            if result is not None:
                self.write_model(result, spec.status)

        wrapper.__endpoint__ = spec  # type: ignore[attr-defined]
        return wrapper

    return decorate


@tornado.web.stream_request_body
class ApiHandler(tornado.web.RequestHandler):
    """Base of every API handler: services, auth, JSON in and out, the error envelope.

    Bodies are streamed (``stream_request_body``) so that ``prepare`` judges a
    request by its headers before any of its body is read: a declared length over
    the endpoint's limit is refused with the 413 envelope at once, and a caller
    without a valid token is refused before an upload is accepted. The body then
    arrives in memory, capped at that limit, and is parsed as Tornado would.
    """

    principal: Principal | None = None
    _body_chunks: list[bytes] | None = None
    _body_limit: int = 0
    _body_received: int = 0
    _body_seen: float = 0.0
    _body_timer: object | None = None
    _body_refused: bool = False
    _method_started: bool = False
    _in_flight: InFlight | None = None
    _client_ip: str | None = None

    def initialize(self) -> None:
        """Give the request an id (kept from a trusted proxy when it looks sane); count it in flight."""
        incoming = self.request.headers.get("X-Request-Id")
        self.request_id = incoming if incoming and _REQUEST_ID.match(incoming) else new_request_id()
        self.set_header("X-Request-Id", self.request_id)
        self._in_flight = self.application.settings.get("in_flight")
        if self._in_flight is not None:
            self._in_flight.add(self)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Keep the body accounting and the in-flight count when a handler brings its own hooks.

        A handler that streams its body elsewhere (bulk photos spool to disk) overrides
        ``data_received`` and ``on_finish``; without this wrapping its chunked uploads would
        escape the size limit and the stall timer, and a stop would wait for it forever.
        """
        super().__init_subclass__(**kwargs)
        own_data = cls.__dict__.get("data_received")
        if own_data is not None and not getattr(own_data, "_accounted", False):
            def data_received(self: ApiHandler, chunk: bytes, _own: Any = own_data) -> Any:
                return _own(self, chunk) if self._account_body(chunk) else None

            data_received._accounted = True  # type: ignore[attr-defined]
            cls.data_received = functools.wraps(own_data)(data_received)  # type: ignore[method-assign]
        own_finish = cls.__dict__.get("on_finish")
        if own_finish is not None and not getattr(own_finish, "_accounted", False):
            def on_finish(self: ApiHandler, _own: Any = own_finish) -> None:
                try:
                    _own(self)
                finally:
                    ApiHandler.on_finish(self)

            on_finish._accounted = True  # type: ignore[attr-defined]
            cls.on_finish = functools.wraps(own_finish)(on_finish)  # type: ignore[method-assign]

    def on_finish(self) -> None:
        """The answer is written: no longer in flight."""
        self._stop_body_watch()
        if self._in_flight is not None:
            self._in_flight.discard(self)

    def on_connection_close(self) -> None:
        """The client went away; a request whose method never started will never finish, so stop counting it."""
        super().on_connection_close()
        self._stop_body_watch()
        if self._in_flight is not None and not self._method_started:
            self._in_flight.discard(self)

    @property
    def services(self) -> Services:
        """The services of the process, built once at start-up."""
        return self.application.settings["services"]  # type: ignore[no-any-return]

    @property
    def config(self) -> Settings:
        """The settings of the process (Tornado already uses ``self.settings``)."""
        return self.services.settings

    @property
    def client_ip(self) -> str:
        """The caller's address: the peer's, or the forwarded client's when the peer is in TRUSTED_PROXIES."""
        if self._client_ip is None:
            self._client_ip = real_client_ip(
                self.peer_ip, self.request.headers, proxy_networks(self.config.trusted_proxies)
            )
        return self._client_ip

    @property
    def peer_ip(self) -> str:
        """The address of the socket's other end (Tornado's ``xheaders`` rewrite believes any client)."""
        address = getattr(getattr(self.request.connection, "context", None), "address", None)
        if isinstance(address, tuple) and address:
            return _plain_ip(str(address[0])) or str(address[0])
        return self.request.remote_ip or ""

    def set_default_headers(self) -> None:
        """API answers are private and never sniffed (constant values: set without Tornado's checks,
        once per request and again when an error clears the headers)."""
        headers = self._headers
        headers["Content-Type"] = "application/json; charset=UTF-8"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Cache-Control"] = "no-store"
        request_id = getattr(self, "request_id", None)  # None while Tornado's __init__ first clears
        if request_id is not None:
            headers["X-Request-Id"] = request_id

    def compute_etag(self) -> str | None:
        """No ETag on JSON: API answers are ``no-store``; hashing each body would be wasted work.

        Inline files (photos) set their own in ``write_inline``, so a browser revalidates with a 304.
        """
        return None

    # ---- authentication ---------------------------------------------------------

    def bearer_token(self) -> str | None:
        """The token of the Authorization header, if any."""
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()

    async def require_spec(self, spec: Endpoint) -> Principal:
        """Authenticate the caller as the endpoint declares (roles, restricted scopes, freshness)."""
        assert spec.roles is not None
        return await self.require_roles(spec.roles, allow_restricted=spec.allow_restricted,
                                        allow_totp_setup=spec.allow_totp_setup, fresh=spec.fresh)

    async def require_roles(
        self, roles: frozenset[str], *, allow_restricted: bool = False, allow_totp_setup: bool = False,
        fresh: bool = False,
    ) -> Principal:
        """Authenticate the caller; 401 without a valid token, 403 with the wrong role or scope,
        403 ``reauth_required`` on a ``fresh`` endpoint when the identity was proven too long ago."""
        principal = await self._token_principal()
        if principal is None:
            raise errors.unauthorized()
        if principal.scope == "totp_setup" and not allow_totp_setup:
            raise errors.forbidden("请先绑定身份验证器（动态验证码）", code="totp_setup_required")
        if principal.scope == "password_change" and not allow_restricted:
            raise errors.forbidden("请先修改初始密码", code="password_change_required")
        if principal.scope not in ("full", "totp_setup", "password_change"):
            raise errors.forbidden()
        if roles and principal.role not in roles:
            raise errors.forbidden()
        if fresh and not self._fresh(principal):
            raise errors.forbidden("此操作需要重新验证身份", code="reauth_required")
        self.principal = principal
        return principal

    def _fresh(self, principal: Principal) -> bool:
        """Password and second factor proven on this token within the fresh window."""
        at = principal.authenticated_at
        if at is None:
            return False
        if at.tzinfo is None:
            at = at.replace(tzinfo=datetime.UTC)
        return bool(self.services.tokens.now() - at <= FRESH_WINDOW)

    async def optional_principal(self) -> Principal | None:
        """The caller on a public endpoint that personalizes its answer, or None when anonymous.

        No Authorization header: anonymous. A token that is unknown, expired or
        revoked: 401 ``invalid_token``, so that a client whose login lapsed is told
        so rather than silently shown an anonymous page. A restricted
        (``password_change``) token counts as anonymous here.
        """
        principal = await self._token_principal()
        if principal is None or principal.scope != "full":
            return None
        self.principal = principal
        return principal

    async def _token_principal(self) -> Principal | None:
        """None without a token; the principal of a live one; 401 ``invalid_token`` otherwise.

        The token is the bearer's or, without an Authorization header, the web view's session
        cookie: the same token, so the same revocation, expiry and throttling. A request
        authenticated by the cookie with an unsafe method must carry the XSRF header (403 before
        anything is looked up or done); a bearer request is never subject to it.
        """
        token = self.bearer_token()
        by_cookie = False
        if token is None:
            token = self.get_cookie(SESSION_COOKIE)
            if not token:
                return None
            by_cookie = True
            self.check_session_xsrf()
        principal = await self.services.authenticate(token)
        if principal is None:
            if by_cookie:
                self.clear_session_cookies()
            raise errors.unauthorized("登录已失效，请重新登录", code="invalid_token")
        return principal

    def check_session_xsrf(self) -> None:
        """403 ``xsrf_failed`` for an unsafe request whose XSRF header does not match its XSRF cookie."""
        if self.request.method in _SAFE_METHODS:
            return
        cookie = self.get_cookie(XSRF_COOKIE) or ""
        header = self.request.headers.get(XSRF_HEADER, "")
        if not cookie or not hmac.compare_digest(cookie.encode(), header.encode()):
            raise errors.forbidden("请求来源无法确认（可能来自其他网站），已拒绝；请刷新页面后重试", code="xsrf_failed")

    def login_answer(self, login: T) -> T:
        """A new login as asked: the token in the body, or (``X-Session: cookie``) in an HttpOnly cookie.

        The web view asks for the cookie: the session cookie carries the token (HttpOnly, SameSite=Lax,
        Secure in production) and a fresh XSRF cookie is set for the page to echo; the body's
        ``token`` is then empty, so page scripts never hold it.
        """
        if self.request.headers.get(SESSION_REQUEST_HEADER, "").strip().lower() != "cookie":
            return login
        token = getattr(login, "token", "")
        secure = self.config.app_env == "production"
        expires = _parse_expiry(getattr(login, "expires_at", None))
        self.set_cookie(SESSION_COOKIE, token, path="/", httponly=True, secure=secure, samesite="Lax",
                        expires=expires)
        self.set_cookie(XSRF_COOKIE, secrets.token_urlsafe(24), path="/", secure=secure, samesite="Lax",
                        expires=expires)
        return login.model_copy(update={"token": ""})

    def clear_session_cookies(self) -> None:
        """Forget the web view's session in this browser (logout, or a cookie that no longer logs in)."""
        secure = self.config.app_env == "production"
        for name in (SESSION_COOKIE, XSRF_COOKIE):
            self.clear_cookie(name, path="/", secure=secure, samesite="Lax")

    # ---- input ------------------------------------------------------------------

    def endpoint_spec(self) -> Endpoint | None:
        """The declaration of the method this request calls, None for an undeclared method (405)."""
        method = getattr(self, self.request.method.lower(), None) if self.request.method else None
        return getattr(method, "__endpoint__", None)

    def prepare(self) -> Awaitable[None] | None:
        """Judge the request by its headers, before its body is read.

        413 when the declared Content-Length is over the endpoint's limit (the body is
        never read; a client that sent ``Expect: 100-continue`` never sends it), and
        the connection's own cap is lowered to that limit, which also bounds a chunked
        body. A request with a body to an endpoint that needs a login is authenticated
        now, so that an anonymous upload is refused before it is received.
        """
        headers = self.request.headers
        if "Content-Length" not in headers and "Transfer-Encoding" not in headers:
            self._body_chunks = []  # HTTP/1.1: no body comes (most GETs): nothing to judge or watch
            return None
        spec = self.endpoint_spec()
        limit = self.body_limit(spec)
        declared = headers.get("Content-Length", "0").strip()
        if not declared.isdigit():
            raise errors.bad_request("bad_content_length", "请求头 Content-Length 无效")
        if int(declared) > limit:
            raise errors.too_large(limit)
        chunked = "Transfer-Encoding" in headers
        # A declared length is already within the limit. A chunked body is counted in data_received,
        # which answers the 413 envelope; the connection's own cap (a bare 400 from Tornado) must not
        # come first, also not for one huge chunk header.
        self.request.connection.set_max_body_size(CHUNKED_CAP if chunked else limit)  # type: ignore[union-attr]
        self._body_limit = limit
        self._body_chunks = []
        body_coming = int(declared) > 0 or chunked
        if body_coming:
            self._watch_body()
        if spec is not None and spec.roles is not None and body_coming:
            return self.require_spec(spec)
        return None

    def body_limit(self, spec: Endpoint | None) -> int:
        """The largest body this request may send: the endpoint's declared limit, or the JSON default."""
        return (spec.max_body_bytes if spec else None) or self.config.max_json_bytes

    def data_received(self, chunk: bytes) -> None:
        """Collect a piece of the body; past the endpoint's limit answer the 413 envelope and stop."""
        if self._account_body(chunk) and self._body_chunks is not None:
            self._body_chunks.append(chunk)

    def _account_body(self, chunk: bytes) -> bool:
        """Count a piece of the body for the stall timer and the limit; False once the request is refused."""
        if self._body_refused:
            return False
        self._body_seen = tornado.ioloop.IOLoop.current().time()
        self._body_received += len(chunk)
        if self._body_received > self._body_limit:  # only a chunked body gets here: lengths are checked first
            self._refuse_body(errors.too_large(self._body_limit))
            return False
        return True

    def _watch_body(self) -> None:
        """Answer 408 and close when the body stalls for BODY_TIMEOUT_SECONDS (a declared 100 MB never sent)."""
        loop = tornado.ioloop.IOLoop.current()
        timeout = self.config.body_timeout_seconds
        self._body_seen = loop.time()

        def check() -> None:
            if self._body_refused or self._method_started or self._finished:
                return
            idle = loop.time() - self._body_seen
            if idle < timeout:
                self._body_timer = loop.call_later(timeout - idle, check)
                return
            log.info("request body stalled for %.0f s: %s %s rid=%s", idle, self.request.method,
                     self.request.path, self.request_id)
            self._refuse_body(AppError(408, "body_timeout", "请求体接收超时，请重新提交"))

        self._body_timer = loop.call_later(timeout, check)

    def _stop_body_watch(self) -> None:
        if self._body_timer is not None:
            tornado.ioloop.IOLoop.current().remove_timeout(self._body_timer)
            self._body_timer = None

    def _refuse_body(self, error: AppError) -> None:
        """Answer ``error`` while the body is still arriving; Tornado closes the connection once it is sent."""
        self._body_refused = True
        self._body_chunks = None
        self._stop_body_watch()
        self.send_error(error.status, exc_info=(type(error), error, None))

    def take_body(self) -> None:
        """Join the received body and parse form fields and files from it, as Tornado does unstreamed."""
        self._method_started = True
        self._stop_body_watch()
        if self._body_chunks is None:
            return
        self.request.body = b"".join(self._body_chunks)
        self._body_chunks = None
        if self.request.body:
            parse_body_arguments(
                self.request.headers.get("Content-Type", ""),
                self.request.body,
                self.request.body_arguments,
                self.request.files,
                self.request.headers,
            )

    def parse_json_body(self, model: type[M]) -> M:
        """The JSON body as ``model``: 415 not JSON, 400 malformed, 422 invalid fields."""
        content_type = self.request.headers.get("Content-Type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise errors.unsupported_media("请求体必须是 JSON（Content-Type: application/json）")
        try:
            data = json.loads(self.request.body or b"")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise errors.bad_request(
                "malformed_json", "请求体不是有效的 JSON", {"position": getattr(exc, "pos", None)}
            ) from None
        if not isinstance(data, dict):
            raise errors.bad_request("malformed_json", "请求体必须是 JSON 对象")
        return validate_model(model, data)

    def parse_query(self, model: type[M]) -> M:
        """The query string as ``model`` (the last value of a repeated key wins)."""
        data = {
            key: values[-1].decode("utf-8", "replace")
            for key, values in self.request.query_arguments.items()
        }
        return validate_model(model, data)

    def is_multipart(self) -> bool:
        """Whether the body is ``multipart/form-data`` (parsed by Tornado before the handler runs)."""
        content_type = self.request.headers.get("Content-Type", "")
        return content_type.split(";")[0].strip().lower() == "multipart/form-data"

    def uploaded_file(
        self, field: str, *, raw_types: Iterable[str] = (), required: bool = True
    ) -> tuple[str, bytes] | None:
        """The file part ``field`` of a multipart body as (filename, bytes).

        A raw body is accepted too when its Content-Type is one of ``raw_types``
        (e.g. ``image/jpeg`` from a client that cannot send multipart); its filename
        is empty. 415 when the body is neither; 400 ``file_missing`` when the part is
        absent (unless not ``required``: None) or sent more than once. A malformed
        multipart body never gets here: Tornado refuses it with 400 while parsing.
        """
        content_type = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type in {t.lower() for t in raw_types}:
            return "", self.request.body
        if not self.is_multipart():
            accepted = "、".join(["multipart/form-data", *raw_types])
            raise errors.unsupported_media(f"请以 {accepted} 格式上传文件")
        parts = self.request.files.get(field, [])
        if len(parts) > 1:
            raise errors.bad_request("file_duplicate", f"文件字段 {field} 只能有一个文件", {"field": field})
        if not parts or not parts[0].body:
            if not required:
                return None
            raise errors.bad_request("file_missing", f"缺少上传文件（字段 {field}）", {"field": field})
        return parts[0].filename, parts[0].body

    def parse_form(self, model: type[M]) -> M:
        """The text fields of a multipart or urlencoded body as ``model`` (422 on invalid fields)."""
        data = {
            key: values[-1].decode("utf-8", "replace")
            for key, values in self.request.body_arguments.items()
        }
        return validate_model(model, data)

    # ---- output -----------------------------------------------------------------

    def write_json(self, data: Any, status: int = 200) -> None:
        """Finish with ``data`` as UTF-8 JSON."""
        self.set_status(status)
        self.finish(json.dumps(data, ensure_ascii=False, separators=(",", ":")))

    def write_model(self, model: BaseModel, status: int = 200) -> None:
        """Finish with a response model as UTF-8 JSON, serialized by pydantic in one step (a session
        page's 20 rows: a third of the request's CPU through ``model_dump`` and ``json.dumps``)."""
        self.set_status(status)
        self.finish(model.model_dump_json())

    def write_file(self, filename: str, content_type: str, data: bytes, *, private: bool = True) -> None:
        """Finish with a download: right Content-Type and a UTF-8 encoded filename."""
        self.set_header("Content-Type", content_type)
        self.set_header("Content-Disposition", content_disposition(filename))
        self.set_header("Cache-Control", "private, no-store" if private else "public, max-age=300")
        self.finish(data)

    def write_inline(self, content_type: str, data: bytes, *, cache_control: str = "private, no-cache") -> None:
        """Finish with a file shown in place (an image), private to the caller, never sniffed."""
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", cache_control)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Etag", f'"{hashlib.sha1(data, usedforsecurity=False).hexdigest()}"')
        if self.check_etag_header():  # the caller has this very file
            self.set_status(304)
            self.finish()
            return
        self.finish(data)

    # ---- errors -----------------------------------------------------------------

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """The one translator: every failure leaves as the error envelope."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        error = self._as_app_error(exc, status_code)
        self.clear()
        self.set_default_headers()
        for name, value in error.headers.items():
            self.set_header(name, value)
        if error.status == 405:  # RFC 9110 §15.5.6: a 405 must say which methods the resource has
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        self.set_status(error.status)
        self.finish(json.dumps(error.envelope(), ensure_ascii=False))

    def allowed_methods(self) -> list[str]:
        """The methods this resource implements: those declared with ``@endpoint``."""
        return [m.upper() for m in _METHODS if hasattr(getattr(self, m, None), "__endpoint__")]

    def _as_app_error(self, exc: BaseException | None, status_code: int) -> AppError:
        if isinstance(exc, AppError):
            return exc
        if database_unavailable(exc):
            return AppError(503, "database_unavailable", "数据库暂时无法连接，请稍后重试",
                            {"retry_after": DB_RETRY_AFTER_S}, headers={"Retry-After": str(DB_RETRY_AFTER_S)})
        if isinstance(exc, tornado.web.HTTPError) or exc is None:
            code, message = _HTTP_ERRORS.get(status_code, ("http_error", "请求无法处理"))
            return AppError(status_code, code, message)
        return AppError(
            500, "internal_error", "服务器内部错误，请稍后重试", {"request_id": self.request_id}
        )

    def log_exception(self, typ: Any, value: BaseException | None, tb: Any) -> None:
        """Refusals are expected and only reach the access log; anything else is logged with its stack."""
        if isinstance(value, (AppError, tornado.web.HTTPError)):
            return
        if database_unavailable(value):  # an outage, not a bug: one line per request, no stack
            log.warning("database unavailable in %s %s rid=%s: %s", self.request.method, self.request.path,
                        self.request_id, type(value).__name__)
            return
        log.error(
            "unhandled error in %s %s rid=%s",
            self.request.method,
            self.request.path,
            self.request_id,
            exc_info=(typ, value, tb),
        )


# A chunked body's connection-level cap: data_received enforces the endpoint's limit with the envelope.
CHUNKED_CAP = 1 << 62
DB_RETRY_AFTER_S = 5


def database_unavailable(exc: BaseException | None) -> bool:
    """True for the driver's "cannot reach the database" errors (down, unreachable, timed out).

    ConnectionFailure covers AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError and
    WaitQueueTimeoutError; ``timeout`` marks a client-side deadline that expired.
    """
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, ConnectionFailure) or (isinstance(exc, PyMongoError) and exc.timeout):
            return True
        exc, seen = exc.__cause__, seen + 1
    return False


def _parse_expiry(value: object) -> datetime.datetime | None:
    """A login's ``expires_at`` (ISO 8601) as a cookie expiry; None (a browser-session cookie) when unreadable."""
    try:
        return datetime.datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)  # per request otherwise: 6 % of the loop's time in the rush (py-spy)
def _plain_ip(text: str) -> str | None:
    """``text`` as a canonical address (IPv4-mapped IPv6 unwrapped), or None when it is not one."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


def real_client_ip(
    peer: str,
    headers: tornado.httputil.HTTPHeaders,
    trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
) -> str:
    """The client's address: the peer unless it is a trusted proxy; then the right-most untrusted hop.

    X-Forwarded-For is read from the right (each proxy appends the address it saw), skipping
    trusted proxies; what is left of the first untrusted hop was written by the client and is
    ignored. Without X-Forwarded-For, a trusted proxy's X-Real-IP is used. Garbage stops the walk
    at the last address a trusted proxy vouched for.
    """
    def is_trusted(address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return any(ip.version == net.version and ip in net for net in trusted)

    if not trusted or not _plain_ip(peer) or not is_trusted(peer):
        return peer
    hops = [hop.strip() for line in headers.get_list("X-Forwarded-For") for hop in line.split(",") if hop.strip()]
    if not hops:
        real = _plain_ip(headers.get("X-Real-IP", ""))
        return real or peer
    client = peer
    for hop in reversed(hops):
        address = _plain_ip(hop)
        if address is None:
            break
        client = address
        if not is_trusted(address):
            break
    return client


class InFlight:
    """The requests being handled right now, so that a stop can let them finish.

    ``python -m server`` puts one in the application settings (``in_flight``); every
    ApiHandler adds itself when created and leaves when its answer is written.
    """

    def __init__(self) -> None:
        self._handlers: set[ApiHandler] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def add(self, handler: ApiHandler) -> None:
        """A request has started."""
        self._handlers.add(handler)
        self._idle.clear()

    def discard(self, handler: ApiHandler) -> None:
        """A request has been answered (or its client is gone before it started)."""
        self._handlers.discard(handler)
        if not self._handlers:
            self._idle.set()

    def __len__(self) -> int:
        return len(self._handlers)

    async def drain(self, timeout: float, interrupt: asyncio.Event | None = None) -> list[str]:
        """Wait up to ``timeout`` s (or until ``interrupt``) for every open request to finish.

        Returns a description of each request still open (method, path, request id).
        """
        waits = [asyncio.ensure_future(self._idle.wait())]
        if interrupt is not None:
            waits.append(asyncio.ensure_future(interrupt.wait()))
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        return [f"{h.request.method} {h.request.path} rid={h.request_id}" for h in list(self._handlers)]


class NotFoundHandler(ApiHandler):
    """Unknown routes answer the JSON envelope too."""

    def prepare(self) -> None:
        """Every method of an unknown path is a 404 (a body is held to the JSON limit meanwhile)."""
        super().prepare()
        raise errors.not_found("接口不存在", code="route_not_found")


_HTTP_ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "请求格式错误"),
    401: ("not_authenticated", "请先登录"),
    403: ("forbidden", "无权执行此操作"),
    404: ("not_found", "对象不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    413: ("payload_too_large", "上传内容过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    500: ("internal_error", "服务器内部错误，请稍后重试"),
}


def parse_body_arguments(
    content_type: str,
    body: bytes,
    arguments: dict[str, list[bytes]],
    files: dict[str, list[tornado.httputil.HTTPFile]],
    headers: tornado.httputil.HTTPHeaders | None = None,
) -> None:
    """Tornado's form and multipart parsing into ``arguments`` and ``files``; 400 when malformed."""
    try:
        tornado.httputil.parse_body_arguments(content_type, body, arguments, files, headers)
    except tornado.httputil.HTTPInputError:
        raise errors.bad_request("malformed_body", "请求体格式错误，无法解析上传内容") from None


def validate_model(model: type[M], data: Any) -> M:
    """Validate ``data`` as ``model``; 422 with a Chinese message per field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = {_field_path(e): zh_error_message(e) for e in exc.errors()}
        raise errors.validation("提交的数据有误，请检查标出的字段", fields) from None


def _field_path(error: Any) -> str:
    cause = (error.get("ctx") or {}).get("error")
    loc = (*error["loc"], cause.field) if isinstance(cause, FieldError) else error["loc"]
    return ".".join(str(part) for part in loc) or "body"


def zh_error_message(error: Any) -> str:
    """A Chinese message for one pydantic error, whatever its type.

    Our own validators already speak Chinese (their text is kept); a library's ``value_error`` in
    English (email-validator's "value is not a valid email address: …") and any type without a
    translation get a Chinese message, never the English one.
    """
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in ("value_error", "assertion_error"):
        text = str(ctx.get("error", error.get("msg", ""))).removeprefix("Value error, ")
        if _CJK.search(text):
            return text
        return "邮箱格式不正确" if "email" in text.lower() else "格式不正确"
    template = _ZH_ERRORS.get(kind)
    if template is None:
        return "格式不正确"
    if isinstance(ctx.get("expected"), str):  # "'a', 'b' or 'c'": pydantic's English "or"
        ctx = {**ctx, "expected": ctx["expected"].replace(" or ", ", ")}
    try:
        return template.format(**ctx)
    except (KeyError, IndexError, ValueError):
        return _ZH_PLAIN.sub("", template).strip("：，, ") or "格式不正确"


_CJK = re.compile(r"[\u4e00-\u9fff]")
_ZH_PLAIN = re.compile(r"[（(]?\{[^}]*\}[)）]?")  # a placeholder the error did not fill


_ZH_ERRORS: dict[str, str] = {
    "missing": "必填项",
    "extra_forbidden": "不允许的字段",
    "string_type": "应为文本",
    "string_too_short": "长度不能少于 {min_length} 个字符",
    "string_too_long": "长度不能超过 {max_length} 个字符",
    "string_pattern_mismatch": "格式不正确",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "list_type": "应为列表",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "model_attributes_type": "应为对象",
    "enum": "取值无效，可选：{expected}",
    "literal_error": "取值无效，可选：{expected}",
    "date_type": "应为日期（YYYY-MM-DD）",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "datetime_type": "应为时间（ISO 8601）",
    "datetime_parsing": "应为时间（ISO 8601）",
    "datetime_from_date_parsing": "应为时间（ISO 8601）",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应不小于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应不大于 {le}",
    "too_short": "至少需要 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "url_parsing": "应为网址",
    "json_invalid": "不是有效的 JSON",
    # the rest of pydantic's error types (tests/handlers/test_base_errors.py walks them all)
    "json_type": "应为 JSON 文本",
    "none_required": "应为空",
    "multiple_of": "应为 {multiple_of} 的倍数",
    "finite_number": "应为有限的数字",
    "iterable_type": "应为列表",
    "iteration_error": "列表内容有误",
    "string_unicode": "文本编码无效",
    "string_not_ascii": "只能包含英文字母、数字和符号",
    "int_parsing_size": "数字超出范围",
    "bytes_type": "应为文本",
    "bytes_too_short": "长度不能少于 {min_length} 个字节",
    "bytes_too_long": "长度不能超过 {max_length} 个字节",
    "bytes_invalid_encoding": "编码无效",
    "set_type": "应为列表",
    "frozen_set_type": "应为列表",
    "tuple_type": "应为列表",
    "deque_type": "应为列表",
    "set_item_not_hashable": "列表中有无效的项",
    "mapping_type": "应为对象",
    "frozen_dict_type": "应为对象",
    "ordered_dict_type": "应为对象",
    "counter_type": "应为对象",
    "dataclass_type": "应为对象",
    "dataclass_exact_type": "应为对象",
    "named_tuple_type": "应为列表",
    "invalid_key": "对象的键无效",
    "no_such_attribute": "不允许的字段",
    "frozen_field": "该字段不可修改",
    "frozen_instance": "该对象不可修改",
    "date_from_datetime_inexact": "应为日期（YYYY-MM-DD），不含时间",
    "date_past": "应为过去的日期",
    "date_future": "应为将来的日期",
    "time_type": "应为时间（HH:MM:SS）",
    "time_parsing": "应为时间（HH:MM:SS）",
    "datetime_object_invalid": "时间无效",
    "datetime_past": "应为过去的时间",
    "datetime_future": "应为将来的时间",
    "timezone_naive": "时间不应带时区",
    "timezone_aware": "时间应带时区",
    "timezone_offset": "时区不正确",
    "time_delta_type": "应为时长",
    "time_delta_parsing": "应为时长",
    "union_tag_invalid": "类型取值无效，可选：{expected_tags}",
    "union_tag_not_found": "缺少类型字段 {discriminator}",
    "url_type": "应为网址",
    "url_syntax_violation": "网址格式不正确",
    "url_too_long": "网址过长（最多 {max_length} 个字符）",
    "url_scheme": "网址协议不正确，可选：{expected_schemes}",
    "uuid_type": "应为 UUID",
    "uuid_parsing": "应为 UUID",
    "uuid_version": "UUID 版本不正确",
    "decimal_type": "应为数字",
    "decimal_parsing": "应为数字",
    "decimal_max_digits": "数字最多 {max_digits} 位",
    "decimal_max_places": "小数最多 {decimal_places} 位",
    "decimal_whole_digits": "整数部分最多 {whole_digits} 位",
    "fraction_type": "应为数字",
    "fraction_parsing": "应为数字",
    "complex_type": "应为数字",
    "complex_str_parsing": "应为数字",
    "is_instance_of": "类型不正确",
    "is_subclass_of": "类型不正确",
    "callable_type": "类型不正确",
    "arguments_type": "参数格式不正确",
    "missing_argument": "必填项",
    "missing_keyword_only_argument": "必填项",
    "missing_positional_only_argument": "必填项",
    "unexpected_keyword_argument": "不允许的字段",
    "unexpected_positional_argument": "不允许的参数",
    "multiple_argument_values": "参数重复",
    "missing_sentinel_error": "不允许的值",
    "ellipsis_error": "不允许的值",
    "get_attribute_error": "无法读取该字段",
    "default_factory_not_called": "缺少默认值",
    "needs_python_object": "格式不正确",
    "recursion_loop": "数据嵌套有循环",
    "recursion_depth_exceeded": "数据嵌套过深",
}


def content_disposition(filename: str) -> str:
    """An attachment header that keeps a Chinese filename (RFC 6266 / 5987)."""
    ascii_fallback = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    return f"attachment; filename=\"{ascii_fallback}\"; filename*=UTF-8''{quote(filename)}"


def log_request(handler: tornado.web.RequestHandler) -> None:
    """The access log: one line per request — never the query string, a body or a token."""
    status = handler.get_status()
    level = logging.INFO if status < 500 else logging.ERROR
    access_log.log(
        level,
        "%s %s %d %.1fms rid=%s",
        handler.request.method,
        handler.request.path,
        status,
        1000.0 * handler.request.request_time(),
        getattr(handler, "request_id", "-"),
    )

