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
    # Attendance is real (the scanner's offline batch): the third trainee came one day of two, and the
    # course requires full attendance, so her 合格 got no certificate.
    roster = await services.results.roster(str(session["_id"]))
    assert roster.min_attendance_percent == 100
    assert sorted((r.attendance.label, r.meets_attendance) for r in roster.rows) == [
        ("1/2 天", False), ("2/2 天", True), ("2/2 天", True)]
    assert any("未发证" in line and "出勤 1/2 天" in line for line in lines)
    # The revoked certificate's result was corrected with a reason, audited with the old and new value.
    corrected = next(r for r in results if r["enrollment_id"] == certificates[1]["enrollment_id"])
    assert corrected["verdict"] == "failed" and corrected["corrections"][0]["old_score"] == 72
    assert await services.db["audit_log"].count_documents({"action": "result.correct"}) == 1
