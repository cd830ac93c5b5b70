"""Enrollment: a trainee in a session, made by the trainee or by their unit.

The guards, each in the database so they hold under concurrent requests and
across processes:

- **One active enrollment per trainee per course, whoever enrolls**: a unique
  index on ``(trainee_id, course_id)`` over documents with ``active: true``;
  cancelling, expiring or finishing the course unsets ``active``, so a new enrollment is possible.
- **Every status change is a transition of** :mod:`server.services.enrollment.lifecycle` (the
  table of states and moves), applied by ``_transition`` with the lifecycle's guard in the filter.
- **No overbooking**: the seat ledger (:mod:`server.services.catalog.seats`) takes a seat by one
  guarded update of the session, ``seats_taken + seats held for the waitlist + people waiting <
  capacity`` in the filter, which also pushes the enrollment id into ``holders``; releasing pulls
  it out under the filter ``holders: id``: a seat is freed once, even when a cancel is raced.
- **The waitlist first**: the same filter counts the people in line, so a seat owed to them is
  never taken by a newcomer.
- **Status and seat move together**: cancel and expiry change the status, release the seat and
  hand it to the first in line in one transaction; enrolling on a waitlist offer claims the offer,
  takes its held seat and inserts the enrollment in one transaction.
- **The hot path is two writes, no transaction**: a newcomer takes a free seat first, then the
  enrollment is inserted as ``pending_payment`` (the unique index refusing a duplicate, whose seat
  goes straight back). One transaction per enrollment would make every enrollment of a rush
  conflict on the session document and retry (measured: 200 at once for 30 seats, 7 s instead
  of 0.5 s). A crash between the two writes leaves a seat whose holder does not exist — invisible
  to everyone, and never an overbooking; reconciliation gives it back once it is a few minutes old
  (the holder id is an ObjectId, so it tells its age).

- **The rush** (``enroll_self``, catalog/admission.py): a trainee's request waits its turn in the
  session's line (per process, first come first served, 16 at a time), then takes the seat with
  one guarded ``find_one_and_update`` that also returns the session (:meth:`SeatLedger.take_open`),
  so a success is: the account, the seat, the enrollment, then the audit entry and the waitlist
  check side by side. The requests of the same moment share each of these commands (group commit,
  services/batching.py): one read of their accounts, one seat update for all of them, one insert of
  their enrollments… each still answered with its own outcome. Once the session is known to be full
  (no seat held for an offer), everyone waiting is let go and refused after one shared read
  ("already in the course?"). Anything unusual (no photo, offers, books to mail, a closed window)
  takes the full path below, which explains the refusal.

The shipping address copied into an enrollment keeps the recipient's phone encrypted; its readers
(the trainee, the enroller, association staff) get it decrypted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
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
from server.services.accounts.identity import SHANGHAI
from server.services.accounts.repository import AccountRepository
from server.services.audit import AuditLog
from server.services.batching import ids_batcher, insert_batcher, matches_batcher
from server.services.catalog.catalog import CatalogService
from server.services.catalog.seats import SeatLedger, in_transaction, seats_left
from server.services.catalog.waitlist import Offer, WaitlistService
from server.services.catalog.window import check_enrollment_open
from server.services.enrollment import lifecycle
from server.services.enrollment.lifecycle import Transition
from server.services.enrollment.templates import TemplateService
from server.services.ids import parse_object_id

log = logging.getLogger(__name__)



class PassRevoker(Protocol):
    """The passes area, as enrollments see it: revoke the pass of an enrollment that leaves."""

    async def revoke_for_enrollment(self, enrollment_id: ObjectId, *, reason: str,
                                    session: AsyncClientSession | None = None) -> int: ...


class _HoldMissing(Exception):  # noqa: N818 — an abort signal inside a transaction, not an error
    """A live offer whose held seat is not in the ledger: undo the claim, enroll as a newcomer."""


class EnrollmentService:
    """Enroll, cancel, expire; seats through the ledger, status and seat in one transaction."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        catalog: CatalogService,
        templates: TemplateService,
        waitlist: WaitlistService,
        seats: SeatLedger,
        audit: AuditLog,
        payment_term: timedelta,
        now: Callable[[], datetime] | None = None,
        passes: PassRevoker | None = None,
    ) -> None:
        self.db = db
        self.passes = passes  # a leaving enrollment's pass is revoked in the same transaction
        self.enrollments = db["enrollments"]
        self.sessions = db["sessions"]
        self.accounts = AccountRepository(db)
        # The rush's reads and writes of the same moment share one command (services/batching.py).
        self._in_course = matches_batcher(self.enrollments, by="trainee_id", within="course_id",
                                          where={"active": True}, projection={"_id": 1},
                                          name="active enrollments in a course")
        self._insert = insert_batcher(self.enrollments, name="new enrollments")
        self._session_now = ids_batcher(self.sessions, name="sessions by id")
        self.catalog = catalog
        self.templates = templates
        self.waitlist = waitlist
        self.seats = seats
        self.audit = audit
        self.payment_term = payment_term
        self.now = now or (lambda: datetime.now(UTC))

    # ---- enrolling ----------------------------------------------------------------

    async def enroll_self(self, principal: Principal, body: EnrollmentCreate, *, ip: str | None) -> dict[str, Any]:
        """A trainee enrolls themselves.

        The rush path (catalog/admission.py): a session known to be full answers after one read;
        the others wait their turn in the session's line, then try the one-step seat
        (:meth:`SeatLedger.take_open`) and fall back to the full path, which explains a refusal.
        """
        session_id = parse_object_id(body.session_id, "班次不存在", "session_not_found")
        admission = self.seats.admission
        await self._refuse_if_sold_out(principal.account_id, session_id)
        async with admission.turn(session_id):
            await self._refuse_if_sold_out(principal.account_id, session_id)  # it may have sold out meanwhile
            trainee = await self.accounts.by_id(principal.account_id)
            if trainee is None or trainee["role"] != "trainee":
                raise errors.not_found("账号不存在")
            doc = await self._enroll_at_once(trainee, session_id, by=principal, ip=ip)
            if doc is None:
                doc = await self.enroll(trainee, body.session_id, by=principal, address_id=body.address_id, ip=ip)
        return self.shown(doc)

    async def _refuse_if_sold_out(self, trainee_id: ObjectId, session_id: ObjectId) -> None:
        """The sold-out hint's refusal: one read (already enrolled in the course, the more useful answer)."""
        course_id = self.seats.admission.sold_out(session_id, self.catalog.generation)
        if course_id is None:
            return
        if await self._in_course((trainee_id, course_id)):
            raise _already_enrolled()
        raise _session_full()

    async def _enroll_at_once(
        self, trainee: dict[str, Any], session_id: ObjectId, *, by: Principal, ip: str | None
    ) -> dict[str, Any] | None:
        """The seat in one guarded step, then the enrollment; None (nothing written) when that step
        does not apply: no photo, a session not open, full, holding seats for offers, mailing books."""
        if not (trainee.get("trainee") or {}).get("photo", {}).get("file_id"):
            return None
        holder = ObjectId()
        today = self.now().astimezone(SHANGHAI).date()
        session = await self.seats.take_open(session_id, holder, today)
        if session is None:
            await self._refuse_if_plainly_full(trainee["_id"], session_id, today)
            return None
        doc = {**self._new_enrollment(trainee, session, by=by, address=None), "_id": holder}
        try:
            await self._insert(doc)
        except DuplicateKeyError:
            await self._give_back(doc)
            raise _already_enrolled() from None
        await asyncio.gather(
            self.audit.record("enrollment.create", actor_id=by.account_id, actor_role=by.role,
                              subject=f"trainee:{trainee['_id']} → {session['code']}", subject_id=holder, ip=ip),
            self.waitlist.leave_course(trainee["_id"], session["course_id"]),
        )
        return doc

    async def _refuse_if_plainly_full(self, trainee_id: ObjectId, session_id: ObjectId, today: date) -> None:
        """After the one-step seat failed: when the session (read now; the reads of everyone refused at
        the same moment are one query) is open and simply full, with no seat held for an offer, mark it
        sold out and refuse. Anything else returns, for the full path to explain."""
        session = await self._session_now(session_id)
        if session is None or session.get("held_for") or session.get("mails_books") or seats_left(session) > 0:
            return
        try:
            check_enrollment_open(session, today)
        except errors.AppError:
            return
        self.seats.admission.mark_sold_out(session_id, session["course_id"], self.catalog.generation)
        await self._refuse_if_sold_out(trainee_id, session_id)

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
        try:
            address = await self._address(session, by, address_id)
        except errors.AppError:
            # Eligibility before inputs: an enrolled person is told so, not asked for an address. (A
            # read only on this refusal path, off the hot path: the unique index remains the guard.)
            if await self.enrollments.find_one(
                    {"trainee_id": trainee["_id"], "course_id": session["course_id"], "active": True}, {"_id": 1}):
                raise _already_enrolled() from None
            raise
        return await self._enroll(trainee, session, by=by, address=address, ip=ip)

    def _check_may_enroll(self, trainee: dict[str, Any], session: dict[str, Any]) -> None:
        check_enrollment_open(session, self.now().astimezone(SHANGHAI).date())
        if not (trainee.get("trainee") or {}).get("photo", {}).get("file_id"):
            raise errors.conflict("no_photo", "报名前请先上传证件照")

    async def _enroll(
        self, trainee: dict[str, Any], session: dict[str, Any], *, by: Principal, address: dict[str, Any] | None,
        ip: str | None,
    ) -> dict[str, Any]:
        """Take a seat (the held one when the trainee has a live offer) and insert the enrollment."""
        doc = self._new_enrollment(trainee, session, by=by, address=address)
        # Only a session with seats on hold can have an offer for this trainee.
        if not (session.get("held_for") and await self._enroll_on_offer(doc)):
            await self._enroll_in_free_seat(doc)
        await self.audit.record(
            "enrollment.create", actor_id=by.account_id, actor_role=by.role,
            subject=f"trainee:{trainee['_id']} → {session['code']}", subject_id=doc["_id"], ip=ip,
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
            "status": str(EnrollmentStatus.pending_payment),
            "active": True,
            "fee_fen": session["fee_fen"],
            "address": address,
            # Unpaid enrollments lapse after the payment term, never later than the start.
            "pay_by": min(now + self.payment_term, starts),
            "created_at": now,
            "updated_at": now,
        }

    async def _enroll_in_free_seat(self, doc: dict[str, Any]) -> None:
        """The hot path: the seat first, then the enrollment (see the module notes); two writes."""
        if not await self.seats.take(doc["session_id"], doc["_id"]):
            raise await self._why_no_seat(doc)
        try:
            await self.enrollments.insert_one(doc)
        except DuplicateKeyError:
            await self._give_back(doc)
            raise _already_enrolled() from None

    async def _give_back(self, doc: dict[str, Any]) -> None:
        """The unique index refused a second active enrollment in the course: the seat goes back
        (to the first in line if someone joined meanwhile)."""
        freed = await self.seats.release(doc["session_id"], doc["_id"])
        if freed is not None and freed.get("waiting"):
            await self.waitlist.offer_next(doc["session_id"])

    async def _enroll_on_offer(self, doc: dict[str, Any]) -> bool:
        """Claim the trainee's live offer, take its held seat, insert the enrollment: one transaction.

        False (nothing written) when the trainee has no live offer. A duplicate (already enrolled in
        the course) undoes the claim with the rest: the offer stays theirs until it lapses.
        """
        async def work(s: AsyncClientSession) -> bool:
            offer = await self.waitlist.claim_offer(doc["session_id"], doc["trainee_id"], s=s)
            if offer is None:
                return False
            if not await self.seats.take_held(doc["session_id"], doc["_id"], offer["_id"], s=s):
                raise _HoldMissing
            await self.enrollments.insert_one(doc, session=s)
            return True

        try:
            return await in_transaction(self.db, work)
        except DuplicateKeyError:
            raise _already_enrolled() from None
        except _HoldMissing:
            log.warning("offer of trainee %s in session %s had no held seat; enrolling as a newcomer",
                        doc["trainee_id"], doc["session_id"])
            return False

    async def _why_no_seat(self, doc: dict[str, Any]) -> errors.AppError:
        """The refusal of an enrollment that got no seat (read after the guarded update, for the message)."""
        if await self.enrollments.count_documents(
                {"trainee_id": doc["trainee_id"], "course_id": doc["course_id"], "active": True}, limit=1):
            return _already_enrolled()  # the more useful answer than "full" to someone already in
        session = await self.sessions.find_one({"_id": doc["session_id"]}) or {}
        if session.get("status") != "published":
            return errors.conflict("session_not_open", "该班次未开放报名")
        if not session.get("held_for"):  # no offer can be waiting for a seat: newcomers hear "full" fast
            self.seats.admission.mark_sold_out(doc["session_id"], doc["course_id"], self.catalog.generation)
        return _session_full()

    # ---- leaving ------------------------------------------------------------------

    async def cancel(self, principal: Principal, enrollment_id: str, *, ip: str | None) -> dict[str, Any]:
        """Cancel an unpaid enrollment (see :mod:`lifecycle`); status, seat and hand-off in one transaction."""
        enrollment = await self._find_visible(principal, enrollment_id)
        done, offers = await in_transaction(self.db, lambda s: self._leave(
            {"_id": enrollment["_id"]}, lifecycle.CANCEL, s))
        if done is None:
            if enrollment["status"] == str(EnrollmentStatus.payment_submitted):
                raise errors.conflict("under_review", "该报名的缴费正在审核中，不能取消；如需退费请联系协会")
            raise errors.conflict("not_cancellable", "该报名当前状态不能取消")
        await self.waitlist.announce(offers)
        await self.audit.record("enrollment.cancel", actor_id=principal.account_id, actor_role=principal.role,
                                subject_id=done["_id"], ip=ip)
        return self.shown(done)

    async def expire_unpaid(self) -> int:
        """Expire unpaid (and rejected) enrollments past their ``pay_by`` and free their seats (safe in many
        processes)."""
        count = 0
        while True:
            expired, offers = await in_transaction(self.db, lambda s: self._leave(
                {"pay_by": {"$lte": self.now()}}, lifecycle.EXPIRE, s))
            if expired is None:
                return count
            count += 1
            await self.waitlist.announce(offers)
            await self.audit.record("enrollment.expire", actor_id=None, subject_id=expired["_id"])

    async def _leave(
        self, query: dict[str, Any], transition: Transition, s: AsyncClientSession,
    ) -> tuple[dict[str, Any] | None, list[Offer]]:
        """Inside a transaction: the enrollment leaves (``transition``), its seat goes back and on to the first in line."""
        assert transition.releases_seat
        done = await self._transition(query, transition, s=s)
        if done is None:
            return None, []
        if self.passes is not None:
            await self.passes.revoke_for_enrollment(done["_id"], reason=str(transition.target), session=s)
        session = await self.seats.release(done["session_id"], done["_id"], s=s)
        if session is None or not session.get("waiting"):
            return done, []
        return done, await self.waitlist.hand_off(done["session_id"], s=s)

    # ---- payment (the payments area calls these inside its own transaction) -----------------

    async def mark_payment_submitted(
        self, enrollment_ids: list[ObjectId], payment_id: ObjectId | None = None, *, s: AsyncClientSession | None = None,
    ) -> list[ObjectId]:
        """Move unpaid (or rejected) enrollments to 待审核 for ``payment_id``; those it moved."""
        moved = []
        for enrollment_id in enrollment_ids:
            extra = {"payment_id": payment_id} if payment_id is not None else {}
            done = await self._transition({"_id": enrollment_id}, lifecycle.SUBMIT_PAYMENT, s=s, extra=extra)
            if done is not None:
                moved.append(enrollment_id)
        return moved

    async def decide_payment(
        self, enrollment_ids: list[ObjectId], payment_id: ObjectId, *, approved: bool,
        reason: str | None = None, s: AsyncClientSession | None = None,
    ) -> list[dict[str, Any]]:
        """Approve or reject the enrollments under review for ``payment_id``; those moved (as after).

        A rejection records the reason and gives a new payment deadline (``now + payment term``).
        """
        transition = lifecycle.APPROVE_PAYMENT if approved else lifecycle.REJECT_PAYMENT
        extra: dict[str, Any] = {}
        if not approved:
            extra = {"pay_by": self.now() + self.payment_term, "rejection": {"reason": reason, "at": self.now()}}
        moved = []
        for enrollment_id in enrollment_ids:
            done = await self._transition({"_id": enrollment_id, "payment_id": payment_id}, transition, s=s,
                                          extra=extra)
            if done is not None:
                moved.append(done)
        return moved

    async def for_payment(
        self, enrollment_ids: list[ObjectId], *, s: AsyncClientSession | None = None,
    ) -> list[dict[str, Any]]:
        """The enrollments of these ids as stored (the payments area reads them to check and price)."""
        return await self.enrollments.find({"_id": {"$in": enrollment_ids}}, session=s).to_list()

    # ---- finishing a course -------------------------------------------------------------------

    async def finish(
        self, *, session_id: ObjectId | None = None, enrollment_ids: list[ObjectId] | None = None,
    ) -> int:
        """The course is finished for these enrollments (all approved ones of ``session_id``, or the given
        ones): ``approved → completed``, no longer active, so the trainee may take the course again.

        The hook of the exams area; :meth:`finish_ended_sessions` calls it for sessions that have ended.
        Returns how many enrollments were finished.
        """
        query: dict[str, Any] = {}
        if session_id is not None:
            query["session_id"] = session_id
        if enrollment_ids is not None:
            query["_id"] = {"$in": list(enrollment_ids)}
        if not query:
            raise ValueError("finish needs a session or enrollment ids")
        count = 0
        while (done := await self._transition(query, lifecycle.FINISH)) is not None:
            count += 1
            await self.audit.record("enrollment.finish", actor_id=None, subject_id=done["_id"])
        return count

    async def give_verdicts(
        self, verdicts: dict[ObjectId, str], *, s: AsyncClientSession | None = None,
    ) -> list[dict[str, Any]]:
        """Published results (issue 13): each enrollment takes its verdict (``passed`` / ``failed`` /
        ``absent``) as its status — ``publish_*`` from approved or completed, ``correct_*`` from another
        verdict (see :mod:`lifecycle`). The enrollments moved, as after; one already at its verdict is
        left alone. 409 ``enrollment_changed`` when one can take no verdict (inside a transaction ``s``,
        nothing is written).
        """
        moved = []
        for enrollment_id, verdict in verdicts.items():
            current = await self.enrollments.find_one({"_id": enrollment_id}, {"status": 1}, session=s)
            if current is None:
                raise errors.conflict("enrollment_changed", "报名记录不存在或已变更")
            if current["status"] == str(lifecycle.VERDICT_STATUS[verdict]):
                continue
            transition = lifecycle.verdict_transition(verdict, current["status"])
            done = None if transition is None else await self._transition({"_id": enrollment_id}, transition, s=s)
            if done is None:
                raise errors.conflict("enrollment_changed", "该报名当前状态不能登记成绩（须为缴费审核通过）")
            moved.append(done)
        return moved

    async def finish_ended_sessions(self) -> int:
        """Finish the approved enrollments of every session whose end date has passed (a periodic task)."""
        yesterday = (self.now().astimezone(SHANGHAI).date() - timedelta(days=1)).isoformat()
        ended = await self.sessions.distinct("_id", {"end_date": {"$lte": yesterday}})
        count = 0
        for session_id in await self.enrollments.distinct(
                "session_id", {"session_id": {"$in": ended}, "status": str(EnrollmentStatus.approved)}):
            count += await self.finish(session_id=session_id)
        return count

    async def _transition(
        self, query: dict[str, Any], transition: Transition, *, s: AsyncClientSession | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Move one enrollment matching ``query`` along ``transition`` in one step (the one writer of ``status``).

        The lifecycle's guard (the status is one of the transition's sources) is in the filter: of two
        racing transitions (a double cancel, an expiry against a payment, two reviewers) exactly one
        finds the enrollment. ``extra``: more fields set with the move.
        """
        now = self.now()
        stamp = {transition.stamp: now} if transition.stamp else {}
        changes: dict[str, Any] = {"$set": {"status": str(transition.target), "updated_at": now, **stamp,
                                            **(extra or {})}}
        if transition.leaves:
            changes["$unset"] = {"active": ""}
        guarded = {**query, **lifecycle.guard(transition)}
        return await self.enrollments.find_one_and_update(  # type: ignore[no-any-return]
            guarded, changes, return_document=ReturnDocument.AFTER, session=s)

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
        query: dict[str, Any] = {"_id": oid}
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
        query = {key: principal.account_id}
        total = await self.enrollments.count_documents(query)
        docs = await self.enrollments.find(query).sort("created_at", -1).skip(skip).limit(limit).to_list()
        return [self.shown(d) for d in docs], total

    # ---- for the rights of the person (services/privacy) ----------------------------------

    async def of_trainee(self, trainee_id: ObjectId) -> list[dict[str, Any]]:
        """Every enrollment of the trainee, oldest first, as stored (for the data export)."""
        return await self.enrollments.find({"trainee_id": trainee_id}).sort("created_at", 1).to_list()

    async def changed_since(self, trainee_id: ObjectId, since: datetime) -> bool:
        """Whether any enrollment of the trainee changed since ``since`` (activity, for the purge)."""
        return bool(await self.enrollments.count_documents(
            {"trainee_id": trainee_id, "updated_at": {"$gte": since}}, limit=1))

    async def forget_address(self, trainee_id: ObjectId, *, at: datetime, session: AsyncClientSession | None) -> None:
        """Remove the shipping address the trainee copied into their own enrollments (a unit's copy stays)."""
        await self.enrollments.update_many(
            {"trainee_id": trainee_id, "created_by.account_id": trainee_id, "address": {"$ne": None}},
            {"$set": {"address": None, "updated_at": at}}, session=session)

    # ---- for the seat reconciler (catalog/reconcile.py) -------------------------------------

    async def settle_reserving(self, enrollment_id: ObjectId, *, seated_as: str | None, s: AsyncClientSession) -> None:
        """An enrollment left ``reserving`` by the design before the seat ledger: ``seated_as`` it, or dropped (None)."""
        query = {"_id": enrollment_id, "status": "reserving"}
        if seated_as is not None:
            await self.enrollments.update_one(query, {"$set": {"status": seated_as}}, session=s)
        else:
            await self.enrollments.delete_one(query, session=s)

    def shown(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The enrollment as its readers see it (the trainee, the enroller, association staff — all
        entitled to the shipping details): the address copy's phone decrypted."""
        if doc.get("address") is None:
            return doc
        return {**doc, "address": self.templates.shown_address(doc["address"])}


def _session_full() -> errors.AppError:
    return errors.conflict("session_full", "该班次报名人数已满，可加入候补名单", {"waitlist": True})


def _already_enrolled() -> errors.AppError:
    return errors.conflict("already_enrolled", "该学员已报名此课程（同一课程只能报名一次，无论单位报名还是个人报名）")


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
