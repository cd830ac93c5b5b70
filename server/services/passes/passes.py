"""Passes (听课证): one valid pass per approved enrollment, issued lazily, revoked with its enrollment.

A pass document: ``{serial (20 hex), enrollment_id, session_id, session_number, trainee_id,
unit_id, kid, token, valid_from, valid_to, status: valid|revoked, revoked_at, reason, issued_at}``.
The unique partial index ``one_valid_per_enrollment`` makes "one valid pass" hold when two first
requests race: the loser reads the winner's pass. A re-issue revokes the old serial and inserts a
new one in one transaction; revocations are what the scanners' bundle lists.

Enrollments are read here, never written (the enrollment package owns them).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server import errors
from server.models.enrollments import EnrollmentStatus
from server.services import Principal
from server.services.accounts.identity import SHANGHAI
from server.services.audit import AuditLog
from server.services.catalog.seats import in_transaction
from server.services.ids import parse_object_id
from server.services.passes.keys import PassKeyring
from server.services.passes.numbers import SessionNumbers
from server.services.passes.tokens import PassPayload, sign

APPROVED = str(EnrollmentStatus.approved)
FINISHED = frozenset(str(s) for s in (EnrollmentStatus.completed, EnrollmentStatus.completed_passed,
                                      EnrollmentStatus.completed_failed, EnrollmentStatus.absent))


def training_window(session: dict[str, Any]) -> tuple[datetime, datetime]:
    """The pass's validity: from the first training day 00:00 to the day after the last, Beijing time (UTC)."""
    start = datetime.combine(_date(session["start_date"]), time(0), SHANGHAI)
    end = datetime.combine(_date(session["end_date"]) + timedelta(days=1), time(0), SHANGHAI)
    return start.astimezone(UTC), end.astimezone(UTC)


def training_days(session: dict[str, Any]) -> int:
    """How many training days the session has (its first to its last day, both counted)."""
    return (_date(session["end_date"]) - _date(session["start_date"])).days + 1


