"""The demo's payment review queue: two reviewers, ten payments waiting, some flagged by the OCR."""

from __future__ import annotations

from server.demo import load_demo
from server.demo.review_queue import QUEUE_SIZE, REVIEW_UNIT_USCC
from server.services.container import Services


async def test_demo_queue_has_ten_waiting_payments_and_two_reviewers(services: Services) -> None:
    lines = await load_demo(services)
    assert lines is not None and any("/review/payments" in line for line in lines), lines
    assert sum("审核员" in line and "密码" in line for line in lines) == 2, lines
    for username in ("reviewer", "reviewer2"):
        account = await services.accounts.find_by_login(username)
        assert account is not None and account["role"] == "reviewer"
    unit = await services.accounts.find_by_login(REVIEW_UNIT_USCC)
    assert unit is not None
    waiting = await services.db["payments"].find({"payer.account_id": unit["_id"]}).to_list()
    assert len(waiting) == QUEUE_SIZE >= 10
    assert {p["status"] for p in waiting} == {"submitted"}
    assert all(len(p["enrollment_ids"]) == 1 for p in waiting)
    # One screenshot is sent twice (the OCR's duplicate hint has something to find).
    hashes = [p["proofs"][0]["sha256"] for p in waiting]
    assert len(set(hashes)) == QUEUE_SIZE - 1
