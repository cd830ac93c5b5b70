"""Enrollment over real HTTP: every refusal rule with its code, unit batches, cancel, waitlist."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services.accounts.identity import today_shanghai
from server.services.container import Services
from tests import factories
from tests.client import ApiClient
from tests.factories import register_trainee, register_unit
from tests.outbox import wait_for_lines
from tests.services.enrollment.helpers import seat_problems


def window(**shift: int) -> dict[str, str]:
    """Session dates around today (Asia/Shanghai), shifted by days."""
    today = today_shanghai()
    days = {"enroll_start": -1, "enroll_end": 3, "start_date": 10, "end_date": 12, **shift}
    return {name: (today + timedelta(days=n)).isoformat() for name, n in days.items()}


@pytest.fixture
async def admin(services: Services) -> str:
    return await factories.staff_token(services)


async def new_session(api: ApiClient, admin: str, *, publish: bool = True, mails_books: bool = False,
                      capacity: int = 20, **dates: int) -> str:
    course = await api.post("/api/v1/admin/courses", factories.course_body(mails_books=mails_books), token=admin)
    assert course.status == 201, course.body
    body = factories.session_body(course.json["id"], capacity=capacity, **window(**dates))
    created = await api.post("/api/v1/admin/sessions", body, token=admin)
    assert created.status == 201, created.body
    if publish:
        assert (await api.post(f"/api/v1/admin/sessions/{created.json['id']}/publish", token=admin)).status == 200
    return str(created.json["id"])


async def trainee_with_photo(api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]],
                             *, photo: bool = True, unit_id: ObjectId | None = None) -> tuple[str, str]:
    """A registered trainee (token, id); photo and unit set directly (their own issues test them)."""
    token, _ = await register_trainee(api, settings.sms_outbox)
    me = (await api.get("/api/v1/me", token=token)).json
    changes: dict[str, Any] = {}
    if photo:
        changes["trainee.photo"] = {"file_id": ObjectId()}
    if unit_id:
        changes["trainee.unit_id"] = unit_id
    if changes:
        await db["accounts"].update_one({"_id": ObjectId(me["id"])}, {"$set": changes})
    return token, me["id"]


async def enroll(api: ApiClient, token: str, session_id: str, **extra: Any) -> Any:
    return await api.post("/api/v1/enrollments", {"session_id": session_id, **extra}, token=token)


async def test_a_trainee_enrolls_and_sees_it(api: ApiClient, settings: Settings, db: Any, admin: str) -> None:
    sid = await new_session(api, admin)
    token, _ = await trainee_with_photo(api, settings, db)
    r = await enroll(api, token, sid)
    assert r.status == 201, r.body
    assert r.json["status"] == {"code": "pending_payment", "label": "待缴费"}
    mine = (await api.get("/api/v1/enrollments", token=token)).json
    assert mine["total"] == 1 and mine["items"][0]["id"] == r.json["id"]
    row = (await api.get(f"/api/v1/sessions/{sid}", token=token)).json
    assert row["seats_left"] == 19


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ({"publish": False}, "session_not_open"),
        ({"enroll_start": 2, "enroll_end": 4}, "outside_enrollment_window"),
        ({"enroll_start": -5, "enroll_end": -1}, "outside_enrollment_window"),
        ({"mails_books": True}, "address_required"),
    ],
)
async def test_session_rules(api: ApiClient, settings: Settings, db: Any, admin: str,
                             setup: dict[str, Any], code: str) -> None:
    sid = await new_session(api, admin, **setup)
    token, _ = await trainee_with_photo(api, settings, db)
    r = await enroll(api, token, sid)
    assert r.status == 409 and r.error_code == code, r.body
    assert await db["enrollments"].count_documents({}) == 0


async def test_the_last_day_of_the_window_is_open(api: ApiClient, settings: Settings, db: Any, admin: str) -> None:
    sid = await new_session(api, admin, enroll_start=-3, enroll_end=0)
    token, _ = await trainee_with_photo(api, settings, db)
    assert (await enroll(api, token, sid)).status == 201


async def test_no_photo_and_twice_in_a_course(api: ApiClient, settings: Settings, db: Any, admin: str) -> None:
    sid = await new_session(api, admin)
    bare, _ = await trainee_with_photo(api, settings, db, photo=False)
    assert (await enroll(api, bare, sid)).error_code == "no_photo"
    token, _ = await trainee_with_photo(api, settings, db)
    assert (await enroll(api, token, sid)).status == 201
    again = await enroll(api, token, sid)
    assert again.status == 409 and again.error_code == "already_enrolled"


async def test_full_session_then_waitlist(api: ApiClient, settings: Settings, db: Any, admin: str) -> None:
    sid = await new_session(api, admin, capacity=1)
    first, _ = await trainee_with_photo(api, settings, db)
    second, _ = await trainee_with_photo(api, settings, db)
    early = await api.post("/api/v1/waitlist", {"session_id": sid}, token=first)
    assert early.error_code == "seats_available"
    assert (await enroll(api, first, sid)).status == 201
    full = await enroll(api, second, sid)
    assert full.status == 409 and full.error_code == "session_full" and full.json["error"]["details"]["waitlist"]
    joined = await api.post("/api/v1/waitlist", {"session_id": sid}, token=second)
    assert joined.status == 201 and joined.json["position"] == 1
    assert (await api.post("/api/v1/waitlist", {"session_id": sid}, token=second)).error_code == "already_waitlisted"


RECIPIENT_PHONE = "13712340978"  # not a number the factories make (they start with 139)


async def add_address(api: ApiClient, token: str, **overrides: Any) -> str:
    """A default shipping address of the caller; its id."""
    body = {"recipient": "张三", "phone": RECIPIENT_PHONE, "region": "上海市徐汇区", "address": "宜山路 700 号",
            "postcode": "200233", "is_default": True, **overrides}
    address = await api.post("/api/v1/addresses", body, token=token)
    assert address.status == 201, address.body
    return str(address.json["id"])


async def test_mailed_books_copy_the_address(api: ApiClient, settings: Settings, db: Any, admin: str,
                                             services: Services) -> None:
    sid = await new_session(api, admin, mails_books=True)
    token, _ = await trainee_with_photo(api, settings, db)
    address_id = await add_address(api, token)
    r = await enroll(api, token, sid)
    assert r.status == 201, r.body
    assert r.json["address"] == {"id": address_id, "recipient": "张三", "phone": RECIPIENT_PHONE,
                                 "region": "上海市徐汇区", "address": "宜山路 700 号", "postcode": "200233"}
    # Stored encrypted, with the templates' cipher and context; in full for the trainee and for staff.
    stored = await db["enrollments"].find_one({"_id": ObjectId(r.json["id"])})
    assert stored["address"]["phone"] != RECIPIENT_PHONE
    assert services.cipher.decrypt(stored["address"]["phone"], context="phone") == RECIPIENT_PHONE
    path = f"/api/v1/enrollments/{r.json['id']}"
    for reader in (token, admin, await factories.staff_token(services, "reviewer")):
        assert (await api.get(path, token=reader)).json["address"]["phone"] == RECIPIENT_PHONE
    assert (await api.get("/api/v1/enrollments", token=token)).json["items"][0]["address"]["phone"] == RECIPIENT_PHONE
    # The copy stays when the template changes.
    await api.delete(f"/api/v1/addresses/{address_id}", token=token)
    assert (await api.get(path, token=token)).json["address"]["recipient"] == "张三"


async def test_every_reader_of_a_unit_enrollment_sees_the_recipient_phone(
    api: ApiClient, settings: Settings, db: Any, admin: str, services: Services
) -> None:
    sid = await new_session(api, admin, mails_books=True)
    unit_token, _ = await register_unit(api, settings.sms_outbox)
    unit_id = ObjectId((await api.get("/api/v1/me", token=unit_token)).json["id"])
    await add_address(api, unit_token, recipient="王经理")
    trainee, tid = await trainee_with_photo(api, settings, db, unit_id=unit_id)
    r = await api.post("/api/v1/unit/enrollments", {"session_id": sid, "trainee_ids": [tid]}, token=unit_token)
    assert r.json["enrolled"] == 1, r.body
    eid = r.json["results"][0]["enrollment_id"]
    # The unit's own address, the trainee's shipment, the association mails it: in full. Nobody
    # else may read an enrollment (a scanner is refused).
    scanner = await factories.staff_token(services, "scanner")
    assert (await api.get(f"/api/v1/enrollments/{eid}", token=scanner)).status == 403
    for reader in (unit_token, trainee, admin):
        assert (await api.get(f"/api/v1/enrollments/{eid}", token=reader)).json["address"]["phone"] == RECIPIENT_PHONE
    assert (await api.get("/api/v1/enrollments", token=unit_token)).json["items"][0]["address"]["phone"] == RECIPIENT_PHONE
    cancelled = await api.post(f"/api/v1/enrollments/{eid}/cancel", token=unit_token)
    assert cancelled.status == 200 and cancelled.json["address"]["phone"] == RECIPIENT_PHONE


async def test_no_plain_recipient_phone_in_the_database_or_logs(
    api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]], admin: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        sid = await new_session(api, admin, mails_books=True)
        token, _ = await trainee_with_photo(api, settings, db)
        await add_address(api, token)
        assert (await enroll(api, token, sid)).status == 201
    assert await db["enrollments"].count_documents({}) == 1
    everything = caplog.text
    for name in await db.list_collection_names():
        async for doc in db[name].find({}):
            everything += repr(doc)
    assert RECIPIENT_PHONE not in everything


async def test_an_unknown_address_is_refused_before_anyone_is_enrolled(
    api: ApiClient, settings: Settings, db: Any, admin: str
) -> None:
    sid = await new_session(api, admin, mails_books=True)
    unit_token, _ = await register_unit(api, settings.sms_outbox)
    unit_id = ObjectId((await api.get("/api/v1/me", token=unit_token)).json["id"])
    await add_address(api, unit_token)
    staff = [(await trainee_with_photo(api, settings, db, unit_id=unit_id))[1] for _ in range(3)]
    trainee, _ = await trainee_with_photo(api, settings, db)
    someone_elses = await add_address(api, trainee)  # exists, but not the unit's
    for address_id in (str(ObjectId()), someone_elses):
        r = await api.post("/api/v1/unit/enrollments",
                           {"session_id": sid, "trainee_ids": staff, "address_id": address_id}, token=unit_token)
        assert r.status == 404 and r.error_code == "address_not_found", r.body
        assert r.json["error"]["message"] == "收货地址不存在"
    r = await enroll(api, trainee, sid, address_id=str(ObjectId()))
    assert r.status == 404 and r.error_code == "address_not_found"
    assert await db["enrollments"].count_documents({}) == 0


async def test_a_unit_without_an_address_is_refused_once(api: ApiClient, settings: Settings, db: Any,
                                                         admin: str) -> None:
    sid = await new_session(api, admin, mails_books=True)
    unit_token, _ = await register_unit(api, settings.sms_outbox)
    unit_id = ObjectId((await api.get("/api/v1/me", token=unit_token)).json["id"])
    _, tid = await trainee_with_photo(api, settings, db, unit_id=unit_id)
    r = await api.post("/api/v1/unit/enrollments", {"session_id": sid, "trainee_ids": [tid]}, token=unit_token)
    assert r.status == 409 and r.error_code == "address_required"
    assert await db["enrollments"].count_documents({}) == 0


@pytest.mark.parametrize("start", [0, -1])
async def test_no_enrollment_from_the_first_training_day(api: ApiClient, settings: Settings, db: Any,
                                                         admin: str, start: int) -> None:
    # Sessions saved now end their window before the start; this one is older data that did not.
    sid = await new_session(api, admin, enroll_start=-3, enroll_end=2)
    await db["sessions"].update_one({"_id": ObjectId(sid)}, {"$set": window(start_date=start, end_date=3)})
    token, _ = await trainee_with_photo(api, settings, db)
    r = await enroll(api, token, sid)
    assert r.status == 409 and r.error_code == "session_started", r.body
    assert r.json["error"]["message"] == "培训已开始，不能再报名"
    assert await db["enrollments"].count_documents({}) == 0


async def test_a_raised_capacity_goes_to_the_waitlist_first(api: ApiClient, settings: Settings, db: Any,
                                                            admin: str) -> None:
    sid = await new_session(api, admin, capacity=1)
    first, _ = await trainee_with_photo(api, settings, db)
    waiting, waiting_id = await trainee_with_photo(api, settings, db)
    newcomer, _ = await trainee_with_photo(api, settings, db)
    assert (await enroll(api, first, sid)).status == 201
    assert (await api.post("/api/v1/waitlist", {"session_id": sid}, token=waiting)).status == 201
    staff_view = (await api.get(f"/api/v1/admin/sessions/{sid}", token=admin)).json
    assert (staff_view["waitlist"], staff_view["seats_held"]) == (1, 0)  # the back office shows the line
    r = await api.request("PATCH", f"/api/v1/admin/sessions/{sid}", json={"capacity": 2}, token=admin)
    assert r.status == 200 and r.json["seats_left"] == 0, r.body
    assert (r.json["waitlist"], r.json["seats_held"]) == (0, 1)  # the new seat is held for the first in line
    entry = await db["waitlist"].find_one({"trainee_id": ObjectId(waiting_id)})
    assert entry["status"] == "offered"
    assert waiting_id in str(await wait_for_lines(settings.notify_outbox, 1))
    assert (await enroll(api, newcomer, sid)).error_code == "session_full"
    assert (await enroll(api, waiting, sid)).status == 201


async def test_unit_batch_gives_a_verdict_per_person(api: ApiClient, settings: Settings, db: Any, admin: str) -> None:
    sid = await new_session(api, admin, capacity=2)
    unit_token, _ = await register_unit(api, settings.sms_outbox)
    unit_id = ObjectId((await api.get("/api/v1/me", token=unit_token)).json["id"])
    self_enrolled, a = await trainee_with_photo(api, settings, db, unit_id=unit_id)
    assert (await enroll(api, self_enrolled, sid)).status == 201
    _, b = await trainee_with_photo(api, settings, db, unit_id=unit_id)
    _, no_photo = await trainee_with_photo(api, settings, db, photo=False, unit_id=unit_id)
    _, stranger = await trainee_with_photo(api, settings, db)
    _, late = await trainee_with_photo(api, settings, db, unit_id=unit_id)
    r = await api.post("/api/v1/unit/enrollments",
                       {"session_id": sid, "trainee_ids": [a, b, no_photo, stranger, late]}, token=unit_token)
    assert r.status == 200, r.body
    verdicts = {v["trainee_id"]: v["verdict"] for v in r.json["results"]}
    assert verdicts == {a: "already_enrolled", b: "ok", no_photo: "no_photo", stranger: "not_your_staff",
                        late: "session_full"}
    assert r.json["enrolled"] == 1
    listed = (await api.get("/api/v1/enrollments", token=unit_token)).json
    assert listed["total"] == 1


async def test_cancel_is_for_the_owner_only(api: ApiClient, settings: Settings, db: Any, admin: str) -> None:
    sid = await new_session(api, admin)
    owner, _ = await trainee_with_photo(api, settings, db)
    other, _ = await trainee_with_photo(api, settings, db)
    eid = (await enroll(api, owner, sid)).json["id"]
    assert (await api.post(f"/api/v1/enrollments/{eid}/cancel", token=other)).status == 404
    assert (await api.get(f"/api/v1/enrollments/{eid}", token=other)).status == 404
    assert (await api.get("/api/v1/enrollments/not-an-id", token=owner)).status == 404
    r = await api.post(f"/api/v1/enrollments/{eid}/cancel", token=owner)
    assert r.status == 200 and r.json["status"]["code"] == "cancelled"
    assert (await api.post(f"/api/v1/enrollments/{eid}/cancel", token=owner)).error_code == "not_cancellable"


async def test_concurrent_http_enrollments_do_not_overbook(api: ApiClient, settings: Settings, db: Any,
                                                           admin: str) -> None:
    sid = await new_session(api, admin, capacity=5)
    tokens = [(await trainee_with_photo(api, settings, db))[0] for _ in range(20)]
    answers = await asyncio.gather(*(enroll(api, t, sid) for t in tokens))
    assert sorted(a.status for a in answers) == [201] * 5 + [409] * 15
    assert (await db["sessions"].find_one({"_id": ObjectId(sid)}))["seats_taken"] == 5


async def test_roles(api: ApiClient, admin: str) -> None:
    r = await api.post("/api/v1/enrollments", {"session_id": "0" * 24}, token=admin)
    assert r.status == 403
    assert (await api.post("/api/v1/enrollments", {"session_id": "0" * 24})).status == 401


async def test_a_cancelled_seat_goes_to_the_line_over_http(api: ApiClient, settings: Settings, db: Any,
                                                           admin: str) -> None:
    """Cancel with someone waiting: the seat is held for them at once (same transaction), a newcomer is
    refused, the offered trainee enrolls on it, and the ledger agrees with the enrollments."""
    sid = await new_session(api, admin, capacity=1)
    holder, _ = await trainee_with_photo(api, settings, db)
    waiting, waiting_id = await trainee_with_photo(api, settings, db)
    newcomer, _ = await trainee_with_photo(api, settings, db)
    eid = (await enroll(api, holder, sid)).json["id"]
    assert (await api.post("/api/v1/waitlist", {"session_id": sid}, token=waiting)).status == 201
    assert (await api.post(f"/api/v1/enrollments/{eid}/cancel", token=holder)).status == 200
    assert (await db["waitlist"].find_one({"trainee_id": ObjectId(waiting_id)}))["status"] == "offered"
    assert (await api.get(f"/api/v1/sessions/{sid}")).json["seats_left"] == 0
    assert (await enroll(api, newcomer, sid)).error_code == "session_full"
    assert (await enroll(api, waiting, sid)).status == 201
    again = await enroll(api, waiting, sid)
    assert again.status == 409 and again.error_code == "already_enrolled"
    assert await seat_problems(db, ObjectId(sid)) == []


# ---- leaving a waitlist ------------------------------------------------------------------------


async def full_session_with_line(api: ApiClient, settings: Settings, db: Any, admin: str,
                                 waiting: int = 2) -> tuple[str, str, list[tuple[str, str]]]:
    """A one-seat session (id), its seat holder's token, and ``waiting`` trainees in line (token, entry id)."""
    sid = await new_session(api, admin, capacity=1)
    holder, _ = await trainee_with_photo(api, settings, db)
    assert (await enroll(api, holder, sid)).status == 201
    line = []
    for _ in range(waiting):
        token, _ = await trainee_with_photo(api, settings, db)
        joined = await api.post("/api/v1/waitlist", {"session_id": sid}, token=token)
        assert joined.status == 201, joined.body
        line.append((token, str(joined.json["id"])))
    return sid, holder, line


