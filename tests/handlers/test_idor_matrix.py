"""The IDOR matrix, generated from the OpenAPI document: nobody reaches another's objects by id.

For every operation with an id in its path, the objects of principal A (a trainee's address,
invoice template, licence, enrollment; a unit's staff member with a photo, committed import,
photo job; the association's course, session and an account) are used by every *other*
principal: another trainee, another unit, the wrong staff role, anonymous. Each answer must
be 401/403/404 and the database must be unchanged (bookkeeping aside). Then A itself reads
each object (a positive control: the ids are live, so a leak would show as a 200).

A new endpoint with an id enters the matrix by itself; the test fails when it meets a path
parameter or a body it has no entry for (``IDS``, ``BODIES``): extend them, do not skip.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services.container import Services
from server.services.enrollment.templates import TemplateService
from tests import factories
from tests.client import ApiClient, Response
from tests.conftest import serve_app
from tests.services.passes.helpers import approve
from tests.staff_helpers import form_body, multipart, sheet_bytes, staff_row, verify_unit

PORTRAIT = (Path(__file__).resolve().parents[1] / "fixtures" / "photos" / "portrait.jpg").read_bytes()
STAFF_ROLES = ("admin", "reviewer", "scanner")
# Collections that change on any request, whoever sends it (login bookkeeping, throttles, the trail).
BOOKKEEPING = {"audit_log", "rate_limits", "tokens", "sms_codes"}
# Operations with an id that are public by design (a published session is a public page).
PUBLIC_BY_DESIGN = {"SessionDetailHandler.get", "VerifyApiHandler.get", "VerifyPageHandler.get"}

# Path parameter → (the object of principal A it names, who may use it besides the staff roles the
# operation admits). A parameter missing here fails the test: decide whose object it names.
IDS: dict[str, tuple[str, frozenset[str]]] = {
    "address_id": ("address", frozenset({"trainee_a"})),
    "template_id": ("invoice_template", frozenset({"trainee_a"})),
    "qualification_id": ("qualification", frozenset({"trainee_a"})),
    "enrollment_id": ("enrollment", frozenset({"trainee_a"})),
    "trainee_id": ("staff_member", frozenset({"unit_a"})),
    "import_id": ("staff_import", frozenset({"unit_a"})),
    "job_id": ("photo_job", frozenset({"unit_a"})),
    "course_id": ("course", frozenset()),
    "session_id": ("session", frozenset()),
    "account_id": ("account", frozenset()),
    # unit A's account: trainee A is bound to it (their own unit), staff review its licence
    "unit_id": ("unit", frozenset({"trainee_a"})),
    # trainee A's payment (of their enrollment; approved with an invoice) and its first proof image
    "payment_id": ("payment", frozenset({"trainee_a"})),
    "index": ("proof_index", frozenset({"trainee_a"})),
    "pass_job_id": ("pass_job", frozenset({"unit_a"})),
    # trainee A's certificate (their enrollment's, 合格); unit A is their unit when the result is entered
    "certificate_id": ("certificate", frozenset({"trainee_a", "unit_a"})),
    # unit A's download of the session's certificates (a finished bundle)
    "bundle_id": ("certificate_bundle", frozenset({"unit_a"})),
    # the public verification code: public by design (the pages below)
    "code": ("certificate_code", frozenset()),
    # trainee A's place in a full session's line (another course; unit A's staff member holds the seat)
    "entry_id": ("waitlist_entry", frozenset({"trainee_a"})),
    # the association's wording of a notification kind (admins only)
    "kind": ("notification_kind", frozenset()),
}


def _address() -> dict[str, Any]:
    return {"recipient": "张三", "phone": "13912345678", "region": "上海市徐汇区", "address": "宜山路 700 号"}


def _invoice() -> dict[str, Any]:
    return {"kind": "normal", "medium": "paper", "title_type": "personal", "title": "张三"}


# Valid bodies, so that only the ownership guard can stop the call (a 422 would hide a leak).
BODIES: dict[str, dict[str, Any]] = {
    "AddressHandler.put": {"json": {**_address(), "recipient": "李四"}},
    "InvoiceTemplateHandler.put": {"json": {**_invoice(), "title": "李四"}},
    "CourseHandler.patch": {"json": {"name": "被改名的课程"}},
    "SessionHandler.patch": {"json": {"venue": "被改的地点"}},
    "StaffHandler.put": {"json": {"email": "x@example.com", "work_start": "2015-07", "specialty": "测量",
                                  "address": "别处"}},
    "StaffPhotoHandler.put": {"body": PORTRAIT, "headers": {"Content-Type": "image/jpeg"}, "query": "?consent=true"},
    "UnitDecisionHandler.post": {"json": {"decision": "reject", "reason": "营业执照不清晰"}},
    "RejectHandler.post": {"json": {"reason_code": "proof_unclear"}},
    "EnterResultHandler.put": {"json": {"score": 30, "reason": "被改的成绩"}},
    "RevokeHandler.post": {"json": {"reason": "被撤销"}},
}
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BODIES["ImportHandler.post"] = {"body": sheet_bytes([staff_row(name="成绩表")]), "headers": {"Content-Type": _XLSX},
                                "query": "?commit=true"}
BODIES["ImportVerdictsHandler.post"] = {"body": sheet_bytes([staff_row(name="成绩表")]), "headers": {"Content-Type": _XLSX}}

# trainee A's payment, approved, with an e-invoice PDF (the invoice download's owner check needs it)
BODIES["NotificationTextHandler.put"] = {"json": {"text": "被改的通知：{原因}"}}
BODIES["PaymentInvoiceHandler.put"] = {
    "json": {"number": "26312000000087654321", "date": "2026-03-02", "type": "normal", "medium": "electronic"}}


@dataclass
class World:
    """Principals (tokens) and principal A's objects (ids)."""

    tokens: dict[str, str | None] = field(default_factory=dict)
    objects: dict[str, str] = field(default_factory=dict)


