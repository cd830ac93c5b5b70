"""Demo passes: a scanner account, the pass of the demo trainee's enrollment that the payments demo
approved through the real payment review (her unit paid for her), and how to scan it.

Should the payments demo approve none of hers, her own enrollment is paid (a generated screenshot)
and approved here, through the same review: no enrollment is ever set ``approved`` directly."""

from __future__ import annotations

import secrets

from server.demo.payments import _pay
from server.demo.staff import LOCAL
from server.demo.trainee import DEMO_ID_NUMBER
from server.models.accounts import StaffCreate
from server.services import Principal
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
    admin = await services.accounts.accounts.find_one({"role": "admin"})
    enrollments = services.db["enrollments"]
    enrollment = (await enrollments.find_one({"trainee_id": trainee["_id"], "status": "approved"})
                  or await enrollments.find_one({"trainee_id": trainee["_id"], "unit_id": None, "active": True}))
    if enrollment is None or admin is None:
        return lines
    if enrollment["status"] != "approved":  # she pays for herself; the admin approves
        payment = await _pay(services, Principal(trainee["_id"], "trainee"), [enrollment], title=trainee["name"],
                             title_type="personal", layout="alipay")
        await services.payments.approve(Principal(admin["_id"], "admin"), str(payment["_id"]), ip=LOCAL)
        lines.append(f"  缴费 / payments: {trainee['name']} 缴费 {payment['reference']}，已审核通过")
        enrollment = await services.db["enrollments"].find_one({"_id": enrollment["_id"]})
        assert enrollment is not None
    issued = await services.passes.ensure(enrollment)
    return lines + [
        f"  听课证 / pass: 陈静 编号 {issued['serial']}（GET /api/v1/enrollments/{enrollment['_id']}/pass[.pdf]）",
        f"    签到试用 / try a check-in: 以 scanner 登录后 POST /api/v1/checkins "
        f"{{\"token\": \"{issued['token']}\", \"session_id\": \"{enrollment['session_id']}\", "
        f"\"client_id\": \"try-1\", \"device_id\": \"door-1\"}}（培训日之前的回答是 not_today）",
    ]
