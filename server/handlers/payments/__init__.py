"""Payments: the association's account, submitting a transfer proof, the review queue."""