async def _ok(r: Response, what: str) -> Any:
    assert 200 <= r.status < 300, f"{what}: {r.status} {r.body[:300]!r}"
    return r.json if r.body and r.headers.get("Content-Type", "").startswith("application/json") else None


async def build_world(api: ApiClient, services: Services, settings: Settings) -> World:
    """Two trainees, two units, each staff role; principal A's objects, made through the API."""
    world = World()
    outbox = settings.sms_outbox
    people = {}
    for who in ("trainee_a", "trainee_b"):
        world.tokens[who], people[who] = await factories.register_trainee(api, outbox)
    for who in ("unit_a", "unit_b"):
        world.tokens[who], _ = await factories.register_unit(api, outbox)
    for role in STAFF_ROLES:
        world.tokens[role] = await factories.staff_token(services, role)
    world.tokens["anonymous"] = None
    t, u, admin = world.tokens["trainee_a"], world.tokens["unit_a"], world.tokens["admin"]
    me = await _ok(await api.get("/api/v1/me", token=t), "me")
    world.objects["account"] = me["id"]
    world.objects["address"] = (await _ok(await api.post("/api/v1/addresses", _address(), token=t), "address"))["id"]
    world.objects["invoice_template"] = (
        await _ok(await api.post("/api/v1/invoice-templates", _invoice(), token=t), "template"))["id"]
    body, ctype = multipart([("image", "licence.jpg", PORTRAIT)], {"type": "注册土木工程师", "number": "AY0001"})
    r = await api.request("POST", "/api/v1/me/qualifications", body=body, headers={"Content-Type": ctype}, token=t)
    world.objects["qualification"] = (await _ok(r, "qualification"))["id"]
    r = await api.request("PUT", "/api/v1/me/photo?consent=true", body=PORTRAIT,
                          headers={"Content-Type": "image/jpeg"}, token=t)
    await _ok(r, "own photo")
    # the association's catalog, and trainee A's enrollment in it
    course = await _ok(await api.post("/api/v1/admin/courses", factories.course_body(), token=admin), "course")
    world.objects["course"] = course["id"]
    from tests.handlers.enrollment.test_enrollments import window  # today's dates, as that area tests them

    session = await factories.published_session(api, admin, course["id"], **window())
    world.objects["session"] = session["id"]
    enrolled = await api.post("/api/v1/enrollments", {"session_id": session["id"]}, token=t)
    world.objects["enrollment"] = (await _ok(enrolled, "enrollment"))["id"]
    payload = {"enrollment_ids": [world.objects["enrollment"]], "invoice_template_id": world.objects["invoice_template"]}
    body, ctype = multipart([("proofs", "transfer.jpg", PORTRAIT)], {"payload": json.dumps(payload)})
    r = await api.request("POST", "/api/v1/payments", body=body, headers={"Content-Type": ctype}, token=t)
    world.objects["payment"] = (await _ok(r, "payment"))["id"]
    world.objects["proof_index"] = "0"
    # unit A: a staff member with a photo, a committed import, a finished photo job
    person = await _ok(await api.post("/api/v1/unit/staff", form_body(), token=u), "staff member")
    world.objects["staff_member"] = person["id"]
    r = await api.request("PUT", f"/api/v1/unit/staff/{person['id']}/photo?consent=true", body=PORTRAIT,
                          headers={"Content-Type": "image/jpeg"}, token=u)
    await _ok(r, "staff photo")
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    r = await api.request("POST", "/api/v1/unit/staff/imports", body=sheet_bytes([staff_row(name="导入甲")]),
                          headers={"Content-Type": xlsx}, token=u)
    world.objects["staff_import"] = (await _ok(r, "import"))["id"]
    await _ok(await api.post(f"/api/v1/unit/staff/imports/{world.objects['staff_import']}/commit", token=u), "commit")
    world.objects["photo_job"] = await _photo_job(api, u)
    # unit A, verified by the association, binds trainee A: their unit, with a licence on file
    await verify_unit(api, api.with_token(u), services)
    world.objects["unit"] = (await _ok(await api.get("/api/v1/me", token=u), "unit me"))["id"]
    bind = {"name": people["trainee_a"]["name"], "id_number": people["trainee_a"]["id_number"]}
    await _ok(await api.post("/api/v1/unit/staff/bind", bind, token=u), "bind trainee A")
    world.objects["payment"] = await _invoiced_payment(api, services, world.objects["payment"], world.tokens["reviewer"])
    world.objects["certificate"], world.objects["certificate_code"], finished = await _certificate(api, world)
    bundle = await api.post("/api/v1/certificates/bundles", {"session_id": finished}, token=u)
    world.objects["certificate_bundle"] = (await _ok(bundle, "certificate bundle"))["id"]
    # unit A's pass PDF job: its staff member enrolled by it, approved through the payment review, the job run
    staff_enrolled = await _ok(await api.post("/api/v1/unit/enrollments", {
        "session_id": session["id"], "trainee_ids": [person["id"]]}, token=u), "unit enrollment")
    await approve(services, ObjectId(staff_enrolled["results"][0]["enrollment_id"]))
    job = await _ok(await api.post("/api/v1/unit/pass-jobs", {"session_id": session["id"]}, token=u), "pass job")
    await services.runner.run_until_idle()
    world.objects["pass_job"] = job["id"]
    world.objects["waitlist_entry"] = await _waitlist_entry(api, world, person["id"])
    world.objects["notification_kind"] = "unit_rejected"
    for _ in range(1200):  # notifications and the OCR pre-check run in the job runner: let them all finish
        if not await services.db["jobs"].count_documents({"status": {"$in": ["queued", "running"]}}):
            return world
        await asyncio.sleep(0.05)
    raise AssertionError("background jobs did not finish")


