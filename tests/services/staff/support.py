"""Building the staff import service on another database (a faulty one) for crash and race tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from server.services.audit import AuditLog
from server.services.container import Services
from server.services.staff.imports import StaffImportService


def import_service(
    services: Services, db: AsyncDatabase[dict[str, Any]], *, cls: type[StaffImportService] = StaffImportService,
    now: Callable[[], datetime] | None = None,
) -> StaffImportService:
    """The import service of ``services``, but writing through ``db`` (and a subclass, for control runs)."""
    real = services.staff_imports
    return cls(db, accounts=services.accounts, staff=services.staff, cipher=services.cipher, audit=AuditLog(db),
               run_cpu=real.run_cpu, max_bytes=real.max_bytes, max_rows=real.max_rows, now=now)