async def test_my_waitlist_and_leaving_it(api: ApiClient, settings: Settings, db: Any, admin: str,
                                         services: Services) -> None:
    sid, _, [(first, first_entry), (second, second_entry)] = await full_session_with_line(api, settings, db, admin)
    mine = (await api.get("/api/v1/waitlist", token=second)).json
    assert mine["total"] == 1
    row = mine["items"][0]
    assert row["id"] == second_entry and row["position"] == 2 and row["status"] == "waiting"
    assert row["session_code"] and row["course_name"]
    # Another trainee cannot see or leave my place (404, nothing written).
    assert (await api.get("/api/v1/waitlist", token=first)).json["items"][0]["id"] == first_entry
    before = await db["waitlist"].find_one({"_id": ObjectId(second_entry)})
    other = await api.post(f"/api/v1/waitlist/{second_entry}/leave", token=first)
    assert other.status == 404 and other.error_code == "not_found"
    assert await db["waitlist"].find_one({"_id": ObjectId(second_entry)}) == before
    # The first in line leaves: the second moves up.
    left = await api.post(f"/api/v1/waitlist/{first_entry}/leave", token=first)
    assert left.status == 200 and left.json["status"] == "withdrawn", left.body
    assert (await api.get("/api/v1/waitlist", token=first)).json == {"items": [], "total": 0}
    assert (await api.get("/api/v1/waitlist", token=second)).json["items"][0]["position"] == 1
    again = await api.post(f"/api/v1/waitlist/{first_entry}/leave", token=first)
    assert again.status == 409 and again.error_code == "waitlist_closed" and "候补" in again.json["error"]["message"]
    assert (await api.post("/api/v1/waitlist/not-an-id/leave", token=first)).status == 404
    assert await db["audit_log"].count_documents({"action": "waitlist.leave"}) == 1
    assert await seat_problems(db, ObjectId(sid)) == []


