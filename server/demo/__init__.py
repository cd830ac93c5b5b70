"""Demo data: what ``make run`` shows a newcomer.

One mechanism that every feature extends: a loader is an async function that
takes the services, writes its part through the services (never raw inserts)
and returns the lines to print. Loaders run in order, once per database: a
marker in the ``meta`` collection records that the demo was loaded.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from pymongo.errors import DuplicateKeyError

from server.demo.admin_queue import demo_admin_queue
from server.demo.backoffice import demo_backoffice, demo_waitlist_session
from server.demo.catalog import catalog as demo_catalog
from server.demo.enrollment import demo_enrollments
from server.demo.notifications import demo_notifications
from server.demo.passes import demo_passes
from server.demo.pay_screens import demo_pay_screens
from server.demo.payments import demo_payments
from server.demo.results import demo_results
from server.demo.results_entry import demo_results_entry
from server.demo.review_queue import demo_review_queue
from server.demo.staff import demo_unit
from server.demo.staff_totp import demo_staff_totp
from server.demo.trainee import demo_trainee
from server.models.accounts import StaffCreate
from server.services.container import Services

log = logging.getLogger(__name__)

DemoLoader = Callable[[Services], Awaitable[list[str]]]



async def association_staff(services: Services) -> list[str]:
    """An association admin; its password is random and printed this once."""
    password = "Demo-" + secrets.token_urlsafe(9)
    await services.accounts.create_staff(
        StaffCreate(username="admin", role="admin", name="协会管理员", password=password)
    )
    return [f"  协会管理员 / association admin: 账号 admin  密码 {password}"]


# Feature areas append their loader here (order matters: later ones may use earlier data).
LOADERS: list[DemoLoader] = [
    association_staff,
    demo_trainee,  # trainee.py: a trainee with profile and ID photo
    demo_waitlist_session,  # backoffice.py: a one-seat session (filled by demo_backoffice, below)
    demo_catalog,  # catalog.py: courses and sessions (open, future, closed)
    demo_unit,  # staff.py: a unit with bound staff
    demo_enrollments,  # enrollment.py: self and unit enrollments
    demo_notifications,  # notifications.py: WeChat subscribe-message consent of the demo trainee
    demo_payments,  # payments.py: the association account; payments waiting, rejected, approved
    demo_passes,  # passes.py: a scanner, the demo trainee's approved enrollment and pass
    demo_results,  # results.py: a finished session with published results, certificates (one revoked), the seal
    demo_pay_screens,  # pay_screens.py: invoice templates, the unit's staff waiting to pay (web 企业报名缴费)
    demo_review_queue,  # review_queue.py: two reviewers, a second unit's twelve payments waiting (web 缴费审核)
    demo_admin_queue,  # admin_queue.py: a unit waiting for verification, a dead job (协会后台)
    demo_results_entry,  # results_entry.py: a finished session ready for result entry (back office 成绩管理)
    demo_backoffice,  # backoffice.py: a full session with a waitlist, a session in training today with check-ins
]

MARKER_ID = "demo"


async def load_demo(services: Services) -> list[str] | None:
    """Run every loader once per database; the lines to print, or None when already loaded."""
    meta = services.db["meta"]
    try:
        await meta.insert_one({"_id": MARKER_ID, "state": "loading", "at": datetime.now(UTC)})
    except DuplicateKeyError:
        return None  # another process, or an earlier run, did it
    lines: list[str] = []
    try:
        for loader in LOADERS:
            lines.extend(await loader(services))
        lines.extend(await demo_staff_totp(services))  # after every loader: all demo staff get the demo TOTP
    except BaseException:
        # Let the next start try again rather than leave a half-loaded demo marked done.
        await meta.delete_one({"_id": MARKER_ID})
        raise
    await meta.update_one({"_id": MARKER_ID}, {"$set": {"state": "loaded"}})
    log.info("demo data loaded (%d loaders)", len(LOADERS))
    return lines
