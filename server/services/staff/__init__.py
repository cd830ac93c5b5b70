"""A unit's staff: add one, bind, edit, Excel import, bulk photos.

Owns ``staff_imports``, ``staff_import_chunks`` and ``photo_jobs``; writes accounts only through the
accounts repository. Invariants: an import appears whole or not at all.
"""
