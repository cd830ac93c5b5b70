"""The personal fields of a trainee account at rest, and how they are shown.

A database dump or a backup must not rebuild an ID number or a phone (issue 10:
every single document leaves at least 10,000 candidates for each). So the
``trainee`` subdocument stores the ID number, the birth date and the e-mail
only encrypted (``FieldCipher``, the field name as associated data; the phone
is encrypted at the top level), and no mask at all: the birth date beside the
old stored mask ``1101**********002X`` left about 9 candidates, and many
mailboxes are the phone number (``139…@139.com``). Masks are computed from the
decrypted value when a document is shown. Only the sex stays in clear (one
bit, shown in lists: it halves the candidates, which stay far above the rule).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from server.services.accounts.identity import mask_id_number
from server.services.pii import FieldCipher, seal, unseal

# Fields of the ``trainee`` subdocument sealed at rest (each its own AAD context).
SEALED_TRAINEE_FIELDS = ("birth_date", "email")


def seal_trainee(cipher: FieldCipher, fields: dict[str, Any], *, prefix: str = "") -> dict[str, Any]:
    """``fields`` with the sealed trainee fields (``prefix + name``, e.g. ``trainee.email``) encrypted."""
    out = dict(fields)
    for name in SEALED_TRAINEE_FIELDS:
        if prefix + name in out:
            out[prefix + name] = seal(cipher, out[prefix + name], context=name)
    return out


def open_trainee(cipher: FieldCipher, trainee: dict[str, Any]) -> dict[str, Any]:
    """A copy of a stored ``trainee`` subdocument with its sealed fields decrypted."""
    out = dict(trainee)
    for name in SEALED_TRAINEE_FIELDS:
        if name in out:
            out[name] = unseal(cipher, out[name], context=name)
    return out


def birth_date_of(cipher: FieldCipher, trainee: dict[str, Any] | None) -> date | None:
    """The decrypted birth date of a stored trainee subdocument."""
    text = unseal(cipher, (trainee or {}).get("birth_date"), context="birth_date")
    return date.fromisoformat(text) if text else None


def id_number_of(cipher: FieldCipher, trainee: dict[str, Any]) -> str:
    """The decrypted ID number of a stored trainee subdocument."""
    return cipher.decrypt(trainee["id_number"], context="id_number")


def id_masked_of(cipher: FieldCipher, trainee: dict[str, Any]) -> str:
    """The ID number masked for a list, computed now from the decrypted value (never stored).

    A deleted account's tombstone has no ID number any more: it shows as 已注销.
    """
    if not trainee.get("id_number"):
        return "已注销"
    return mask_id_number(id_number_of(cipher, trainee))


def trainee_subject(account_id: object) -> str:
    """How the audit trail names a trainee: a reference to the account, no personal data."""
    return f"trainee:{account_id}"