async def _waitlist_entry(api: ApiClient, world: World, staff_member: str) -> str:
    """Trainee A waiting for a one-seat session of another course, whose seat unit A's staff member holds."""
    admin, t, u = world.tokens["admin"], world.tokens["trainee_a"], world.tokens["unit_a"]
    from tests.handlers.enrollment.test_enrollments import window

    course = await _ok(await api.post("/api/v1/admin/courses", factories.course_body(), token=admin), "course 2")
    session = await factories.published_session(api, admin, course["id"], capacity=1, **window())
    await _ok(await api.post("/api/v1/unit/enrollments", {"session_id": session["id"], "trainee_ids": [staff_member]},
                             token=u), "the seat holder")
    entry = await _ok(await api.post("/api/v1/waitlist", {"session_id": session["id"]}, token=t), "waitlist")
    return str(entry["id"])


async def _certificate(api: ApiClient, world: World) -> tuple[str, str, str]:
    """Trainee A's certificate, from a second course's session (so their first enrollment stays approved).

    Enrolled, paid and approved, the result entered and published, the certificate issued by the reviewer.
    Returns the certificate's id, its public verification code and the session.
    """
    t, admin, reviewer = world.tokens["trainee_a"], world.tokens["admin"], world.tokens["reviewer"]
    from tests.handlers.enrollment.test_enrollments import window

    course = await _ok(await api.post("/api/v1/admin/courses", factories.course_body(name="安全生产继续教育"),
                                      token=admin), "second course")
    session = (await factories.published_session(api, admin, course["id"], **window()))["id"]
    enrollment = (await _ok(await api.post("/api/v1/enrollments", {"session_id": session}, token=t), "enroll"))["id"]
    payload = {"enrollment_ids": [enrollment], "invoice_template_id": world.objects["invoice_template"]}
    body, ctype = multipart([("proofs", "transfer.jpg", PORTRAIT)], {"payload": json.dumps(payload)})
    r = await api.request("POST", "/api/v1/payments", body=body, headers={"Content-Type": ctype}, token=t)
    payment = (await _ok(r, "second payment"))["id"]
    await _ok(await api.post(f"/api/v1/review/payments/{payment}/approve", {}, token=reviewer), "approve")
    await _ok(await api.put(f"/api/v1/review/enrollments/{enrollment}/result", {"score": 90}, token=reviewer), "result")
    await _ok(await api.post(f"/api/v1/review/sessions/{session}/results/publish", token=reviewer), "publish")
    await _ok(await api.post(f"/api/v1/review/sessions/{session}/certificates", token=reviewer), "certificates")
    mine = await _ok(await api.get("/api/v1/certificates", token=t), "my certificates")
    return str(mine["items"][0]["id"]), str(mine["items"][0]["verify_url"]).rsplit("/", 1)[1], session


