"""The payment endpoints over real HTTP: the account, due, submit, proofs, the review queue, 4xx."""

from __future__ import annotations

import asyncio
import json
from io import BytesIO
from typing import Any

from bson import ObjectId
from PIL import Image
from pymongo.asynchronous.database import AsyncDatabase

from server.services import Principal
from server.services.container import Services
from tests import factories
from tests.client import ApiClient, Response
from tests.services.payments.helpers import PDF_AS_JPG, make_unit, proof_jpeg_with_gps, proof_png, unpaid
from tests.staff_helpers import multipart

ACCOUNT = {"account_name": "某某市勘察设计协会", "bank_name": "中国工商银行上海分行营业部",
           "account_number": "1001 2345 6789 0123 456", "remark": "请在附言中填写缴费编号"}
INVOICE = {"kind": "normal", "medium": "paper", "title_type": "personal", "title": "张三"}


async def token(services: Services, principal: Principal) -> str:
    """A token for an account inserted directly."""
    return str((await services.tokens.issue(principal.account_id, principal.role)).token)


async def submit(api: ApiClient, tok: str, enrollment_ids: list[str], files: list[bytes] | None = None,
                 **payload: Any) -> Response:
    """POST /payments as multipart."""
    body = {"enrollment_ids": enrollment_ids, "invoice": INVOICE, **payload}
    parts = [("proofs", f"shot{i}.png", data) for i, data in enumerate(files or [proof_png()])]
    raw, ctype = multipart(parts, {"payload": json.dumps(body, ensure_ascii=False)})
    return await api.request("POST", "/api/v1/payments", body=raw, headers={"Content-Type": ctype}, token=tok)


async def test_the_account_is_set_by_admins_and_shown_to_everyone(api: ApiClient, services: Services) -> None:
    admin = await factories.staff_token(services, "admin")
    reviewer = await factories.staff_token(services, "reviewer")
    r = await api.get("/api/v1/association/account", token=reviewer)
    assert r.status == 200 and r.json["configured"] is False
    assert (await api.put("/api/v1/association/account", ACCOUNT, token=reviewer)).status == 403
    bad = await api.put("/api/v1/association/account", {**ACCOUNT, "account_number": "abc"}, token=admin)
    assert bad.status == 422
    r = await api.put("/api/v1/association/account", ACCOUNT, token=admin)
    assert r.status == 200 and r.json["configured"] and r.json["account_number"] == ACCOUNT["account_number"]
    assert (await api.get("/api/v1/association/account")).status == 401
    entry = await services.db["audit_log"].find_one({"action": "association.account_set"})
    assert entry is not None and entry["details"]["account_tail"] == "3456"


