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
    [pass_doc] = [p for p in await services.db["passes"].find({"trainee_id": trainee["_id"]}).to_list()
                  if p["token"] in text]
    enrollment = await services.db["enrollments"].find_one({"_id": pass_doc["enrollment_id"]})
    assert enrollment is not None and enrollment["status"] == "approved"
    # approved through the payment review: a payment with a proof, decided by the admin, audited
    payment = await services.db["payments"].find_one({"_id": enrollment["payment_id"]})
    assert payment is not None and payment["status"] == "approved" and payment["proofs"]
    assert await services.db["audit_log"].count_documents({"action": "payment.approve", "subject_id": payment["_id"]}) == 1
    assert verify(pass_doc["token"], await services.passes.keyring.public_keys()).serial_hex == pass_doc["serial"]
