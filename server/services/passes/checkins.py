"""Check-in at the venue door: one scan → one verdict; at most one check-in per pass per training day.

The checks, in the order of the issue: signature and known key (``invalid``), time window ± the
allowed clock drift (``not_today``), the session the scanner selected (``wrong_session``), not
revoked and the enrollment still approved (``revoked``). Then one insert; the unique index
``one_per_pass_per_day`` on ``(pass_id, day)`` is the guard, so twenty concurrent scans of one pass
record one check-in and nineteen ``already_checked_in`` answers carrying the first scan's time and
device. A scan repeated with the same ``(scanner, client_id)`` is recorded once (unique index
``client_once``) and answered ``ok`` again while the pass is still good, so a scanner may resend
after a timeout; a client id reused for another pass is answered ``invalid``.

Offline scans arrive later as facts with their own time (:meth:`CheckinService.merge_batch`): the
same rules, judged at the scan's time; a second device's scan of a pass already checked in that day
is kept in ``checkin_conflicts`` for staff (never dropped, never counted twice).

Round trips (issue 18): a first scan is the pass, the enrollment, then the insert beside the name
(3 steps, 4 reads and writes); a repeat scan of a pass this process checked in is the pass, the
enrollment and the first check-in (3, no write). The token comes from the process's token cache.

Owns ``checkins`` and ``checkin_conflicts``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server.models.enrollments import EnrollmentStatus
from server.models.passes import RESULT_MESSAGES, BatchVerdict, CheckinBatchOut, CheckinCreate, CheckinOut, OfflineScan
from server.services import Principal
from server.services.accounts.identity import SHANGHAI
from server.services.ids import parse_object_id
from server.services.passes.keys import PassKeyring
from server.services.passes.numbers import SessionNumbers
from server.services.passes.passes import PassService
from server.services.passes.tokens import TokenInvalid, parse

APPROVED = str(EnrollmentStatus.approved)
_MAX_SEEN = 200_000


@dataclass(frozen=True)
class Verdict:
    """The judgement of a token before anything is written: the pass when it may check in."""

    result: str
    pass_doc: dict[str, Any] | None = None


class CheckinService:
    """Judge scans and record check-ins (online one by one, offline in batches)."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], *, keyring: PassKeyring, numbers: SessionNumbers,
                 passes: PassService, drift: timedelta, late_after: time,
                 now: Callable[[], datetime] | None = None) -> None:
        self.checkins = db["checkins"]
        self.conflicts = db["checkin_conflicts"]
        self.enrollments = db["enrollments"]  # read only
        self.accounts = db["accounts"]  # read only
        self.keyring = keyring
        self.numbers = numbers
        self.passes = passes
        self.drift = drift
        self.late_after = late_after
        self.now = now or (lambda: datetime.now(UTC))
        # (pass, day) this process recorded a check-in for: only chooses the path of a repeat scan
        # (read the first check-in instead of trying an insert), never its answer.
        self._seen: set[tuple[ObjectId, str]] = set()

    async def judge(self, token: str, session_id: ObjectId, at: datetime) -> Verdict:
        """The checks of one token at time ``at`` for the scanner's session, in the order of the rules."""
        try:
            payload = await self.keyring.verify(token)
        except TokenInvalid:
            return Verdict("invalid")
        moment = at.timestamp()
        slack = self.drift.total_seconds()
        if not payload.valid_from - slack <= moment < payload.valid_to + slack:
            return Verdict("not_today")
        if await self.numbers.known(session_id) != payload.session_number:
            return Verdict("wrong_session")
        pass_doc = await self.passes.by_serial(payload.serial_hex)
        if pass_doc is None:
            return Verdict("invalid")  # signed by us, yet unknown: a restored database; refuse
        if pass_doc["status"] != "valid":
            return Verdict("revoked", pass_doc)
        enrollment = await self.enrollments.find_one({"_id": pass_doc["enrollment_id"]}, {"status": 1})
        if enrollment is None or enrollment["status"] != APPROVED:
            return Verdict("revoked", pass_doc)
        return Verdict("ok", pass_doc)

    async def scan(self, scanner: Principal, body: CheckinCreate) -> CheckinOut:
        """Judge one scan now and record the check-in when it passes."""
        session_id = parse_object_id(body.session_id, "班次不存在")
        # No lookup of the client id first (the hot path): a resend is judged again and its insert
        # meets the ``client_once`` index, which leads to the check-in it recorded the first time.
        verdict = await self.judge(body.token, session_id, self.now())
        if verdict.result != "ok":
            return _answer(verdict.result, verdict.pass_doc)
        assert verdict.pass_doc is not None
        doc = self._checkin(verdict.pass_doc, scanner, body.client_id, body.device_id, self.now(), "online")
        seen = (doc["pass_id"], doc["day"])
        if seen in self._seen:  # a repeat scan (this process recorded the first): read it, write nothing
            first = await self.checkins.find_one({"pass_id": doc["pass_id"], "day": doc["day"]})
            if first is not None and first.get("client_id") != body.client_id:
                return _answer("already_checked_in", verdict.pass_doc, first)
        # The name is read beside the insert: a first scan (the door rush) answers one round trip sooner.
        first, name = await asyncio.gather(self._insert(doc), self._name(doc["trainee_id"]))
        if len(self._seen) >= _MAX_SEEN:
            self._seen.clear()
        self._seen.add(seen)
        if first is None or (first.get("client_id") == body.client_id and first["pass_id"] == doc["pass_id"]):
            return _ok_answer(first or doc, name)
        if first["pass_id"] != doc["pass_id"]:  # the client id was used for another pass: a scanner bug
            return _answer("invalid", None)
        return _answer("already_checked_in", verdict.pass_doc, first)

    async def merge_batch(self, scanner: Principal, scans: list[OfflineScan]) -> CheckinBatchOut:
        """Merge offline scans (facts with their time) idempotently; conflicts are recorded, not refused."""
        results: list[BatchVerdict] = []
        recorded = conflicts = 0
        for scan in scans:
            result, new, conflict = await self._merge_one(scanner, scan)
            recorded += new
            conflicts += conflict
            results.append(BatchVerdict(client_id=scan.client_id, result=result, conflict=conflict))  # type: ignore[arg-type]
        return CheckinBatchOut(results=results, recorded=recorded, conflicts=conflicts)

    async def _merge_one(self, scanner: Principal, scan: OfflineScan) -> tuple[str, bool, bool]:
        at = scan.scanned_at if scan.scanned_at.tzinfo else scan.scanned_at.replace(tzinfo=UTC)
        replay = await self.checkins.find_one({"scanner_id": scanner.account_id, "client_id": scan.client_id})
        if replay is not None:
            return ("ok" if _same_pass(replay, scan.token) else "invalid"), False, False
        session_id = parse_object_id(scan.session_id, "班次不存在")  # the model checked its form
        if at > self.now() + self.drift:  # a scan from the future: the device clock is wrong, not the pass
            return "invalid", False, False
        verdict = await self.judge(scan.token, session_id, at)
        if verdict.result != "ok":
            return verdict.result, False, False
        assert verdict.pass_doc is not None
        doc = self._checkin(verdict.pass_doc, scanner, scan.client_id, scan.device_id, at, "offline")
        first = await self._insert(doc)
        if first is None or (first.get("client_id") == scan.client_id and first["pass_id"] == doc["pass_id"]):
            return "ok", first is None, False
        if first["pass_id"] != doc["pass_id"]:
            return "invalid", False, False
        if first.get("device_id") == scan.device_id:
            return "already_checked_in", False, False  # the same device scanned twice: nothing to resolve
        await self._record_conflict(doc, first)
        return "already_checked_in", False, True

    def _checkin(self, pass_doc: dict[str, Any], scanner: Principal, client_id: str, device_id: str,
                 at: datetime, source: str) -> dict[str, Any]:
        return {
            "_id": ObjectId(), "pass_id": pass_doc["_id"], "serial": pass_doc["serial"],
            "enrollment_id": pass_doc["enrollment_id"], "session_id": pass_doc["session_id"],
            "trainee_id": pass_doc["trainee_id"], "day": at.astimezone(SHANGHAI).date().isoformat(), "at": at,
            "scanner_id": scanner.account_id, "client_id": client_id, "device_id": device_id, "source": source,
            "received_at": self.now(),
        }

    async def _insert(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        """Insert the check-in; None when it is the first of the day, else the check-in that was first."""
        try:
            await self.checkins.insert_one(doc)
            return None
        except DuplicateKeyError:
            pass
        first = await self.checkins.find_one({"pass_id": doc["pass_id"], "day": doc["day"]})
        if first is None:  # the duplicate was our client_id, recorded by a concurrent resend
            first = await self.checkins.find_one({"scanner_id": doc["scanner_id"], "client_id": doc["client_id"]})
        return first

    async def _record_conflict(self, doc: dict[str, Any], first: dict[str, Any]) -> None:
        conflict = {**doc, "_id": ObjectId(), "first_id": first["_id"], "first_device": first.get("device_id"),
                    "first_at": first["at"], "status": "open"}
        try:
            await self.conflicts.insert_one(conflict)
        except DuplicateKeyError:
            pass  # the same offline scan uploaded again

    async def _name(self, trainee_id: ObjectId | None) -> str | None:
        trainee = await self.accounts.find_one({"_id": trainee_id}, {"name": 1})
        return (trainee or {}).get("name")

    # ---- the dashboard ----------------------------------------------------------------------

    async def attendance(self, session_id: ObjectId, day: date) -> dict[str, int]:
        """Counts of one session and day: approved, checked in, not yet, late, conflicts."""
        approved = await self.enrollments.count_documents({"session_id": session_id, "status": APPROVED})
        checked = await self.checkins.count_documents({"session_id": session_id, "day": day.isoformat()})
        late_from = datetime.combine(day, self.late_after, SHANGHAI).astimezone(UTC)
        late = await self.checkins.count_documents(
            {"session_id": session_id, "day": day.isoformat(), "at": {"$gt": late_from}})
        conflicts = await self.conflicts.count_documents({"session_id": session_id, "day": day.isoformat()})
        return {"approved": approved, "checked_in": checked, "not_yet": max(0, approved - checked), "late": late,
                "conflicts": conflicts}

    async def days_attended(self, enrollment_ids: list[ObjectId]) -> dict[ObjectId, int]:
        """Attendance for results and certificates: the distinct training days each enrollment checked
        in (any of its passes, online or offline), by enrollment; an enrollment never seen is absent."""
        days: dict[ObjectId, set[str]] = {}
        async for c in self.checkins.find({"enrollment_id": {"$in": enrollment_ids}}, {"enrollment_id": 1, "day": 1}):
            days.setdefault(c["enrollment_id"], set()).add(c["day"])
        return {e: len(d) for e, d in days.items()}

    async def of_session(self, session_id: ObjectId) -> list[dict[str, Any]]:
        """Every check-in of the session, by day then time (the attendance export)."""
        return await self.checkins.find({"session_id": session_id}).sort([("day", 1), ("at", 1)]).to_list()

    # ---- for the rights of the person -------------------------------------------------------

    async def of_trainee(self, trainee_id: ObjectId) -> list[dict[str, Any]]:
        """The trainee's check-ins (the data export)."""
        return await self.checkins.find({"trainee_id": trainee_id}, {"day": 1, "at": 1, "session_id": 1}).to_list()

    async def anonymize(self, trainee_id: ObjectId, *, session: AsyncClientSession | None = None) -> None:
        """A deleted person's attendance stays as a record the association keeps, without the person."""
        for coll in (self.checkins, self.conflicts):
            await coll.update_many({"trainee_id": trainee_id}, {"$set": {"trainee_id": None, "anonymized": True}},
                                   session=session)


def _same_pass(checkin: dict[str, Any], token: str) -> bool:
    """Whether a resent scan (same client id) carries the pass that was recorded under that id."""
    try:
        return parse(token)[0].serial_hex == checkin["serial"]
    except TokenInvalid:
        return False


def _ok_answer(checkin: dict[str, Any], name: str | None) -> CheckinOut:
    return CheckinOut(result="ok", message=RESULT_MESSAGES["ok"], serial=checkin["serial"], name=name,
                      photo_url=f"/api/v1/trainees/{checkin['trainee_id']}/photo")


def _answer(result: str, pass_doc: dict[str, Any] | None, first: dict[str, Any] | None = None) -> CheckinOut:
    return CheckinOut(result=result, message=RESULT_MESSAGES[result],  # type: ignore[arg-type]
                      serial=pass_doc["serial"] if pass_doc else None,
                      first_at=first["at"] if first else None, first_device=first.get("device_id") if first else None)
