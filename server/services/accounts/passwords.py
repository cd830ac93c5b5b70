"""Password hashing (argon2id, off the event loop) and the password policy.

Passwords are NFKC-normalized before hashing and policy checks (as NIST SP
800-63B recommends), so a full-width ``１２３`` typed through a Chinese IME
matches the ASCII ``123`` it looks like.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import re
import unicodedata
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import date
from importlib import resources
from typing import TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

T = TypeVar("T")

# Defaults measured on the 2-core development machine (argon2-cffi 25.1, one
# hash at a time through this class, 9 runs): t=4, m=64 MiB, p=1 takes a median
# of ~240 ms per hash (200-270 ms), verify the same; t=3 was ~180 ms. Memory cost
# is the main defence against GPU cracking; 64 MiB per concurrent login is
# affordable because the default executor bounds concurrency to a few threads.
DEFAULT_TIME_COST = 4
DEFAULT_MEMORY_COST_KIB = 65536
DEFAULT_PARALLELISM = 1

MIN_LENGTH = 8
# Refuse, never truncate: a silently truncated password is weaker than the user thinks.
MAX_LENGTH = 128


def normalize_password(password: str) -> str:
    """The form of a password that is hashed and checked against the policy."""
    return unicodedata.normalize("NFKC", password)


class PasswordHasher:
    """Argon2id hashing and verification run in an executor, off the event loop."""

    def __init__(
        self,
        *,
        time_cost: int = DEFAULT_TIME_COST,
        memory_cost: int = DEFAULT_MEMORY_COST_KIB,
        parallelism: int = DEFAULT_PARALLELISM,
        executor: Executor | None = None,
    ) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._executor = executor
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        """Hash a password into an encoded argon2id string."""
        return await self._run(self._hasher.hash, normalize_password(password))

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether the password matches; False for a mismatch or an unusable hash.

        With ``stored_hash=None`` (unknown account) a dummy hash is verified so
        the answer takes as long as for a real account and does not reveal
        which accounts exist.
        """
        return await self._run(self._verify_sync, stored_hash, normalize_password(password))

    def needs_rehash(self, stored_hash: str) -> bool:
        """Whether the hash was made with other parameters (or is unusable) and should be redone."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except (InvalidHashError, VerificationError, ValueError, TypeError):
            return True

    def _verify_sync(self, stored_hash: str | None, password: str) -> bool:
        """Blocking verification; runs in the executor."""
        if stored_hash is None:
            self._verify_quietly(self._get_dummy_hash(), password)
            return False
        return self._verify_quietly(stored_hash, password)

    def _verify_quietly(self, stored_hash: str, password: str) -> bool:
        """argon2's verify, with every failure turned into False."""
        try:
            return self._hasher.verify(stored_hash, password)
        # VerificationError covers mismatches and undecodable hashes; the rest
        # are garbage a database could hold (wrong type, non-ASCII text).
        except (VerificationError, InvalidHashError, ValueError, TypeError):
            return False

    def _get_dummy_hash(self) -> str:
        """A hash with this hasher's parameters, made once (a race only wastes one hash)."""
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash("dummy password for unknown accounts")
        return self._dummy_hash

    async def _run(self, func: Callable[..., T], *args: object) -> T:
        """Run a blocking call in the configured executor."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, func, *args)


# --- policy -----------------------------------------------------------------------------


@functools.cache
def common_passwords() -> frozenset[str]:
    """The case-folded common-password list shipped in ``server/data``, loaded once."""
    text = (resources.files("server") / "data" / "common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().casefold() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def check_password_policy(
    password: str,
    *,
    account: str | None = None,
    phone: str | None = None,
    birth_date: date | None = None,
) -> None:
    """Raise ValueError with a Chinese reason if the password is not acceptable."""
    if not isinstance(password, str):
        raise ValueError("密码必须是文本")
    pw = normalize_password(password)
    _check_length(pw)
    _check_shape(pw)
    folded = pw.casefold()
    if folded in common_passwords():
        raise ValueError("该密码过于常见，容易被猜中，请换一个")
    _check_personal(folded, account=account, phone=phone, birth_date=birth_date)


def _check_length(pw: str) -> None:
    """Between MIN_LENGTH and MAX_LENGTH characters."""
    if len(pw) < MIN_LENGTH:
        raise ValueError(f"密码长度至少为{MIN_LENGTH}个字符")
    if len(pw) > MAX_LENGTH:
        raise ValueError(f"密码长度不能超过{MAX_LENGTH}个字符")


def _check_shape(pw: str) -> None:
    """No single repeated character, no plain run like 12345678 or abcdefgh."""
    if len(set(pw)) == 1:
        raise ValueError("密码不能由同一个字符重复组成")
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(pw)}
    if steps in ({1}, {-1}):
        raise ValueError("密码不能是连续的字符序列（如12345678、abcdefgh）")


# Shorter accounts would match by accident ("li" in "mylittlepony").
_MIN_ACCOUNT_MATCH = 3


def _check_personal(
    folded: str, *, account: str | None, phone: str | None, birth_date: date | None
) -> None:
    """The password must not contain the account, phone number or birth date."""
    if account:
        name = normalize_password(account).strip().casefold()
        if len(name) >= _MIN_ACCOUNT_MATCH and name in folded:
            raise ValueError("密码不能包含账号")
    if phone:
        digits = _phone_digits(phone)
        if len(digits) >= 6 and digits in folded:
            raise ValueError("密码不能包含手机号码")
    if birth_date is not None and any(form in folded for form in _date_forms(birth_date)):
        raise ValueError("密码不能包含出生日期")


def _phone_digits(phone: str) -> str:
    """The bare national number: digits only, country code 86 dropped."""
    digits = re.sub(r"\D", "", normalize_password(phone))
    if digits.startswith("0086"):
        return digits[4:]
    if len(digits) == 13 and digits.startswith("86"):
        return digits[2:]
    return digits


def _date_forms(d: date) -> tuple[str, ...]:
    """How people write a birth date into a password: 19900101, 1990-01-01, 900101..."""
    return tuple(
        d.strftime(fmt) for fmt in ("%Y%m%d", "%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%y%m%d", "%m%d%Y", "%d%m%Y")
    )
