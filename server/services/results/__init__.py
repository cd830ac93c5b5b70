"""Exam results (考试管理-查看成绩, issue 13): scores entered as drafts, published per session.

Owns ``results``. Invariants: one result per enrollment (unique index); a result is entered only for
an enrollment that sat the exam (payment approved); drafts are seen by association staff only;
publishing a session's results and finishing its enrollments (the verdict becomes the enrollment's
status, :mod:`server.services.enrollment.lifecycle`) happen in one transaction; a published result
changes only by an audited correction (old value, new value, reason).
"""
