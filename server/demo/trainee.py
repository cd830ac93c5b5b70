"""Demo loader: a trainee with a complete profile, an ID photo and a licence (``make run``).

The ID number 11010519491231002X is a published test vector (GB 11643 examples),
not a real person's. Everything goes through the services, as a person would:
an account made for them, activated with its one-time secret, then the profile
form, the photo (with consent) and one qualification.
"""

from __future__ import annotations

import secrets
from datetime import date
from pathlib import Path

from server.models.accounts import ActivateIn
from server.models.profile import ProfileUpdate, QualificationCreate
from server.services import Principal
from server.services.accounts.accounts import NewPerson
from server.services.accounts.identity import IdType
from server.services.container import Services

DEMO_ID_NUMBER = "11010519491231002X"
DEMO_PORTRAIT = Path(__file__).resolve().parent.parent / "data" / "demo-portrait.jpg"
LOCAL = "127.0.0.1"


async def demo_trainee(services: Services) -> list[str]:
    """A trainee with a complete profile and an ID photo; the password is random and printed once."""
    # The association admin of the earlier loader creates the account, as staff would.
    admin = await services.accounts.find_by_login("admin")
    if admin is None:
        raise RuntimeError("demo_trainee runs after association_staff")
    creator = Principal(admin["_id"], "admin")
    person = NewPerson(
        name="陈静", sex="female", id_type=IdType.resident, id_number=DEMO_ID_NUMBER,
        birth_date=date(1949, 12, 31), phone="13900000001", email="chenjing@example.com",
    )
    pending = await services.accounts.create_pending_trainee(person, created_by=creator, ip=LOCAL)
    password = "Demo-" + secrets.token_urlsafe(9)
    await services.accounts.activate(
        ActivateIn(account=DEMO_ID_NUMBER, secret=pending.one_time_secret, new_password=password), ip=LOCAL
    )
    me = Principal(pending.account_id, "trainee")
    await services.profiles.update(me, ProfileUpdate(
        name="陈静", email="chenjing@example.com", work_start="1972-09", specialty="岩土工程",
        address="上海市黄浦区示例路 100 号", education="大学本科", ethnicity="汉族", political_status="群众",
        title="正高级工程师", position="总工程师", honor="无", postcode="200001",
        employer="上海示例勘察设计有限公司",
    ), ip=LOCAL)
    await services.photos.upload(me, DEMO_PORTRAIT.read_bytes(), consent=True, ip=LOCAL)
    await services.qualifications.add(
        me, QualificationCreate(type="注册土木工程师（岩土）", number="AY11000001"), None, ip=LOCAL
    )
    return [f"  演示学员 / demo trainee (资料完整、已上传证件照): 账号 {DEMO_ID_NUMBER}  密码 {password}"]
