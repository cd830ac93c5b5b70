"""Enrollment: a trainee in a session, made by the trainee or by their unit.

The guards, each in the database so they hold under concurrent requests and
across processes:

- **One active enrollment per trainee per course, whoever enrolls**: a unique
  index on ``(trainee_id, course_id)`` over documents with ``active: true``;
  cancelling or expiring unsets ``active``, so a new enrollment is possible.
- **No overbooking**: a seat is taken by one guarded update of the session,
  ``seats_taken + seats held for the waitlist < capacity`` in the filter, which also pushes the
  enrollment id into ``holders``; releasing pulls it out under the filter
  ``holders: id``. Both are therefore exactly-once: a double cancel frees one seat.
- **The waitlist first**: the same filter also counts the people in line (the session's
  ``waiting``), so a seat freed while people wait stays free until it is held for the first
  of them, whatever newcomer asks in between.
- **Order**: the enrollment is inserted first as ``reserving`` (claiming the
  unique slot), then the seat is taken, then it becomes ``pending_payment``. A
  crash in between leaves a ``reserving`` document that :meth:`repair` resolves
  by whether its id is among the session's holders.

``seat_guard``, ``unique_guard``, ``status_guard`` and ``waitlist_guard`` exist only so that the
tests can show that their concurrency tests fail without the guards (count-then-act versions, or
the seat filter without the people in line).

The shipping address copied into an enrollment keeps the recipient's phone encrypted; its readers
(the trainee, the enroller, association staff) get it decrypted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server import errors
from server.models.enrollments import (
    EnrollmentCreate,
    EnrollmentStatus,
    PersonVerdict,
    UnitEnrollmentCreate,
    UnitEnrollmentResult,
)
from server.services import Principal
from server.services.audit import AuditLog
from server.services.catalog.catalog import (
    HELD_SEATS,
    SHANGHAI,
    WAITING,
    CatalogService,
    check_enrollment_open,
    seats_left,
)
from server.services.catalog.waitlist import WaitlistService
from server.services.enrollment.templates import TemplateService
from server.services.ids import parse_object_id

log = logging.getLogger(__name__)

RESERVING = "reserving"  # not a status anyone sees: the seat is being taken
CANCELLABLE = (str(EnrollmentStatus.pending_payment), str(EnrollmentStatus.payment_submitted),
               str(EnrollmentStatus.rejected))
PAYABLE = (str(EnrollmentStatus.pending_payment), str(EnrollmentStatus.rejected))
STALE_RESERVATION = timedelta(minutes=2)


class EnrollmentService:
    """Enroll, cancel, expire; the seat and uniqueness guards live here."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        catalog: CatalogService,
        templates: TemplateService,
        waitlist: WaitlistService,
        audit: AuditLog,
        payment_term: timedelta,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.enrollments = db["enrollments"]
        self.sessions = db["sessions"]
        self.accounts = db["accounts"]
        self.catalog = catalog
        self.templates = templates
        self.waitlist = waitlist
        self.audit = audit
        self.payment_term = payment_term
        self.now = now or (lambda: datetime.now(UTC))
        self.seat_guard = True
        self.unique_guard = True
        self.status_guard = True
        self.waitlist_guard = True

    # ---- enrolling ----------------------------------------------------------------

    async def enroll_self(self, principal: Principal, body: EnrollmentCreate, *, ip: str | None) -> dict[str, Any]:
        """A trainee enrolls themselves."""
        trainee = await self.accounts.find_one({"_id": principal.account_id, "role": "trainee"})
        if trainee is None:
            raise errors.not_found("账号不存在")
        doc = await self.enroll(trainee, body.session_id, by=principal, address_id=body.address_id, ip=ip)
        return self.shown(doc)

    async def enroll_staff(self, unit: Principal, body: UnitEnrollmentCreate, *, ip: str | None) -> UnitEnrollmentResult:
        """A unit enrolls its bound staff; each person gets a verdict, the batch may partly succeed.

        What is the same for everyone fails the whole request before anyone is enrolled: a missing
        session, a missing or unknown shipping address.
        """
        session = await self.catalog.get_session(body.session_id)
        address = await self._address(session, unit, body.address_id)  # once for the whole batch
        results = []
        for trainee_id in dict.fromkeys(body.trainee_ids):
            results.append(await self._enroll_one_of_staff(unit, trainee_id, body.session_id, address, ip))
        return UnitEnrollmentResult(results=results, enrolled=sum(r.verdict == "ok" for r in results))

    async def _enroll_one_of_staff(
        self, unit: Principal, trainee_id: str, session_id: str, address: dict[str, Any] | None, ip: str | None
    ) -> PersonVerdict:
        trainee = await self.accounts.find_one(
            {"_id": ObjectId(trainee_id), "role": "trainee", "trainee.unit_id": unit.account_id})
        if trainee is None:
            return PersonVerdict(trainee_id=trainee_id, verdict="not_your_staff", message="该人员不是本单位人员")
        try:
            session = await self.catalog.get_session(session_id)  # fresh: its status and holds move on
            self._check_may_enroll(trainee, session)
            doc = await self._enroll(trainee, session, by=unit, address=address, ip=ip)
        except errors.AppError as refusal:
            return PersonVerdict(trainee_id=trainee_id, verdict=refusal.code, message=refusal.message)
        return PersonVerdict(trainee_id=trainee_id, verdict="ok", message="报名成功", enrollment_id=str(doc["_id"]))

    async def enroll(
        self, trainee: dict[str, Any], session_id: str, *, by: Principal, address_id: str | None, ip: str | None
    ) -> dict[str, Any]:
        """Enroll ``trainee`` (an account document) in the session; the new enrollment document (as stored)."""
        session = await self.catalog.get_session(session_id)
        self._check_may_enroll(trainee, session)
        # Eligibility before inputs: an enrolled person is told so, not asked for an address.
        # (A courtesy read only: the unique index in ``_claim_course`` remains the guard.)
        if await self.enrollments.find_one(
                {"trainee_id": trainee["_id"], "course_id": session["course_id"], "active": True}, {"_id": 1}):
            raise _already_enrolled()
        address = await self._address(session, by, address_id)
        return await self._enroll(trainee, session, by=by, address=address, ip=ip)

    def _check_may_enroll(self, trainee: dict[str, Any], session: dict[str, Any]) -> None:
        check_enrollment_open(session, self.now().astimezone(SHANGHAI).date())
        if not (trainee.get("trainee") or {}).get("photo", {}).get("file_id"):
            raise errors.conflict("no_photo", "报名前请先上传证件照")

    async def _enroll(
        self, trainee: dict[str, Any], session: dict[str, Any], *, by: Principal, address: dict[str, Any] | None,
        ip: str | None,
    ) -> dict[str, Any]:
        """Claim the course and take a seat (the held one when the trainee has an offer)."""
        doc = self._new_enrollment(trainee, session, by=by, address=address)
        await self._claim_course(doc)
        # Only a session with seats on hold can have an offer for this trainee.
        offer = await self.waitlist.claim_offer(session["_id"], trainee["_id"]) if session.get("held_for") else None
        if offer:
            taken = await self.take_held_seat(session["_id"], doc["_id"], held_for=offer["_id"])
        else:
            taken = await self._take_seat(session["_id"], doc["_id"])
        if not taken:
            if offer:
                await self.waitlist.restore_offer(offer)
            await self.enrollments.delete_one({"_id": doc["_id"], "status": RESERVING})
            raise await self._why_no_seat(session["_id"])
        doc = await self.enrollments.find_one_and_update(
            {"_id": doc["_id"], "status": RESERVING},
            {"$set": {"status": str(EnrollmentStatus.pending_payment), "updated_at": self.now()}},
            return_document=ReturnDocument.AFTER,
        )
        await self.audit.record(
            "enrollment.create", actor_id=by.account_id, actor_role=by.role,
            subject=f"{trainee['trainee'].get('id_masked', '')} → {session['code']}", subject_id=doc["_id"], ip=ip,
        )
        # Enrolled in the course: their places in its waitlists (any session) are no longer needed.
        await self.waitlist.leave_course(trainee["_id"], session["course_id"])
        return doc

    async def _address(self, session: dict[str, Any], by: Principal, address_id: str | None) -> dict[str, Any] | None:
        """The shipping address (the enroller's; phone encrypted) copied into the enrollment when books are mailed."""
        if not session.get("mails_books"):
            return None
        address = await self.templates.address_copy(by.account_id, address_id)
        if address is None and address_id:
            raise errors.not_found("收货地址不存在", "address_not_found")
        if address is None:
            raise errors.conflict("address_required", "本次培训需要邮寄培训书籍，请先填写物流信息")
        return address

    def _new_enrollment(
        self, trainee: dict[str, Any], session: dict[str, Any], *, by: Principal, address: dict[str, Any] | None
    ) -> dict[str, Any]:
        now = self.now()
        starts = datetime.combine(_date(session["start_date"]), time(0), SHANGHAI).astimezone(UTC)
        return {
            "_id": ObjectId(),
            "session_id": session["_id"],
            "course_id": session["course_id"],
            "trainee_id": trainee["_id"],
            "unit_id": by.account_id if by.role == "unit" else None,
            "created_by": {"account_id": by.account_id, "role": by.role},
            "status": RESERVING,
            "active": True,
            "fee_fen": session["fee_fen"],
            "address": address,
            # Unpaid enrollments lapse after the payment term, never later than the start.
            "pay_by": min(now + self.payment_term, starts),
            "created_at": now,
            "updated_at": now,
        }

    async def _claim_course(self, doc: dict[str, Any]) -> None:
        """Insert the enrollment: the unique index refuses a second active one for the course."""
        if not self.unique_guard:  # test seam: check-then-insert, the race the index prevents
            existing = await self.enrollments.find_one(
                {"trainee_id": doc["trainee_id"], "course_id": doc["course_id"], "active_unguarded": True})
            if existing:
                raise _already_enrolled()
            await self.enrollments.insert_one({**{k: v for k, v in doc.items() if k != "active"},
                                               "active_unguarded": True})
            return
        try:
            await self.enrollments.insert_one(doc)
        except DuplicateKeyError:
            raise _already_enrolled() from None

    async def _take_seat(self, session_id: ObjectId, enrollment_id: ObjectId) -> bool:
        """One seat for the enrollment, if one is free (seats on hold for the waitlist are not)."""
        if not self.seat_guard:  # test seam: read, compare, then increment — it overbooks
            session = await self.sessions.find_one({"_id": session_id})
            if session is None or seats_left(session) == 0:
                return False
            await self.sessions.update_one(
                {"_id": session_id}, {"$inc": {"seats_taken": 1}, "$push": {"holders": enrollment_id}})
            return True
        # Seats owed to the people in line are not free (test seam: without them, a newcomer may
        # take a seat freed for the waitlist before it is held).
        owed = [HELD_SEATS, WAITING] if self.waitlist_guard else [HELD_SEATS]
        result = await self.sessions.update_one(
            {
                "_id": session_id,
                "status": "published",
                "holders": {"$ne": enrollment_id},
                "$expr": {"$lt": [{"$add": ["$seats_taken", *owed]}, "$capacity"]},
            },
            {"$inc": {"seats_taken": 1}, "$push": {"holders": enrollment_id}},
        )
        return result.modified_count == 1

    async def take_held_seat(self, session_id: ObjectId, enrollment_id: ObjectId, *, held_for: ObjectId) -> bool:
        """Turn the seat held for a waitlist entry into the enrollment's seat."""
        result = await self.sessions.update_one(
            {"_id": session_id, "held_for": held_for, "holders": {"$ne": enrollment_id}},
            {"$inc": {"seats_taken": 1}, "$pull": {"held_for": held_for}, "$push": {"holders": enrollment_id}},
        )
        return result.modified_count == 1

    async def _why_no_seat(self, session_id: ObjectId) -> errors.AppError:
        session = await self.sessions.find_one({"_id": session_id}) or {}
        if session.get("status") != "published":
            return errors.conflict("session_not_open", "该班次未开放报名")
        return errors.conflict(
            "session_full", "该班次报名人数已满，可加入候补名单", {"waitlist": True}
        )

    async def release_seat(self, enrollment: dict[str, Any]) -> bool:
        """Give the enrollment's seat back, exactly once; then offer it to the waitlist."""
        only_if_held = {"holders": enrollment["_id"]} if self.status_guard else {}  # test seam
        result = await self.sessions.update_one(
            {"_id": enrollment["session_id"], **only_if_held},
            {"$inc": {"seats_taken": -1}, "$pull": {"holders": enrollment["_id"]}},
        )
        freed = result.modified_count == 1
        if freed:
            await self.waitlist.offer_next(enrollment["session_id"])
        return freed

    # ---- leaving ------------------------------------------------------------------

    async def cancel(self, principal: Principal, enrollment_id: str, *, ip: str | None) -> dict[str, Any]:
        """Cancel before the payment is approved; the seat is freed once, even when raced."""
        enrollment = await self._find_visible(principal, enrollment_id)
        done = await self._transition({"_id": enrollment["_id"]}, CANCELLABLE, EnrollmentStatus.cancelled,
                                      stamp="cancelled_at", leaves=True)
        if done is None:
            raise errors.conflict("not_cancellable", "该报名当前状态不能取消")
        await self.release_seat(done)
        await self.audit.record("enrollment.cancel", actor_id=principal.account_id, actor_role=principal.role,
                                subject_id=done["_id"], ip=ip)
        return self.shown(done)

    async def expire_unpaid(self) -> int:
        """Expire unpaid enrollments past their term and free their seats (safe in many processes)."""
        count = 0
        while True:
            expired = await self._transition(
                {"pay_by": {"$lte": self.now()}}, (str(EnrollmentStatus.pending_payment),),
                EnrollmentStatus.expired, stamp="expired_at", leaves=True)
            if expired is None:
                return count
            count += 1
            await self.release_seat(expired)
            await self.audit.record("enrollment.expire", actor_id=None, subject_id=expired["_id"])

    async def mark_payment_submitted(self, enrollment_ids: list[ObjectId]) -> list[ObjectId]:
        """Move unpaid enrollments to 待审核 (the payment area calls this); those it moved."""
        moved = []
        for enrollment_id in enrollment_ids:
            done = await self._transition(
                {"_id": enrollment_id}, PAYABLE, EnrollmentStatus.payment_submitted, leaves=False)
            if done is not None:
                moved.append(enrollment_id)
        return moved

    async def _transition(
        self, query: dict[str, Any], allowed: tuple[str, ...], to: EnrollmentStatus, *,
        stamp: str | None = None, leaves: bool,
    ) -> dict[str, Any] | None:
        """Move one enrollment matching ``query`` from an ``allowed`` status to ``to`` in one step.

        The status in the filter is the guard: of two racing transitions (a double cancel,
        an expiry against a payment) exactly one finds the enrollment. ``leaves``: the
        enrollment stops counting for the one-per-course rule.
        """
        now = self.now()
        changes: dict[str, Any] = {"$set": {"status": str(to), "updated_at": now, **({stamp: now} if stamp else {})}}
        if leaves:
            changes["$unset"] = {"active": ""}
        guarded = {**query, "status": {"$in": list(allowed)}}
        if not self.status_guard:  # test seam: read, check, then write — racing callers both pass
            found = await self.enrollments.find_one(guarded)
            if found is None:
                return None
            guarded = {"_id": found["_id"]}
        return await self.enrollments.find_one_and_update(guarded, changes, return_document=ReturnDocument.AFTER)

    async def repair(self) -> int:
        """Resolve reservations left by a crash: keep those holding a seat, drop the others."""
        fixed = 0
        stale = {"status": RESERVING, "created_at": {"$lt": self.now() - STALE_RESERVATION}}
        async for doc in self.enrollments.find(stale):
            holds_seat = await self.sessions.count_documents({"_id": doc["session_id"], "holders": doc["_id"]})
            if holds_seat:
                await self.enrollments.update_one(
                    {"_id": doc["_id"], "status": RESERVING},
                    {"$set": {"status": str(EnrollmentStatus.pending_payment)}})
            else:
                await self.enrollments.delete_one({"_id": doc["_id"], "status": RESERVING})
            fixed += 1
        return fixed

    # ---- reading ------------------------------------------------------------------

    async def join_waitlist(self, principal: Principal, session_id: str, trainee_id: str | None) -> dict[str, Any]:
        """Join a full session's waitlist, for oneself or (a unit) for one of its staff."""
        session = await self.catalog.get_session(session_id)
        if principal.role == "unit":
            staff = await self.accounts.find_one({"_id": parse_object_id(trainee_id or "", "人员不存在"),
                                                  "role": "trainee", "trainee.unit_id": principal.account_id})
            if staff is None:
                raise errors.not_found("该人员不是本单位人员")
            return await self.waitlist.join(session, staff["_id"], by=principal)
        return await self.waitlist.join(session, principal.account_id, by=principal)

    async def get_visible(self, principal: Principal, enrollment_id: str) -> dict[str, Any]:
        """An enrollment the caller may see (their own, their unit's, any for staff; else 404), shown to them."""
        return self.shown(await self._find_visible(principal, enrollment_id))

    async def _find_visible(self, principal: Principal, enrollment_id: str) -> dict[str, Any]:
        oid = parse_object_id(enrollment_id, "报名记录不存在")
        query: dict[str, Any] = {"_id": oid, "status": {"$ne": RESERVING}}
        if principal.role == "trainee":
            query["trainee_id"] = principal.account_id
        elif principal.role == "unit":
            query["unit_id"] = principal.account_id
        doc = await self.enrollments.find_one(query)
        if doc is None:
            raise errors.not_found("报名记录不存在")
        return doc

    async def list_for(self, principal: Principal, *, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """The trainee's own enrollments, or those the unit made; newest first."""
        key = "trainee_id" if principal.role == "trainee" else "unit_id"
        query = {key: principal.account_id, "status": {"$ne": RESERVING}}
        total = await self.enrollments.count_documents(query)
        docs = await self.enrollments.find(query).sort("created_at", -1).skip(skip).limit(limit).to_list()
        return [self.shown(d) for d in docs], total

    def shown(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The enrollment as its readers see it (the trainee, the enroller, association staff — all
        entitled to the shipping details): the address copy's phone decrypted."""
        if doc.get("address") is None:
            return doc
        return {**doc, "address": self.templates.shown_address(doc["address"])}


def _already_enrolled() -> errors.AppError:
    return errors.conflict("already_enrolled", "该学员已报名此课程（同一课程只能报名一次，无论单位报名还是个人报名）")


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
