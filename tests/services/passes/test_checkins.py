"""Check-in: every verdict, one check-in per pass per day under concurrency (with a control run),
idempotent resends, offline batches replayed, and a scan during key rotation."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.models.passes import CheckinCreate, OfflineScan
from server.services import Principal
from server.services.accounts.identity import SHANGHAI
from server.services.container import Services
from server.services.passes.tokens import PassPayload, sign
from tests.clock import Clock
from tests.services.enrollment.helpers import as_trainee, make_session
from tests.services.passes.helpers import SCANNER, approved_enrollments, checkins_at, training_day


async def issued(services: Services, n: int = 1) -> tuple[dict, list[dict]]:  # type: ignore[type-arg]
    session, enrollments = await approved_enrollments(services, n)
    passes = [await services.passes.pass_for(as_trainee({"_id": e["trainee_id"]}), str(e["_id"]))
              for e in enrollments]
    return session, passes


def scan(pass_doc: dict, session: dict, client_id: str = "c1", device: str = "d1") -> CheckinCreate:  # type: ignore[type-arg]
    return CheckinCreate(token=pass_doc["token"], session_id=str(session["_id"]), client_id=client_id,
                         device_id=device)


async def test_ok_then_already_checked_in_with_the_first_scan(services: Services) -> None:
    session, [p] = await issued(services)
    clock = Clock(training_day(session))
    checkins = checkins_at(services, clock)
    ok = await checkins.scan(SCANNER, scan(p, session, "c1", "door-1"))
    assert ok.result == "ok" and ok.name == "学员" and ok.photo_url
    clock.advance(60)
    again = await checkins.scan(SCANNER, scan(p, session, "c2", "door-2"))
    assert again.result == "already_checked_in"
    assert again.first_device == "door-1" and again.first_at == training_day(session)
    # The next training day is a new day.
    clock.advance(86400)
    assert (await checkins.scan(SCANNER, scan(p, session, "c3"))).result == "ok"


async def test_resend_with_the_same_client_id_is_recorded_once(services: Services) -> None:
    session, [p] = await issued(services)
    checkins = checkins_at(services, Clock(training_day(session)))
    answers = await asyncio.gather(*(checkins.scan(SCANNER, scan(p, session, "same")) for _ in range(5)))
    assert [a.result for a in answers] == ["ok"] * 5
    assert await services.db["checkins"].count_documents({}) == 1


async def test_every_refusal(services: Services) -> None:
    session, [p, revoked] = await issued(services, 2)
    other = await make_session(services)
    clock = Clock(training_day(session))
    checkins = checkins_at(services, clock)
    await services.passes.revoke_for_enrollment(revoked["enrollment_id"], reason="cancelled")
    forged_key = Ed25519PrivateKey.generate()
    forged = sign(PassPayload(kid=p["kid"], serial=bytes.fromhex(p["serial"]), session_number=p["session_number"],
                              valid_from=int(p["valid_from"].timestamp()), valid_to=int(p["valid_to"].timestamp())),
                  forged_key)
    flipped = p["token"][:-3] + ("0" if p["token"][-3] != "0" else "1") + p["token"][-2:]
    unknown_kid = sign(PassPayload(kid=200, serial=bytes(10), session_number=1, valid_from=0, valid_to=2**32 - 1),
                       forged_key)
    for token in [forged, flipped, unknown_kid, "hello", ""]:
        body = CheckinCreate.model_construct(token=token, session_id=str(session["_id"]), client_id="x", device_id="d")
        assert (await checkins.scan(SCANNER, body)).result == "invalid", token
    assert (await checkins.scan(SCANNER, scan(revoked, session, "r"))).result == "revoked"
    assert (await checkins.scan(SCANNER, scan(p, other, "o"))).result == "wrong_session"
    clock.at = training_day(session, -1)  # the day before the session
    assert (await checkins.scan(SCANNER, scan(p, session, "b"))).result == "not_today"
    clock.at = training_day(session, 3)  # the day after the last training day: expired
    assert (await checkins.scan(SCANNER, scan(p, session, "e"))).result == "not_today"
    clock.at = training_day(session, 2)
    await services.db["enrollments"].update_one({"_id": p["enrollment_id"]}, {"$set": {"status": "rejected"}})
    assert (await checkins.scan(SCANNER, scan(p, session, "n"))).result == "revoked"
    assert await services.db["checkins"].count_documents({}) == 0


async def test_twenty_concurrent_scans_record_one_checkin(services: Services) -> None:
    session, [p] = await issued(services)
    checkins = checkins_at(services, Clock(training_day(session)))
    answers = await asyncio.gather(*(checkins.scan(SCANNER, scan(p, session, f"c{i}", f"door-{i % 3}"))
                                     for i in range(20)))
    results = [a.result for a in answers]
    assert results.count("ok") == 1 and results.count("already_checked_in") == 19
    assert all(a.first_at is not None for a in answers if a.result == "already_checked_in")
    assert await services.db["checkins"].count_documents({"pass_id": p["_id"]}) == 1


async def test_control_without_the_unique_index_records_duplicates(services: Services) -> None:
    """The guard is the index: without it the same 20 scans record a check-in each."""
    session, [p] = await issued(services)
    await services.db["checkins"].drop_index("one_per_pass_per_day")
    checkins = checkins_at(services, Clock(training_day(session)))
    await asyncio.gather(*(checkins.scan(SCANNER, scan(p, session, f"c{i}")) for i in range(20)))
    assert await services.db["checkins"].count_documents({"pass_id": p["_id"]}) > 1


async def test_offline_batch_replayed_twice_and_conflicts(services: Services) -> None:
    session, passes = await issued(services, 3)
    at = training_day(session)
    checkins = checkins_at(services, Clock(at + timedelta(hours=3)))  # uploaded hours later
    other = Principal(SCANNER.account_id, "scanner")
    # Pass 0 was scanned online at the door first.
    online = checkins_at(services, Clock(at - timedelta(minutes=5)))
    assert (await online.scan(SCANNER, scan(passes[0], session, "online-1", "door-1"))).result == "ok"
    batch = [OfflineScan(token=p["token"], session_id=str(session["_id"]), client_id=f"off-{i}", device_id="door-2",
                         scanned_at=at + timedelta(minutes=i)) for i, p in enumerate(passes)]
    first = await checkins.merge_batch(other, batch)
    assert first.recorded == 2 and first.conflicts == 1
    assert [r.conflict for r in first.results] == [True, False, False]
    second = await checkins.merge_batch(other, batch)
    assert second.recorded == 0 and second.results == first.results  # the same answer, nothing written twice
    assert await services.db["checkins"].count_documents({}) == 3
    assert await services.db["checkin_conflicts"].count_documents({}) == 1
    stored = await services.db["checkins"].find_one({"client_id": "off-1"})
    assert stored is not None and stored["at"] == at + timedelta(minutes=1) and stored["source"] == "offline"
    counts = await checkins.attendance(session["_id"], at.astimezone(SHANGHAI).date())
    assert counts["checked_in"] == 3 and counts["approved"] == 3 and counts["conflicts"] == 1


async def test_scan_during_key_rotation(services: Services, settings: object) -> None:
    session, [old, _] = await issued(services, 2)
    keyring = services.passes.keyring
    # Another process (the command) rotates: a new key file, a new kid registered.
    new_kid = await keyring.rotate()
    assert new_kid != old["kid"]
    checkins = checkins_at(services, Clock(training_day(session)))
    # A pass signed by the old key still checks in; a pass issued now is signed by the new key and checks in.
    assert (await checkins.scan(SCANNER, scan(old, session, "a"))).result == "ok"
    _, [fresh] = await approved_enrollments(services, 1, session=session)
    new = await services.passes.pass_for(as_trainee({"_id": fresh["trainee_id"]}), str(fresh["_id"]))
    assert new["kid"] == new_kid
    assert (await checkins.scan(SCANNER, scan(new, session, "b"))).result == "ok"
    keys = {k["_id"]: k for k in await keyring.published()}
    assert keys[old["kid"]]["retired_at"] is not None and keys[old["kid"]]["valid_until"] == old["valid_to"]


async def test_a_client_id_reused_for_another_pass_is_not_a_false_ok(services: Services) -> None:
    session, [a, b] = await issued(services, 2)
    checkins = checkins_at(services, Clock(training_day(session)))
    assert (await checkins.scan(SCANNER, scan(a, session, "dup"))).result == "ok"
    assert (await checkins.scan(SCANNER, scan(b, session, "dup"))).result == "invalid"
    assert await services.db["checkins"].count_documents({"pass_id": b["_id"]}) == 0


async def test_offline_scan_dated_in_the_future_is_not_recorded(services: Services) -> None:
    session, [p] = await issued(services)
    at = training_day(session)
    checkins = checkins_at(services, Clock(at))
    future = OfflineScan(token=p["token"], session_id=str(session["_id"]), client_id="f", device_id="d",
                         scanned_at=at + timedelta(hours=2))
    result = await checkins.merge_batch(SCANNER, [future])
    assert result.results[0].result == "invalid" and result.recorded == 0
