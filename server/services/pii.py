"""Encryption of personal data at rest, and blind indexes to look it up.

A field value is stored as the token ``v1.<kid>.<base64url(nonce + ciphertext)>``:
AES-256-GCM under the key ``kid`` of a key ring, with the field's context
(e.g. ``"id_number"``) bound in as associated data so that a ciphertext copied
into another field does not decrypt. Exact-match lookups and unique indexes
use ``blind_index``, an HMAC-SHA256 under a separate key, because the
ciphertext itself is randomized.

Operator-facing errors (key ring configuration) are in English.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import unicodedata

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
TOKEN_VERSION = "v1"

# Key ids appear inside tokens separated by dots, and in a comma/colon list.
_KID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")
_B64URL_PATTERN = re.compile(r"[A-Za-z0-9_-]+")


class DecryptionError(ValueError):
    """A token could not be decrypted: tampered, wrong context, unknown key or garbage."""


class FieldCipher:
    """Encrypts and decrypts single field values with a rotating key ring."""

    def __init__(self, keys: dict[str, bytes], current_key_id: str, index_key: bytes) -> None:
        if not keys:
            raise ValueError("key ring is empty")
        for kid, key in keys.items():
            _check_kid(kid)
            _check_key(key, f"key {kid!r}")
        if current_key_id not in keys:
            raise ValueError(f"current key id {current_key_id!r} is not in the key ring")
        _check_key(index_key, "index key")
        self._aeads = {kid: AESGCM(key) for kid, key in keys.items()}
        self._current = current_key_id
        self._index_key = bytes(index_key)

    @classmethod
    def from_spec(cls, key_ring_spec: str, index_key_b64: str) -> FieldCipher:
        """Build a cipher from environment-style settings (first key of the ring is current)."""
        keys = parse_key_ring(key_ring_spec)
        return cls(keys, next(iter(keys)), decode_key(index_key_b64, "index key"))

    def __repr__(self) -> str:
        # Never show key material, e.g. in tracebacks or logs.
        return f"FieldCipher(key_ids={list(self._aeads)!r}, current={self._current!r})"

    @property
    def current_key_id(self) -> str:
        """The key id new tokens are encrypted with."""
        return self._current

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """Encrypt a field value into a ``v1.<kid>.<data>`` token."""
        nonce = os.urandom(NONCE_BYTES)
        aad = _associated_data(self._current, context)
        sealed = self._aeads[self._current].encrypt(nonce, plaintext.encode("utf-8"), aad)
        return f"{TOKEN_VERSION}.{self._current}.{_b64url_encode(nonce + sealed)}"

    def decrypt(self, token: str, *, context: str) -> str:
        """Decrypt a token made by ``encrypt`` with the same context."""
        kid, blob = _split_token(token)
        aead = self._aeads.get(kid)
        if aead is None:
            raise DecryptionError(f"unknown key id {kid!r}")
        try:
            plaintext = aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _associated_data(kid, context))
            return plaintext.decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            raise DecryptionError("token failed authentication (tampered, or wrong context or key)") from None

    def needs_rotation(self, token: str) -> bool:
        """Whether the token was encrypted with a key other than the current one."""
        kid, _ = _split_token(token)
        return kid != self._current

    def rotate(self, token: str, *, context: str) -> str:
        """Re-encrypt a token under the current key; unchanged if already current."""
        if not self.needs_rotation(token):
            return token
        return self.encrypt(self.decrypt(token, context=context), context=context)

    def blind_index(self, value: str, *, context: str) -> str:
        """Deterministic keyed hash of a normalized value, for exact lookup and unique indexes."""
        message = _check_context(context).encode("utf-8") + b"\x00" + normalize_for_index(value).encode("utf-8")
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()


def normalize_for_index(value: str) -> str:
    """Fold the trivial differences (width, case, surrounding spaces) a lookup should ignore."""
    return unicodedata.normalize("NFKC", value).strip().casefold()


def _associated_data(kid: str, context: str) -> bytes:
    """Bind version, key id and field context to the ciphertext."""
    return f"{TOKEN_VERSION}\x00{kid}\x00{_check_context(context)}".encode()


def _check_context(context: str) -> str:
    """Contexts are fixed field names; NUL would make the encoding ambiguous."""
    if not context or "\x00" in context:
        raise ValueError("context must be a non-empty string without NUL")
    return context


def _split_token(token: str) -> tuple[str, bytes]:
    """Parse a token into key id and nonce+ciphertext, or raise DecryptionError."""
    if not isinstance(token, str):
        raise DecryptionError("token is not a string")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_VERSION:
        raise DecryptionError("not a v1 token")
    kid, data = parts[1], parts[2]
    if not _KID_PATTERN.fullmatch(kid) or not _B64URL_PATTERN.fullmatch(data):
        raise DecryptionError("malformed token")
    try:
        blob = _b64url_decode(data)
    except (binascii.Error, ValueError):
        raise DecryptionError("malformed token") from None
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionError("token too short")
    return kid, blob


def _b64url_encode(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    """Inverse of ``_b64url_encode``."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- key material -----------------------------------------------------------------


