"""Tests of field encryption, blind indexes and key ring parsing."""

from __future__ import annotations

import base64

import pytest

from server.services.pii import (
    DecryptionError,
    FieldCipher,
    decode_key,
    generate_key,
    generate_key_ring_spec,
    parse_key_ring,
)

OLD_KEY = bytes(range(32))
NEW_KEY = bytes(range(32, 64))
INDEX_KEY = bytes(range(64, 96))


def _cipher(keys: dict[str, bytes] | None = None, current: str = "k0") -> FieldCipher:
    return FieldCipher(keys or {"k0": OLD_KEY}, current, INDEX_KEY)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- encrypt / decrypt ---------------------------------------------------------------


@pytest.mark.parametrize("plaintext", ["11010519491231002X", "13812345678", "张三", "", "x" * 10_000])
def test_round_trip(plaintext: str) -> None:
    cipher = _cipher()
    token = cipher.encrypt(plaintext, context="id_number")
    assert cipher.decrypt(token, context="id_number") == plaintext


def test_token_shape() -> None:
    token = _cipher().encrypt("13812345678", context="phone")
    version, kid, data = token.split(".")
    assert (version, kid) == ("v1", "k0")
    assert token.isascii()
    assert "=" not in data and "+" not in data and "/" not in data
    assert "13812345678" not in token


def test_nonce_differs_each_time() -> None:
    cipher = _cipher()
    tokens = {cipher.encrypt("13812345678", context="phone") for _ in range(20)}
    assert len(tokens) == 20
    nonces = {base64.urlsafe_b64decode(t.split(".")[2] + "==")[:12] for t in tokens}
    assert len(nonces) == 20


def _flip(token: str, index: int) -> str:
    """Flip one bit of the decoded payload at ``index`` and re-encode it."""
    prefix, data = token.rsplit(".", 1)
    blob = bytearray(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    blob[index] ^= 0x01
    return prefix + "." + base64.urlsafe_b64encode(bytes(blob)).rstrip(b"=").decode()


@pytest.mark.parametrize("index", [0, 11, 12, 20, -1])  # nonce, ciphertext, tag
def test_tamper_is_detected(index: int) -> None:
    cipher = _cipher()
    token = cipher.encrypt("11010519491231002X", context="id_number")
    with pytest.raises(DecryptionError):
        cipher.decrypt(_flip(token, index), context="id_number")


def test_wrong_context_fails() -> None:
    cipher = _cipher()
    token = cipher.encrypt("13812345678", context="phone")
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, context="id_number")


def test_wrong_key_with_same_kid_fails() -> None:
    token = _cipher().encrypt("secret", context="phone")
    other = FieldCipher({"k0": NEW_KEY}, "k0", INDEX_KEY)
    with pytest.raises(DecryptionError):
        other.decrypt(token, context="phone")


def test_kid_swap_fails() -> None:
    cipher = _cipher({"k0": OLD_KEY, "k1": OLD_KEY}, "k0")  # same key under two ids
    token = cipher.encrypt("secret", context="phone")
    with pytest.raises(DecryptionError):
        cipher.decrypt(token.replace("v1.k0.", "v1.k1.", 1), context="phone")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "v1.k0",
        "v2.k0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.k9.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # unknown kid
        "v1.k0.AAAA",  # too short
        "v1.k0.A",  # not decodable
        "v1.k0.AAAA AAAA",
        "v1.k0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
        "v1.k0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.extra",
        "v1.k.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.k0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # well formed, fails authentication
    ],
)
def test_garbage_tokens_raise_decryption_error(token: str) -> None:
    with pytest.raises(DecryptionError):
        _cipher().decrypt(token, context="phone")


def test_non_string_token() -> None:
    with pytest.raises(DecryptionError):
        _cipher().decrypt(None, context="phone")  # type: ignore[arg-type]


def test_decryption_error_is_value_error() -> None:
    assert issubclass(DecryptionError, ValueError)


# --- rotation -----------------------------------------------------------------------------


def test_rotation() -> None:
    old_ring = _cipher({"k0": OLD_KEY}, "k0")
    old_token = old_ring.encrypt("11010519491231002X", context="id_number")

    new_ring = FieldCipher({"k1": NEW_KEY, "k0": OLD_KEY}, "k1", INDEX_KEY)
    assert new_ring.decrypt(old_token, context="id_number") == "11010519491231002X"
    assert new_ring.needs_rotation(old_token)
    assert not old_ring.needs_rotation(old_token)

    rotated = new_ring.rotate(old_token, context="id_number")
    assert rotated.startswith("v1.k1.")
    assert not new_ring.needs_rotation(rotated)
    assert new_ring.rotate(rotated, context="id_number") is rotated
    assert new_ring.decrypt(rotated, context="id_number") == "11010519491231002X"

    # Once the old key is retired, old tokens no longer decrypt.
    retired = FieldCipher({"k1": NEW_KEY}, "k1", INDEX_KEY)
    with pytest.raises(DecryptionError, match="unknown key id"):
        retired.decrypt(old_token, context="id_number")


