"""Payments: submit, review, invoices, exports; owns ``payments``, ``association_settings``, GridFS proofs and invoices."""
