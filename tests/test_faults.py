import pytest
from pymongo.asynchronous.database import AsyncDatabase

from tests.faults import Crash, FaultPlan, FaultyDatabase


async def test_faulty_database_crashes_before_the_planned_write_and_keeps_transactions_and_gridfs(db):
    """The harness itself: writes counted (GridFS too), the planned one refused, transactions intact."""
    plan = FaultPlan(crash_before=3)
    fdb = FaultyDatabase(db, plan)
    assert isinstance(fdb, AsyncDatabase)
    c = fdb["things"]
    await c.insert_one({"a": 1})
    await c.update_one({"a": 1}, {"$set": {"b": 2}})
    with pytest.raises(Crash):
        await c.insert_one({"a": 2})
    assert await db["things"].count_documents({}) == 1
    assert await fdb["things"].find_one({"a": 1}) is not None
    async with fdb.client.start_session() as s:
        async def tx(s):
            await fdb["things"].insert_one({"x": 1}, session=s)
        plan.crash_before = None
        await s.with_transaction(tx)
    assert await db["things"].count_documents({}) == 2
    from gridfs import AsyncGridFSBucket
    b = AsyncGridFSBucket(fdb, "files")
    await b.upload_from_stream("f", b"data")
    assert plan.writes[-1][0].startswith("files.")
