"""Demo unit with staff (issue 6): what ``make run`` shows of unit staff management."""

from __future__ import annotations

import io
import json
import secrets

from PIL import Image

from server.demo.trainee import DEMO_ID_NUMBER
from server.models.accounts import UnitRegister
from server.models.binding import VerificationDecisionIn
from server.models.staff import BindIn, StaffCreate
from server.services import Principal
from server.services.accounts.sms import SmsPurpose
from server.services.container import Services

LOCAL = "127.0.0.1"
DEMO_USCC = "91310000MA1K000006"
DEMO_UNIT_PHONE = "13900000002"
DEMO_STAFF = (
    ("刘洋", "310101198507120038", "13900000003", "项目经理"),
    ("黄敏", "310104199203150020", "13900000004", "技术员"),
)


async def demo_unit(services: Services) -> list[str]:
    """A unit (registered like a real one, SMS code read from the dev outbox) with three bound staff."""
    await services.sms_codes.send(DEMO_UNIT_PHONE, SmsPurpose.register, ip=LOCAL)
    lines = services.settings.sms_outbox.read_text(encoding="utf-8").splitlines()
    code = [json.loads(line) for line in lines if DEMO_UNIT_PHONE in line][-1]["code"]
    password = "Demo-" + secrets.token_urlsafe(9)
    await services.accounts.register_unit(UnitRegister(
        name="上海示例勘察设计有限公司", uscc=DEMO_USCC, contact_name="王经理", phone=DEMO_UNIT_PHONE,
        password=password, sms_code=code), ip=LOCAL)
    unit_doc = await services.accounts.find_by_login(DEMO_USCC)
    assert unit_doc is not None
    unit = Principal(unit_doc["_id"], "unit")
    for name, id_number, phone, position in DEMO_STAFF:
        await services.staff.add(unit, StaffCreate(
            name=name, id_number=id_number, phone=phone, email="staff@example.com", work_start="2010-07",
            specialty="工程勘察", address="上海市黄浦区示例路 100 号", position=position), ip=LOCAL)
    # Binding a self-registered trainee needs a verified unit: a blank "licence", approved at once.
    licence = io.BytesIO()
    Image.new("RGB", (600, 400), "white").save(licence, "JPEG")
    await services.unit_verification.upload(unit, licence.getvalue(), ip=LOCAL)
    await services.unit_verification.decide(None, str(unit.account_id), VerificationDecisionIn(decision="approve"),
                                            ip=LOCAL)
    await services.staff.bind(unit, BindIn(name="陈静", id_number=DEMO_ID_NUMBER), ip=LOCAL)
    return [f"  演示单位 / demo unit (3 名单位人员): 账号 {DEMO_USCC}  密码 {password}"]
