"""Services hold the business rules. They never import Tornado.

Each area has its module here; ``container.build_services`` wires them once at
start-up from the settings, the database and the executor for CPU work;
handlers reach them through ``ApiHandler.services``; tests build their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from bson import ObjectId


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account, its role, and the token that proved it.

    ``scope`` is ``full``, or ``password_change`` after a login with a one-time secret.
    """

    account_id: ObjectId
    role: str
    token_id: ObjectId | None = None
    scope: str = "full"
