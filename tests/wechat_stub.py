"""A local stand-in for WeChat's ``GET /sns/jscode2session``, ``GET /cgi-bin/token`` and
``POST /cgi-bin/message/subscribe/send``, served over real HTTP.

It answers like WeChat does — JSON with ``Content-Type: text/plain``, errors as
``{"errcode", "errmsg"}`` with HTTP 200, each code usable once — so that the
adapter is tested against the responses it will really get. Tests tell it
which codes exist (:meth:`WeChatStub.add_code`) and how to misbehave
(:attr:`WeChatStub.mode`, :attr:`WeChatStub.delay`).

Subscribe messages: the stub issues access tokens (:meth:`WeChatStub.expire_tokens` makes the
current ones invalid, 40001), records every message it accepted in
:attr:`WeChatStub.subscribe_messages`, answers ``send`` with :attr:`WeChatStub.send_error` when set
(e.g. ``(43101, "user refuse to accept the msg")``), and can go down for real
(:meth:`WeChatStub.go_down`: the port refuses connections) and come back on the same port.

Usage::

    async with WeChatStub() as stub:
        stub.add_code("c1", "openid-1", session_key="k1")
        settings = make_settings(**stub.settings_overrides())
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

import tornado.httpserver
import tornado.netutil
import tornado.testing
import tornado.web

Mode = Literal["normal", "busy", "http_500", "not_json"]


@dataclass
class RecordedRequest:
    """One request the stub received; the secret is reduced to whether it was right."""

    path: str
    appid: str | None
    js_code: str | None
    grant_type: str | None
    secret_ok: bool
    query_keys: list[str]
    headers: dict[str, str]


@dataclass
class _Code:
    openid: str
    session_key: str
    unionid: str | None
    used: bool = False


@dataclass
class WeChatStub:
    """The stub server; ``base_url`` is valid inside ``async with``."""

    appid: str = "wx0123456789abcdef"
    secret: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    # normal: answer as WeChat; busy: errcode -1; http_500: a failing gateway;
    # not_json: an HTML error page with status 200, as some proxies send.
    mode: Mode = "normal"
    delay: float = 0.0  # seconds to wait before answering
    # (errcode, errmsg) to answer every request with, e.g. (45011, "api minute-quota reach limit")
    forced_error: tuple[int, str] | None = None
    requests: list[RecordedRequest] = field(default_factory=list, init=False)
    base_url: str = field(default="", init=False)
    # subscribe messages: what was accepted, what to answer instead, the tokens issued
    subscribe_messages: list[dict[str, Any]] = field(default_factory=list, init=False)
    send_attempts: int = field(default=0, init=False)
    send_error: tuple[int, str] | None = None
    token_fetches: int = field(default=0, init=False)
    _tokens: set[str] = field(default_factory=set, init=False, repr=False)
    _port: int = field(default=0, init=False, repr=False)
    _codes: dict[str, _Code] = field(default_factory=dict, init=False, repr=False)
    _server: tornado.httpserver.HTTPServer | None = field(default=None, init=False, repr=False)
    _closing: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    def add_code(
        self, code: str, openid: str, *, session_key: str | None = None, unionid: str | None = None
    ) -> None:
        """Make ``code`` valid once, for the user ``openid``."""
        self._codes[code] = _Code(
            openid=openid,
            session_key=session_key or secrets.token_urlsafe(16),
            unionid=unionid,
        )

    def settings_overrides(self, **changes: Any) -> dict[str, Any]:
        """Settings values that point the server at this stub (``changes`` win)."""
        return {
            "wechat_appid": self.appid,
            "wechat_secret": self.secret,
            "wechat_api_base": self.base_url,
            **changes,
        }

    def expire_tokens(self) -> None:
        """Make every access token issued so far invalid (WeChat answers 40001 until a new one is fetched)."""
        self._tokens.clear()

    async def go_down(self) -> None:
        """Stop listening and drop open connections: clients get "connection refused"."""
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None

    def come_back(self) -> None:
        """Listen again on the same port."""
        if self._server is None:
            self._listen(tornado.netutil.bind_sockets(self._port, "127.0.0.1"))

    def _listen(self, sockets: list[Any]) -> None:
        app = tornado.web.Application([
            (r"/sns/jscode2session", _JsCode2SessionHandler, {"stub": self}),
            (r"/cgi-bin/token", _TokenHandler, {"stub": self}),
            (r"/cgi-bin/message/subscribe/send", _SubscribeSendHandler, {"stub": self}),
        ])
        self._server = tornado.httpserver.HTTPServer(app)
        self._server.add_sockets(sockets)

    async def __aenter__(self) -> WeChatStub:
        sock, port = tornado.testing.bind_unused_port()
        self._port = port
        self._listen([sock])
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        # Wake slow handlers so none outlives the stub.
        self._closing.set()
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()

    def _answer(self, args: dict[str, str]) -> dict[str, Any]:
        """WeChat's answer to valid-looking query arguments."""
        rid = secrets.token_hex(8)
        if self.mode == "busy":
            return {"errcode": -1, "errmsg": f"system error, rid: {rid}"}
        if self.forced_error is not None:
            errcode, errmsg = self.forced_error
            return {"errcode": errcode, "errmsg": f"{errmsg}, rid: {rid}"}
        if args.get("appid") != self.appid:
            return {"errcode": 40013, "errmsg": f"invalid appid, rid: {rid}"}
        if args.get("secret") != self.secret:
            return {"errcode": 40125, "errmsg": f"invalid appsecret, rid: {rid}"}
        if args.get("grant_type") != "authorization_code":
            return {"errcode": 40002, "errmsg": f"invalid grant_type, rid: {rid}"}
        code = args.get("js_code")
        if not code:
            return {"errcode": 41008, "errmsg": f"missing code, rid: {rid}"}
        known = self._codes.get(code)
        if known is None:
            return {"errcode": 40029, "errmsg": f"invalid code, rid: {rid}"}
        if known.used:
            return {"errcode": 40163, "errmsg": f"code been used, rid: {rid}"}
        known.used = True
        body = {"openid": known.openid, "session_key": known.session_key}
        if known.unionid:
            body["unionid"] = known.unionid
        return body


