"""Passes (听课证) and check-in."""