async def test_leaving_an_offer_hands_the_seat_to_the_next(api: ApiClient, settings: Settings, db: Any,
                                                          admin: str) -> None:
    sid, holder, [(first, first_entry), (second, second_entry)] = await full_session_with_line(
        api, settings, db, admin)
    holder_enrollment = (await api.get("/api/v1/enrollments", token=holder)).json["items"][0]["id"]
    assert (await api.post(f"/api/v1/enrollments/{holder_enrollment}/cancel", token=holder)).status == 200
    offered = (await api.get("/api/v1/waitlist", token=first)).json["items"][0]
    assert offered["status"] == "offered" and offered["position"] == 0 and offered["offer_until"]
    assert (await api.post(f"/api/v1/waitlist/{first_entry}/leave", token=first)).status == 200
    # The held seat went to the second in line in the same transaction; the first cannot enroll.
    assert (await api.get("/api/v1/waitlist", token=second)).json["items"][0]["status"] == "offered"
    assert (await enroll(api, first, sid)).error_code == "session_full"
    assert (await enroll(api, second, sid)).status == 201
    assert await seat_problems(db, ObjectId(sid)) == []


async def test_twenty_concurrent_leaves_withdraw_once(api: ApiClient, settings: Settings, db: Any,
                                                     admin: str) -> None:
    sid, _, [(token, entry), (_, other_entry)] = await full_session_with_line(api, settings, db, admin)
    answers = await asyncio.gather(*(api.post(f"/api/v1/waitlist/{entry}/leave", token=token) for _ in range(20)))
    assert sorted(r.status for r in answers) == [200] + [409] * 19, [r.body for r in answers if r.status >= 500]
    assert await db["audit_log"].count_documents({"action": "waitlist.leave"}) == 1
    session = await db["sessions"].find_one({"_id": ObjectId(sid)})
    assert session["waiting"] == [ObjectId(other_entry)]
    assert await seat_problems(db, ObjectId(sid)) == []


async def test_a_unit_leaves_the_line_it_joined_for_its_staff(api: ApiClient, settings: Settings, db: Any,
                                                            admin: str) -> None:
    sid = await new_session(api, admin, capacity=1)
    holder, _ = await trainee_with_photo(api, settings, db)
    assert (await enroll(api, holder, sid)).status == 201
    unit_token, _ = await register_unit(api, settings.sms_outbox)
    unit_id = ObjectId((await api.get("/api/v1/me", token=unit_token)).json["id"])
    staff, staff_id = await trainee_with_photo(api, settings, db, unit_id=unit_id)
    joined = await api.post("/api/v1/waitlist", {"session_id": sid, "trainee_id": staff_id}, token=unit_token)
    assert joined.status == 201, joined.body
    assert (await api.get("/api/v1/waitlist", token=unit_token)).json["total"] == 1
    other_unit, _ = await register_unit(api, settings.sms_outbox)
    assert (await api.post(f"/api/v1/waitlist/{joined.json['id']}/leave", token=other_unit)).status == 404
    assert (await api.post(f"/api/v1/waitlist/{joined.json['id']}/leave", token=unit_token)).status == 200
    assert (await api.get("/api/v1/waitlist", token=staff)).json["total"] == 0