class _JsCode2SessionHandler(tornado.web.RequestHandler):
    def initialize(self, stub: WeChatStub) -> None:
        self.stub = stub

    async def get(self) -> None:
        stub = self.stub
        args = {name: self.get_query_argument(name) for name in self.request.query_arguments}
        stub.requests.append(
            RecordedRequest(
                path=self.request.path,
                appid=args.get("appid"),
                js_code=args.get("js_code"),
                grant_type=args.get("grant_type"),
                secret_ok=args.get("secret") == stub.secret,
                query_keys=sorted(args),
                headers=dict(self.request.headers),
            )
        )
        if stub.delay:
            try:
                await asyncio.wait_for(stub._closing.wait(), stub.delay)
            except TimeoutError:
                pass
            if self.request.connection.stream.closed():  # type: ignore[union-attr]
                return  # the client gave up; nobody to answer
        if stub.mode == "http_500":
            self.set_status(500)
            self.finish("<html><body>500 Internal Server Error</body></html>")
            return
        if stub.mode == "not_json":
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish("<html><body>502 Bad Gateway</body></html>")
            return
        # WeChat labels this JSON as text/plain; the adapter must not rely on the type.
        self.set_header("Content-Type", "text/plain")
        self.finish(json.dumps(stub._answer(args)))


def _json(handler: tornado.web.RequestHandler, body: dict[str, Any]) -> None:
    handler.set_header("Content-Type", "application/json; encoding=utf-8")
    handler.finish(json.dumps(body, ensure_ascii=False))


class _TokenHandler(tornado.web.RequestHandler):
    """``GET /cgi-bin/token?grant_type=client_credential&appid=&secret=``."""

    def initialize(self, stub: WeChatStub) -> None:
        self.stub = stub

    def get(self) -> None:
        stub = self.stub
        stub.token_fetches += 1
        rid = secrets.token_hex(8)
        if self.get_query_argument("grant_type", "") != "client_credential":
            return _json(self, {"errcode": 40002, "errmsg": f"invalid grant_type, rid: {rid}"})
        if self.get_query_argument("appid", "") != stub.appid:
            return _json(self, {"errcode": 40013, "errmsg": f"invalid appid, rid: {rid}"})
        if self.get_query_argument("secret", "") != stub.secret:
            return _json(self, {"errcode": 40125, "errmsg": f"invalid appsecret, rid: {rid}"})
        token = secrets.token_urlsafe(24)
        stub._tokens.add(token)
        _json(self, {"access_token": token, "expires_in": 7200})


class _SubscribeSendHandler(tornado.web.RequestHandler):
    """``POST /cgi-bin/message/subscribe/send?access_token=``: checks the body as WeChat does, records it."""

    def initialize(self, stub: WeChatStub) -> None:
        self.stub = stub

    async def post(self) -> None:
        stub = self.stub
        stub.send_attempts += 1
        rid = secrets.token_hex(8)
        if stub.delay:  # a slow WeChat: two senders of one message overlap
            try:
                await asyncio.wait_for(stub._closing.wait(), stub.delay)
            except TimeoutError:
                pass
        if stub.mode == "http_500":
            self.set_status(500)
            self.finish("<html><body>500 Internal Server Error</body></html>")
            return None
        if stub.mode == "busy":
            return _json(self, {"errcode": -1, "errmsg": f"system error, rid: {rid}"})
        if self.get_query_argument("access_token", "") not in stub._tokens:
            return _json(self, {"errcode": 40001, "errmsg": f"invalid credential, access_token is invalid, rid: {rid}"})
        try:
            body = json.loads(self.request.body)
        except ValueError:
            return _json(self, {"errcode": 47001, "errmsg": f"data format error, rid: {rid}"})
        if stub.send_error is not None:
            errcode, errmsg = stub.send_error
            return _json(self, {"errcode": errcode, "errmsg": f"{errmsg}, rid: {rid}"})
        if not body.get("touser") or not body.get("template_id") or not isinstance(body.get("data"), dict):
            return _json(self, {"errcode": 47003, "errmsg": f"argument invalid!, rid: {rid}"})
        for key, item in body["data"].items():
            value = item.get("value") if isinstance(item, dict) else None
            if not isinstance(value, str) or not value or (key.startswith("thing") and len(value) > 20):
                return _json(self, {"errcode": 47003, "errmsg": f"argument invalid! data.{key}.value invalid, rid: {rid}"})
        stub.subscribe_messages.append(body)
        return _json(self, {"errcode": 0, "errmsg": "ok", "msgid": secrets.randbelow(10**12)})