async def _invoiced_payment(api: ApiClient, services: Services, payment_id: str, reviewer: str | None) -> str:
    """Trainee A's payment, approved by the reviewer, with an e-invoice PDF."""
    from tests.services.payments.helpers import demo_pdf

    await _ok(await api.post(f"/api/v1/review/payments/{payment_id}/approve", {}, token=reviewer), "approve")
    body, ctype = multipart([("file", "发票.pdf", demo_pdf())], {**BODIES["PaymentInvoiceHandler.put"]["json"]})
    r = await api.request("PUT", f"/api/v1/review/payments/{payment_id}/invoice", body=body,
                          headers={"Content-Type": ctype}, token=reviewer)
    await _ok(r, "invoice")
    for _ in range(200):  # the invoice_ready notification is sent by the job runner: let it finish first
        if await services.db["jobs"].count_documents({"payload.kind": "invoice_ready", "status": "done"}):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the invoice_ready notification was not sent")
    for _ in range(1200):  # and the OCR job, which writes the payment's ``ocr`` in the background
        payment = await services.db["payments"].find_one({"_id": ObjectId(payment_id)}, {"ocr.status": 1})
        if payment is not None and payment["ocr"]["status"] != "pending":
            return payment_id
        await asyncio.sleep(0.1)
    raise AssertionError("the OCR job did not finish")


async def _photo_job(api: ApiClient, unit: str | None) -> str:
    """A finished background photo job of the unit (more files than are done inline)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for i in range(21):
            archive.writestr(f"某人-{i}.jpg", b"x")  # bad names: quick verdicts
    r = await api.request("POST", "/api/v1/unit/staff/photos?consent=true", body=out.getvalue(),
                          headers={"Content-Type": "application/zip"}, token=unit)
    job = (await _ok(r, "photo job"))["job_id"]
    assert job, r.body
    for _ in range(100):
        if (await api.get(f"/api/v1/unit/staff/photo-jobs/{job}", token=unit)).json["status"] != "running":
            return str(job)
        await asyncio.sleep(0.1)
    raise AssertionError("the photo job did not finish")


async def dump(db: AsyncDatabase[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Every document of every collection but the bookkeeping ones."""
    state = {}
    for name in sorted(await db.list_collection_names()):
        if name not in BOOKKEEPING:
            state[name] = await db[name].find().sort("_id", 1).to_list()
    return state


@dataclass(frozen=True)
class Call:
    """One operation of the document, with principal A's ids in its path."""

    method: str
    path: str
    operation: dict[str, Any]
    owners: frozenset[str]

    @property
    def operation_id(self) -> str:
        """``Handler.method``."""
        return str(self.operation["operationId"])


def calls(document: dict[str, Any], world: World) -> list[Call]:
    """Every operation with a path parameter, filled with A's ids (fails on an unknown parameter)."""
    found = []
    for path, item in document["paths"].items():
        names = re.findall(r"{(\w+)}", path)
        if not names:
            continue
        for method, operation in item.items():
            missing = [n for n in names if n not in IDS]
            assert not missing, f"{method.upper()} {path}: no entry in IDS for {missing}"
            if "security" not in operation:
                assert operation["operationId"] in PUBLIC_BY_DESIGN, f"{method.upper()} {path} is public with an id"
                continue
            if "requestBody" in operation:
                assert operation["operationId"] in BODIES, f"{operation['operationId']}: no entry in BODIES"
            concrete = path
            owners: frozenset[str] = frozenset()
            for name in names:
                kind, who = IDS[name]
                concrete = concrete.replace("{" + name + "}", world.objects[kind])
                owners |= who
            found.append(Call(method.upper(), concrete, operation, owners))
    return found


