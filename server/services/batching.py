"""Group commit for hot reads and writes: the calls of one moment share one database command.

In a rush (issue 18) hundreds of requests ask the database the same kind of small question at
the same moment: "this account?", "already enrolled in this course?", "append this audit entry".
The embedded database answers one command at a time (about 2,000 finds/s on the reference
machine), and each command also costs the driver ~0.3 ms of the event loop. A :class:`Batcher`
turns the calls made while the previous command was on its way into one command (``$in``,
``insert_many``), so under load the cost per request falls with the load, and alone a call costs
what it did (one command, sent at the end of the current turn of the event loop).

Rules that keep it honest:

- **Never older than asked**: a call's command is sent after the call was made (at the end of
  the turn it was made in, or when the command before it came back), so a batched read is as
  fresh as a read of its own, and a write is acknowledged to each caller only once the database
  acknowledged it (the caller's answer still waits for its write: no entry is lost on a crash
  that a single write would have kept).
- **One command in flight per batcher**: the calls that arrive meanwhile wait for it and then
  go together; a quiet server never waits, a busy one sends fewer, larger commands.
- **Each caller gets its own answer**: the batch function returns one result (or exception) per
  item, in order; a failing command fails every call in it, as it would have failed each.
- **Not in a transaction**: a batch has no client session; callers inside a transaction use the
  collection directly.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

I = TypeVar("I")  # noqa: E741 — an item of a batch
R = TypeVar("R")  # the result of one item
K = TypeVar("K", bound=Hashable)

MAX_BATCH = 500


class Batcher(Generic[I, R]):
    """Calls of :meth:`__call__` made together are served by one call of ``run`` (see the module notes).

    ``run(items)`` returns a list as long as ``items``: each entry the result for that item or an
    exception to raise to its caller.
    """

    def __init__(self, run: Callable[[list[I]], Awaitable[Sequence[R | BaseException]]], *,
                 name: str, max_batch: int = MAX_BATCH) -> None:
        self._run = run
        self.name = name
        self.max_batch = max_batch
        self._waiting: list[tuple[I, asyncio.Future[R]]] = []
        self._busy: asyncio.AbstractEventLoop | None = None  # the loop on which a batch is scheduled or in flight

    async def __call__(self, item: I) -> R:
        """The result for ``item``, computed together with the other calls of the moment."""
        loop = asyncio.get_running_loop()
        if self._busy is not None and self._busy is not loop:  # a loop that ended mid-batch: start afresh
            self._busy, self._waiting = None, []
        future: asyncio.Future[R] = loop.create_future()
        self._waiting.append((item, future))
        if self._busy is None:
            self._busy = loop
            loop.call_soon(self._start)  # the other calls of this turn join it
        return await future

    def _start(self) -> None:
        batch, self._waiting = self._waiting[:self.max_batch], self._waiting[self.max_batch:]
        batch = [(item, future) for item, future in batch if not future.done()]  # a caller may have gone
        if not batch:
            self._busy = None
            if self._waiting:  # only cancelled calls were at the front
                self._busy = asyncio.get_running_loop()
                self._busy.call_soon(self._start)
            return
        task = asyncio.get_running_loop().create_task(self._serve(batch))
        task.add_done_callback(self._next)

    async def _serve(self, batch: list[tuple[I, asyncio.Future[R]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch {self.name}: {len(results)} results for {len(batch)} items")
        except BaseException as error:  # noqa: BLE001 — every caller of the batch gets the failure
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            if isinstance(error, asyncio.CancelledError):
                raise
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _next(self, _task: asyncio.Task[None]) -> None:
        if self._waiting:
            self._start()  # those who waited go at once, together
        else:
            self._busy = None


def one_each(keys: Sequence[K], found: dict[K, R]) -> list[R | None]:
    """The document of each key, in order; a key asked twice gets its own copy (callers may change theirs)."""
    seen: set[K] = set()
    out: list[R | None] = []
    for key in keys:
        doc = found.get(key)
        out.append(copy.deepcopy(doc) if key in seen and doc is not None else doc)
        seen.add(key)
    return out


def ids_batcher(collection: AsyncCollection[dict[str, Any]], *, name: str, where: Mapping[str, Any] | None = None
                ) -> Batcher[Any, dict[str, Any] | None]:
    """Reads by ``_id`` as one ``$in`` query (with ``where`` added): each caller gets its document or None."""

    async def run(ids: list[Any]) -> list[dict[str, Any] | None]:
        cursor = collection.find({**(where or {}), "_id": {"$in": list(dict.fromkeys(ids))}})
        return one_each(ids, {doc["_id"]: doc async for doc in cursor})

    return Batcher(run, name=name)


def insert_batcher(collection: AsyncCollection[dict[str, Any]], *, name: str) -> Batcher[dict[str, Any], None]:
    """Inserts as one unordered ``insert_many``: each caller hears of its own document only
    (a duplicate key raises :class:`DuplicateKeyError` to that caller, the others are inserted)."""

    async def run(docs: list[dict[str, Any]]) -> list[None | BaseException]:
        try:
            await collection.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            return _per_document(error, len(docs))
        return [None] * len(docs)

    return Batcher(run, name=name)


def _per_document(error: BulkWriteError, count: int) -> list[None | BaseException]:
    results: list[None | BaseException] = [None] * count
    for failure in error.details.get("writeErrors", []):
        index, code, message = failure["index"], failure.get("code"), failure.get("errmsg", "")
        results[index] = (DuplicateKeyError(message, code, failure) if code in (11000, 11001)
                          else error)
    if error.details.get("writeConcernErrors"):
        return [error] * count  # not known to be durable: nobody is told it is
    return results


def matches_batcher(
    collection: AsyncCollection[dict[str, Any]], *, by: str, within: str, where: Mapping[str, Any],
    projection: Mapping[str, Any], name: str,
) -> Batcher[tuple[Any, Any], list[dict[str, Any]]]:
    """Finds of ``{by: a, within: b, **where}`` for items ``(a, b)``: one query per distinct ``b``
    (``by: {$in: [...]}``), each caller getting the documents of its own pair (e.g. "is this trainee
    enrolled in this course?" for everyone refused at once)."""
    fields = {**projection, by: 1}

    async def run(items: list[tuple[Any, Any]]) -> list[list[dict[str, Any]]]:
        asked: dict[Any, list[Any]] = {}
        for a, b in items:
            asked.setdefault(b, []).append(a)
        found: dict[tuple[Any, Any], list[dict[str, Any]]] = {}

        async def find(b: Any, firsts: list[Any]) -> None:
            async for doc in collection.find({by: {"$in": list(dict.fromkeys(firsts))}, within: b, **where}, fields):
                found.setdefault((doc[by], b), []).append(doc)

        await asyncio.gather(*(find(b, firsts) for b, firsts in asked.items()))
        seen: set[tuple[Any, Any]] = set()
        out = []
        for item in items:
            docs = found.get(item, [])
            out.append(copy.deepcopy(docs) if item in seen else docs)
            seen.add(item)
        return out

    return Batcher(run, name=name)
