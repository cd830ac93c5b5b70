"""Certificates (合格证): issue, revoke, download, verify."""
