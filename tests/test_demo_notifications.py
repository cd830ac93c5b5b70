"""The demo shows the notification consent after ``make run``."""

from __future__ import annotations

from server.demo import load_demo
from server.demo.trainee import DEMO_ID_NUMBER
from server.services import Principal
from server.services.container import Services


async def test_demo_trainee_accepted_two_templates(services: Services) -> None:
    lines = await load_demo(services)
    assert lines is not None and any("订阅消息" in line for line in lines)
    trainee = await services.accounts.find_by_login(DEMO_ID_NUMBER)
    shown = await services.subscriptions.show(Principal(trainee["_id"], "trainee"))
    assert {i.kind: i.remaining for i in shown.items} == {
        "payment_approved": 1, "payment_rejected": 0, "invoice_ready": 1, "payment_deadline_near": 0,
        "results_published": 0, "certificate_ready": 0}
