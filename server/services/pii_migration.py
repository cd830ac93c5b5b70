"""Migrate personal data stored the old way (issue 10): run at every start-up, idempotent.

Before, a trainee account kept ``trainee.id_masked`` (``1101**********002X``)
beside the birth date in clear — together about 9 candidate ID numbers — and
e-mails in clear (often the phone number, ``139…@139.com``). This step:

- ``accounts``: removes ``trainee.id_masked``, seals ``trainee.birth_date`` and
  ``trainee.email`` (see :mod:`server.services.accounts.personal`);
- ``audit_log``: replaces masked ID numbers in ``subject`` by the account
  reference ``trainee:<id>`` and drops the phone masks of ``profile.phone_change``;
- ``invoice_templates``: seals e-mail, 地址电话 and 开户行及账号;
- ``staff_import_chunks``: seals birth dates and e-mails of open import payloads, and the
  masks kept in row verdicts;
- ``photo_jobs``: seals the masked file names kept in a job's verdicts.

The last two live a day and a week: their stored masks alone leave enough
candidates, but no mask is kept at rest anywhere.

Each document is rewritten by one update whose filter names the values read,
so a concurrent write by a running server (which already writes the new way)
is never overwritten: that document is simply left to the write. A second run
finds nothing to do. Nothing personal is logged, only counts.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from server.services.accounts.personal import SEALED_TRAINEE_FIELDS, seal_trainee, trainee_subject
from server.services.enrollment.templates import INVOICE_SEALED
from server.services.pii import FieldCipher, is_token, seal

log = logging.getLogger(__name__)

# A masked ID number as the old code stored it: up to 4 characters, at least 6 stars, up to 4.
_MASKED_ID = re.compile(r"[0-9A-Z]{0,4}\*{6,}[0-9A-Z]{0,4}")


async def migrate(db: AsyncDatabase[dict[str, Any]], cipher: FieldCipher) -> dict[str, int]:
    """Rewrite what the old code stored in clear; how many documents of each collection changed."""
    counts = {
        "accounts": await _accounts(db, cipher),
        "audit_log": await _audit_log(db),
        "invoice_templates": await _invoice_templates(db, cipher),
        "staff_import_chunks": await _import_chunks(db, cipher),
        "photo_jobs": await _photo_jobs(db, cipher),
    }
    if any(counts.values()):
        log.info("personal data migrated: %s", ", ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


def _clear(value: Any) -> bool:
    """A stored value the old code left in clear (a string that is not a token)."""
    return isinstance(value, str) and not is_token(value)


async def _accounts(db: AsyncDatabase[dict[str, Any]], cipher: FieldCipher) -> int:
    changed = 0
    fields = {f"trainee.{name}": 1 for name in (*SEALED_TRAINEE_FIELDS, "id_masked")}
    async for doc in db["accounts"].find({"role": "trainee"}, fields):
        t = doc.get("trainee") or {}
        clear = {f"trainee.{n}": t[n] for n in SEALED_TRAINEE_FIELDS if _clear(t.get(n))}
        if not clear and "id_masked" not in t:
            continue
        update: dict[str, Any] = {"$unset": {"trainee.id_masked": ""}}
        if clear:
            update["$set"] = seal_trainee(cipher, clear, prefix="trainee.")
        result = await db["accounts"].update_one({"_id": doc["_id"], **clear}, update)
        changed += result.modified_count
    return changed


async def _audit_log(db: AsyncDatabase[dict[str, Any]]) -> int:
    changed = 0
    query = {"$or": [{"subject": {"$regex": r"\*\*\*\*\*\*"}},
                     {"action": "profile.phone_change", "details.from": {"$exists": True}},
                     {"action": "profile.phone_change", "details.to": {"$exists": True}}]}
    async for entry in db["audit_log"].find(query):
        update: dict[str, Any] = {"$unset": {"details.from": "", "details.to": ""}}
        subject = entry.get("subject")
        if isinstance(subject, str) and _MASKED_ID.search(subject):
            update["$set"] = {"subject": _MASKED_ID.sub(await _reference(db, entry), subject)}
        result = await db["audit_log"].update_one({"_id": entry["_id"], "subject": subject}, update)
        changed += result.modified_count
    return changed


async def _reference(db: AsyncDatabase[dict[str, Any]], entry: dict[str, Any]) -> str:
    """What replaces a mask in an audit subject: the trainee's account reference."""
    subject_id = entry.get("subject_id")
    if entry.get("action", "").startswith("enrollment.") and subject_id is not None:
        # The subject of an enrollment entry is the enrollment; its trainee is one lookup away.
        enrollment = await db["enrollments"].find_one({"_id": subject_id}, {"trainee_id": 1})
        return trainee_subject(enrollment["trainee_id"]) if enrollment else "trainee"
    return trainee_subject(subject_id) if subject_id is not None else "trainee"


async def _invoice_templates(db: AsyncDatabase[dict[str, Any]], cipher: FieldCipher) -> int:
    changed = 0
    async for doc in db["invoice_templates"].find({}, dict.fromkeys(INVOICE_SEALED, 1)):
        clear = {name: doc[name] for name in INVOICE_SEALED if _clear(doc.get(name)) and doc[name]}
        if not clear:
            continue
        sealed = {name: seal(cipher, value, context=INVOICE_SEALED[name]) for name, value in clear.items()}
        result = await db["invoice_templates"].update_one({"_id": doc["_id"], **clear}, {"$set": sealed})
        changed += result.modified_count
    return changed


async def _import_chunks(db: AsyncDatabase[dict[str, Any]], cipher: FieldCipher) -> int:
    changed = 0
    async for chunk in db["staff_import_chunks"].find({"kind": {"$in": ["payload", "rows"]}}):
        items = chunk.get("items") or []
        if chunk["kind"] == "rows":
            if not any(_clear(i.get("id_masked")) for i in items):
                continue
            sealed = [{**i, "id_masked": seal(cipher, i.get("id_masked"), context="id_masked")} for i in items]
        elif any(_clear(i.get("birth_date")) or _clear((i.get("profile") or {}).get("email")) for i in items):
            sealed = [{**i, "birth_date": seal(cipher, i.get("birth_date"), context="birth_date"),
                       "profile": seal_trainee(cipher, i.get("profile") or {})} for i in items]
        else:
            continue
        # Chunks are written once and never changed: the items read are the guard.
        result = await db["staff_import_chunks"].update_one({"_id": chunk["_id"], "items": items},
                                                            {"$set": {"items": sealed}})
        changed += result.modified_count
    return changed


async def _photo_jobs(db: AsyncDatabase[dict[str, Any]], cipher: FieldCipher) -> int:
    changed = 0
    async for job in db["photo_jobs"].find({}, {"files": 1}):
        files = job.get("files") or []
        if not any(_clear(f.get("file")) for f in files):
            continue
        sealed = [{**f, "file": seal(cipher, f.get("file"), context="photo_file_name")} for f in files]
        # A running job pushes verdicts: the array read is the guard (a miss is sealed at the next start).
        result = await db["photo_jobs"].update_one({"_id": job["_id"], "files": files}, {"$set": {"files": sealed}})
        changed += result.modified_count
    return changed
