"""Token → principal, cached in the process, invalidated through a change stream on ``tokens``.

Every authenticated request used to cost a ``find`` on ``tokens``. This cache answers the repeat
requests of a live token from memory while keeping "a revoked token dies at once everywhere":

- **Invalidation.** A watcher task follows a change stream on ``tokens`` (SecantusDB and MongoDB
  replica sets support them). Every update, replace or delete of a token document evicts its entry,
  in every process, as the event arrives (measured: in the same millisecond as the write's
  acknowledgement; at most ``EMPTY_PAUSE_SECONDS`` later when the stream had just answered empty).
  This process's own changes also evict synchronously (:meth:`forget`).
- **Only while watched.** An entry is served only while the stream is open. When the stream fails
  (database restart, an error), the cache is emptied and bypassed (every request reads
  ``tokens``) until a new stream is open; a change missed in between cannot leave a stale entry.
- **No stale insert.** A request that read the token document stores it only if no event (and no
  restart of the stream) happened between its read and its store (the ``generation`` check): a
  revocation that raced the read either made the read see it, or bumps the generation.
- **Deadlines.** An entry keeps the token's absolute and idle deadlines and when it was last
  touched; a hit past a deadline, or due for the idle refresh (``TOUCH_INTERVAL``), goes to the
  database as before. Entries are bounded (``max_entries``, emptied when full).

The revoking process waits until its own stream has seen its revocation (bounded by
``settle_seconds``) before answering, so by the time a logout or a disabling is answered the
event is out to every process's stream. "At once" in the other processes is therefore the
stream's delivery: on a quiet machine the event is there before the write's acknowledgement;
under load (tests/services/accounts/test_principal_cache.py, two servers) within milliseconds,
asserted under 0.5 s. A strict guarantee would need a read per request (what this cache saves);
``TOKEN_CACHE=false`` restores it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection

from server.services import Principal

log = logging.getLogger(__name__)

_WATCHED = [{"$match": {"operationType": {"$in": ["update", "replace", "delete", "drop", "invalidate"]}}}]
RETRY_SECONDS = 1.0
# The embedded database wakes a waiting change stream on every write to any collection and answers
# it empty; asking again at once cost a round trip per write (a third of a millisecond of the event
# loop each, more than a tenth of an enrollment's CPU). After an empty answer the watcher pauses this
# long: at most 40 asks a second, and an event waits at most this much longer to be applied.
EMPTY_PAUSE_SECONDS = 0.025


@dataclass(frozen=True)
class CachedToken:
    """A live token as read from ``tokens``: its principal and its deadlines."""

    principal: Principal
    expires_at: datetime
    idle_until: datetime
    touched_at: datetime


class PrincipalCache:
    """Per-process cache of live tokens by hash; see the module notes for its invariants."""

    def __init__(self, tokens: AsyncCollection[dict[str, Any]], *, max_entries: int = 100_000,
                 settle_seconds: float = 1.0) -> None:
        self.tokens = tokens
        self.max_entries = max_entries
        self.settle_seconds = settle_seconds
        self.generation = 0  # bumped by every event and every (re)start of the stream
        self._by_hash: dict[str, CachedToken] = {}
        self._hash_of: dict[ObjectId, str] = {}
        self._watching = False
        self._task: asyncio.Task[None] | None = None
        self._seen: dict[ObjectId, asyncio.Event] = {}

    @property
    def live(self) -> bool:
        """Whether entries may be served (the change stream is open)."""
        return self._watching

    def start(self) -> None:
        """Start the watcher on the running loop (once; later calls do nothing)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="principal-cache-watch")

    async def close(self) -> None:
        """Stop the watcher and empty the cache."""
        task, self._task = self._task, None
        self._stop_serving()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def get(self, hashed: str, now: datetime, touch_interval: Any) -> Principal | None:
        """The principal of a cached live token, or None (not cached, or the database must decide)."""
        if not self._watching:
            return None
        entry = self._by_hash.get(hashed)
        if entry is None:
            return None
        if entry.expires_at <= now or entry.idle_until <= now or now - entry.touched_at > touch_interval:
            return None
        return entry.principal

    def put(self, hashed: str, entry: CachedToken, generation: int) -> None:
        """Store what a read at ``generation`` found, unless anything changed since (see the notes)."""
        if not self._watching or generation != self.generation:
            return
        if len(self._by_hash) >= self.max_entries:
            self._by_hash.clear()
            self._hash_of.clear()
        self._by_hash[hashed] = entry
        self._hash_of[entry.principal.token_id] = hashed

    def forget(self, token_id: ObjectId | None = None, *, account_id: ObjectId | None = None) -> None:
        """Evict at once what this process changed: one token, or every token of an account."""
        self.generation += 1
        if token_id is not None:
            self._evict(token_id)
        if account_id is not None:
            for entry in [e for e in self._by_hash.values() if e.principal.account_id == account_id]:
                self._evict(entry.principal.token_id)

    def expect(self, token_ids: list[ObjectId]) -> list[ObjectId]:
        """Before changing these tokens: note them, so that :meth:`settle` can wait for their events."""
        if self._watching:
            for token_id in token_ids:
                self._seen.setdefault(token_id, asyncio.Event())
        return token_ids

    async def settle(self, token_ids: list[ObjectId]) -> None:
        """After the change: wait (at most ``settle_seconds``) until this process's stream carried it."""
        events = [e for e in (self._seen.get(token_id) for token_id in token_ids) if e is not None]
        try:
            if events and self._watching:
                await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), self.settle_seconds)
        except TimeoutError:
            log.warning("token change not seen on the change stream within %.1f s", self.settle_seconds)
        finally:
            for token_id in token_ids:
                self._seen.pop(token_id, None)

    def settle_nothing(self, token_ids: Sequence[ObjectId]) -> None:
        """The change did not happen (nothing matched): stop expecting its event."""
        for token_id in token_ids:
            self._seen.pop(token_id, None)

    def _evict(self, token_id: ObjectId) -> None:
        hashed = self._hash_of.pop(token_id, None)
        if hashed is not None:
            self._by_hash.pop(hashed, None)

    def _stop_serving(self) -> None:
        self._watching = False
        self.generation += 1
        self._by_hash.clear()
        self._hash_of.clear()

    async def _watch(self) -> None:
        """Follow the change stream; on any failure stop serving, wait, and open a new one."""
        while True:
            try:
                async with await self.tokens.watch(_WATCHED, max_await_time_ms=500) as stream:
                    self.generation += 1
                    self._watching = True
                    while stream.alive:
                        change = await stream.try_next()
                        if change is None:  # the wait ended empty, or an unrelated write woke it: pause
                            await asyncio.sleep(EMPTY_PAUSE_SECONDS)
                            continue
                        self.generation += 1
                        token_id = (change.get("documentKey") or {}).get("_id")
                        if token_id is None:  # drop / invalidate: forget everything
                            self._stop_serving()
                            break
                        self._evict(token_id)
                        seen = self._seen.get(token_id)
                        if seen is not None:
                            seen.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — any failure: serve nothing from memory, retry
                if self._watching:  # once per outage, not once per retry
                    log.warning("token change stream failed (%s); token cache off until it is back",
                                type(exc).__name__)
            self._stop_serving()
            await asyncio.sleep(RETRY_SECONDS)
