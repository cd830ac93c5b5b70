"""The pass signing keys: the private key from the settings, the public keys in ``pass_keys``.

- The private key (Ed25519, 32-byte seed, base64) is ``PASS_SIGNING_KEY`` or the file
  ``PASS_SIGNING_KEY_FILE`` (default ``DATA_DIR/pass-signing-key``, generated there in dev). It is
  never written to the database.
- ``pass_keys`` holds ``{_id: kid (1–255), public_key (base64), created_at, retired_at,
  valid_until}``. A key is registered (given the next kid) the first time it signs; when another
  key starts signing, the older ones are retired but stay valid until ``valid_until``, the end of
  the last pass they signed (raised with ``$max`` at every issue).
- ``rotate-pass-key`` writes a new key file; running servers notice the file changed at their next
  issue. Verifiers that meet an unknown kid reload the list (at most every few seconds), so a pass
  signed by a key registered a moment ago verifies everywhere.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server import errors
from server.config import Settings
from server.services.passes.tokens import PassPayload, TokenInvalid, verify

MAX_KID = 255
REFRESH_SECONDS = 5.0  # an unknown kid reloads the key list at most this often (forged kids cost nothing)


def key_file(settings: Settings) -> Path:
    """Where the signing key lives when PASS_SIGNING_KEY is not set."""
    return settings.pass_signing_key_file if settings.pass_signing_key_file != Path() \
        else settings.data_dir / "pass-signing-key"


def seed_text(key: Ed25519PrivateKey) -> str:
    """The private key as base64 of its 32-byte seed (the format of PASS_SIGNING_KEY and the key file)."""
    return base64.b64encode(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())).decode()


def public_text(key: Ed25519PublicKey) -> str:
    """The public key as base64 of its 32 raw bytes (what scanners get)."""
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def _from_seed(text: str) -> Ed25519PrivateKey:
    try:
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(text.strip(), validate=True))
    except ValueError:
        raise errors.AppError(503, "pass_key_invalid", "听课证签名密钥格式错误（应为 32 字节种子的 base64）") from None


def write_key_file(path: Path, key: Ed25519PrivateKey) -> None:
    """Write the key file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(seed_text(key) + "\n")
    os.replace(tmp, path)


class PassKeyring:
    """Signs with the configured key under its kid; verifies against every key still valid."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], *, settings: Settings,
                 now: Callable[[], datetime] | None = None) -> None:
        self.keys = db["pass_keys"]
        self.settings = settings
        self.now = now or (lambda: datetime.now(UTC))
        self._signing: tuple[float, int, Ed25519PrivateKey] | None = None  # (file mtime, kid, key)
        self._public: dict[int, Ed25519PublicKey] = {}
        self._loaded_at = float("-inf")

    # ---- signing ----------------------------------------------------------------------------

    def _load_private(self) -> tuple[float, Ed25519PrivateKey]:
        configured = self.settings.pass_signing_key.get_secret_value()
        if configured:
            return 0.0, _from_seed(configured)
        path = key_file(self.settings)
        if not path.exists():
            if self.settings.app_env != "dev":
                raise errors.AppError(503, "pass_key_missing", "听课证签名密钥未配置（PASS_SIGNING_KEY）")
            write_key_file(path, Ed25519PrivateKey.generate())
        return path.stat().st_mtime, _from_seed(path.read_text())

    async def signing_key(self) -> tuple[int, Ed25519PrivateKey]:
        """The current signing key and its kid (registered on first use; a rewritten key file is noticed)."""
        mtime, key = self._load_private() if self._stale() else (0.0, None)
        if key is None:
            assert self._signing is not None
            return self._signing[1], self._signing[2]
        kid = await self.register(key.public_key())
        self._signing = (mtime, kid, key)
        return kid, key

    def _stale(self) -> bool:
        if self._signing is None:
            return True
        if self.settings.pass_signing_key.get_secret_value():
            return False
        path = key_file(self.settings)
        return not path.exists() or path.stat().st_mtime != self._signing[0]

    async def register(self, public: Ed25519PublicKey) -> int:
        """The kid of ``public``, registering it (next free kid) and retiring the other keys if new."""
        text = public_text(public)
        while True:
            known = await self.keys.find_one({"public_key": text})
            if known is not None:
                return int(known["_id"])
            last = await self.keys.find_one({}, sort=[("_id", -1)])
            kid = int(last["_id"]) + 1 if last else 1
            if kid > MAX_KID:
                raise errors.AppError(503, "pass_kids_exhausted", "听课证密钥编号已用完，请联系管理员")
            now = self.now()
            try:
                await self.keys.insert_one({"_id": kid, "public_key": text, "created_at": now,
                                            "retired_at": None, "valid_until": None})
            except DuplicateKeyError:
                continue  # another process registered a key at the same time: look again
            await self.keys.update_many({"_id": {"$ne": kid}, "retired_at": None}, {"$set": {"retired_at": now}})
            self._loaded_at = float("-inf")
            return kid

    async def note_signed(self, kid: int, valid_to: datetime) -> None:
        """A pass valid until ``valid_to`` was signed with ``kid``: the key stays valid at least that long."""
        await self.keys.update_one({"_id": kid}, {"$max": {"valid_until": valid_to}})

    async def rotate(self) -> int:
        """A new signing key in the key file, registered; the old one retired (valid until its passes end)."""
        if self.settings.pass_signing_key.get_secret_value():
            raise errors.conflict("pass_key_from_env", "签名密钥由 PASS_SIGNING_KEY 提供：请生成新密钥后更新该设置")
        key = Ed25519PrivateKey.generate()
        kid = await self.register(key.public_key())
        write_key_file(key_file(self.settings), key)
        self._signing = None
        return kid

    @property
    def from_env(self) -> bool:
        """Whether the signing key is PASS_SIGNING_KEY (rotated by changing that setting, not from here)."""
        return bool(self.settings.pass_signing_key.get_secret_value())

    async def all_keys(self) -> list[dict[str, Any]]:
        """Every registered key, newest first (public data only)."""
        return await self.keys.find({}, {"public_key": 0}).sort("_id", -1).to_list()

    # ---- verifying --------------------------------------------------------------------------

    async def published(self) -> list[dict[str, Any]]:
        """The keys scanners need: current and retired-but-still-valid ones."""
        now = self.now()
        return await self.keys.find(
            {"$or": [{"retired_at": None}, {"valid_until": {"$gt": now}}]}).sort("_id", 1).to_list()

    async def public_keys(self, *, refresh: bool = False) -> dict[int, Ed25519PublicKey]:
        """kid → public key of every valid key (cached; reloaded on ``refresh`` at most every few seconds)."""
        if refresh and time.monotonic() - self._loaded_at < REFRESH_SECONDS:
            return self._public
        if refresh or not self._public:
            docs = await self.published()
            self._public = {int(d["_id"]): Ed25519PublicKey.from_public_bytes(base64.b64decode(d["public_key"]))
                            for d in docs}
            self._loaded_at = time.monotonic()
        return self._public

    async def verify(self, text: str) -> PassPayload:
        """The payload of a token we signed; TokenInvalid otherwise (an unknown kid reloads the keys once)."""
        try:
            return verify(text, await self.public_keys())
        except TokenInvalid as exc:
            if str(exc) != "unknown kid":
                raise
        return verify(text, await self.public_keys(refresh=True))