def test_needs_rotation_on_garbage_raises() -> None:
    with pytest.raises(DecryptionError):
        _cipher().needs_rotation("garbage")


# --- blind index ------------------------------------------------------------------------------


def test_blind_index_is_deterministic_and_normalized() -> None:
    cipher = _cipher()
    first = cipher.blind_index("11010519491231002X", context="id_number")
    assert first == cipher.blind_index("11010519491231002X", context="id_number")
    assert first == cipher.blind_index(" 11010519491231002x ", context="id_number")
    assert len(first) == 64 and int(first, 16) >= 0
    assert first != cipher.blind_index("11010519491231003X", context="id_number")


def test_blind_index_does_not_depend_on_encryption_keys() -> None:
    a = FieldCipher({"k0": OLD_KEY}, "k0", INDEX_KEY)
    b = FieldCipher({"k1": NEW_KEY}, "k1", INDEX_KEY)
    assert a.blind_index("13812345678", context="phone") == b.blind_index("13812345678", context="phone")


def test_blind_index_is_context_separated() -> None:
    cipher = _cipher()
    assert cipher.blind_index("13812345678", context="phone") != cipher.blind_index(
        "13812345678", context="id_number"
    )


def test_blind_index_depends_on_index_key() -> None:
    other = FieldCipher({"k0": OLD_KEY}, "k0", NEW_KEY)
    assert _cipher().blind_index("13812345678", context="phone") != other.blind_index(
        "13812345678", context="phone"
    )


@pytest.mark.parametrize("context", ["", "a\x00b"])
def test_bad_context_is_refused(context: str) -> None:
    with pytest.raises(ValueError, match="context"):
        _cipher().blind_index("x", context=context)
    with pytest.raises(ValueError, match="context"):
        _cipher().encrypt("x", context=context)


# --- construction and key specs -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "current", "index_key", "message"),
    [
        ({}, "k0", INDEX_KEY, "empty"),
        ({"k0": OLD_KEY}, "k1", INDEX_KEY, "not in the key ring"),
        ({"k0": OLD_KEY[:16]}, "k0", INDEX_KEY, "32 bytes"),
        ({"k0": OLD_KEY}, "k0", INDEX_KEY[:31], "index key must be 32 bytes"),
        ({"k.0": OLD_KEY}, "k.0", INDEX_KEY, "invalid key id"),
    ],
)
def test_constructor_checks(keys: dict[str, bytes], current: str, index_key: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FieldCipher(keys, current, index_key)


def test_repr_hides_keys() -> None:
    text = repr(_cipher())
    assert "k0" in text and OLD_KEY.hex() not in text and str(OLD_KEY) not in text


def test_parse_key_ring_keeps_order() -> None:
    spec = f"k2:{_b64(NEW_KEY)}, k1:{_b64(OLD_KEY)}"
    ring = parse_key_ring(spec)
    assert list(ring) == ["k2", "k1"]
    assert ring == {"k2": NEW_KEY, "k1": OLD_KEY}


def test_parse_key_ring_accepts_urlsafe_and_unpadded() -> None:
    encoded = base64.urlsafe_b64encode(b"\xfb" * 32).decode().rstrip("=")
    assert parse_key_ring(f"k1:{encoded}") == {"k1": b"\xfb" * 32}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("k1", "not of the form"),
        (f"k1:{_b64(OLD_KEY)},", "not of the form"),
        (f":{_b64(OLD_KEY)}", "invalid key id"),
        (f"k 1:{_b64(OLD_KEY)}", "invalid key id"),
        (f"k1:{_b64(OLD_KEY)},k1:{_b64(NEW_KEY)}", "appears twice"),
        ("k1:not*base64!", "not valid base64"),
        (f"k1:{_b64(OLD_KEY[:16])}", "32 bytes, got 16"),
        ("k1:", "32 bytes, got 0"),
    ],
)
def test_parse_key_ring_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_key_ring(spec)


def test_key_ring_errors_do_not_echo_key_material() -> None:
    secret = _b64(OLD_KEY[:16])
    with pytest.raises(ValueError) as info:
        parse_key_ring(f"k1:{secret}")
    assert secret not in str(info.value)


def test_generated_specs_parse() -> None:
    spec = generate_key_ring_spec()
    assert spec.startswith("k1:")
    ring = parse_key_ring(spec)
    assert len(ring["k1"]) == 32
    assert parse_key_ring(generate_key_ring_spec("k7")).keys() == {"k7"}
    assert generate_key() != generate_key()
    assert len(decode_key(generate_key())) == 32
    with pytest.raises(ValueError, match="invalid key id"):
        generate_key_ring_spec("bad:kid")


def test_from_spec_uses_first_key_as_current() -> None:
    cipher = FieldCipher.from_spec(f"k2:{_b64(NEW_KEY)},k1:{_b64(OLD_KEY)}", _b64(INDEX_KEY))
    assert cipher.current_key_id == "k2"
    old_token = FieldCipher({"k1": OLD_KEY}, "k1", INDEX_KEY).encrypt("x", context="c")
    assert cipher.decrypt(old_token, context="c") == "x"
