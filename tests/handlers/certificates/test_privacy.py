"""Results and certificates are records the association keeps: in the person's export, anonymized on deletion."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services import Principal
from server.services.container import Services
from tests import factories
from tests.client import ApiClient
from tests.services.enrollment.helpers import make_session
from tests.services.payments.helpers import proof_png, submit_body
from tests.services.results.helpers import REVIEWER, score


async def test_export_holds_them_and_deletion_keeps_them_anonymized(
    api: ApiClient, settings: Settings, services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    tok, body = await factories.register_trainee(api, settings.sms_outbox, name="郭一")
    me = (await api.get("/api/v1/me", token=tok)).json
    oid = ObjectId(me["id"])
    await db["accounts"].update_one({"_id": oid}, {"$set": {"trainee.photo": {"file_id": ObjectId()}}})
    trainee = await db["accounts"].find_one({"_id": oid})
    assert trainee is not None
    session = await make_session(services)
    payer = Principal(oid, "trainee")
    enrollment = await services.enrollments.enroll(trainee, str(session["_id"]), by=payer, address_id=None, ip=None)
    payment = await services.payments.submit(payer, submit_body([enrollment]), [proof_png()], ip=None)
    await services.payments.approve(REVIEWER, str(payment["_id"]), ip=None)
    await services.results.enter(REVIEWER, str(enrollment["_id"]), score(92), ip=None)
    await services.results.publish(REVIEWER, str(session["_id"]), ip=None)
    await services.certificates.issue_session(REVIEWER, str(session["_id"]), ip=None)
    cert = await db["certificates"].find_one()
    assert cert is not None and cert["printed"]["name"] == "郭一"
    assert cert["printed"]["id_masked"] != body["id_number"] and body["id_number"][-4:] in cert["printed"]["id_masked"]

    r = await api.get("/api/v1/me/data-export", token=tok)
    data = json.loads(zipfile.ZipFile(io.BytesIO(r.body)).read("data.json"))
    assert [x["score"] for x in data["results"]] == [92]
    assert [c["number"] for c in data["certificates"]] == [cert["number"]] and "code" not in data["certificates"][0]

    r = await api.post("/api/v1/me/deletion", {"password": factories.STRONG_PASSWORD, "confirm": True}, token=tok)
    assert r.status == 200 and {"results", "certificates"} <= set(r.json["kept"])
    kept = await db["certificates"].find_one()
    assert kept is not None and kept["number"] == cert["number"] and kept["status"] == "valid"
    assert kept["printed"]["name"] == "已注销" and kept["printed"]["id_masked"] == "已注销"
    shown = await api.get(f"/api/v1/certificates/verify/{cert['code']}")
    assert shown.status == 200 and shown.json["name"] == "已注销" and "郭一" not in shown.body.decode()
    assert await db["results"].count_documents({"trainee_id": oid, "score": 92}) == 1
