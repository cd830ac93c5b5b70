"""Subscribe messages: the template data (pure), and the wechatpy adapter over real HTTP against the stub."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from server.config import Settings
from server.integrations.wechat_subscribe import (
    TEMPLATE_FIELDS,
    TEMPLATE_KINDS,
    SubscribeRefused,
    SubscribeUnavailable,
    WechatpySubscribeMessenger,
    amount,
    character_string,
    make_subscribe_messenger,
    phrase,
    template_data,
    template_page,
    thing,
    time_value,
)
from tests.wechat_stub import WeChatStub

LOGGER = "server.integrations.wechat_subscribe"

CONTRACT_DATA: dict[str, dict[str, Any]] = {
    "payment_approved": {"payment_id": "65f0c0ffee0000000000000a", "reference": "JP7K3Q9A", "amount_fen": 128000,
                         "session_titles": ["建设工程质量检测人员岗位培训（第一期）", "见证取样"]},
    "payment_rejected": {"payment_id": "65f0c0ffee0000000000000a", "reference": "JP7K3Q9A",
                         "reason": "转账金额与应缴金额不一致，请核对后重新上传缴费凭证截图",
                         "pay_by": "2025-03-08T02:00:00+00:00"},
    "invoice_ready": {"payment_id": "65f0c0ffee0000000000000a", "reference": "JP7K3Q9A",
                      "invoice_number": "25310000000012345678"},
    "payment_deadline_near": {"enrollment_id": "65f0c0ffee0000000000000b", "session_title": "安全员继续教育",
                              "pay_by": "2025-03-01T15:59:00+00:00", "amount_fen": 50005},
    "results_published": {"session_id": "65f0c0ffee0000000000000c", "enrollment_id": "65f0c0ffee0000000000000b",
                          "verdict": "failed", "verdict_label": "不合格", "course_name": "岩土工程勘察专项培训（第一期）"},
    "certificate_ready": {"certificate_id": "65f0c0ffee0000000000000d", "number": "SKX-2026-000123",
                          "course_name": "岩土工程勘察专项培训"},
}


# ---- the template data: pure ----------------------------------------------------------------------

def test_each_kind_fills_exactly_its_template_fields() -> None:
    assert set(TEMPLATE_KINDS) == set(TEMPLATE_FIELDS) == set(CONTRACT_DATA)
    for kind, data in CONTRACT_DATA.items():
        built = template_data(kind, data)
        assert list(built) == list(TEMPLATE_FIELDS[kind])
        for key, item in built.items():
            value = item["value"]
            assert value, (kind, key)
            if key.startswith("thing"):
                assert len(value) <= 20, (kind, key, value)
            if key.startswith("character_string"):
                assert len(value) <= 32 and value.isascii() and " " not in value, (kind, key, value)
            if key.startswith("phrase"):
                assert len(value) <= 5


def test_the_values_say_what_happened() -> None:
    approved = template_data("payment_approved", CONTRACT_DATA["payment_approved"])
    assert approved["amount2"] == {"value": "1280.00元"}
    assert approved["character_string3"] == {"value": "JP7K3Q9A"}
    assert approved["phrase4"] == {"value": "已通过"}
    assert approved["thing1"]["value"] == "建设工程质量检测人员岗位培训（第一期）…"  # 19 characters and the ellipsis
    rejected = template_data("payment_rejected", CONTRACT_DATA["payment_rejected"])
    assert rejected["time4"] == {"value": "2025年3月8日 10:00"}  # Beijing time
    assert rejected["thing3"]["value"].startswith("转账金额与应缴金额不一致") and len(rejected["thing3"]["value"]) == 20
    near = template_data("payment_deadline_near", CONTRACT_DATA["payment_deadline_near"])
    assert near["time3"] == {"value": "2025年3月1日 23:59"} and near["amount2"] == {"value": "500.05元"}
    assert template_data("invoice_ready", CONTRACT_DATA["invoice_ready"])["character_string2"] == {
        "value": "25310000000012345678"}


def test_results_and_certificates_say_what_happened() -> None:
    results = template_data("results_published", CONTRACT_DATA["results_published"])
    assert results["phrase2"] == {"value": "不合格"}
    ready = template_data("certificate_ready", CONTRACT_DATA["certificate_ready"])
    assert ready["character_string2"] == {"value": "SKX-2026-000123"}


def test_field_helpers_respect_wechat_limits() -> None:
    assert thing("a" * 20) == "a" * 20
    assert thing("a" * 21) == "a" * 19 + "…"
    assert thing("  多个   空格\n换行 ") == "多个 空格 换行"
    assert thing("") == thing(None) == "无"  # WeChat refuses an empty value
    assert character_string("JP-7K 3Q9A（中文）") == "JP-7K3Q9A"
    assert character_string("x" * 40) == "x" * 32
    assert phrase("审核已通过了吗") == "审核已通过"
    assert amount(0) == "0.00元" and amount(7) == "0.07元"
    assert time_value("2025-12-31T16:30:00+00:00") == "2026年1月1日 00:30"


def test_a_kind_without_a_template_is_refused() -> None:
    with pytest.raises(KeyError):
        template_data("waitlist_offer", {})


def test_the_page_carries_the_object() -> None:
    assert template_page("payment_approved", CONTRACT_DATA["payment_approved"], "pages/payments/index") == (
        "pages/payments/index?payment_id=65f0c0ffee0000000000000a")
    assert template_page("payment_deadline_near", CONTRACT_DATA["payment_deadline_near"], "p/i").endswith(
        "?enrollment_id=65f0c0ffee0000000000000b")


# ---- the adapter over HTTP ----------------------------------------------------------------------------

@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    """A small executor, as the services own in production."""
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="subscribe-test")
    try:
        yield pool
    finally:
        pool.shutdown(wait=True)


@pytest.fixture
def messenger(make_settings: Callable[..., Settings], wechat_stub: WeChatStub,
              executor: ThreadPoolExecutor) -> Iterator[WechatpySubscribeMessenger]:
    """The adapter built from settings pointing at the stub."""
    built = make_subscribe_messenger(make_settings(**wechat_stub.settings_overrides()), executor)
    try:
        yield built
    finally:
        built.close()


DATA = template_data("invoice_ready", CONTRACT_DATA["invoice_ready"])


async def test_a_message_is_sent_with_a_fetched_token(messenger: WechatpySubscribeMessenger,
                                                      wechat_stub: WeChatStub) -> None:
    await messenger.send("openid-1", "tmpl-invoice", DATA, "pages/payments/index?payment_id=1")
    await messenger.send("openid-2", "tmpl-invoice", DATA, "pages/payments/index")
    assert wechat_stub.token_fetches == 1  # cached between messages
    first, second = wechat_stub.subscribe_messages
    assert first == {"touser": "openid-1", "template_id": "tmpl-invoice", "page": "pages/payments/index?payment_id=1",
                     "data": DATA, "miniprogram_state": "formal", "lang": "zh_CN"}
    assert second["touser"] == "openid-2"


async def test_an_expired_token_is_fetched_again_and_the_send_retried(messenger: WechatpySubscribeMessenger,
                                                                       wechat_stub: WeChatStub) -> None:
    await messenger.send("openid-1", "t", DATA, "p")
    wechat_stub.expire_tokens()  # 40001 on the next send
    await messenger.send("openid-1", "t", DATA, "p")
    assert wechat_stub.token_fetches == 2 and len(wechat_stub.subscribe_messages) == 2
    assert wechat_stub.send_attempts == 3


@pytest.mark.parametrize("errcode", [43101, 40003, 40037, 47003])
async def test_a_refusal_means_send_it_another_way(messenger: WechatpySubscribeMessenger, wechat_stub: WeChatStub,
                                                   errcode: int) -> None:
    wechat_stub.send_error = (errcode, "user refuse to accept the msg")
    with pytest.raises(SubscribeRefused) as caught:
        await messenger.send("openid-1", "t", DATA, "p")
    assert caught.value.errcode == errcode
    assert wechat_stub.subscribe_messages == []


async def test_busy_or_broken_wechat_is_retried_later(messenger: WechatpySubscribeMessenger,
                                                      wechat_stub: WeChatStub) -> None:
    for mode in ("busy", "http_500"):
        wechat_stub.mode = mode  # type: ignore[assignment]
        with pytest.raises(SubscribeUnavailable):
            await messenger.send("openid-1", "t", DATA, "p")
    wechat_stub.mode = "normal"
    await wechat_stub.go_down()
    with pytest.raises(SubscribeUnavailable):
        await messenger.send("openid-1", "t", DATA, "p")
    wechat_stub.come_back()
    await messenger.send("openid-1", "t", DATA, "p")
    assert len(wechat_stub.subscribe_messages) == 1


async def test_wrong_credentials_fall_back_and_never_log_the_secret(
    make_settings: Callable[..., Settings], wechat_stub: WeChatStub, executor: ThreadPoolExecutor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "wrong-secret-" + "9" * 20
    built = make_subscribe_messenger(make_settings(**wechat_stub.settings_overrides(wechat_secret=secret)), executor)
    try:
        with pytest.raises(SubscribeRefused) as caught:
            await built.send("openid-1", "t", DATA, "p")
    finally:
        built.close()
    assert caught.value.errcode == 40125
    assert any(r.levelno == logging.ERROR and r.name == LOGGER for r in caplog.records)
    # our log lines (urllib3's DEBUG and the stub's access log print the query: not ours, not at INFO)
    assert not [r for r in caplog.records if r.name.startswith("server") and secret in r.getMessage()]


async def test_without_an_appid_nothing_is_sent(make_settings: Callable[..., Settings], wechat_stub: WeChatStub,
                                                executor: ThreadPoolExecutor) -> None:
    built = make_subscribe_messenger(make_settings(wechat_api_base=wechat_stub.base_url), executor)
    try:
        with pytest.raises(SubscribeRefused):
            await built.send("openid-1", "t", DATA, "p")
    finally:
        built.close()
    assert wechat_stub.token_fetches == 0
