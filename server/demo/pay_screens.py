"""Demo data for the web view's payment screens: something to pay, and an invoice template to pick.

After the other loaders the demo unit has paid for all its staff and the demo trainee's own
enrollment is rejected (payable again). This loader gives the unit and the trainee a default invoice
template each (the web view pays with a template), and enrolls the unit's other staff in the second
open session, left 待缴费, so 企业报名缴费 has people to tick.
"""

from __future__ import annotations

from server.demo.staff import DEMO_USCC, LOCAL
from server.demo.trainee import DEMO_ID_NUMBER
from server.errors import AppError
from server.models.enrollments import UnitEnrollmentCreate
from server.models.templates import InvoiceTemplateIn
from server.services import Principal
from server.services.accounts.identity import today_shanghai
from server.services.catalog.catalog import enrollment_window_open
from server.services.container import Services


async def demo_pay_screens(services: Services) -> list[str]:
    """Invoice templates for the unit and the trainee; the unit's staff enrolled in another open session."""
    unit = await services.accounts.find_by_login(DEMO_USCC)
    trainee = await services.accounts.find_by_login(DEMO_ID_NUMBER)
    if unit is None or trainee is None:
        return []
    company, me = Principal(unit["_id"], "unit"), Principal(trainee["_id"], "trainee")
    await services.templates.create_invoice_template(company, InvoiceTemplateIn(
        kind="normal", medium="electronic", title_type="company", title=unit["name"], tax_id=DEMO_USCC,
        email="fapiao@example.com", is_default=True), ip=LOCAL)  # type: ignore[arg-type]
    await services.templates.create_invoice_template(me, InvoiceTemplateIn(
        kind="normal", medium="electronic", title_type="personal", title=trainee["name"],
        email="chenjing@example.com", is_default=True), ip=LOCAL)  # type: ignore[arg-type]
    today = today_shanghai()
    taken = {e["session_id"] async for e in services.db["enrollments"].find({"unit_id": unit["_id"]})}
    open_sessions = [s async for s in services.db["sessions"].find({"status": "published"}).sort("code", 1)
                     if enrollment_window_open(s, today) and s["_id"] not in taken]
    if not open_sessions:
        return []
    session = open_sessions[0]
    staff = [str(doc["_id"]) async for doc in services.accounts.accounts.find({"trainee.unit_id": unit["_id"]})]
    try:
        result = await services.enrollments.enroll_staff(
            company, UnitEnrollmentCreate(session_id=str(session["_id"]), trainee_ids=staff), ip=LOCAL)
    except AppError:
        return []
    return [f"  网页缴费 / web payment: 单位为 {result.enrolled} 名员工报名 {session['code']}（待缴费），"
            "单位和学员各有一个默认发票模板；以单位登录后打开 /pay（企业报名缴费）、/payments（缴费记录）、"
            "/passes（报名成功记录）；以学员登录后打开 /pay、/my-pass（我的听课证）"]
