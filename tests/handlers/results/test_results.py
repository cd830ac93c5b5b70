"""The results endpoints over real HTTP: staff enter and publish, trainees and units see only what is published."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from server.services import Principal
from server.services.container import Services
from tests import factories
from tests.client import ApiClient
from tests.services.payments.helpers import make_unit
from tests.services.results.helpers import approved


async def token(services: Services, principal: Principal) -> str:
    """A token for an account inserted directly."""
    return str((await services.tokens.issue(principal.account_id, principal.role)).token)


async def test_enter_publish_and_read(api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    reviewer = await factories.staff_token(services, "reviewer")
    unit = await make_unit(db)
    trainees, docs = await approved(services, db, 2, unit=unit)
    me = await token(services, Principal(trainees[0]["_id"], "trainee"))
    unit_tok = await token(services, unit)
    sid = str(docs[0]["session_id"])

    bad = await api.put(f"/api/v1/review/enrollments/{docs[0]['_id']}/result", {"score": 101}, token=reviewer)
    assert bad.status == 422 and await db["results"].count_documents({}) == 0
    both = await api.put(f"/api/v1/review/enrollments/{docs[0]['_id']}/result", {"score": 80, "absent": True},
                         token=reviewer)
    assert both.status == 422
    assert (await api.put(f"/api/v1/review/enrollments/{docs[0]['_id']}/result", {"score": 80}, token=me)).status == 403
    r = await api.put(f"/api/v1/review/enrollments/{docs[0]['_id']}/result", {"score": 80}, token=reviewer)
    assert r.status == 200 and r.json["verdict"] == "passed" and r.json["status"] == "draft"
    assert (await api.get("/api/v1/results", token=me)).json == {"items": [], "total": 0}
    assert (await api.get("/api/v1/results", token=unit_tok)).json == {"items": [], "total": 0}

    missing = await api.post(f"/api/v1/review/sessions/{sid}/results/publish", token=reviewer)
    assert missing.status == 409 and missing.error_code == "results_missing"
    await api.put(f"/api/v1/review/enrollments/{docs[1]['_id']}/result", {"absent": True}, token=reviewer)
    roster = await api.get(f"/api/v1/review/sessions/{sid}/results", token=reviewer)
    assert roster.status == 200 and roster.json["drafts"] == 2 and roster.json["pass_mark"] == 60
    assert [(r["attendance"]["label"], r["meets_attendance"]) for r in roster.json["rows"]] == [("0/3 天", True)] * 2
    published = await api.post(f"/api/v1/review/sessions/{sid}/results/publish", token=reviewer)
    assert published.status == 200 and published.json == {"published": 2, "passed": 1, "failed": 0, "absent": 1}

    mine = await api.get("/api/v1/results", token=me)
    assert mine.json["total"] == 1 and mine.json["items"][0]["verdict_label"] == "合格"
    assert mine.json["items"][0]["attendance"] == {"days": 0, "training_days": 3, "percent": 0, "label": "0/3 天"}
    staff = await api.get(f"/api/v1/results?session_id={sid}", token=unit_tok)
    assert sorted(i["verdict_label"] for i in staff.json["items"]) == ["合格", "缺考"]
    other = await token(services, await make_unit(db, "另一家单位"))
    assert (await api.get("/api/v1/results", token=other)).json["total"] == 0

    no_reason = await api.put(f"/api/v1/review/enrollments/{docs[1]['_id']}/result", {"score": 70}, token=reviewer)
    assert no_reason.status == 422
    fixed = await api.put(f"/api/v1/review/enrollments/{docs[1]['_id']}/result",
                          {"score": 70, "reason": "补考成绩录入"}, token=reviewer)
    assert fixed.status == 200 and fixed.json["verdict"] == "passed"
