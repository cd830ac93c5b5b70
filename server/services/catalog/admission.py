"""Admission to a session's seats in a rush: a FIFO line per session, and a "sold out" hint.

When an enrollment window opens, hundreds of requests for one session arrive together. Served all
at once they share the CPU and the database fairly, so the winners finish last and everyone waits.
This module gives the enrollment service two things, per process:

- **A line per session** (:meth:`Admission.turn`): at most ``concurrency`` (16) enrollments of
  one session are being worked on at a time, the rest wait in arrival order (first in, first
  out). When the session sells out, everyone still waiting is let go at once to hear "full".
  Winners go through first and finish quickly. The line is per process; across processes the
  seat ledger's guarded update stays the only guard, so the line is about speed, never about
  correctness. Measured (bench/README.md, rush): without a line the rush is 2–3 times slower than
  16 at a time — wide enough to keep the database busy while the event loop is slow, narrow
  enough that the winners do not share it with everyone.
- **A sold-out hint** (:meth:`sold_out` / :meth:`mark_sold_out`): once the ledger refused a seat
  because the session is full, with no seat held for a waitlist offer, the next newcomers are told
  "full" after one cheap read (are they already enrolled in the course?) instead of trying the
  ledger again. Invariants:

  * the hint only ever refuses, it never admits: every seat is still taken by the ledger's guarded
    update;
  * it is never set while seats are held for offers (an offered trainee must reach their seat);
  * it is dropped at once by every change of this process that can free a seat (the ledger's
    release, release of a hold, leaving the line, repair) and by any catalog change of this
    process (capacity, status: the catalog's ``generation``);
  * a seat freed by another process shows here after at most ``hint_seconds`` (1 s), the same
    staleness as the shared session page (session_list.py).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from bson import ObjectId


@dataclass(frozen=True)
class _SoldOut:
    course_id: ObjectId
    generation: int
    until: float


class _Line:
    """One session's line: ``width`` turns at a time, the others waiting in arrival order."""

    def __init__(self, width: int) -> None:
        self.free = width
        self.waiting: collections.deque[asyncio.Future[bool]] = collections.deque()
        self.users = 0  # in the line or holding a turn; the line is dropped at 0

    async def enter(self) -> bool:
        """Wait for a turn: True with a turn (give it back with :meth:`leave`), False when let go."""
        if self.free > 0 and not self.waiting:
            self.free -= 1
            return True
        ticket: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.waiting.append(ticket)
        try:
            return await ticket
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled() and ticket.result():
                self.leave()  # handed a turn just as the caller went away: pass it on
            elif ticket in self.waiting:
                self.waiting.remove(ticket)
            raise

    def leave(self) -> None:
        """Give a turn back: to the first still waiting, else to the pool."""
        while self.waiting:
            ticket = self.waiting.popleft()
            if not ticket.done():
                ticket.set_result(True)
                return
        self.free += 1

    def let_go(self) -> None:
        """Everyone waiting leaves the line without a turn (the session sold out)."""
        while self.waiting:
            ticket = self.waiting.popleft()
            if not ticket.done():
                ticket.set_result(False)


class Admission:
    """Per-process line and sold-out hint of each session (see the module notes)."""

    def __init__(self, *, concurrency: int = 16, hint_seconds: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.concurrency = concurrency
        self.hint_seconds = hint_seconds
        self.clock = clock
        self._lines: dict[ObjectId, _Line] = {}
        self._sold_out: dict[ObjectId, _SoldOut] = {}

    @contextlib.asynccontextmanager
    async def turn(self, session_id: ObjectId) -> AsyncIterator[None]:
        """Wait for this request's turn in the session's line (first come, first served).

        When the session is marked sold out, everyone still waiting leaves the line at once (without
        a turn): their answer is the sold-out refusal, which needs no turn.
        """
        line = self._lines.get(session_id)
        if line is None:
            line = self._lines[session_id] = _Line(self.concurrency)
        line.users += 1
        holding = False
        try:
            holding = await line.enter()
            yield
        finally:
            if holding:
                line.leave()
            line.users -= 1
            if line.users == 0:
                self._lines.pop(session_id, None)

    def sold_out(self, session_id: ObjectId, generation: int) -> ObjectId | None:
        """The course of the session when it is known to be full (hint fresh, catalog unchanged), else None."""
        hint = self._sold_out.get(session_id)
        if hint is None:
            return None
        if hint.generation != generation or hint.until <= self.clock():
            self._sold_out.pop(session_id, None)
            return None
        return hint.course_id

    def mark_sold_out(self, session_id: ObjectId, course_id: ObjectId, generation: int) -> None:
        """The ledger refused a newcomer: full, no seat held for an offer (the caller checked).

        Those waiting in the session's line are let go at once, to hear "full" without a turn.
        """
        self._sold_out[session_id] = _SoldOut(course_id, generation, self.clock() + self.hint_seconds)
        line = self._lines.get(session_id)
        if line is not None:
            line.let_go()

    def seat_freed(self, session_id: ObjectId) -> None:
        """A seat of the session may have come free (this process changed its ledger)."""
        self._sold_out.pop(session_id, None)
