"""Pass signing keys from the back office: list them, rotate the key file's key (audited).

The same rotation as ``python -m server rotate-pass-key``: older keys stay valid until
the passes they signed end. A key set by PASS_SIGNING_KEY is refused (409
``pass_key_from_env``): it is changed where it is configured.
"""

from __future__ import annotations

from server.models.pass_keys import PassKeyOut, PassKeyPage
from server.services import Principal
from server.services.audit import AuditLog
from server.services.passes.keys import PassKeyring


async def list_keys(keyring: PassKeyring) -> PassKeyPage:
    """Every key, newest first; the current one registered first if it never signed yet."""
    current, _ = await keyring.signing_key()
    items = [
        PassKeyOut(kid=int(d["_id"]), created_at=d["created_at"], retired_at=d.get("retired_at"),
                   valid_until=d.get("valid_until"), current=int(d["_id"]) == current)
        for d in await keyring.all_keys()
    ]
    return PassKeyPage(items=items, source="env" if keyring.from_env else "file", rotatable=not keyring.from_env)


async def rotate_key(keyring: PassKeyring, audit: AuditLog, *, by: Principal, ip: str) -> PassKeyPage:
    """A new signing key; the list as it now is. Audited as ``pass_key.rotate``."""
    old, _ = await keyring.signing_key()
    kid = await keyring.rotate()
    await audit.record("pass_key.rotate", actor_id=by.account_id, actor_role=by.role, subject=f"kid:{kid}",
                       ip=ip, details={"retired_kid": old, "kid": kid})
    return await list_keys(keyring)
