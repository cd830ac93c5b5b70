"""Attendance passes (听课证) and venue check-in.

Owns ``passes``, ``pass_keys``, ``pass_session_numbers``, ``checkins``, ``checkin_conflicts`` and
``pass_pdf_jobs``.
Invariants: at most one valid pass per enrollment (unique partial index); at most one check-in per
pass per training day (unique index); a scan resent with the same client id is recorded once; the
private signing key never enters the database.
"""
