"""Every collection has one owner (issue 9): the module that writes it and holds its invariants.

A structural check, like the seat-field one in ``tests/services/catalog/test_seats.py``: it scans
``server/services/**/*.py`` for writes on collections named in the code — ``db["name"].update_one(...)``,
``self.db["name"]...``, or through an alias ``self.x = db["name"]`` / ``x = db[NAME]`` — and asserts
that each collection is written only by the modules the table below names. Other modules call the
owner's methods (``services/privacy.py`` does so inside its transaction).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "server" / "services"

WRITE_METHODS = frozenset({
    "insert_one", "insert_many", "update_one", "update_many", "replace_one", "delete_one", "delete_many",
    "find_one_and_update", "find_one_and_replace", "find_one_and_delete", "bulk_write",
})

# collection -> the modules (relative to server/services) allowed to write it.
# (``addresses`` and ``invoice_templates`` are written by enrollment/templates.py through
# ``self.db[kind.collection]``: a name this scan cannot see, and no other module writes them.)
# pii_migration.py: the start-up migration of issue 10 re-seals old personal data in place, in
# every collection that held some; a one-off step outside any domain, kept where it is for now.
_MIGRATION = "pii_migration.py"
OWNERS: dict[str, set[str]] = {
    "accounts": {"accounts/repository.py", _MIGRATION},  # everyone else through AccountRepository
    "tokens": {"accounts/tokens.py"},
    "sms_codes": {"accounts/sms.py"},
    "rate_limits": {"accounts/throttle.py"},
    "wechat_bind_tickets": {"accounts/login.py"},
    "audit_log": {"audit.py", _MIGRATION},
    "courses": {"catalog/catalog.py"},
    "sessions": {"catalog/catalog.py", "catalog/seats.py"},  # the seat fields: seats.py only (test_seats)
    "waitlist": {"catalog/waitlist.py"},
    "enrollments": {"enrollment/enrollments.py"},
    "invoice_templates": {"enrollment/templates.py", _MIGRATION},
    "qualifications": {"profile/qualifications.py"},
    "staff_imports": {"staff/imports.py"},
    "staff_import_chunks": {"staff/imports.py", _MIGRATION},
    "photo_jobs": {"staff/photos.py", _MIGRATION},
    "jobs": {"jobs/queue.py"},
    "job_schedule": {"jobs/runner.py"},
    "notify_subscriptions": {"accounts/subscriptions.py"},
    "notify_deliveries": {"jobs/notify.py"},
    # ocr.py writes only ``ocr``, invoices.py only ``invoice_issue``
    "payments": {"payments/payments.py", "payments/ocr.py", "payments/invoices.py"},
    "association_settings": {"payments/account.py"},
    "passes": {"passes/passes.py"},
    "pass_keys": {"passes/keys.py"},
    "pass_session_numbers": {"passes/numbers.py"},
    "checkins": {"passes/checkins.py"},
    "checkin_conflicts": {"passes/checkins.py"},
    "pass_pdf_jobs": {"passes/documents.py"},
    "results": {"results/results.py"},
    "certificates": {"certificates/certificates.py"},
    "certificate_counters": {"certificates/certificates.py"},
    "certificate_settings": {"certificates/certificates.py"},
    "certificate_bundles": {"certificates/bundles.py"},
    # The migration runner's records and lease; it lives outside services (server/migrations/runner.py),
    # see test_migrations_are_written_only_by_the_runner.
    "migrations": set(),
    "wechat_tokens": {"wechat_tokens.py"},  # the access token shared by every process
    "notification_texts": {"notify_texts.py"},  # the admin's wording of each notification kind
}
# The staff second factor writes ``staff.totp`` of staff accounts with its single-use guard
# (``last_step``) in one update; staff accounts never come from a staff import, which is what the
# repository's default filter hides.
OWNERS["accounts"].add("accounts/totp.py")


# GridFS bucket -> the module that owns it (the only one that opens it, for reading too).
BUCKET_OWNERS = {
    "photos": "profile/photos.py",
    "qualification_images": "profile/qualifications.py",
    "unit_licences": "staff/verification.py",
    "job_files": "jobs/queue.py",
    "payment_proofs": "payments/payments.py",
    "invoice_files": "payments/invoices.py",
    "certificate_bundles": "certificates/bundles.py",
}


def _constants(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "text"``: collection names given by a constant (``db[COLLECTION]``)."""
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            found.update({t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)})
    return found


