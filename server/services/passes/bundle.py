"""The scanners' offline bundle of one session: keys, revocations, and a roster with small photos.

``version`` is the newest change among the session's passes (issued or revoked), in milliseconds
since the Unix epoch; the handler sends it as the ETag, and ``since=<version>`` asks for a delta
(passes issued and revoked after it). The bundle holds personal data on a phone: it is valid for
``PASS_BUNDLE_HOURS`` at most and never past the session's last day; the scanner deletes it then.

Size (measured by ``tests/services/passes/test_bundle.py``): about 1.8 KB of JSON per trainee with
the 60×80 photo (base64), so about 0.9 MB for 500 trainees (the photos are most of it).
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.documents.pass_pdf import roster_thumbnail
from server.models.passes import BundleOut, RosterEntry, ScannerKey
from server.services.ids import parse_object_id
from server.services.passes.passes import PassService, training_window
from server.services.profile.photos import PhotoService


def _ms(moment: datetime | None) -> int:
    return int(moment.timestamp() * 1000) if moment else 0


class ScannerBundles:
    """Build a session's offline bundle (full, or the delta since a version)."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], *, passes: PassService, photos: PhotoService,
                 hours: float, run_cpu: Callable[..., Awaitable[Any]],
                 now: Callable[[], datetime] | None = None) -> None:
        self.accounts = db["accounts"]  # read only
        self.sessions = db["sessions"]  # read only
        self.passes = passes
        self.photos = photos
        self.hours = hours
        self.run_cpu = run_cpu
        self.now = now or (lambda: datetime.now(UTC))

    async def version(self, session_id: str) -> tuple[ObjectId, int]:
        """The session and its bundle version (cheap: for the ETag before building anything)."""
        oid = parse_object_id(session_id, "班次不存在")
        if await self.sessions.count_documents({"_id": oid}, limit=1) == 0:
            raise errors.not_found("班次不存在")
        docs = await self.passes.passes.find({"session_id": oid}, {"issued_at": 1, "revoked_at": 1}).to_list()
        return oid, max((max(_ms(d.get("issued_at")), _ms(d.get("revoked_at"))) for d in docs), default=0)

    async def build(self, session_id: str, *, since: int | None) -> BundleOut:
        """The bundle of the session: everything, or what changed after ``since``."""
        oid, version = await self.version(session_id)
        session = await self.sessions.find_one({"_id": oid}) or {}
        after = datetime.fromtimestamp(since / 1000, UTC) if since else None
        valid = await self.passes.valid_in(oid)
        if after is not None:
            valid = [p for p in valid if p["issued_at"] > after]
        revoked = await self.passes.revoked_in(oid, since=after)
        keys = await self.passes.keyring.published()
        _, ends = training_window(session)
        return BundleOut(
            session_id=str(oid), session_number=await self.passes.numbers.known(oid), version=version,
            delta=after is not None, valid_until=min(self.now() + timedelta(hours=self.hours), ends + timedelta(hours=6)),
            keys=[ScannerKey(kid=k["_id"], public_key=k["public_key"], retired_at=k["retired_at"],
                             valid_until=k["valid_until"]) for k in keys],
            revoked=[p["serial"] for p in revoked],
            roster=[await self._entry(p) for p in valid],
        )

    async def _entry(self, pass_doc: dict[str, Any]) -> RosterEntry:
        trainee = await self.accounts.find_one({"_id": pass_doc["trainee_id"]}) or {}
        photo = await self.photos.read_file(trainee) if trainee else None
        small = None
        if photo:
            try:
                small = base64.b64encode(await self.run_cpu(roster_thumbnail, photo)).decode()
            except OSError:
                small = None  # an unreadable photo: the name still checks the person
        return RosterEntry(serial=pass_doc["serial"], name=trainee.get("name", ""), photo=small)
