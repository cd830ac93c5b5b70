"""TOTP codes as a staff member's authenticator shows them, for logins in tests.

The server accepts each time step once per account (a replayed code is refused) and a code of the
previous or next step. Tests log the same staff member in several times within 30 s, so this helper
hands out each step once per ``key`` (the secret, or the server and the secret for the shared demo
secret): the current step, then the next one, then it waits for the clock.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pyotp

from server.models.accounts import StaffCreate

STEP = 30
STAFF_PASSWORD = "Chief#Desk-2026"
_claimed: dict[Any, int] = {}


def _claim(secret: str, key: Any) -> tuple[int, float]:
    """The step to use for ``key`` and how long to wait before it is acceptable."""
    now = time.time()
    current = int(now) // STEP
    step = max(current, _claimed.get(key or secret, current - 1) + 1)
    _claimed[key or secret] = step
    wait = max(0.0, (step - 1) * STEP - now + 0.05)  # the server accepts one step ahead
    return step, wait


async def next_code(secret: str, key: Any = None) -> str:
    """A code for ``secret`` that the server has not seen yet (waits when two steps are used up)."""
    step, wait = _claim(secret, key)
    if wait:
        await asyncio.sleep(wait)
    return str(pyotp.TOTP(secret).generate_otp(step))


def next_code_sync(secret: str, key: Any = None) -> str:
    """:func:`next_code` for tests that call a server process synchronously."""
    step, wait = _claim(secret, key)
    if wait:
        time.sleep(wait)
    return str(pyotp.TOTP(secret).generate_otp(step))


async def enrolled_staff(services: Any, role: str = "admin", username: str | None = None,
                         password: str = STAFF_PASSWORD) -> tuple[str, str, str]:
    """A staff account of ``role`` with its authenticator enrolled (through the service); (username, password, secret)."""
    from tests.factories import _serial

    username = username or f"{role}{next(_serial)}"
    account_id = await services.accounts.create_staff(
        StaffCreate(username=username, role=role, name=username, password=password))
    setup = await services.totp.begin(account_id)
    await services.totp.enrol(account_id, await next_code(setup.secret), ip="127.0.0.1")
    return username, password, setup.secret


async def staff_login(api: Any, username: str, password: str, secret: str, *,
                      headers: dict[str, str] | None = None) -> Any:
    """Log a staff member in with password and a fresh code (the answer)."""
    body = {"account": username, "password": password, "totp_code": await next_code(secret)}
    return await api.post("/api/v1/auth/login", body, headers=headers)