async def test_a_unit_pays_for_its_staff_and_the_reviewer_approves(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    admin = await factories.staff_token(services, "admin")
    await api.put("/api/v1/association/account", ACCOUNT, token=admin)
    unit = await make_unit(db)
    unit_token = await token(services, unit)
    _, docs = await unpaid(services, db, 3, unit=unit)
    ids = [str(d["_id"]) for d in docs]
    due = await api.get(f"/api/v1/payments/due?enrollment_ids={','.join(ids)}", token=unit_token)
    assert due.status == 200, due.body
    assert due.json["amount_fen"] == 360000 and due.json["account"]["account_name"] == ACCOUNT["account_name"]
    r = await submit(api, unit_token, ids, [proof_png(), proof_jpeg_with_gps()], amount_fen=1)
    assert r.status == 201, r.body
    payment = r.json
    assert payment["amount_fen"] == 360000 and payment["reference"] == due.json["reference"]
    assert payment["status"] == "submitted" and payment["ocr"]["status"] == "pending" and len(payment["lines"]) == 3
    proof = await api.get(payment["proofs"][1]["url"], token=unit_token)
    assert proof.status == 200 and proof.headers["Content-Type"] == "image/jpeg"
    assert not dict(Image.open(BytesIO(proof.body)).getexif())
    reviewer = await factories.staff_token(services, "reviewer")
    queue = await api.get("/api/v1/review/payments?page_size=10", token=reviewer)
    assert queue.status == 200 and queue.json["total"] == 1
    item = queue.json["items"][0]
    assert item["payer_name"] == "某某勘察设计院"
    assert item["ocr"] == {"status": "pending", "readings": [], "flags": [], "at": None, "error": None}
    assert item["invoice"]["title"] == "张三"
    assert (await api.get(item["proofs"][0]["url"], token=reviewer)).status == 200
    filtered = await api.get(f"/api/v1/review/payments?unit_id={ObjectId()}", token=reviewer)
    assert filtered.json["total"] == 0
    by_session = await api.get(f"/api/v1/review/payments?session_id={docs[0]['session_id']}",
                               token=reviewer)
    assert by_session.json["total"] == 1
    assert (await api.get("/api/v1/review/payments?flag=any", token=reviewer)).json["total"] == 0
    r = await api.post(f"/api/v1/review/payments/{payment['id']}/approve", token=reviewer)
    assert r.status == 200 and r.json["status"] == "approved"
    for doc in docs:
        e = await api.get(f"/api/v1/enrollments/{doc['_id']}", token=unit_token)
        assert e.json["status"]["code"] == "approved" and e.json["payment_id"] == payment["id"]
    again = await api.post(f"/api/v1/review/payments/{payment['id']}/reject",
                           {"reason_code": "proof_unclear"}, token=reviewer)
    assert again.status == 409 and again.json["error"]["details"]["decision"] == "approved"
    # The losing reviewer's screen names who decided first (and the payment shows it too).
    winner = (await services.db["accounts"].find_one({"role": "reviewer"}, sort=[("_id", -1)]) or {})["name"]
    assert winner and r.json["review"]["reviewer_name"] == winner
    late = await api.post(f"/api/v1/review/payments/{payment['id']}/reject", {"reason_code": "proof_unclear"},
                          token=await factories.staff_token(services, "reviewer"))
    assert late.status == 409 and late.json["error"]["details"]["reviewer_name"] == winner
    mine = await api.get("/api/v1/payments", token=unit_token)
    assert mine.json["total"] == 1 and mine.json["items"][0]["status"] == "approved"


async def test_a_rejection_reason_reaches_the_trainee_who_may_resubmit(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    trainees, [doc] = await unpaid(services, db)
    me = await token(services, Principal(trainees[0]["_id"], "trainee"))
    r = await submit(api, me, [str(doc["_id"])])
    assert r.status == 201, r.body
    reviewer = await factories.staff_token(services, "reviewer")
    reasons = await api.get("/api/v1/review/payments/reasons", token=reviewer)
    assert "amount_mismatch" in {x["code"] for x in reasons.json["items"]}
    bad = await api.post(f"/api/v1/review/payments/{r.json['id']}/reject", {"reason_code": "other"}, token=reviewer)
    assert bad.status == 422
    done = await api.post(f"/api/v1/review/payments/{r.json['id']}/reject",
                          {"reason_code": "other", "note": "截图看不到收款账户"}, token=reviewer)
    assert done.status == 200 and done.json["review"]["reason"] == "截图看不到收款账户"
    seen = await api.get(f"/api/v1/payments/{r.json['id']}", token=me)
    assert seen.json["status"] == "rejected" and seen.json["review"]["reason"] == "截图看不到收款账户"
    enrollment = await api.get(f"/api/v1/enrollments/{doc['_id']}", token=me)
    assert enrollment.json["status"]["code"] == "rejected"
    assert enrollment.json["rejection_reason"] == "截图看不到收款账户"
    resubmitted = await submit(api, me, [str(doc["_id"])])
    assert resubmitted.status == 201 and resubmitted.json["reference"] != r.json["reference"]
    under_review = await submit(api, me, [str(doc["_id"])])
    assert under_review.status == 409 and under_review.json["error"]["code"] == "already_in_payment"
    cancel = await api.post(f"/api/v1/enrollments/{doc['_id']}/cancel", token=me)
    assert cancel.status == 409 and cancel.json["error"]["code"] == "under_review"


async def test_bad_submissions_are_refused_and_write_nothing(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    trainees, docs = await unpaid(services, db, 2)
    me = await token(services, Principal(trainees[0]["_id"], "trainee"))
    mine, theirs = str(docs[0]["_id"]), str(docs[1]["_id"])
    cases = [
        (await submit(api, me, [theirs]), 404, "enrollment_not_found"),
        (await submit(api, me, [str(ObjectId())]), 404, "enrollment_not_found"),
        (await submit(api, me, [mine], [PDF_AS_JPG]), 415, "proof_bad_format"),
        (await submit(api, me, [mine], [proof_png()] * 6), 422, "proof_count"),
        (await submit(api, me, [mine], invoice=None), 422, "validation_error"),
        (await api.request("POST", "/api/v1/payments", json={"enrollment_ids": [mine]}, token=me), 415, None),
    ]
    raw, ctype = multipart([("proofs", "a.png", proof_png())], {"payload": "{not json"})
    cases.append((await api.request("POST", "/api/v1/payments", body=raw, headers={"Content-Type": ctype},
                                    token=me), 400, "malformed_json"))
    for r, status, code in cases:
        assert r.status == status, (status, r.body)
        if code:
            assert r.error_code == code, r.body
    assert await db["payments"].count_documents({}) == 0
    assert await db["payment_proofs.files"].count_documents({}) == 0
    assert (await db["enrollments"].find_one({"_id": docs[0]["_id"]}))["status"] == "pending_payment"


async def _headers_only(client: ApiClient, head: str) -> tuple[int, dict[str, Any]]:
    """Send a request's headers and no body; what the server answers anyway."""
    host, port = client.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head.replace("\n", "\r\n").encode() + b"\r\n")
        await writer.drain()
        status_line, _, rest = (await asyncio.wait_for(reader.read(65536), 5)).partition(b"\r\n")
        return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_20_mb_screenshot_is_413_before_its_body_is_read(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    trainees, _ = await unpaid(services, db)
    me = await token(services, Principal(trainees[0]["_id"], "trainee"))
    status, answer = await _headers_only(api, (
        "POST /api/v1/payments HTTP/1.1\nHost: t\nContent-Type: multipart/form-data; boundary=x\n"
        f"Authorization: Bearer {me}\nContent-Length: 20000000\nExpect: 100-continue\n"))
    assert status == 413 and answer["error"]["code"] == "payload_too_large"


async def test_proofs_are_only_for_the_payer_and_reviewers(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    trainees, docs = await unpaid(services, db, 2)
    me, other = [await token(services, Principal(t["_id"], "trainee")) for t in trainees]
    r = await submit(api, me, [str(docs[0]["_id"])])
    url = r.json["proofs"][0]["url"]
    assert (await api.get(url, token=me)).status == 200
    assert (await api.get(url, token=other)).status == 404
    assert (await api.get(f"/api/v1/payments/{r.json['id']}", token=other)).status == 404
    assert (await api.get(url, token=await factories.staff_token(services, "scanner"))).status == 403
    assert (await api.get(url, token=await factories.staff_token(services, "admin"))).status == 200
    assert (await api.get(url.replace("/0", "/4"), token=me)).status == 404
    assert (await api.get("/api/v1/review/payments", token=me)).status == 403
