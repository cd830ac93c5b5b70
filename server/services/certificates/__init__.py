"""Certificates (合格证, issue 13): numbered, revocable, publicly verifiable; their PDFs and the seal.

Owns ``certificates``, ``certificate_counters``, ``certificate_settings`` (the association's seal)
and ``certificate_bundles`` with the GridFS bucket ``certificate_bundles`` (a unit's download of a
session, built by the job runner). Invariants: a number (``SKX-2026-000123``) is unique and gapless
per type and year — the counter of the type and year is incremented in the same transaction as the
certificate's insert, so an insert that fails takes its number back with it; one valid certificate
per enrollment (unique index over ``live``); only a published 合格 result gets one; the public
verification code is random (128 bits), never the number.
"""
