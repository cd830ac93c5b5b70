"""The WeChat adapter over real HTTP against the local jscode2session stub."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import tornado.testing

from server.config import Settings
from server.errors import AppError
from server.integrations.wechat import WechatpyApi, WeChatSession, make_wechat_api, redact
from tests.wechat_stub import WeChatStub

LOGGER = "server.integrations.wechat"


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    """A small executor, as the services own in production."""
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wechat-test")
    try:
        yield pool
    finally:
        pool.shutdown(wait=True)


@pytest.fixture
def make_api(
    make_settings: Callable[..., Settings], wechat_stub: WeChatStub, executor: ThreadPoolExecutor
) -> Iterator[Callable[..., WechatpyApi]]:
    """Build the adapter through ``make_wechat_api`` with settings pointing at the stub."""
    built: list[WechatpyApi] = []

    def factory(**changes: Any) -> WechatpyApi:
        settings = make_settings(**wechat_stub.settings_overrides(**changes))
        api = make_wechat_api(settings, executor)
        assert isinstance(api, WechatpyApi)
        built.append(api)
        return api

    yield factory
    for api in built:
        api.close()


async def expect_error(api: WechatpyApi, code: str) -> AppError:
    with pytest.raises(AppError) as caught:
        await api.code2session(code)
    return caught.value


async def test_good_code_gives_the_session(make_api: Callable[..., WechatpyApi], wechat_stub: WeChatStub) -> None:
    wechat_stub.add_code("code-ok-1", "openid-1", session_key="key-1", unionid="union-1")
    session = await make_api().code2session("code-ok-1")
    assert session == WeChatSession(openid="openid-1", session_key="key-1", unionid="union-1")
    [sent] = wechat_stub.requests
    assert sent.path == "/sns/jscode2session"
    assert (sent.appid, sent.js_code, sent.grant_type) == (wechat_stub.appid, "code-ok-1", "authorization_code")
    assert sent.secret_ok
    # jscode2session authenticates with the secret alone: no access_token fetched or sent.
    assert sent.query_keys == ["appid", "grant_type", "js_code", "secret"]


async def test_unionid_is_optional(make_api: Callable[..., WechatpyApi], wechat_stub: WeChatStub) -> None:
    wechat_stub.add_code("code-ok-2", "openid-2", session_key="key-2")
    session = await make_api().code2session("code-ok-2")
    assert session.unionid is None
    assert session.openid == "openid-2"


async def test_api_base_with_trailing_slash(make_api: Callable[..., WechatpyApi], wechat_stub: WeChatStub) -> None:
    wechat_stub.add_code("code-slash", "openid-3")
    api = make_api(wechat_api_base=wechat_stub.base_url + "/")
    assert (await api.code2session("code-slash")).openid == "openid-3"
    assert wechat_stub.requests[0].path == "/sns/jscode2session"


async def test_a_code_works_once(make_api: Callable[..., WechatpyApi], wechat_stub: WeChatStub) -> None:
    wechat_stub.add_code("code-once", "openid-4")
    api = make_api()
    await api.code2session("code-once")
    error = await expect_error(api, "code-once")
    assert (error.status, error.code) == (401, "wechat_code_invalid")
    assert error.message == "微信登录凭证无效或已过期，请重新进入小程序"


async def test_unknown_code_is_refused(make_api: Callable[..., WechatpyApi]) -> None:
    error = await expect_error(make_api(), "no-such-code")
    assert (error.status, error.code) == (401, "wechat_code_invalid")


@pytest.mark.parametrize("code", ["", "   ", "x" * 300, "bad\ncode"])
async def test_absurd_code_is_refused_without_asking_wechat(
    make_api: Callable[..., WechatpyApi], wechat_stub: WeChatStub, code: str
) -> None:
    error = await expect_error(make_api(), code)
    assert (error.status, error.code) == (401, "wechat_code_invalid")
    assert wechat_stub.requests == []


@pytest.mark.parametrize(
    "changes",
    [{"wechat_secret": "wrong-secret-value"}, {"wechat_appid": "wx-not-ours"}],
    ids=["secret", "appid"],
)
async def test_wrong_credentials_are_an_operator_problem(
    make_api: Callable[..., WechatpyApi],
    wechat_stub: WeChatStub,
    caplog: pytest.LogCaptureFixture,
    changes: dict[str, str],
) -> None:
    wechat_stub.add_code("code-cred", "openid-5")
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    error = await expect_error(make_api(**changes), "code-cred")
    assert (error.status, error.code) == (503, "wechat_misconfigured")
    assert any(r.levelno == logging.ERROR and r.name == LOGGER for r in caplog.records)
    assert "wrong-secret-value" not in caplog.text


@pytest.mark.parametrize("changes", [{"wechat_appid": ""}, {"wechat_secret": ""}], ids=["appid", "secret"])
async def test_missing_credentials_refuse_without_asking_wechat(
    make_api: Callable[..., WechatpyApi], wechat_stub: WeChatStub, changes: dict[str, str]
) -> None:
    error = await expect_error(make_api(**changes), "code-any")
    assert (error.status, error.code) == (503, "wechat_not_configured")
    assert error.message == "未配置微信小程序"
    assert wechat_stub.requests == []


async def test_default_settings_are_not_configured(
    make_settings: Callable[..., Settings], executor: ThreadPoolExecutor
) -> None:
    api = make_wechat_api(make_settings(), executor)
    try:
        error = await expect_error(api, "code-any")  # type: ignore[arg-type]
    finally:
        api.close()  # type: ignore[attr-defined]
    assert (error.status, error.code) == (503, "wechat_not_configured")


@pytest.mark.parametrize(
    ("errcode", "status", "app_code"),
    [
        (40226, 401, "wechat_code_invalid"),  # high-risk user, blocked by WeChat
        (45011, 429, "too_many_requests"),
        (40164, 503, "wechat_misconfigured"),  # our IP is not whitelisted
        (-1, 503, "wechat_unavailable"),
        (99999, 503, "wechat_unavailable"),  # something new: not the user's fault
    ],
)
async def test_errcodes_are_translated(
    make_api: Callable[..., WechatpyApi], wechat_stub: WeChatStub, errcode: int, status: int, app_code: str
) -> None:
    wechat_stub.forced_error = (errcode, "forced")
    error = await expect_error(make_api(), "code-err")
    assert (error.status, error.code) == (status, app_code)
    if status == 429:
        assert error.headers["Retry-After"] == "60"


async def test_system_busy_is_unavailable(make_api: Callable[..., WechatpyApi], wechat_stub: WeChatStub) -> None:
    wechat_stub.add_code("code-busy", "openid-6")
    wechat_stub.mode = "busy"
    error = await expect_error(make_api(), "code-busy")
    assert (error.status, error.code) == (503, "wechat_unavailable")
    assert error.message == "微信服务暂时不可用，请稍后再试"


@pytest.mark.parametrize("mode", ["http_500", "not_json"])
async def test_broken_answers_are_unavailable(
    make_api: Callable[..., WechatpyApi], wechat_stub: WeChatStub, mode: Any
) -> None:
    wechat_stub.add_code("code-broken", "openid-7")
    wechat_stub.mode = mode
    error = await expect_error(make_api(), "code-broken")
    assert (error.status, error.code) == (503, "wechat_unavailable")


async def test_wechat_down_is_unavailable_and_logs_no_secret(
    make_settings: Callable[..., Settings], executor: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    # A port that was free a moment ago and that nobody listens on: connection refused.
    sock, port = tornado.testing.bind_unused_port()
    sock.close()
    settings = make_settings(
        wechat_appid="wx0123456789abcdef",
        wechat_secret="the-secret-never-logged",
        wechat_api_base=f"http://127.0.0.1:{port}",
    )
    api = make_wechat_api(settings, executor)
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    try:
        error = await expect_error(api, "code-down-0123456789")  # type: ignore[arg-type]
    finally:
        api.close()  # type: ignore[attr-defined]
    assert (error.status, error.code) == (503, "wechat_unavailable")
    # A handler logging the error with its stack must not print requests' URL either.
    assert "the-secret-never-logged" not in "".join(traceback.format_exception(error))
    assert caplog.records, "the failure is logged"
    assert "the-secret-never-logged" not in caplog.text
    assert "code-down-0123456789" not in caplog.text


async def test_slow_wechat_does_not_block_the_loop(
    make_api: Callable[..., WechatpyApi], wechat_stub: WeChatStub
) -> None:
    wechat_stub.add_code("code-slow", "openid-8")
    wechat_stub.delay = 0.6
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        session = await make_api().code2session("code-slow")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert session.openid == "openid-8"
    # 0.6 s at one tick per 20 ms is ~30 ticks; a blocked loop gives about none.
    assert ticks >= 10


async def test_a_hanging_wechat_times_out(
    wechat_stub: WeChatStub, executor: ThreadPoolExecutor
) -> None:
    wechat_stub.add_code("code-hang", "openid-9")
    wechat_stub.delay = 5.0
    api = WechatpyApi(wechat_stub.appid, wechat_stub.secret, wechat_stub.base_url, executor, timeout=0.3)
    started = time.monotonic()
    try:
        error = await expect_error(api, "code-hang")
    finally:
        api.close()
    assert (error.status, error.code) == (503, "wechat_unavailable")
    assert time.monotonic() - started < 2.0


def test_repr_hides_the_session_key() -> None:
    session = WeChatSession(openid="openid-r", session_key="very-secret-key", unionid="union-r")
    for text in (repr(session), str(session), f"{session}", f"{session!r}"):
        assert "very-secret-key" not in text
        assert "openid-r" in text


def test_repr_of_the_adapter_hides_the_secret(executor: ThreadPoolExecutor) -> None:
    api = WechatpyApi("wx1", "adapter-secret", "http://127.0.0.1:9", executor)
    try:
        assert "adapter-secret" not in repr(api)
    finally:
        api.close()


def test_redact_hides_query_secrets() -> None:
    text = "Max retries exceeded with url: /sns/jscode2session?appid=wx1&secret=s3cr3t&js_code=abc&grant_type=x"
    assert redact(text) == (
        "Max retries exceeded with url: /sns/jscode2session?appid=wx1&secret=***&js_code=***&grant_type=x"
    )