def _check_kid(kid: str) -> None:
    """Key ids must be short and token-safe."""
    if not isinstance(kid, str) or not _KID_PATTERN.fullmatch(kid):
        raise ValueError(f"invalid key id {kid!r}: use 1-32 characters of A-Z a-z 0-9 _ -")


def _check_key(key: bytes, what: str) -> None:
    """AES-256 and the index HMAC both take exactly 32 bytes here."""
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
        raise ValueError(f"{what} must be {KEY_BYTES} bytes")


def decode_key(text: str, what: str = "key") -> bytes:
    """Decode a base64 (standard or url-safe) 32-byte key; never echoes the key in errors."""
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"{what} must decode to {KEY_BYTES} bytes, got {len(key)}")
    return key


def parse_key_ring(spec: str) -> dict[str, bytes]:
    """Parse ``kid1:<base64 key>,kid0:<base64 key>``; the first entry is the current key."""
    if not spec or not spec.strip():
        raise ValueError("key ring spec is empty")
    keys: dict[str, bytes] = {}
    for position, entry in enumerate(spec.split(","), start=1):
        kid, sep, encoded = entry.strip().partition(":")
        if not sep:
            raise ValueError(f"key ring entry {position} is not of the form kid:base64key")
        kid = kid.strip()
        _check_kid(kid)
        if kid in keys:
            raise ValueError(f"key id {kid!r} appears twice in the key ring")
        keys[kid] = decode_key(encoded, f"key {kid!r}")
    return keys


def generate_key() -> str:
    """A fresh random 32-byte key, base64-encoded."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def generate_key_ring_spec(kid: str = "k1") -> str:
    """A one-key ring spec ``kid:<base64 key>`` for a new deployment."""
    _check_kid(kid)
    return f"{kid}:{generate_key()}"


# --- sealed fields of documents ----------------------------------------------------


def is_token(value: object) -> bool:
    """Whether ``value`` has the shape of a token made by ``FieldCipher.encrypt``."""
    return isinstance(value, str) and _TOKEN_PATTERN.fullmatch(value) is not None


_TOKEN_PATTERN = re.compile(rf"{TOKEN_VERSION}\.[A-Za-z0-9_-]{{1,32}}\.[A-Za-z0-9_-]+")


def seal(cipher: FieldCipher, value: str | None, *, context: str) -> str | None:
    """Encrypt a field value for storage; None and values already sealed are left as they are.

    Idempotent, so that data passed through several services (an import's payload
    becoming an account) and the migration of old documents never double-encrypt.
    """
    if value is None or is_token(value):
        return value
    return cipher.encrypt(value, context=context)


def unseal(cipher: FieldCipher, value: str | None, *, context: str) -> str | None:
    """The clear value of a stored field: decrypted if sealed, None as None.

    A clear value (a document written before the field was sealed, not yet
    migrated) is returned as it is, so readers work during the migration.
    """
    if value is None or not is_token(value):
        return value
    return cipher.decrypt(value, context=context)
