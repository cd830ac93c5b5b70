"""Enrollments and the templates copied into them.

Owns ``enrollments``, ``addresses`` and ``invoice_templates``. Invariants: one active enrollment per
trainee and course; a status moves only along the guarded transitions.
"""