def _collection(node: ast.AST, constants: dict[str, str]) -> str | None:
    """The name in ``db[...]`` or ``<anything>.db[...]``, when it is known from the source."""
    if not isinstance(node, ast.Subscript):
        return None
    base = node.value
    if not ((isinstance(base, ast.Name) and base.id == "db") or (isinstance(base, ast.Attribute) and base.attr == "db")):
        return None
    key = node.slice
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        return key.value
    if isinstance(key, ast.Name):
        return constants.get(key.id)
    return None


def _alias(node: ast.AST) -> str | None:
    """``self.x`` or ``x`` as a key for aliases of a collection."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return f"self.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    return None


def writes_in(source: str) -> set[str]:
    """The collections a module's source writes by name, directly or through an alias."""
    tree = ast.parse(source)
    constants = _constants(tree)
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and (name := _collection(node.value, constants)) is not None:
            aliases.update({key: name for t in node.targets if (key := _alias(t)) is not None})
    written: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITE_METHODS:
            target = node.func.value
            name = _collection(target, constants)
            if name is None and (key := _alias(target)) is not None:
                name = aliases.get(key)
            if name is not None:
                written.add(name)
    return written


def writers() -> dict[str, set[str]]:
    """collection -> the service modules that write it."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted(SERVICES.rglob("*.py")):
        for name in writes_in(path.read_text()):
            found[name].add(str(path.relative_to(SERVICES)))
    return dict(found)


def test_every_collection_is_written_only_by_its_owners() -> None:
    wrong = {name: sorted(modules - OWNERS.get(name, set())) for name, modules in writers().items()}
    assert {name: modules for name, modules in wrong.items() if modules} == {}


def buckets_in(source: str) -> set[str]:
    """The GridFS buckets a module opens (``AsyncGridFSBucket(db, bucket_name=...)``), or ``?`` when unknown."""
    tree = ast.parse(source)
    constants = _constants(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "AsyncGridFSBucket":
            name = next((k.value for k in node.keywords if k.arg == "bucket_name"), None)
            if isinstance(name, ast.Constant):
                found.add(name.value)
            else:
                found.add(constants.get(name.id, "?") if isinstance(name, ast.Name) else "?")
    return found


def test_every_bucket_is_opened_only_by_its_owner() -> None:
    opened = {(name, str(path.relative_to(SERVICES)))
              for path in sorted(SERVICES.rglob("*.py")) for name in buckets_in(path.read_text())}
    assert opened == set(BUCKET_OWNERS.items())


def test_privacy_writes_nothing_itself() -> None:
    assert writes_in((SERVICES / "privacy.py").read_text()) == set()


def test_the_scan_sees_direct_and_aliased_writes() -> None:
    """The guard of the guard: each way of naming a collection is found (a scan that sees nothing passes)."""
    source = '''
COLLECTION = "c"
class S:
    def __init__(self, db):
        self.db = db
        self.entries = db["b"]
    async def f(self, db):
        await self.db["a"].delete_many({})
        await self.entries.update_one({}, {})
        await db[COLLECTION].insert_one({})
        local = self.db["d"]
        await local.find_one_and_update({}, {})
        await self.db["e"].find_one({})
'''
    assert writes_in(source) == {"a", "b", "c", "d"}
    assert writers()["enrollments"] >= {"enrollment/enrollments.py"}


def test_migrations_are_written_only_by_the_runner() -> None:
    """server/migrations: the runner writes its own collection and nothing else (steps call owners)."""
    root = SERVICES.parent / "migrations"
    found = {str(path.relative_to(root)): writes_in(path.read_text()) for path in sorted(root.rglob("*.py"))}
    assert {name: written for name, written in found.items() if written} == {"runner.py": {"migrations"}}
