"""The demo shows passes: a scanner account and the demo trainee's pass, whose token verifies."""

from __future__ import annotations

from server.demo import load_demo
from server.services.container import Services
from server.services.passes.tokens import verify


async def test_demo_has_a_scanner_and_a_pass(services: Services) -> None:
    lines = await load_demo(services)
    assert lines is not None
    text = "\n".join(lines)
    assert "scanner" in text and "听课证" in text
    scanner = await services.db["accounts"].find_one({"role": "scanner"})
    assert scanner is not None
    [pass_doc] = await services.db["passes"].find().to_list()
    assert pass_doc["token"] in text
    assert verify(pass_doc["token"], await services.passes.keyring.public_keys()).serial_hex == pass_doc["serial"]
