"""The offline bundle: keys, roster with thumbnails, revocations, deltas; its size per trainee."""

from __future__ import annotations

import base64
from pathlib import Path

from server.services.container import Services
from tests.services.enrollment.helpers import as_trainee
from tests.services.passes.helpers import approved_enrollments

PORTRAIT = (Path(__file__).resolve().parents[2] / "fixtures" / "photos" / "portrait.jpg").read_bytes()


async def test_bundle_roster_revocations_and_delta(services: Services) -> None:
    session, enrollments = await approved_enrollments(services, 6)
    passes = []
    for e in enrollments:
        account = await services.db["accounts"].find_one({"_id": e["trainee_id"]})
        await services.photos.store(account, PORTRAIT, consent=True, actor=as_trainee(account), ip=None)
        passes.append(await services.passes.pass_for(as_trainee(account), str(e["_id"])))
    bundles = services.scanner_bundles
    full = await bundles.build(str(session["_id"]), since=None)
    assert {r.serial for r in full.roster} == {p["serial"] for p in passes}
    assert all(r.photo and len(base64.b64decode(r.photo)) < 4000 for r in full.roster)
    assert full.keys and full.revoked == [] and not full.delta
    assert full.valid_until > passes[0]["issued_at"]
    per_trainee = len(full.model_dump_json()) / len(full.roster)
    print(f"bundle: {per_trainee:.0f} bytes per trainee, {per_trainee * 500 / 1e6:.2f} MB for 500")
    assert per_trainee < 3500  # ≈ 1.7 MB for 500 trainees at most

    # A re-issue afterwards: the delta carries the new pass and the old serial revoked, nothing else.
    new = await services.passes.reissue(as_trainee({"_id": enrollments[0]["trainee_id"]}), str(enrollments[0]["_id"]),
                                        ip=None)
    delta = await bundles.build(str(session["_id"]), since=full.version)
    assert delta.delta and [r.serial for r in delta.roster] == [new["serial"]]
    assert delta.revoked == [passes[0]["serial"]]
    assert delta.version > full.version
