"""The demo's association staff get one fixed, documented second factor (TOTP).

Every staff account of the demo (admin, reviewer, scanner, whoever a loader created) is enrolled
with :data:`DEMO_TOTP_SECRET`, so a newcomer adds it once to an authenticator app (or asks
``python -m server totp-code <username>`` in dev) and signs in at once. Never used outside the demo:
real staff enrol their own secret at their first login.
"""

from __future__ import annotations

from server.services.accounts.totp import CONTEXT, STAFF_ROLES, group_secret
from server.services.container import Services

DEMO_TOTP_SECRET = "DEMOSTAFFTOTPKEYDEMOSTAFFTOTPKEY"  # Base32 (A–Z, 2–7): 160 bits, public on purpose


async def demo_staff_totp(services: Services) -> list[str]:
    """Enrol every demo staff account with the demo secret; the lines telling how to sign in."""
    sealed = services.cipher.encrypt(DEMO_TOTP_SECRET, context=CONTEXT)
    enrolled = []
    async for account in services.db["accounts"].find(
        {"role": {"$in": sorted(STAFF_ROLES)}, "staff.totp": {"$exists": False}}, {"staff.username": 1}
    ):
        await services.db["accounts"].update_one(
            {"_id": account["_id"]},
            {"$set": {"staff.totp": {"secret": sealed, "last_step": 0, "enrolled_at": services.totp.now()}}},
        )
        enrolled.append(str(account["staff"]["username"]))
    if not enrolled:
        return []
    return [
        f"  协会工作人员动态验证码 / staff TOTP ({', '.join(enrolled)}): 身份验证器密钥 {group_secret(DEMO_TOTP_SECRET)}",
        "    (或运行 python -m server totp-code <用户名> 获取当前验证码 / or print the current code)",
    ]
