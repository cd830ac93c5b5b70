"""The demo data loads with the association account and a payment in each state."""

from __future__ import annotations

from server.demo import load_demo
from server.demo.review_queue import QUEUE_SIZE, REVIEW_UNIT_USCC
from server.services.container import Services


async def test_demo_has_a_payment_in_each_state(services: Services) -> None:
    lines = await load_demo(services)
    assert lines is not None and any("/api/v1/review/payments" in line for line in lines), lines
    assert (await services.association_account.get()).configured
    queue_unit = await services.accounts.find_by_login(REVIEW_UNIT_USCC)  # review_queue.py's twelve waiting
    assert queue_unit is not None
    others = {"payer.account_id": {"$ne": queue_unit["_id"]}}
    statuses = sorted([p["status"] async for p in services.db["payments"].find(others)])
    # (the second approved one is the results demo's: its session has published results; the third the
    # result-entry demo's: its session waits for results; the fourth the back office demo's session in
    # training today; the second submitted one the back office demo's full session)
    assert statuses == ["approved"] * 4 + ["rejected", "submitted", "submitted"], statuses
    rejected = await services.db["enrollments"].find_one({"status": "rejected"})
    assert rejected is not None and "200.00" in rejected["rejection"]["reason"]
    assert await services.db["jobs"].count_documents({"kind": "payment_ocr"}) == 7 + QUEUE_SIZE
