"""A unit's download of a session's certificates: built by the job runner, its own only."""

from __future__ import annotations

import asyncio
import io
import zipfile
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pypdf import PdfReader

from server import errors
from server.models.certificates import BundleIn, RevokeIn
from server.services import Principal
from server.services.container import Services
from tests.services.payments.helpers import make_unit
from tests.services.results.helpers import REVIEWER, published


async def _done(services: Services, unit: Any, bundle_id: str) -> dict[str, Any]:
    for _ in range(600):
        doc = await services.certificate_bundles.get(unit, bundle_id)
        if doc["status"] == "done":
            return doc
        await asyncio.sleep(0.05)
    raise AssertionError("the bundle was not built")


async def test_a_unit_downloads_its_staffs_certificates_of_a_session(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    unit = await make_unit(db)
    _, docs = await published(services, db, [90, 80, 70, 20], unit=unit)
    sid = str(docs[0]["session_id"])
    await services.certificates.issue_session(REVIEWER, sid, ip=None)
    other = await make_unit(db, "另一家单位")
    with pytest.raises(errors.AppError) as caught:
        await services.certificate_bundles.request(other, BundleIn(session_id=sid), ip=None)
    assert caught.value.status == 404

    bundle = await services.certificate_bundles.request(unit, BundleIn(session_id=sid), ip=None)
    with pytest.raises(errors.AppError) as caught:
        await services.certificate_bundles.get(other, str(bundle["_id"]))
    assert caught.value.status == 404
    done = await _done(services, unit, str(bundle["_id"]))
    assert (done["done"], done["total"]) == (3, 3)
    name, ctype, data = await services.certificate_bundles.file(unit, str(bundle["_id"]))
    assert ctype == "application/zip" and name.endswith(".zip")
    archive = zipfile.ZipFile(io.BytesIO(data))
    numbers = sorted(c["number"] for c in await db["certificates"].find().to_list())
    assert sorted(n.split("-学员")[0] for n in archive.namelist()) == numbers
    assert all(archive.read(n).startswith(b"%PDF-") for n in archive.namelist())

    merged = await services.certificate_bundles.request(unit, BundleIn(session_id=sid, format="pdf"), ip=None)
    await _done(services, unit, str(merged["_id"]))
    _, ctype, pdf = await services.certificate_bundles.file(unit, str(merged["_id"]))
    assert ctype == "application/pdf" and len(PdfReader(io.BytesIO(pdf)).pages) == 3


async def test_staff_download_every_valid_certificate_of_a_session_their_own_bundle_only(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    unit = await make_unit(db)
    _, docs = await published(services, db, [90, 80, 75], unit=unit)
    sid = str(docs[0]["session_id"])
    await services.certificates.issue_session(REVIEWER, sid, ip=None)
    revoked = await db["certificates"].find_one({}, sort=[("seq", -1)])
    assert revoked is not None
    await services.certificates.revoke(REVIEWER, str(revoked["_id"]), RevokeIn(reason="撤销测试"), ip=None)
    # another unit's staff member's certificate: staff's bundle holds it too
    other_unit = await make_unit(db, "另一家单位")
    await db["certificates"].update_one({"seq": 1}, {"$set": {"unit_id": other_unit.account_id}})

    bundle = await services.certificate_bundles.request(REVIEWER, BundleIn(session_id=sid), ip=None)
    assert bundle["unit_id"] is None and bundle["total"] == 2  # the valid ones, of every unit
    admin = Principal(ObjectId(), "admin")
    for stranger in (admin, unit, other_unit):  # neither another staff member nor a unit sees it
        with pytest.raises(errors.AppError) as caught:
            await services.certificate_bundles.get(stranger, str(bundle["_id"]))
        assert caught.value.status == 404
    done = await _done(services, REVIEWER, str(bundle["_id"]))
    assert (done["done"], done["total"]) == (2, 2)
    _, ctype, data = await services.certificate_bundles.file(REVIEWER, str(bundle["_id"]))
    assert ctype == "application/zip" and len(zipfile.ZipFile(io.BytesIO(data)).namelist()) == 2
    # the unit's own bundle still holds its staff's only
    mine = await services.certificate_bundles.request(unit, BundleIn(session_id=sid), ip=None)
    assert mine["total"] == 1