def staff_admitted(operation: dict[str, Any]) -> set[str]:
    """Staff roles the operation admits by role (they see every account's objects by design)."""
    description = operation.get("description", "")
    if not description.startswith("角色："):
        return set(STAFF_ROLES)  # any logged-in role
    return set(description.removeprefix("角色：").split(", ")) & set(STAFF_ROLES)


def admits(operation: dict[str, Any], principal: str) -> bool:
    """Whether the operation's roles include the role of ``principal`` (``trainee_a`` → trainee)."""
    description = operation.get("description", "")
    if not description.startswith("角色："):
        return True
    return principal.split("_")[0] in description.removeprefix("角色：").split(", ")


async def send(api: ApiClient, call: Call, token: str | None) -> Response:
    """The call with its body (if any), as ``token``."""
    extra = BODIES.get(call.operation_id, {})
    if "json" in extra:
        return await api.request(call.method, call.path, json=extra["json"], token=token)
    return await api.request(call.method, call.path + extra.get("query", ""), body=extra.get("body"),
                             headers=extra.get("headers"), token=token)


async def run_matrix(api: ApiClient, db: AsyncDatabase[dict[str, Any]], world: World,
                     only: str | None = None, tried: list[str] | None = None) -> list[str]:
    """Every call as every other principal; the list of what got through (empty: all refused)."""
    document = (await api.get("/api/openapi.json")).json
    leaks = []
    tried = [] if tried is None else tried
    for call in calls(document, world):
        if only and not re.search(only, call.path):
            continue
        allowed = call.owners | staff_admitted(call.operation)
        for who, token in world.tokens.items():
            if who in allowed:
                continue
            before = await dump(db)
            tried.append(f"{call.method} {call.path} as {who}")
            r = await send(api, call, token)
            expected = {401} if token is None else {403, 404}
            if r.status not in expected:
                leaks.append(f"{call.method} {call.path} as {who}: {r.status} {r.body[:120]!r}")
            if await dump(db) != before:
                leaks.append(f"{call.method} {call.path} as {who}: the database changed")
    return leaks


async def test_nobody_reaches_another_principals_objects(
    api: ApiClient, services: Services, settings: Settings, db: AsyncDatabase[dict[str, Any]]
) -> None:
    world = await build_world(api, services, settings)
    tried: list[str] = []
    assert await run_matrix(api, db, world, tried=tried) == []
    # Every id-carrying operation was tried by several others (e.g. 26 operations × 3–7 callers today).
    assert len({t.split(" as ")[0] for t in tried}) == len(calls((await api.get("/api/openapi.json")).json, world))
    assert len(tried) >= 3 * len({t.split(" as ")[0] for t in tried}), tried
    # Positive control: every id is live, so a leak would have answered 200.
    document = (await api.get("/api/openapi.json")).json
    for call in calls(document, world):
        if call.method == "GET":
            owner = next((o for o in sorted(call.owners) if admits(call.operation, o)), None) \
                or next(iter(staff_admitted(call.operation)))
            r = await send(api, call, world.tokens[owner])
            assert 200 <= r.status < 300, f"{call.path} as {owner}: {r.status} {r.body[:200]!r}"


def test_every_path_parameter_has_an_owner() -> None:
    """The mapping is complete for today's routes (a new parameter name must be added to IDS)."""
    from server.app import all_routes
    from server.openapi import path_parameters

    names = {name for route in all_routes() for name in path_parameters(route[0])}
    assert names <= set(IDS), names - set(IDS)


class OwnerBlindTemplates(TemplateService):
    """The control: template deletion without the owner in the filter (the guard the matrix protects)."""

    async def _delete(self, kind: Any, owner: Any, template_id: str, ip: str | None) -> None:
        result = await self.db[kind.collection].delete_one({"_id": ObjectId(template_id)})
        if result.deleted_count == 0:
            from server import errors

            raise errors.not_found("不存在")


@pytest.mark.parametrize("guarded", [True, False])
async def test_the_matrix_fails_without_the_owner_guard(
    api: ApiClient, services: Services, settings: Settings, db: AsyncDatabase[dict[str, Any]], guarded: bool
) -> None:
    world = await build_world(api, services, settings)
    if guarded:
        assert await run_matrix(api, db, world, only="/addresses/") == []
        return
    blind = OwnerBlindTemplates.__new__(OwnerBlindTemplates)
    blind.__dict__.update(services.templates.__dict__)
    leaky = dataclasses.replace(services, templates=blind)
    async with serve_app(settings, leaky) as other_api:
        leaks = await run_matrix(other_api, db, world, only="/addresses/")
    assert any("DELETE" in leak and "database changed" in leak for leak in leaks), leaks
