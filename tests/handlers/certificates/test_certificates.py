"""The certificate endpoints over real HTTP: issue, download (holder, unit; another's 404), revoke,
the seal upload, the public verification (API and page), its rate limit."""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from typing import Any

from PIL import Image
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services import Principal
from server.services.container import Services, build_services
from tests import factories
from tests.client import ApiClient
from tests.conftest import serve_app
from tests.handlers.results.test_results import token
from tests.services.payments.helpers import make_unit
from tests.services.results.helpers import published


def _seal() -> bytes:
    out = BytesIO()
    Image.new("RGBA", (160, 160), (200, 0, 0, 90)).save(out, "PNG")
    return out.getvalue()


async def test_issue_download_revoke_and_verify(api: ApiClient, services: Services,
                                                db: AsyncDatabase[dict[str, Any]]) -> None:
    reviewer = await factories.staff_token(services, "reviewer")
    admin = await factories.staff_token(services, "admin")
    unit = await make_unit(db)
    trainees, docs = await published(services, db, [90, 40], unit=unit)
    me = await token(services, Principal(trainees[0]["_id"], "trainee"))
    failed = await token(services, Principal(trainees[1]["_id"], "trainee"))
    unit_tok = await token(services, unit)

    assert (await api.put("/api/v1/certificates/seal", body=_seal(), headers={"Content-Type": "image/png"},
                          token=reviewer)).status == 403
    seal = await api.put("/api/v1/certificates/seal", body=_seal(), headers={"Content-Type": "image/png"}, token=admin)
    assert seal.status == 200 and seal.json["set"] is True
    assert (await api.put("/api/v1/certificates/seal", body=b"GIF89a....", headers={"Content-Type": "image/png"},
                          token=admin)).status == 415

    issued = await api.post(f"/api/v1/review/sessions/{docs[0]['session_id']}/certificates", token=reviewer)
    assert issued.status == 200 and issued.json["issued"] == 1
    assert (await api.post(f"/api/v1/review/sessions/{docs[0]['session_id']}/certificates", token=me)).status == 403
    mine = await api.get("/api/v1/certificates", token=me)
    assert mine.json["total"] == 1
    cert = mine.json["items"][0]
    assert (await api.get("/api/v1/certificates", token=failed)).json["total"] == 0

    pdf = await api.get(f"/api/v1/certificates/{cert['id']}/pdf", token=me)
    assert pdf.status == 200 and pdf.headers["Content-Type"] == "application/pdf" and pdf.body.startswith(b"%PDF-")
    assert (await api.get(f"/api/v1/certificates/{cert['id']}/pdf", token=unit_tok)).status == 200
    for stranger in (await token(services, await make_unit(db, "另一家单位")), failed):
        assert (await api.get(f"/api/v1/certificates/{cert['id']}/pdf", token=stranger)).status == 404

    code = cert["verify_url"].rsplit("/", 1)[1]
    ok = await api.get(f"/api/v1/certificates/verify/{code}")
    assert ok.status == 200 and ok.json["status"] == "valid" and set(ok.json) == {
        "name", "id_masked", "course", "hours", "issued_on", "status", "status_label"}
    page = await api.get(f"/verify/{code}")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    html = page.body.decode()
    assert "有效" in html and "岩土工程勘察专项培训" in html and "<script" not in html.lower()

    wrong = [await api.get(f"/api/v1/certificates/verify/{c}") for c in (code[:-1] + "z", cert["number"], "A" * 300)]
    assert {(w.status, w.body) for w in wrong} == {(404, wrong[0].body)}
    pages = [await api.get(f"/verify/{c}") for c in (code[:-1] + "z", "%3Cscript%3E")]
    assert {(p.status, p.body) for p in pages} == {(404, pages[0].body)} and b"<script>" not in pages[1].body

    revoked = await api.post(f"/api/v1/certificates/{cert['id']}/revoke", {"reason": "成绩更正"}, token=reviewer)
    assert revoked.status == 200 and revoked.json["status"] == "revoked"
    assert (await api.get(f"/api/v1/certificates/verify/{code}")).json["status_label"] == "已撤销"
    assert "已撤销" in (await api.get(f"/verify/{code}")).body.decode()
    gone = await api.get(f"/api/v1/certificates/{cert['id']}/pdf", token=me)
    assert gone.status == 409 and gone.error_code == "certificate_revoked"


async def test_verification_is_rate_limited_per_address(
    make_settings: Callable[..., Settings], db: AsyncDatabase[dict[str, Any]]
) -> None:
    settings = make_settings(verify_rate_per_minute=3)
    services = build_services(settings, db)
    try:
        async with serve_app(settings, services) as api:
            answers = [(await api.get(f"/api/v1/certificates/verify/{'a' * 26}")).status for _ in range(4)]
            page = await api.get(f"/verify/{'a' * 26}")
    finally:
        await services.close()
    assert answers == [404, 404, 404, 429] and page.status == 429 and "查询过于频繁" in page.body.decode()
    assert page.headers["Content-Type"].startswith("text/html") and int(page.headers["Retry-After"]) >= 1


async def test_a_sessions_bundle_for_staff_over_http_roles_and_owner(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    """Reviewer and admin may ask for a session's bundle (202); a scanner or trainee is refused (403),
    and another staff member does not see the reviewer's bundle (404)."""
    reviewer = await factories.staff_token(services, "reviewer")
    admin = await factories.staff_token(services, "admin")
    scanner = await factories.staff_token(services, "scanner")
    unit = await make_unit(db)
    trainees, docs = await published(services, db, [90, 80], unit=unit)
    sid = str(docs[0]["session_id"])
    assert (await api.post(f"/api/v1/review/sessions/{sid}/certificates", token=reviewer)).status == 200
    trainee = await token(services, Principal(trainees[0]["_id"], "trainee"))
    for refused in (scanner, trainee):
        assert (await api.post("/api/v1/certificates/bundles", {"session_id": sid}, token=refused)).status == 403
    asked = await api.post("/api/v1/certificates/bundles", {"session_id": sid}, token=reviewer)
    assert asked.status == 202 and asked.json["total"] == 2, asked.body
    bundle = asked.json["id"]
    assert (await api.get(f"/api/v1/certificates/bundles/{bundle}", token=reviewer)).status == 200
    for stranger in (admin, await token(services, unit)):
        assert (await api.get(f"/api/v1/certificates/bundles/{bundle}", token=stranger)).status == 404
        assert (await api.get(f"/api/v1/certificates/bundles/{bundle}/file", token=stranger)).status == 404
