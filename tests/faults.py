"""Fault injection for tests, outside production code: a database whose writes can "crash".

A service built on :class:`FaultyDatabase` behaves exactly as on the real one (same client,
same server, same transactions) until its plan says otherwise: then the next write raises
:class:`Crash` *before* it reaches the server, as if the process died between two writes.
Crash-injection tests run an action with ``crash_before=1, 2, 3…`` until it completes, and
after each crash check (and repair) what the database holds.

Other plans: ``fail_on`` makes writes to one collection raise (a notifier or a step that
fails), ``before_write`` runs a coroutine before each write (to race a step with another),
``rewrite`` changes the arguments of a write (a control run: the same step without the guard
in its filter).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

# The methods that change documents (GridFS writes go through insert_one/insert_many/delete_*).
WRITE_METHODS = (
    "insert_one", "insert_many", "update_one", "update_many", "replace_one", "delete_one", "delete_many",
    "find_one_and_update", "find_one_and_replace", "find_one_and_delete", "bulk_write",
)


class Crash(Exception):  # noqa: N818 — it is a crash, not an error the code should handle
    """Injected: the process stopped here."""


@dataclass
class FaultPlan:
    """What the faulty database does: count writes, crash before the N-th, fail some collections."""

    crash_before: int | None = None  # 1 = crash before the first write
    fail_on: frozenset[str] = frozenset()  # collection names whose writes raise Crash
    before_write: Callable[[str, str], Awaitable[None]] | None = None
    # (collection, method, args, kwargs) -> (args, kwargs) actually sent
    rewrite: Callable[[str, str, tuple[Any, ...], dict[str, Any]], tuple[tuple[Any, ...], dict[str, Any]]] | None = None
    writes: list[tuple[str, str]] = field(default_factory=list)  # (collection, method) done so far
    crashed: bool = False

    async def check(self, collection: str, method: str) -> None:
        """Called before each write: raise Crash when the plan says so, else record the write."""
        if self.before_write is not None:
            await self.before_write(collection, method)
        if collection.split(".")[0] in self.fail_on or (
            self.crash_before is not None and len(self.writes) + 1 >= self.crash_before
        ):
            self.crashed = True
            raise Crash(f"crash before write {len(self.writes) + 1}: {collection}.{method}")
        self.writes.append((collection, method))


class FaultyCollection(AsyncCollection[dict[str, Any]]):
    """A collection whose writes first ask the plan."""

    plan: FaultPlan

    def __getitem__(self, name: str) -> FaultyCollection:
        return _collection(self.database, f"{self.name}.{name}", self.plan)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> FaultyCollection:
        if name.startswith("_"):
            return super().__getattr__(name)  # type: ignore[misc, no-any-return]
        return self[name]

    def with_options(self, **options: Any) -> FaultyCollection:  # type: ignore[override]
        inner = super().with_options(**options)  # the options GridFS and callers ask for, kept
        return _collection(self.database, self.name, self.plan, codec_options=inner.codec_options,
                           read_preference=inner.read_preference, write_concern=inner.write_concern,
                           read_concern=inner.read_concern)


def _write_method(method: str) -> Callable[..., Awaitable[Any]]:
    async def write(self: FaultyCollection, *args: Any, **kwargs: Any) -> Any:
        await self.plan.check(self.name, method)
        if self.plan.rewrite is not None:
            args, kwargs = self.plan.rewrite(self.name, method, args, kwargs)
        return await getattr(AsyncCollection, method)(self, *args, **kwargs)

    write.__name__ = method
    return write


for _method in WRITE_METHODS:
    setattr(FaultyCollection, _method, _write_method(_method))


def _collection(
    database: AsyncDatabase[dict[str, Any]], name: str, plan: FaultPlan, **options: Any
) -> FaultyCollection:
    collection = FaultyCollection(database, name, False, **options)
    collection.plan = plan
    return collection


class FaultyDatabase(AsyncDatabase[dict[str, Any]]):
    """The same database on the same client, with a :class:`FaultPlan` in front of every write."""

    def __init__(self, inner: AsyncDatabase[dict[str, Any]], plan: FaultPlan) -> None:
        super().__init__(inner.client, inner.name, inner.codec_options, inner.read_preference,
                         inner.write_concern, inner.read_concern)
        self.plan = plan

    def __getitem__(self, name: str) -> FaultyCollection:
        return _collection(self, name, self.plan)

    def get_collection(self, name: str, **options: Any) -> FaultyCollection:  # type: ignore[override]
        return _collection(self, name, self.plan, **options)

    def with_options(self, **options: Any) -> FaultyDatabase:  # type: ignore[override]
        inner = super().with_options(**options)
        return FaultyDatabase(inner, self.plan)
