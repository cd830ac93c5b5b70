"""The demo shows passes: a scanner account and the demo trainee's pass, whose token verifies."""

from __future__ import annotations

from server.demo import load_demo
from server.demo.trainee import DEMO_ID_NUMBER
from server.services.container import Services
from server.services.passes.tokens import verify


async def test_demo_has_a_scanner_and_a_pass(services: Services) -> None:
    lines = await load_demo(services)
    assert lines is not None
    text = "\n".join(lines)
    assert "scanner" in text and "听课证" in text
    scanner = await services.db["accounts"].find_one({"role": "scanner"})
    assert scanner is not None
    trainee = await services.accounts.find_by_login(DEMO_ID_NUMBER)
    assert trainee is not None
    [own] = await services.db["enrollments"].find({"trainee_id": trainee["_id"], "unit_id": None}).to_list()
    assert own["status"] == "approved"  # through the payment review: her second payment was approved
    payments = await services.db["payments"].find({"enrollment_ids": own["_id"]}).sort("_id", 1).to_list()
    assert [p["status"] for p in payments] == ["rejected", "approved"]
    [pass_doc] = await services.db["passes"].find({"enrollment_id": own["_id"]}).to_list()
    assert pass_doc["token"] in text
    assert verify(pass_doc["token"], await services.passes.keyring.public_keys()).serial_hex == pass_doc["serial"]
