"""``python -m server backup --to FILE`` / ``restore --from FILE``: every collection and GridFS bucket.

The file is a gzip-compressed tar:

* ``collections/<name>.bson`` — the documents of one collection as raw BSON, one after another
  (what ``mongodump`` writes too). They are copied as stored, never decoded: sealed personal data
  stays sealed (the backup is useless without DATA_KEYS, and must be kept like the data anyway).
  A GridFS bucket is its two collections ``<bucket>.files`` and ``<bucket>.chunks``.
* ``manifest.json`` (last) — format version, time, database, server version, how consistency was
  obtained, and per collection the number of documents, bytes and a SHA-256 of its BSON.

Consistency: every collection is read inside **one read-only transaction with snapshot read
concern**, so the backup is the database at one point in time (checked on SecantusDB and on a
MongoDB replica set). MongoDB ends a transaction after ``transactionLifetimeLimitSeconds`` (60 s by
default): a database too big to read in that time fails with a clear message — use ``mongodump
--oplog`` or the replica set's snapshots there (deploy/README.md).

Restore first checks the whole file — gzip and tar integrity, every checksum and count against the
manifest — and writes nothing when anything is wrong. It restores into an empty database only
(apart from the migration records a start writes), unless ``force``: then each collection in the
file is emptied and refilled. Indexes are not in the file: the migrations (run before the command)
create them, so every unique rule holds while the documents go in.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import struct
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from pymongo.read_concern import ReadConcern

from server import __version__

log = logging.getLogger(__name__)

FORMAT = "association-training-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LOCK_ID = "lock"  # the migration runner's lease is never backed up nor restored
RAW = CodecOptions(document_class=RawBSONDocument, tz_aware=True)
BATCH_BYTES = 8 * 1024 * 1024


class BackupError(Exception):
    """The backup or restore cannot be done; the message says why (nothing was written by a restore)."""


@dataclass
class Summary:
    """What a backup or restore covered: collection -> document count."""

    counts: dict[str, int]
    manifest: dict[str, Any]


async def backup(db: AsyncDatabase[dict[str, Any]], target: Path) -> Summary:
    """Write every collection of ``db`` at one point in time to ``target`` (replaced atomically)."""
    names = sorted(n for n in await db.list_collection_names() if not n.startswith("system."))
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    entries: dict[str, dict[str, Any]] = {}
    fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as raw_file, tarfile.open(fileobj=raw_file, mode="w:gz") as tar:
            async with db.client.start_session() as session:
                try:
                    async with await session.start_transaction(read_concern=ReadConcern("snapshot")):
                        for name in names:
                            entries[name] = await _dump_collection(db, name, tar, session)
                except PyMongoError as exc:
                    raise BackupError(f"the database could not be read at one point in time ({exc}); "
                                      f"for a large database use mongodump or a snapshot (deploy/README.md)") from exc
            manifest = {
                "format": FORMAT, "version": FORMAT_VERSION, "server_version": __version__,
                "created_at": datetime.now(UTC).isoformat(), "database": db.name,
                "consistency": "one read-only transaction, snapshot read concern", "collections": entries,
            }
            _add(tar, MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False).encode())
        os.chmod(partial, 0o600)  # sealed data, but still everything the system knows
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return Summary({name: entry["count"] for name, entry in entries.items()}, manifest)


async def _dump_collection(db: AsyncDatabase[dict[str, Any]], name: str, tar: tarfile.TarFile,
                           session: Any) -> dict[str, Any]:
    collection = db.get_collection(name, codec_options=RAW)
    digest, count = hashlib.sha256(), 0
    with tempfile.TemporaryFile() as spool:
        async for doc in collection.find({"_id": {"$ne": LOCK_ID}} if name == "migrations" else {},
                                         session=session, sort=[("_id", 1)]):
            data = doc.raw
            spool.write(data)
            digest.update(data)
            count += 1
        size = spool.tell()
        spool.seek(0)
        info = tarfile.TarInfo(f"collections/{name}.bson")
        info.size, info.mtime, info.mode = size, int(datetime.now(UTC).timestamp()), 0o600
        tar.addfile(info, spool)
    return {"count": count, "bytes": size, "sha256": digest.hexdigest()}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(datetime.now(UTC).timestamp()), 0o600
    tar.addfile(info, io.BytesIO(data))


def verify(source: Path) -> dict[str, Any]:
    """Check the whole file against its manifest without writing anything; the manifest."""
    try:
        with tarfile.open(source, mode="r:gz") as tar:
            manifest = _manifest(tar)
            seen = set()
            for member in tar:
                if member.name == MANIFEST:
                    continue
                name = _collection_name(member)
                expected = manifest["collections"].get(name)
                if expected is None:
                    raise BackupError(f"{member.name} is not in the manifest")
                digest, count = hashlib.sha256(), 0
                for doc in _documents(tar.extractfile(member)):  # type: ignore[arg-type]
                    digest.update(doc)
                    count += 1
                if digest.hexdigest() != expected["sha256"] or count != expected["count"]:
                    raise BackupError(f"{name}: checksum or count differs from the manifest (the file is damaged)")
                seen.add(name)
            missing = set(manifest["collections"]) - seen
            if missing:
                raise BackupError(f"collections missing from the file: {', '.join(sorted(missing))}")
    except (OSError, EOFError, zlib.error, tarfile.TarError, ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"not a readable backup file ({type(exc).__name__}: {exc})") from exc
    return manifest


def _manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        member = tar.getmember(MANIFEST)
    except KeyError:
        raise BackupError("no manifest.json: not a backup of this system, or cut short") from None
    manifest = json.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
    if manifest.get("format") != FORMAT:
        raise BackupError("not a backup of this system (unknown format)")
    if manifest.get("version") != FORMAT_VERSION:
        raise BackupError(f"backup format version {manifest.get('version')} is not supported ({FORMAT_VERSION} is)")
    return dict(manifest)


def _collection_name(member: tarfile.TarInfo) -> str:
    if not (member.isfile() and member.name.startswith("collections/") and member.name.endswith(".bson")):
        raise BackupError(f"unexpected entry in the file: {member.name}")
    return member.name[len("collections/"):-len(".bson")]


def _documents(stream: IO[bytes]) -> Iterator[bytes]:
    """The raw BSON documents of a stream, one by one (each starts with its int32 length)."""
    while header := stream.read(4):
        if len(header) < 4:
            raise ValueError("truncated document")
        (length,) = struct.unpack("<i", header)
        if length < 5:
            raise ValueError("bad document length")
        body = stream.read(length - 4)
        if len(body) != length - 4:
            raise ValueError("truncated document")
        yield header + body


async def restore(db: AsyncDatabase[dict[str, Any]], source: Path, *, force: bool = False) -> Summary:
    """Verify ``source``, then load it into ``db`` (empty unless ``force``); nothing written on a bad file."""
    manifest = verify(source)
    if not force:
        occupied = [name for name in await db.list_collection_names()
                    if not name.startswith("system.") and name != "migrations"
                    and await db[name].estimated_document_count() > 0]
        if occupied:
            raise BackupError("the database is not empty (" + ", ".join(sorted(occupied)[:5]) +
                              "…); restore into an empty database, or pass --force to replace its contents")
    counts: dict[str, int] = {}
    with tarfile.open(source, mode="r:gz") as tar:
        for member in tar:
            if member.name == MANIFEST:
                continue
            name = _collection_name(member)
            collection = db.get_collection(name, codec_options=RAW)
            await collection.delete_many({"_id": {"$ne": LOCK_ID}} if name == "migrations" else {})
            counts[name] = 0
            batch: list[RawBSONDocument] = []
            size = 0
            for data in _documents(tar.extractfile(member)):  # type: ignore[arg-type]
                batch.append(RawBSONDocument(data, RAW))
                size += len(data)
                if size >= BATCH_BYTES or len(batch) >= 1000:
                    counts[name] += await _insert(collection, batch)
                    batch, size = [], 0
            counts[name] += await _insert(collection, batch)
    return Summary(counts, manifest)


async def _insert(collection: Any, batch: list[RawBSONDocument]) -> int:
    if batch:
        await collection.insert_many(batch, ordered=True, bypass_document_validation=True)
    return len(batch)
