"""Payments by bank transfer (issue 11): the association's account, submitted proofs, the review.

Owns ``payments``, ``association_settings`` and the GridFS bucket ``payment_proofs``. Invariants: an
enrollment is in at most one open payment; a payment and its enrollments change status in one
transaction; a payment is decided once.
"""
