"""The ``accounts`` collection's one repository: every reader and writer goes through it.

It hides the accounts of an unfinished Excel import from every query by default, so that
no reader can forget to (see server/services/staff/imports.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.results import DeleteResult, InsertManyResult, InsertOneResult, UpdateResult

from server.services.batching import ids_batcher

# Accounts of an Excel import whose commit has not finished carry ``import_pending`` (see
# server/services/staff/imports.py); every reader but the import and its recovery skips them.
VISIBLE: dict[str, Any] = {"import_pending": {"$exists": False}}


class AccountRepository:
    """The one way to the ``accounts`` collection: the collection's own methods, with the
    accounts of an unfinished import hidden by default.

    Each filter gets ``import_pending`` missing added, so that no reader (login, the
    staff list, bind, enrollment, photo matching, admin lookup…) can forget it and no
    update touches a hidden account. Only the import and its recovery pass
    ``include_pending=True``. Other keyword arguments (``session``, ``sort``,
    ``return_document``…) go to the collection unchanged.
    """

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._collection = db["accounts"]
        self._by_id = ids_batcher(self._collection, where=VISIBLE, name="accounts by id")

    async def by_id(self, account_id: ObjectId) -> dict[str, Any] | None:
        """The visible account with this id, or None. The look-ups of the same moment share one
        query (server/services/batching.py): the hot path of ``/me`` and of an enrollment."""
        return await self._by_id(account_id)

    @staticmethod
    def where(query: Mapping[str, Any], include_pending: bool = False) -> dict[str, Any]:
        """``query`` restricted to visible accounts unless ``include_pending``."""
        if include_pending:
            return dict(query)
        if query.get("import_pending", VISIBLE["import_pending"]) != VISIBLE["import_pending"]:
            # another condition on import_pending would be silently replaced: say what is meant
            raise ValueError("a query on import_pending must pass include_pending=True")
        return {**query, **VISIBLE}

    async def find_one(self, query: Mapping[str, Any], *args: Any, include_pending: bool = False,
                       **kwargs: Any) -> dict[str, Any] | None:
        """One account matching ``query``, or None."""
        return await self._collection.find_one(self.where(query, include_pending), *args, **kwargs)

    def find(self, query: Mapping[str, Any], *args: Any, include_pending: bool = False,
             **kwargs: Any) -> AsyncCursor[dict[str, Any]]:
        """A cursor over the accounts matching ``query``."""
        return self._collection.find(self.where(query, include_pending), *args, **kwargs)

    async def count_documents(self, query: Mapping[str, Any], *, include_pending: bool = False,
                              **kwargs: Any) -> int:
        """How many accounts match ``query``."""
        return await self._collection.count_documents(self.where(query, include_pending), **kwargs)

    async def find_one_and_update(self, query: Mapping[str, Any], update: Mapping[str, Any], *args: Any,
                                  include_pending: bool = False, **kwargs: Any) -> dict[str, Any] | None:
        """Update one matching account atomically; the document (before, or after if asked)."""
        return await self._collection.find_one_and_update(self.where(query, include_pending), update,
                                                          *args, **kwargs)

    async def update_one(self, query: Mapping[str, Any], update: Mapping[str, Any], *,
                         include_pending: bool = False, **kwargs: Any) -> UpdateResult:
        """Update one matching account."""
        return await self._collection.update_one(self.where(query, include_pending), update, **kwargs)

    async def update_many(self, query: Mapping[str, Any], update: Mapping[str, Any], *,
                          include_pending: bool = False, **kwargs: Any) -> UpdateResult:
        """Update every matching account."""
        return await self._collection.update_many(self.where(query, include_pending), update, **kwargs)

    async def replace_one(self, query: Mapping[str, Any], replacement: Mapping[str, Any], *,
                          include_pending: bool = False, **kwargs: Any) -> UpdateResult:
        """Replace one matching account (a deletion's tombstone)."""
        return await self._collection.replace_one(self.where(query, include_pending), replacement, **kwargs)

    async def distinct(self, key: str, query: Mapping[str, Any], *, include_pending: bool = False,
                       **kwargs: Any) -> list[Any]:
        """The distinct values of ``key`` among the matching accounts."""
        return await self._collection.distinct(key, self.where(query, include_pending), **kwargs)

    async def delete_many(self, query: Mapping[str, Any], *, include_pending: bool = False,
                          **kwargs: Any) -> DeleteResult:
        """Delete every matching account (only the import's roll-back does)."""
        return await self._collection.delete_many(self.where(query, include_pending), **kwargs)

    async def insert_one(self, doc: dict[str, Any], **kwargs: Any) -> InsertOneResult:
        """Insert one account (the unique ``login_key`` index is the guard)."""
        return await self._collection.insert_one(doc, **kwargs)

    async def insert_many(self, docs: list[dict[str, Any]], **kwargs: Any) -> InsertManyResult:
        """Insert many accounts (the import, hidden until its batch is revealed)."""
        return await self._collection.insert_many(docs, **kwargs)
