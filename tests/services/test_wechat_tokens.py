"""The WeChat access token shared through the database: two processes, one fetch (against the stub)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.integrations.wechat_subscribe import make_subscribe_messenger, template_data
from server.services.wechat_tokens import SharedAccessToken
from tests.faults import FaultPlan, FaultyDatabase
from tests.integrations.test_wechat_subscribe import CONTRACT_DATA
from tests.wechat_stub import WeChatStub

DATA = template_data("invoice_ready", CONTRACT_DATA["invoice_ready"])


@pytest.fixture
def executors() -> Iterator[list[ThreadPoolExecutor]]:
    """One network pool per simulated process."""
    pools = [ThreadPoolExecutor(max_workers=2) for _ in range(2)]
    try:
        yield pools
    finally:
        for pool in pools:
            pool.shutdown(wait=True)


async def _send_from_two_processes(
    db: AsyncDatabase[dict[str, Any]], settings: Settings, executors: list[ThreadPoolExecutor]
) -> None:
    messengers = [make_subscribe_messenger(settings, pool, SharedAccessToken(db, poll_seconds=0.02))
                  for pool in executors]
    try:
        await asyncio.gather(*(m.send(f"openid-{i}", "t", DATA, "p") for i, m in enumerate(messengers)))
    finally:
        for m in messengers:
            m.close()


async def test_two_processes_fetch_one_token_and_refresh_it_once(
    db: AsyncDatabase[dict[str, Any]], make_settings: Callable[..., Settings], wechat_stub: WeChatStub,
    executors: list[ThreadPoolExecutor],
) -> None:
    settings = make_settings(**wechat_stub.settings_overrides())
    wechat_stub.delay = 0.2  # both processes ask while the first fetch is under way
    await _send_from_two_processes(db, settings, executors)
    assert wechat_stub.token_fetches == 1 and len(wechat_stub.subscribe_messages) == 2

    wechat_stub.expire_tokens()  # both get 40001: one fetches, the other uses the new token
    await _send_from_two_processes(db, settings, executors)
    assert wechat_stub.token_fetches == 2 and len(wechat_stub.subscribe_messages) == 4
    stored = await db["wechat_tokens"].find_one({"_id": wechat_stub.appid})
    assert stored is not None and stored["lease_until"] is None


def _without_lease_guard(collection: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Control: the fetch lease taken whatever the stored token and lease say."""
    if collection.endswith("wechat_tokens") and method == "find_one_and_update":
        return ({"_id": args[0]["_id"]}, *args[1:]), kwargs
    return args, kwargs


async def test_control_without_the_lease_each_process_fetches(
    db: AsyncDatabase[dict[str, Any]], make_settings: Callable[..., Settings], wechat_stub: WeChatStub,
    executors: list[ThreadPoolExecutor],
) -> None:
    settings = make_settings(**wechat_stub.settings_overrides())
    wechat_stub.delay = 0.2
    await _send_from_two_processes(FaultyDatabase(db, FaultPlan(rewrite=_without_lease_guard)), settings, executors)
    assert wechat_stub.token_fetches == 2
