"""Demo passes: a scanner account, the demo trainee's enrollment approved with its pass, how to scan."""

from __future__ import annotations

import secrets

from server.demo.trainee import DEMO_ID_NUMBER
from server.models.accounts import StaffCreate
from server.models.enrollments import EnrollmentStatus
from server.services.container import Services


async def demo_passes(services: Services) -> list[str]:
    """A scanner (random password, printed once) and the demo trainee's pass, with a check-in to try."""
    password = "Demo-" + secrets.token_urlsafe(9)
    await services.accounts.create_staff(
        StaffCreate(username="scanner", role="scanner", name="验证员", password=password))
    lines = [f"  验证员 / scanner: 账号 scanner  密码 {password}"]
    trainee = await services.accounts.find_by_login(DEMO_ID_NUMBER)
    if trainee is None:
        return lines
    enrollment = await services.db["enrollments"].find_one({"trainee_id": trainee["_id"], "active": True})
    if enrollment is None:
        return lines
    # Stand-in for the payment review until payments (issue 11) are merged: the lead switches this
    # to the real approval of the demo payment.
    await services.db["enrollments"].update_one(
        {"_id": enrollment["_id"]}, {"$set": {"status": str(EnrollmentStatus.approved)}})
    enrollment["status"] = str(EnrollmentStatus.approved)
    issued = await services.passes.ensure(enrollment)
    return lines + [
        f"  听课证 / pass: 陈静 编号 {issued['serial']}（GET /api/v1/enrollments/{enrollment['_id']}/pass[.pdf]）",
        f"    签到试用 / try a check-in: 以 scanner 登录后 POST /api/v1/checkins "
        f"{{\"token\": \"{issued['token']}\", \"session_id\": \"{enrollment['session_id']}\", "
        f"\"client_id\": \"try-1\", \"device_id\": \"door-1\"}}（培训日之前的回答是 not_today）",
    ]
