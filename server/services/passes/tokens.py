"""The pass token: the text of the QR code on a pass (听课证). Pure: bytes in, bytes out, no I/O.

Layout of version 1 (big-endian, 25 bytes, then 64 bytes of Ed25519 signature over those 25):

====== ===== ==========================================================================
offset bytes  field
====== ===== ==========================================================================
0      1     version (1). The version fixes the algorithm (1 = Ed25519); a token never names it.
1      1     kid: the key id (1–255) of the signing key in the published key list
2      10    serial: 10 random bytes, the pass's identity (and the revocation list's key)
12     4     session number (see :mod:`server.services.passes.keys`: a small counter per session)
16     4     valid from: **Unix seconds, UTC**, unsigned (good until 2106)
20     4     valid to: Unix seconds, UTC, unsigned (exclusive end)
24     1     flags (bit field; 0 today, reserved for e.g. "exam pass")
====== ===== ==========================================================================

No personal data: a lost QR says nothing about its holder.

The text is ``PS1:`` + **base45** (RFC 9285) of the 89 bytes: 134 + 4 = 138 characters, all in
the QR *alphanumeric* alphabet (digits, upper-case letters, `` $%*+-./:``), which QR codes pack at
5.5 bits per character instead of 8. At error-correction level M that is QR **version 6**
(capacity 154 alphanumeric characters); the same bytes in base64url (119 characters, byte mode)
need version 7. Base45 is also what the EU digital COVID certificate chose for the same reason.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

VERSION = 1
PREFIX = "PS1:"
_LAYOUT = struct.Struct(">BB10sIIIB")
PAYLOAD_BYTES = _LAYOUT.size  # 25
SIGNATURE_BYTES = 64
TOKEN_BYTES = PAYLOAD_BYTES + SIGNATURE_BYTES  # 89

_B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_B45_VALUE = {c: i for i, c in enumerate(_B45)}


class TokenInvalid(Exception):  # noqa: N818 — a verdict, not a failure of the code
    """The text is not a pass token we signed (malformed, unknown key, bad signature)."""


@dataclass(frozen=True)
class PassPayload:
    """What a token says: who signed it, which pass, which session, when it is valid."""

    kid: int
    serial: bytes
    session_number: int
    valid_from: int  # Unix seconds, UTC
    valid_to: int  # Unix seconds, UTC, exclusive
    flags: int = 0

    def pack(self) -> bytes:
        """The 25 signed bytes (version 1)."""
        return _LAYOUT.pack(VERSION, self.kid, self.serial, self.session_number, self.valid_from,
                            self.valid_to, self.flags)

    @property
    def serial_hex(self) -> str:
        """The serial as 20 lower-case hex digits (how it is stored and printed)."""
        return self.serial.hex()


def b45encode(data: bytes) -> str:
    """Base45 (RFC 9285)."""
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        n, c = divmod(n, 45)
        e, d = divmod(n, 45)
        out += [_B45[c], _B45[d], _B45[e]]
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out += [_B45[c], _B45[d]]
    return "".join(out)


def b45decode(text: str) -> bytes:
    """Base45 (RFC 9285); ValueError on any character or group out of range."""
    try:
        values = [_B45_VALUE[c] for c in text]
    except KeyError:
        raise ValueError("not base45") from None
    if len(values) % 3 == 1:
        raise ValueError("bad base45 length")
    out = bytearray()
    for i in range(0, len(values), 3):
        group = values[i:i + 3]
        n = sum(v * 45 ** k for k, v in enumerate(group))
        if len(group) == 3:
            if n > 0xFFFF:
                raise ValueError("base45 group out of range")
            out += n.to_bytes(2, "big")
        else:
            if n > 0xFF:
                raise ValueError("base45 group out of range")
            out.append(n)
    return bytes(out)


def sign(payload: PassPayload, key: Ed25519PrivateKey) -> str:
    """The token text of ``payload`` signed with ``key``."""
    data = payload.pack()
    return PREFIX + b45encode(data + key.sign(data))


def parse(text: str) -> tuple[PassPayload, bytes, bytes]:
    """The unverified payload, the signed bytes and the signature; TokenInvalid when malformed."""
    if not isinstance(text, str) or not text.startswith(PREFIX):
        raise TokenInvalid("prefix")
    try:
        raw = b45decode(text[len(PREFIX):])
    except ValueError:
        raise TokenInvalid("encoding") from None
    if len(raw) != TOKEN_BYTES:
        raise TokenInvalid("length")
    data, signature = raw[:PAYLOAD_BYTES], raw[PAYLOAD_BYTES:]
    version, kid, serial, number, valid_from, valid_to, flags = _LAYOUT.unpack(data)
    if version != VERSION:  # the version fixes the algorithm: an unknown one is refused, never guessed
        raise TokenInvalid("version")
    return PassPayload(kid, serial, number, valid_from, valid_to, flags), data, signature


def verify(text: str, keys: Mapping[int, Ed25519PublicKey]) -> PassPayload:
    """The payload of a token signed by one of ``keys`` (kid → public key); TokenInvalid otherwise.

    Checks, in order: the form, the version, a known kid, the signature. Time and session are the
    caller's (they need the clock and the scanner's choice).
    """
    payload, data, signature = parse(text)
    key = keys.get(payload.kid)
    if key is None:
        raise TokenInvalid("unknown kid")
    try:
        key.verify(signature, data)
    except InvalidSignature:
        raise TokenInvalid("signature") from None
    return payload
