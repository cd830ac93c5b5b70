"""An account of an unfinished import is invisible to every reader: the accounts repository hides it.

The hidden account is what a crashed commit leaves (one group inserted, never revealed).
Each reader is probed over HTTP as its users call it. The control run switches the
repository's filter off (in the test, by replacing ``AccountRepository.where``) and every
probe must then see the account: the repository, not each reader, is what hides it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId

from server.config import Settings
from server.services.accounts.identity import today_shanghai
from server.services.accounts.repository import AccountRepository
from server.services.container import Services
from tests import factories
from tests.client import ApiClient
from tests.faults import Crash, FaultPlan, FaultyDatabase
from tests.services.staff.support import import_service, prepared_batch
from tests.staff_helpers import multipart, verify_unit

PORTRAIT = (Path(__file__).resolve().parents[2] / "fixtures" / "photos" / "portrait.jpg").read_bytes()
NEW_PASSWORD = "Quartz#Lamp-2031"


async def _open_session(api: ApiClient, admin: str) -> str:
    course = await api.post("/api/v1/admin/courses", factories.course_body(), token=admin)
    assert course.status == 201, course.body
    today = today_shanghai()
    dates = {k: (today + timedelta(days=d)).isoformat()
             for k, d in {"enroll_start": -1, "enroll_end": 3, "start_date": 10, "end_date": 12}.items()}
    session = await factories.published_session(api, admin, course.json["id"], **dates)
    return str(session["id"])


async def _probe(api: ApiClient, unit: ApiClient, admin: str, session_id: str, person: dict[str, Any]) -> dict[str, Any]:
    """What each reader answers about the person (order matters: activation changes the account)."""
    number, name, secret, pid = person["id_number"], person["name"], person["secret"], person["id"]
    seen: dict[str, Any] = {}
    seen["login"] = (await api.post("/api/v1/auth/login", {"account": number, "password": secret})).status
    seen["staff_list"] = (await unit.get("/api/v1/unit/staff")).json["total"]
    seen["staff_search"] = (await unit.get(f"/api/v1/unit/staff?id_number={number}")).json["total"]
    seen["staff_detail"] = (await unit.get(f"/api/v1/unit/staff/{pid}")).status
    seen["bind"] = (await unit.post("/api/v1/unit/staff/bind", {"name": name, "id_number": number})).status
    r = await unit.post("/api/v1/unit/enrollments", {"session_id": session_id, "trainee_ids": [pid]})
    seen["unit_enroll"] = r.json["results"][0]["verdict"]
    body, content_type = multipart([("files", f"{name}-{number}.jpg", PORTRAIT)], {"consent": "true"})
    r = await unit.request("POST", "/api/v1/unit/staff/photos", body=body, headers={"Content-Type": content_type})
    seen["photo_matching"] = r.json["files"][0]["verdict"]
    seen["admin_lookup"] = (await api.get(f"/api/v1/admin/accounts?account={number}", token=admin)).json["total"]
    r = await api.post("/api/v1/auth/activate", {"account": number, "secret": secret, "new_password": NEW_PASSWORD})
    seen["activate"] = r.status
    seen["admin_disable"] = (await api.post(f"/api/v1/admin/accounts/{pid}/disable", token=admin)).status
    return seen


HIDDEN = {"login": 401, "staff_list": 0, "staff_search": 0, "staff_detail": 404, "bind": 404,
          "unit_enroll": "not_your_staff", "photo_matching": "unknown_id", "admin_lookup": 0, "activate": 404,
          "admin_disable": 404}


async def test_an_unfinished_imports_account_is_invisible_to_every_reader(
    api: ApiClient, settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = await prepared_batch(api, settings, services, good=1)
    await verify_unit(api, batch.unit, services)  # so that a refused bind means "not found", not "not verified"
    # the commit dies just before its reveal: the account is in, hidden, with its secret stored
    plan = FaultPlan(crash_before=6)
    with pytest.raises(Crash):
        await import_service(services, FaultyDatabase(services.db, plan)).commit(batch.principal, batch.import_id, ip="t")
    assert plan.writes[-1] == ("staff_import_chunks", "insert_one")
    hidden = await services.db["accounts"].find_one({"import_id": batch.batch_id, "import_pending": True})
    assert hidden is not None
    secrets = await services.db["staff_import_chunks"].find_one({"batch_id": batch.batch_id, "kind": "secrets"})
    person = {
        "id": str(hidden["_id"]), "name": hidden["name"],
        "id_number": services.cipher.decrypt(hidden["trainee"]["id_number"], context="id_number"),
        "secret": services.cipher.decrypt(secrets["items"][0]["secret"], context="one_time_secret"),
    }
    admin = await factories.staff_token(services)
    session_id = await _open_session(api, admin)

    assert await _probe(api, batch.unit, admin, session_id, person) == HIDDEN

    # control: without the repository's filter every one of these readers finds the account
    monkeypatch.setattr(AccountRepository, "where", staticmethod(lambda query, include_pending=False: dict(query)))
    seen = await _probe(api, batch.unit, admin, session_id, person)
    assert {k for k in HIDDEN if seen[k] == HIDDEN[k]} == set(), seen
    assert await services.db["accounts"].count_documents({"_id": ObjectId(person["id"])}) == 1


def test_the_repository_filter_cannot_be_overridden_by_accident() -> None:
    # A query naming import_pending without opting in would replace the filter silently.
    assert AccountRepository.where({"_id": 1}) == {"_id": 1, "import_pending": {"$exists": False}}
    assert AccountRepository.where({"_id": 1, "import_pending": {"$exists": False}}) == AccountRepository.where({"_id": 1})
    assert AccountRepository.where({"import_pending": True}, include_pending=True) == {"import_pending": True}
    with pytest.raises(ValueError, match="include_pending"):
        AccountRepository.where({"import_pending": True})
