"""The migration steps, in order. Add a step at the end; never change or reorder a released one.

``0001-indexes`` applies ``server.db.INDEXES`` as that tuple is when the server starts (read at run
time, not copied): it is versioned by a hash of the index definitions, so adding or changing an
index in ``server/db.py`` makes the next start apply them again (``create_indexes`` is idempotent:
existing indexes stay, new ones are built). An index removed from INDEXES is not dropped: dropping
is a step of its own, written when it is needed.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bson import json_util
from pymongo.asynchronous.database import AsyncDatabase

from server import db as db_module
from server.migrations.runner import Step
from server.services.pii import FieldCipher
from server.services.pii_migration import migrate as migrate_pii


def indexes_fingerprint() -> str:
    """A hash of every index definition in ``server.db.INDEXES`` (collection, keys, options), in order."""
    specs = [[spec.collection, [model.document for model in spec.indexes]] for spec in db_module.INDEXES]
    return hashlib.sha256(json_util.dumps(specs).encode()).hexdigest()[:16]


async def _indexes(db: AsyncDatabase[dict[str, Any]], cipher: FieldCipher | None) -> dict[str, int]:
    await db_module.ensure_indexes(db)
    return {"collections": len({spec.collection for spec in db_module.INDEXES}),
            "indexes": sum(len(spec.indexes) for spec in db_module.INDEXES)}


async def _pii(db: AsyncDatabase[dict[str, Any]], cipher: FieldCipher | None) -> dict[str, int] | None:
    """Seal personal data older versions stored in clear; a result (counts) while something changed."""
    if cipher is None:
        raise RuntimeError("the personal data step needs the data keys (DATA_KEYS)")
    counts = await migrate_pii(db, cipher)
    return {name: n for name, n in counts.items() if n} or None


STEPS: tuple[Step, ...] = (
    Step("0001-indexes", "create the indexes of server/db.py INDEXES", _indexes, version=indexes_fingerprint),
    # Runs at every start until a run finds nothing left in clear (a row a running job changed
    # meanwhile is sealed by the next run), then never again.
    Step("0002-pii-sealed", "seal personal data stored in clear by older versions (issue 10)", _pii,
         until_clean=True),
)


async def run_migrations(db: AsyncDatabase[dict[str, Any]], cipher: FieldCipher | None, **options: Any) -> Any:
    """Run :data:`STEPS` on ``db`` under the lease (``options``: the runner's timings); the outcome."""
    from server.migrations.runner import MigrationRunner

    return await MigrationRunner(db, STEPS, cipher, **options).run()
