"""A unit's staff: add one, bind, edit, Excel import, bulk photos.

Owns ``staff_imports``, ``staff_import_chunks``, ``photo_jobs`` and the GridFS bucket ``unit_licences``;
writes accounts only through the accounts repository, and the binding's own fields (``trainee.unit_id``,
``trainee.bound_at``, ``trainee.unit_consent``, ``unit.verification``). Invariants: an import appears
whole or not at all; a unit binds registered people only when verified, and sees a person it did not
create in full only with that person's consent (``server/services/unit_access.py``).
"""
