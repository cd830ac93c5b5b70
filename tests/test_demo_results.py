"""The demo data shows results and certificates: a finished session, published results, two
certificates (one revoked), the seal, a printed verification URL that answers."""

from __future__ import annotations

from server.demo import load_demo
from server.services.container import Services


async def test_demo_has_published_results_and_two_certificates(services: Services) -> None:
    lines = await load_demo(services)
    assert lines is not None
    verify = next(line for line in lines if "verify (open on a phone)" in line)
    code = verify.rsplit("/", 1)[1]
    assert (await services.certificates.verify(code)).status == "valid"
    certificates = await services.db["certificates"].find().sort("seq", 1).to_list()
    assert [c["status"] for c in certificates] == ["valid", "revoked"]
    session = await services.db["sessions"].find_one({"_id": certificates[0]["session_id"]})
    assert session is not None and session["status"] == "closed" and session["end_date"] < certificates[0]["issued_on"]
    results = await services.db["results"].find({"session_id": session["_id"]}).to_list()
    assert sorted(r["verdict"] for r in results) == ["failed", "passed", "passed"]
    assert {r["status"] for r in results} == {"published"}
    assert (await services.certificates.seal()).set
