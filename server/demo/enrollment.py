"""Demo enrollments: the demo trainee enrolled by herself, the demo unit enrolling its staff."""

from __future__ import annotations

from server.demo.staff import DEMO_USCC, LOCAL
from server.demo.trainee import DEMO_ID_NUMBER
from server.models.enrollments import UnitEnrollmentCreate
from server.models.templates import AddressIn
from server.services import Principal
from server.services.accounts.identity import today_shanghai
from server.services.catalog.catalog import enrollment_window_open
from server.services.container import Services


async def demo_enrollments(services: Services) -> list[str]:
    """Enroll the demo trainee in one open session, and the demo unit's staff in another."""
    today = today_shanghai()
    open_sessions = [s async for s in services.db["sessions"].find({"status": "published"}).sort("code", 1)
                     if enrollment_window_open(s, today)]
    trainee = await services.accounts.find_by_login(DEMO_ID_NUMBER)
    unit = await services.accounts.find_by_login(DEMO_USCC)
    if len(open_sessions) < 2 or trainee is None or unit is None:
        return []
    me, company = Principal(trainee["_id"], "trainee"), Principal(unit["_id"], "unit")
    for owner, recipient in ((me, "陈静"), (company, "王经理")):  # books are mailed for some courses
        await services.templates.create_address(owner, AddressIn(
            recipient=recipient, phone="13900000009", region="上海市黄浦区", address="示例路 100 号",
            postcode="200001", is_default=True), ip=LOCAL)
    first, second = open_sessions[:2]
    await services.enrollments.enroll(trainee, str(first["_id"]), by=me, address_id=None, ip=LOCAL)
    staff = [str(doc["_id"]) async for doc in services.accounts.accounts.find({"trainee.unit_id": unit["_id"]})]
    result = await services.enrollments.enroll_staff(
        company, UnitEnrollmentCreate(session_id=str(second["_id"]), trainee_ids=staff), ip=LOCAL)
    verdicts = "、".join(sorted({r.verdict for r in result.results}))
    return [f"  报名 / enrollments: 陈静 已报名 {first['code']}（待缴费）；单位为 {len(staff)} 名员工报名 "
            f"{second['code']}：{result.enrolled} 人成功（结果：{verdicts}）"]
