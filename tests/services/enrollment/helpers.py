"""Helpers of the enrollment and seat tests: sessions, trainees, rewired services, seat invariants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.models.catalog import CourseCreate, SessionCreate
from server.models.enrollments import EnrollmentStatus
from server.services import Principal
from server.services.accounts.identity import today_shanghai
from server.services.catalog.reconcile import SEAT_HOLDING, SeatReconciler
from server.services.catalog.seats import SeatLedger
from server.services.catalog.waitlist import WaitlistService
from server.services.catalog.window import enrollment_window_open
from server.services.container import Services
from server.services.enrollment.enrollments import EnrollmentService
from tests import factories

ADMIN = Principal(ObjectId(), "admin")


async def make_session(services: Services, *, capacity: int = 30, mails_books: bool = False,
                       start_in_days: int = 30, publish: bool = True,
                       course: dict[str, Any] | None = None) -> dict[str, Any]:
    """A published session (of a new course unless given) whose enrollment window is open today."""
    course = course or await services.catalog.create_course(
        CourseCreate(name="岩土工程勘察专项培训", course_type="专项培训", activity_type="培训",
                     specialty="岩土", hours=16, mails_books=mails_books), by=ADMIN)
    today = today_shanghai()
    session = await services.catalog.create_session(SessionCreate(
        course_id=str(course["_id"]), code=factories.unique_code(), round="一期",
        enroll_start=today - timedelta(days=1), enroll_end=today + timedelta(days=min(5, start_in_days - 1)),
        start_date=today + timedelta(days=start_in_days), end_date=today + timedelta(days=start_in_days + 2),
        fee_fen=120000, capacity=capacity, venue="上海市某某路 1 号"), by=ADMIN)
    if publish:
        session = await services.catalog.publish_session(str(session["_id"]), by=ADMIN)
    return session


async def make_trainees(db: AsyncDatabase[dict[str, Any]], n: int, *, unit_id: ObjectId | None = None,
                        photo: bool = True) -> list[dict[str, Any]]:
    """Trainee accounts inserted directly (registration is tested elsewhere), with a photo and unit."""
    docs = []
    for _ in range(n):
        trainee: dict[str, Any] = {"id_masked": "1101**********0000", "unit_id": unit_id}
        if photo:
            trainee["photo"] = {"file_id": ObjectId()}
        docs.append({"_id": ObjectId(), "role": "trainee", "status": "active", "name": "学员",
                     "login_key": f"trainee:{ObjectId()}", "trainee": trainee})
    await db["accounts"].insert_many(docs)
    return docs


def as_trainee(doc: dict[str, Any]) -> Principal:
    """The trainee's own principal."""
    return Principal(doc["_id"], "trainee")


async def enroll(enrollments: EnrollmentService, trainee: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
    """The trainee enrolls themselves."""
    return await enrollments.enroll(trainee, str(session["_id"]), by=as_trainee(trainee), address_id=None, ip=None)


def rewire(services: Services, *, seats: SeatLedger | None = None, waitlist_cls: type[WaitlistService] = WaitlistService,
           enrollments_cls: type[EnrollmentService] = EnrollmentService,
           db: AsyncDatabase[dict[str, Any]] | None = None) -> EnrollmentService:
    """The enrollment service wired as in production, but with test-only parts (the control runs)
    and optionally on another database object (a tests.faults.FaultyDatabase)."""
    db = db if db is not None else services.db
    seats = seats or SeatLedger(db)
    waitlist = waitlist_cls(db, seats=seats, jobs=services.jobs, audit=services.audit)
    return enrollments_cls(db, catalog=services.catalog, templates=services.templates, waitlist=waitlist,
                           seats=seats, audit=services.audit,
                           payment_term=timedelta(days=services.settings.payment_term_days))


def later_reconciler(services: Services, db: AsyncDatabase[dict[str, Any]]) -> SeatReconciler:
    """Reconciliation as the periodic job runs it, an hour later (in-flight seats are then stale), on ``db``."""
    seats = SeatLedger(db)
    enrollments = rewire(services, seats=seats, db=db)
    return SeatReconciler(db, seats=seats, waitlist=enrollments.waitlist, enrollment_service=enrollments,
                          audit=services.audit,
                          now=lambda: datetime.now(UTC) + timedelta(hours=1))


async def seat_problems(db: AsyncDatabase[dict[str, Any]], session_id: ObjectId) -> list[str]:
    """Every way the session's seats disagree with its enrollments and waitlist (empty: consistent)."""
    session = await db["sessions"].find_one({"_id": session_id})
    assert session is not None
    holders, held, waiting = session.get("holders", []), session.get("held_for", []), session.get("waiting", [])
    problems = []
    if session["seats_taken"] != len(holders) or len(set(holders)) != len(holders):
        problems.append(f"seats_taken {session['seats_taken']} but holders {holders}")
    enrollments = await db["enrollments"].find({"session_id": session_id}).to_list()
    seated = {e["_id"] for e in enrollments if e["status"] in SEAT_HOLDING}
    if set(holders) != seated:
        problems.append(f"holders {sorted(map(str, holders))} but seat-holding enrollments {sorted(map(str, seated))}")
    known = {str(s) for s in EnrollmentStatus}
    problems += [f"enrollment {e['_id']} in limbo: {e['status']}" for e in enrollments if e["status"] not in known]
    entries = await db["waitlist"].find({"session_id": session_id}).to_list()
    offered = {e["_id"] for e in entries if e["status"] == "offered"}
    in_line = {e["_id"] for e in entries if e["status"] == "waiting"}
    if set(held) != offered:
        problems.append(f"held_for {held} but offered entries {offered}")
    if set(waiting) != in_line:
        problems.append(f"waiting {waiting} but waiting entries {in_line}")
    problems += [f"entry {e['_id']} in limbo: {e['status']}" for e in entries
                 if e["status"] not in ("waiting", "offered", "enrolled", "lapsed", "withdrawn")]
    if len(holders) + len(held) > session["capacity"]:
        problems.append(f"overbooked: {len(holders)} taken + {len(held)} held > {session['capacity']}")
    if in_line and len(holders) + len(held) < session["capacity"] and enrollment_window_open(
            session, today_shanghai()):
        problems.append(f"a free seat while {len(in_line)} wait")
    return problems
