"""Payments: submitted transfer proofs, their review, the OCR pre-check and invoices."""