class PassService:
    """Issue, re-issue and revoke passes; read them for the people entitled to them."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], *, keyring: PassKeyring, numbers: SessionNumbers,
                 audit: AuditLog, now: Callable[[], datetime] | None = None) -> None:
        self.db = db
        self.passes = db["passes"]
        self.enrollments = db["enrollments"]  # read only
        self.sessions = db["sessions"]  # read only
        self.keyring = keyring
        self.numbers = numbers
        self.audit = audit
        self.now = now or (lambda: datetime.now(UTC))

    async def enrollment_for(self, principal: Principal, enrollment_id: str) -> dict[str, Any]:
        """The enrollment if the caller may see its pass (the trainee, the unit that enrolled, staff); else 404."""
        query: dict[str, Any] = {"_id": parse_object_id(enrollment_id, "报名记录不存在")}
        if principal.role == "trainee":
            query["trainee_id"] = principal.account_id
        elif principal.role == "unit":
            query["unit_id"] = principal.account_id
        elif principal.role not in ("admin", "reviewer"):
            raise errors.not_found("报名记录不存在")
        enrollment = await self.enrollments.find_one(query)
        if enrollment is None:
            raise errors.not_found("报名记录不存在")
        return enrollment

    async def pass_for(self, principal: Principal, enrollment_id: str) -> dict[str, Any]:
        """The valid pass of an approved enrollment the caller may see, issued on the first request."""
        enrollment = await self.enrollment_for(principal, enrollment_id)
        return await self.ensure(enrollment)

    async def ensure(self, enrollment: dict[str, Any]) -> dict[str, Any]:
        """The enrollment's valid pass, issued now if it has none (409 unless approved). Once the course
        is over (results published), the pass it had stays readable as a record; none is issued then,
        and the door refuses it (check-in needs the enrollment approved)."""
        existing = await self.passes.find_one({"enrollment_id": enrollment["_id"], "status": "valid"})
        if enrollment["status"] != APPROVED:
            if existing is not None and enrollment["status"] in FINISHED:
                return existing
            raise errors.conflict("not_approved", "报名审核通过后才能领取听课证")
        if existing is not None:
            return existing
        doc = await self._new_pass(enrollment)
        try:
            await self.passes.insert_one(doc)
        except DuplicateKeyError:  # a concurrent first request issued it: theirs is the pass
            winner = await self.passes.find_one({"enrollment_id": enrollment["_id"], "status": "valid"})
            if winner is None:
                raise errors.conflict("pass_busy", "听课证正在更新，请稍后再试") from None
            return winner
        await self.keyring.note_signed(doc["kid"], doc["valid_to"])
        await self.audit.record("pass.issue", actor_id=None, subject=doc["serial"], subject_id=enrollment["_id"])
        return doc

    async def reissue(self, principal: Principal, enrollment_id: str, *, ip: str | None) -> dict[str, Any]:
        """A new pass (new serial) for the enrollment; the old serial is revoked in the same transaction."""
        enrollment = await self.enrollment_for(principal, enrollment_id)
        if enrollment["status"] != APPROVED:
            raise errors.conflict("not_approved", "报名审核通过后才能领取听课证")
        doc = await self._new_pass(enrollment)

        async def work(s: AsyncClientSession) -> None:
            await self.revoke_for_enrollment(enrollment["_id"], reason="reissued", session=s)
            await self.passes.insert_one(doc, session=s)

        await in_transaction(self.db, work)
        await self.keyring.note_signed(doc["kid"], doc["valid_to"])
        await self.audit.record("pass.reissue", actor_id=principal.account_id, actor_role=principal.role,
                                subject=doc["serial"], subject_id=enrollment["_id"], ip=ip)
        return doc

    async def revoke_for_enrollment(self, enrollment_id: ObjectId, *, reason: str,
                                    session: AsyncClientSession | None = None) -> int:
        """Revoke the enrollment's valid pass (cancelled, refunded, re-issued); how many were revoked."""
        result = await self.passes.update_many(
            {"enrollment_id": enrollment_id, "status": "valid"},
            {"$set": {"status": "revoked", "revoked_at": self.now(), "reason": reason}}, session=session)
        return result.modified_count

    async def _new_pass(self, enrollment: dict[str, Any]) -> dict[str, Any]:
        session = await self.sessions.find_one({"_id": enrollment["session_id"]})
        if session is None:
            raise errors.not_found("班次不存在")
        valid_from, valid_to = training_window(session)
        kid, key = await self.keyring.signing_key()
        number = await self.numbers.number_of(session["_id"])
        payload = PassPayload(kid=kid, serial=os.urandom(10), session_number=number,
                              valid_from=int(valid_from.timestamp()), valid_to=int(valid_to.timestamp()))
        return {
            "_id": ObjectId(), "serial": payload.serial_hex, "enrollment_id": enrollment["_id"],
            "session_id": session["_id"], "session_number": number, "trainee_id": enrollment["trainee_id"],
            "unit_id": enrollment.get("unit_id"), "kid": kid, "token": sign(payload, key),
            "valid_from": valid_from, "valid_to": valid_to, "status": "valid", "revoked_at": None,
            "reason": None, "issued_at": self.now(),
        }

    # ---- for check-in and the scanners' bundle ----------------------------------------------

    async def by_serial(self, serial: str) -> dict[str, Any] | None:
        """The pass with this serial (any status), or None."""
        return await self.passes.find_one({"serial": serial})

    async def revoked_in(self, session_id: ObjectId, *, since: datetime | None = None) -> list[dict[str, Any]]:
        """The revoked passes of a session (since a time, for a delta)."""
        query: dict[str, Any] = {"session_id": session_id, "status": "revoked"}
        if since is not None:
            query["revoked_at"] = {"$gt": since}
        return await self.passes.find(query, {"serial": 1, "revoked_at": 1}).to_list()

    async def valid_in(self, session_id: ObjectId) -> list[dict[str, Any]]:
        """The valid passes of a session."""
        return await self.passes.find({"session_id": session_id, "status": "valid"}).to_list()

    async def of_trainee(self, trainee_id: ObjectId) -> list[dict[str, Any]]:
        """The trainee's passes, as stored (the data export)."""
        return await self.passes.find({"trainee_id": trainee_id}, {"token": 0}).to_list()

    async def revoke_all_of(self, trainee_id: ObjectId, *, session: AsyncClientSession | None = None) -> None:
        """Revoke every valid pass of a deleted person."""
        await self.passes.update_many(
            {"trainee_id": trainee_id, "status": "valid"},
            {"$set": {"status": "revoked", "revoked_at": self.now(), "reason": "account_deleted"}}, session=session)


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
