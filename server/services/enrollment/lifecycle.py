"""The enrollment lifecycle in one place: its states, the allowed transitions, and the one guard.

Every change of an enrollment's status is one of the named :data:`TRANSITIONS` below, applied by
:meth:`server.services.enrollment.enrollments.EnrollmentService._transition` as a single guarded
update whose filter carries :func:`guard` (``status`` in the transition's sources): of two racing
transitions exactly one finds the enrollment in a source state. Nothing else writes ``status``.

::

    pending_payment ──submit──▶ payment_submitted ──approve──▶ approved ──finish──▶ completed
          │    ▲                       │                           │       (已结业, no longer active:
          │    └─────────submit────────┤ reject (new pay_by)       │        the course may be retaken)
          │                            │              publish_* ───┴──────────────┐ (approved or completed)
          │                            │                                          ▼
          │                            │          completed_passed ◀─correct_*─▶ completed_failed ◀─▶ absent
          │                            ▼
          │                        rejected
          │                            │
          ├──cancel / expire───────────┴──cancel / expire──▶ cancelled / expired  (seat freed, not active)

======================  ============================  ======================  =======================
transition              from                          to                      effect
======================  ============================  ======================  =======================
``submit_payment``      pending_payment, rejected     payment_submitted       ``payment_id`` set
``approve_payment``     payment_submitted             approved                keeps the seat
``reject_payment``      payment_submitted             rejected                ``pay_by = now + term``
``cancel``              pending_payment, rejected     cancelled               seat freed, not active
``expire``              pending_payment, rejected     expired                 seat freed, not active
``finish``              approved                      completed               not active (retake)
``publish_passed``      approved, completed           completed_passed        results published: 合格
``publish_failed``      approved, completed           completed_failed        不合格 (may enroll again)
``publish_absent``      approved, completed           absent                  缺考 (may enroll again)
``correct_passed``      completed_failed, absent      completed_passed        a published result corrected
``correct_failed``      completed_passed, absent      completed_failed        (audited by the results area)
``correct_absent``      completed_passed, c._failed   absent
======================  ============================  ======================  =======================

Decisions:

- **Under review, an enrollment cannot be cancelled** (nor does it expire): the transfer is being
  checked; a rejection makes it cancellable again, an approved one is refunded by the association.
  So a payment and a cancel racing on an unpaid enrollment have exactly one winner.
- **A rejection gives a new deadline**: ``pay_by = now + PAYMENT_TERM_DAYS``; a rejected enrollment
  that is not paid again by then expires like an unpaid one and frees its seat.
- **A finished course stops counting**: ``finish`` (the exams area calls it per session or per
  enrollment; a periodic task calls it for sessions whose end date has passed) moves ``approved`` to
  ``completed`` and unsets ``active``, the field of the one-per-course unique index, so the trainee
  may enroll in the course again. A completed enrollment keeps its seat (the session is over).
- **``completed`` stays, for a session that ended without results** (issue 13): the periodic
  ``finish_ended_sessions`` still moves ``approved → completed`` the day after the end date, even when
  the session's results are drafts; publishing the results then *refines* it (``publish_*`` accept
  ``approved`` and ``completed``). So the periodic task never needs to know about results, a trainee is
  never stuck "active" because results are late, and a published verdict always lands.
- **The verdict is the status** once published: ``completed_passed`` (合格), ``completed_failed``
  (不合格), ``absent`` (缺考); none is active, so a failed or absent trainee may enroll again. A
  correction after publishing moves between the three (``correct_*``); the results area audits it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.models.enrollments import EnrollmentStatus

S = EnrollmentStatus


@dataclass(frozen=True)
class Transition:
    """One allowed move of an enrollment's status."""

    name: str
    sources: frozenset[EnrollmentStatus]
    target: EnrollmentStatus
    stamp: str | None = None  # a timestamp field set with the move
    leaves: bool = False  # unsets ``active``: stops counting for the one-per-course rule
    releases_seat: bool = False  # the seat goes back to the session (and on to the first in line)


UNPAID = frozenset({S.pending_payment, S.rejected})

SUBMIT_PAYMENT = Transition("submit_payment", UNPAID, S.payment_submitted, stamp="payment_submitted_at")
APPROVE_PAYMENT = Transition("approve_payment", frozenset({S.payment_submitted}), S.approved, stamp="approved_at")
REJECT_PAYMENT = Transition("reject_payment", frozenset({S.payment_submitted}), S.rejected, stamp="rejected_at")
CANCEL = Transition("cancel", UNPAID, S.cancelled, stamp="cancelled_at", leaves=True, releases_seat=True)
EXPIRE = Transition("expire", UNPAID, S.expired, stamp="expired_at", leaves=True, releases_seat=True)
FINISH = Transition("finish", frozenset({S.approved}), S.completed, stamp="completed_at", leaves=True)

# Published results (issue 13): the verdict becomes the status.
FINISHABLE = frozenset({S.approved, S.completed})
VERDICT_STATUS: dict[str, EnrollmentStatus] = {
    "passed": S.completed_passed, "failed": S.completed_failed, "absent": S.absent}
PUBLISH: dict[str, Transition] = {
    verdict: Transition(f"publish_{verdict}", FINISHABLE, target, stamp="results_published_at", leaves=True)
    for verdict, target in VERDICT_STATUS.items()}
CORRECT: dict[str, Transition] = {
    verdict: Transition(f"correct_{verdict}", frozenset(VERDICT_STATUS.values()) - {target}, target, leaves=True)
    for verdict, target in VERDICT_STATUS.items()}

TRANSITIONS: dict[str, Transition] = {t.name: t for t in (
    SUBMIT_PAYMENT, APPROVE_PAYMENT, REJECT_PAYMENT, CANCEL, EXPIRE, FINISH, *PUBLISH.values(), *CORRECT.values())}

# from → the statuses it may move to (derived from the transitions: the table of the README).
ALLOWED: dict[EnrollmentStatus, frozenset[EnrollmentStatus]] = {
    status: frozenset(t.target for t in TRANSITIONS.values() if status in t.sources) for status in S
}


def allowed(source: EnrollmentStatus | str, target: EnrollmentStatus | str) -> bool:
    """Whether an enrollment may move from ``source`` to ``target``."""
    return S(target) in ALLOWED[S(source)]


def guard(transition: Transition) -> dict[str, Any]:
    """The filter condition every update of ``transition`` carries: the status is one of its sources."""
    return {"status": {"$in": sorted(str(s) for s in transition.sources)}}


def verdict_transition(verdict: str, current: EnrollmentStatus | str) -> Transition | None:
    """The move that gives an enrollment in ``current`` the published ``verdict`` (passed / failed /
    absent): ``publish_*`` from approved or completed, ``correct_*`` from another verdict; None when it
    already has it or cannot have one (not approved)."""
    status = S(current)
    if status in FINISHABLE:
        return PUBLISH[verdict]
    if status in CORRECT[verdict].sources:
        return CORRECT[verdict]
    return None


def can(transition: Transition, status: EnrollmentStatus | str) -> bool:
    """Whether an enrollment in ``status`` may take ``transition`` (for messages; the guard decides)."""
    return S(status) in transition.sources
