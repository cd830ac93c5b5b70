"""The login service: an account disabled while a login is under way gets no live token.

``set_disabled`` revokes the tokens that exist when it runs; a login that passed its
status check just before, and issues its token just after, would keep a valid token.
The login re-reads the status after issuing. The service's test seams put the
disabling exactly in between (``before_issue``) and switch the re-read off for the
control run (``status_recheck``), which must observe the bug.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.errors import AppError
from server.models.accounts import LoginIn, SmsLoginIn
from server.services import Principal
from server.services.accounts.sms import SmsPurpose
from server.services.container import Services
from tests.client import ApiClient
from tests.factories import STRONG_PASSWORD, register_trainee
from tests.outbox import last_code

pytestmark = pytest.mark.usefixtures("db")

IP = "203.0.113.5"


def _disable_on_issue(services: Services) -> Callable[[dict[str, Any]], Awaitable[None]]:
    async def disable(account: dict[str, Any]) -> None:
        await services.accounts.set_disabled(account["_id"], True, by=Principal(ObjectId(), "admin"))

    return disable


async def _password_login(services: Services, body: dict[str, Any]) -> str:
    answer = await services.login.login(LoginIn(account=body["id_number"], password=STRONG_PASSWORD), ip=IP)
    return answer.token


async def _sms_login(services: Services, body: dict[str, Any]) -> str:
    await services.sms_codes.send(body["phone"], SmsPurpose.login, ip=IP)
    code = last_code(services.settings.sms_outbox, body["phone"])
    answer = await services.login.login_sms(SmsLoginIn(account=body["id_number"], sms_code=code), ip=IP)
    return answer.token


@pytest.mark.parametrize("login", [_password_login, _sms_login])
async def test_account_disabled_between_check_and_issue_gets_no_live_token(
    api: ApiClient, settings: Settings, services: Services, db: AsyncDatabase[dict[str, Any]],
    login: Callable[[Services, dict[str, Any]], Awaitable[str]],
) -> None:
    _, body = await register_trainee(api, settings.sms_outbox)
    await db["tokens"].delete_many({})
    services.login.before_issue = _disable_on_issue(services)
    with pytest.raises(AppError) as caught:
        await login(services, body)
    assert (caught.value.status, caught.value.code) == (403, "account_disabled")
    assert await db["tokens"].count_documents({}) == 1  # issued, then revoked at once
    assert await db["tokens"].count_documents({"revoked_at": None}) == 0


@pytest.mark.parametrize("login", [_password_login, _sms_login])
async def test_control_without_the_status_recheck_leaves_a_live_token(
    api: ApiClient, settings: Settings, services: Services, login: Callable[[Services, dict[str, Any]], Awaitable[str]],
) -> None:
    _, body = await register_trainee(api, settings.sms_outbox)
    services.login.before_issue = _disable_on_issue(services)
    services.login.status_recheck = False
    token = await login(services, body)
    principal = await services.tokens.resolve(token)
    assert principal is not None  # the bug the re-read prevents: a disabled account with a valid token
    assert (await services.accounts.get(principal.account_id))["status"] == "disabled"


async def test_the_recheck_costs_nothing_to_an_active_account(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    _, body = await register_trainee(api, settings.sms_outbox)
    token = await _password_login(services, body)
    assert await services.tokens.resolve(token) is not None
