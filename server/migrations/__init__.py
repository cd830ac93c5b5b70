"""Versioned database migrations: steps recorded in the ``migrations`` collection (its one owner).

:mod:`server.migrations.runner` runs the steps of :mod:`server.migrations.steps` at every start and
by ``python -m server migrate``, under a lease document so that several processes starting at once
run each step once: the others wait for the lease, then find the steps done.
"""

COLLECTIONS = ("migrations",)
