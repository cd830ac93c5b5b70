"""SMS proofs (SMS-code login, password reset) are throttled so that a stranger cannot burn the owner's codes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services.accounts import sms
from server.services.accounts.sms import ProofAttempt, SmsCodes
from server.services.container import Services
from tests.client import ApiClient, Response
from tests.factories import register_trainee, sms_code

pytestmark = pytest.mark.usefixtures("db")

LOGIN_SMS = "/api/v1/auth/login/sms"
RESET = "/api/v1/auth/password/reset"
OWNER = {"X-Real-IP": "203.0.113.9"}


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """The addresses come from X-Real-IP, as behind nginx: the test client is the trusted proxy."""
    return make_settings(trusted_proxies="127.0.0.1")


def _from(address: str) -> dict[str, str]:
    return {"X-Real-IP": address}


def _wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


async def _guess(api: ApiClient, path: str, account: str, code: str, address: str) -> Response:
    body: dict[str, Any] = {"account": account, "sms_code": code}
    if path == RESET:
        body["new_password"] = "Stranger#Pass-2026"
    return await api.request("POST", path, json=body, headers=_from(address))


class WithoutProofWindows(SmsCodes):
    """Control: the former checks — every proof spends a try of the newest code, nothing else."""

    async def check(self, phone: str | None, purpose: sms.SmsPurpose, code: str, *,
                    attempt: ProofAttempt | None = None) -> Any:
        return await self._check(phone, purpose, code, spend=True)


class WithoutAddressWindows(SmsCodes):
    """Control: only the account window — no address is ever refused."""

    async def _admit(self, keys: tuple[str, ...]) -> bool:
        account = keys[-1]
        return await self.limiter.hit(account, limit=2**62, window_seconds=3600) <= 4


@pytest.mark.parametrize("path", [LOGIN_SMS, RESET])
async def test_fifty_concurrent_guesses_from_one_address_leave_the_owners_code_working(
    api: ApiClient, settings: Settings, path: str
) -> None:
    _, body = await register_trainee(api, settings.sms_outbox)
    purpose = "login" if path == LOGIN_SMS else "reset"
    code = await sms_code(api, settings.sms_outbox, body["phone"], purpose=purpose)
    answers = await asyncio.gather(
        *(_guess(api, path, body["id_number"], _wrong(code), "198.51.100.7") for _ in range(50)))
    statuses = sorted(a.status for a in answers)
    assert statuses.count(422) == 5 and statuses.count(429) == 45, statuses
    refused = next(a for a in answers if a.status == 429)
    assert refused.error_code == "too_many_requests" and int(refused.headers["Retry-After"]) > 0
    assert "验证码错误次数过多" in refused.json["error"]["message"]
    # the owner, from their own address, with the code they received
    proof = {"account": body["id_number"], "sms_code": code}
    if path == RESET:
        proof["new_password"] = "Owner#Fresh-2026"
    r = await api.request("POST", path, headers=OWNER, json=proof)
    assert r.status == 200, r.body


async def test_rotating_addresses_never_spend_a_whole_code_and_the_owner_gets_in(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    _, body = await register_trainee(api, settings.sms_outbox)
    code = await sms_code(api, settings.sms_outbox, body["phone"], purpose="login")
    wrong = _wrong(code)
    # ten addresses, three guesses each (each within its own windows): 30 wrong proofs
    answers = await asyncio.gather(*(_guess(api, LOGIN_SMS, body["id_number"], wrong, f"198.51.100.{n}")
                                     for n in range(10) for _ in range(3)))
    assert {a.status for a in answers} == {422}
    newest = await services.db["sms_codes"].find_one({"purpose": "login"}, sort=[("created_at", -1)])
    assert newest is not None and newest["attempts"] == 4  # past the account's 4, no try is spent
    r = await api.request("POST", LOGIN_SMS, json={"account": body["id_number"], "sms_code": code}, headers=OWNER)
    assert r.status == 200, r.body
    # and a fresh code (once the minute between codes has passed) works as well
    phone_index = services.sms_codes.phone_index(body["phone"])
    await services.limiter.clear_cooldown(f"sms:resend:login:{phone_index}")
    fresh = await sms_code(api, settings.sms_outbox, body["phone"], purpose="login")
    await _guess(api, LOGIN_SMS, body["id_number"], _wrong(fresh), "198.51.100.99")
    r = await api.request("POST", LOGIN_SMS, json={"account": body["id_number"], "sms_code": fresh}, headers=OWNER)
    assert r.status == 200, r.body


async def test_control_without_the_proof_windows_the_stranger_burns_the_code(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    services.sms_codes.__class__ = WithoutProofWindows
    _, body = await register_trainee(api, settings.sms_outbox)
    code = await sms_code(api, settings.sms_outbox, body["phone"], purpose="login")
    answers = await asyncio.gather(
        *(_guess(api, LOGIN_SMS, body["id_number"], _wrong(code), "198.51.100.7") for _ in range(50)))
    assert {a.status for a in answers} == {422}  # nobody refused the guesser
    r = await api.request("POST", LOGIN_SMS, json={"account": body["id_number"], "sms_code": code}, headers=OWNER)
    assert (r.status, r.error_code) == (422, "sms_proof_invalid")  # burnt: the owner's right code fails


async def test_control_without_the_address_windows_one_address_guesses_without_end(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    services.sms_codes.__class__ = WithoutAddressWindows
    _, body = await register_trainee(api, settings.sms_outbox)
    code = await sms_code(api, settings.sms_outbox, body["phone"], purpose="login")
    answers = [await _guess(api, LOGIN_SMS, body["id_number"], _wrong(code), "198.51.100.7") for _ in range(30)]
    assert {a.status for a in answers} == {422}  # 30 real guesses from one address, none refused


async def test_right_proofs_are_not_counted(api: ApiClient, settings: Settings, services: Services) -> None:
    _, body = await register_trainee(api, settings.sms_outbox)
    phone_index = services.sms_codes.phone_index(body["phone"])
    for _ in range(6):
        await services.limiter.clear_cooldown(f"sms:resend:login:{phone_index}")
        code = await sms_code(api, settings.sms_outbox, body["phone"], purpose="login")
        r = await api.request("POST", LOGIN_SMS, json={"account": body["id_number"], "sms_code": code}, headers=OWNER)
        assert r.status == 200, r.body


async def test_an_unknown_account_is_throttled_the_same_way(api: ApiClient, db: AsyncDatabase[Any]) -> None:
    from tests.factories import resident_id

    account = resident_id()
    answers = [await _guess(api, LOGIN_SMS, account, "123456", "198.51.100.8") for _ in range(7)]
    assert [a.status for a in answers] == [422] * 5 + [429] * 2
    assert answers[0].error_code == "sms_proof_invalid"
    # the throttle keys hold blind indexes only
    assert not await db["rate_limits"].count_documents({"_id": {"$regex": account}})
