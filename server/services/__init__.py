"""Services hold the business rules. They never import Tornado.

One package per domain (accounts, profile, catalog, enrollment, staff, jobs…); each
package's ``__init__`` names the collections it owns and the invariants it keeps, and no
other package writes those collections. Shared plumbing sits beside them (audit, pii, ids,
cpu). ``container.build_services`` wires everything once at start-up from the settings,
the database and the executors; handlers reach it through ``ApiHandler.services``; tests
build their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bson import ObjectId


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account, its role, and the token that proved it.

    ``scope`` is ``full``, ``password_change`` after a login with a one-time secret, or
    ``totp_setup`` for a staff member who has no second factor yet. ``authenticated_at`` is
    when the person last proved who they are on this token (password and second factor):
    admin actions ask for it within the last 15 minutes (``fresh`` endpoints).
    """

    account_id: ObjectId
    role: str
    token_id: ObjectId | None = None
    scope: str = "full"
    authenticated_at: datetime | None = None
