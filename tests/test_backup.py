"""backup / restore: a round trip of the demo data (GridFS included), one point in time, damaged files refused."""

from __future__ import annotations

import asyncio
import gzip
import io
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from server.backup import BackupError, backup, restore
from server.db import ensure_indexes
from server.demo import load_demo
from server.services.container import Services

RAW = CodecOptions(document_class=RawBSONDocument, tz_aware=True)


@pytest.fixture
async def empty_db(mongo_client: AsyncMongoClient[dict[str, Any]]) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """A second, empty database with the indexes (what a start on a new machine leaves)."""
    database = mongo_client[f"restore_{uuid.uuid4().hex[:12]}"]
    await ensure_indexes(database)
    try:
        yield database
    finally:
        await mongo_client.drop_database(database.name)


async def _contents(db: AsyncDatabase[dict[str, Any]]) -> dict[str, list[bytes]]:
    """Every collection's documents as raw BSON bytes, by _id order (the migration lease left out)."""
    found = {}
    for name in sorted(await db.list_collection_names()):
        docs = [d.raw async for d in db.get_collection(name, codec_options=RAW).find({"_id": {"$ne": "lock"}},
                                                                                    sort=[("_id", 1)])]
        if docs:
            found[name] = docs
    return found


async def test_round_trip_keeps_every_collection_and_file_byte_for_byte(
    services: Services, empty_db: AsyncDatabase[dict[str, Any]], tmp_path: Path
) -> None:
    await services.runner.stop()  # the demo's jobs would keep writing
    assert await load_demo(services) is not None
    await services.runner.stop()
    before = await _contents(services.db)
    assert {"accounts", "enrollments", "payments", "photos.chunks", "payment_proofs.chunks"} <= set(before)

    summary = await backup(services.db, tmp_path / "b.tar.gz")
    assert summary.counts["photos.files"] == len(before["photos.files"])
    restored = await restore(empty_db, tmp_path / "b.tar.gz")
    assert restored.counts == {name: len(docs) for name, docs in before.items()} | {
        name: 0 for name in summary.counts if name not in before}
    assert await _contents(empty_db) == before  # sealed fields are the same ciphertexts

    # A second restore into the now full database is refused unless forced.
    with pytest.raises(BackupError, match="not empty"):
        await restore(empty_db, tmp_path / "b.tar.gz")
    await empty_db["accounts"].delete_many({})
    await restore(empty_db, tmp_path / "b.tar.gz", force=True)
    assert await _contents(empty_db) == before


async def test_backup_is_one_point_in_time_under_concurrent_writes(
    db: AsyncDatabase[dict[str, Any]], empty_db: AsyncDatabase[dict[str, Any]], tmp_path: Path
) -> None:
    """Pairs written in one transaction to two collections: the backup holds both halves of each pair.

    (Control, run by hand: the same backup without its snapshot transaction held 3015 left, 3020 right.)
    """
    for name in ("b_left", "c_right"):  # reading them takes many round trips
        await db[name].insert_many([{"n": -1, "pad": "x" * 200} for _ in range(3000)])
    stop = asyncio.Event()

    async def writer() -> int:
        pairs = 0
        while not stop.is_set():
            async with db.client.start_session() as session:
                async def pair(s: Any, n: int = pairs) -> None:
                    await db["b_left"].insert_one({"n": n}, session=s)
                    await db["c_right"].insert_one({"n": n}, session=s)
                await session.with_transaction(pair)
            pairs += 1
            await asyncio.sleep(0)
        return pairs

    task = asyncio.create_task(writer())
    await asyncio.sleep(0.05)
    summary = await backup(db, tmp_path / "b.tar.gz")
    stop.set()
    written = await task
    assert 3000 + written > summary.counts["b_left"], "pairs were written during the backup"
    assert summary.counts["b_left"] == summary.counts["c_right"]


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "flipped byte":
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:])
    elif how == "wrong checksum":  # a well-formed archive whose collection differs from its manifest
        with tarfile.open(path, "r:gz") as tar:
            members = [(m, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]
        with tarfile.open(path, "w:gz") as tar:
            for member, content in members:
                if member.name == "collections/accounts.bson":
                    content = content[:-1] + b"\x01"  # the last document's final byte changed
                member.size = len(content)
                tar.addfile(member, io.BytesIO(content))
    elif how == "not a backup":
        path.write_bytes(gzip.compress(b"hello"))


@pytest.mark.parametrize("how", ["truncated", "flipped byte", "wrong checksum", "not a backup"])
async def test_a_damaged_file_is_refused_and_nothing_is_written(
    db: AsyncDatabase[dict[str, Any]], empty_db: AsyncDatabase[dict[str, Any]], tmp_path: Path, how: str
) -> None:
    await db["accounts"].insert_many([{"login_key": f"k{i}", "name": "x" * 100} for i in range(200)])
    await db["courses"].insert_one({"name": "c"})
    await backup(db, tmp_path / "b.tar.gz")
    _damage(tmp_path / "b.tar.gz", how)
    with pytest.raises(BackupError):
        await restore(empty_db, tmp_path / "b.tar.gz")
    assert await _contents(empty_db) == {}
