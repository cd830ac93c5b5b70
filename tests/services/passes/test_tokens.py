"""The pass token, pure: layout, encoding, QR size, and every way a token must be refused."""

from __future__ import annotations

import os
import random

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.services.passes import tokens
from server.services.passes.tokens import PassPayload, TokenInvalid, b45decode, b45encode, sign, verify

KEY = Ed25519PrivateKey.generate()
KEYS = {7: KEY.public_key()}


def payload(**overrides: int | bytes) -> PassPayload:
    values: dict[str, int | bytes] = {"kid": 7, "serial": os.urandom(10), "session_number": 4242,
                                      "valid_from": 1_760_000_000, "valid_to": 1_760_259_200, "flags": 0}
    values.update(overrides)
    return PassPayload(**values)  # type: ignore[arg-type]


def test_round_trip_and_size() -> None:
    p = payload()
    text = sign(p, KEY)
    assert verify(text, KEYS) == p
    assert text.startswith("PS1:") and len(text) == 138
    assert len(p.pack()) == 25


def test_qr_is_version_6_at_level_m() -> None:
    qr = segno.make(sign(payload(), KEY), error="m", boost_error=False)
    assert qr.mode == "alphanumeric"
    assert 6 <= qr.version <= 9, qr.version


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff\xff", random.Random(89).randbytes(89), bytes(range(256))],
                         ids=["empty", "zero", "ffff", "random-89", "all-bytes"])
def test_base45_round_trip(data: bytes) -> None:
    assert b45decode(b45encode(data)) == data


def test_base45_rfc_examples() -> None:
    assert b45encode(b"AB") == "BB8"
    assert b45encode(b"Hello!!") == "%69 VD92EX0"
    assert b45decode("QED8WEX0") == b"ietf!"
    with pytest.raises(ValueError):
        b45decode("GGW")  # 65536 + ...: out of range
    with pytest.raises(ValueError):
        b45decode("abc")


def test_forged_signature_is_refused() -> None:
    forger = Ed25519PrivateKey.generate()
    with pytest.raises(TokenInvalid):
        verify(sign(payload(), forger), KEYS)  # right kid, someone else's key


def test_unknown_kid_is_refused() -> None:
    with pytest.raises(TokenInvalid, match="unknown kid"):
        verify(sign(payload(kid=8), KEY), KEYS)


def test_flipped_byte_in_every_position_is_refused() -> None:
    raw = bytearray(b45decode(sign(payload(), KEY)[4:]))
    for i in range(len(raw)):
        for bit in (0x01, 0x80):
            mutated = bytearray(raw)
            mutated[i] ^= bit
            with pytest.raises(TokenInvalid):
                verify("PS1:" + b45encode(bytes(mutated)), KEYS)


def test_version_fixes_the_algorithm() -> None:
    p = payload()
    data = bytearray(p.pack())
    data[0] = 2  # a token claiming another version is refused, even validly signed
    text = "PS1:" + b45encode(bytes(data) + KEY.sign(bytes(data)))
    with pytest.raises(TokenInvalid, match="version"):
        verify(text, KEYS)


def test_ten_thousand_random_mutations_none_accepted() -> None:
    rng = random.Random(20261202)
    valid = sign(payload(), KEY)
    raw = b45decode(valid[4:])
    accepted = 0
    for n in range(10_000):
        kind = n % 4
        if kind == 0:  # flip random bits of the bytes
            mutated = bytearray(raw)
            for _ in range(rng.randint(1, 3)):
                mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
            text = "PS1:" + b45encode(bytes(mutated))
        elif kind == 1:  # replace characters of the text
            chars = list(valid)
            for _ in range(rng.randint(1, 3)):
                chars[rng.randrange(len(chars))] = rng.choice(tokens._B45 + "abc=_")
            text = "".join(chars)
        elif kind == 2:  # cut or extend
            text = valid[:rng.randrange(len(valid))] if rng.random() < 0.5 else valid + rng.choice(tokens._B45)
        else:  # swap two characters
            chars = list(valid)
            i, j = rng.randrange(4, len(chars)), rng.randrange(4, len(chars))
            chars[i], chars[j] = chars[j], chars[i]
            text = "".join(chars)
        if text == valid:
            continue
        try:
            verify(text, KEYS)
            accepted += 1
        except TokenInvalid:
            pass
    assert accepted == 0
