"""Durable background jobs on MongoDB: a queue any process can add to, runners in every process.

Owns the collection ``jobs`` (one document per job: kind, payload, status, attempts, lease,
last error), the GridFS bucket ``job_files`` (a job's input files: never local disk, so any
process can run it after any restart) and ``job_schedule`` (one document per periodic task
and period: the claim that makes each period's run happen once across all processes), and
``notify_deliveries`` (``notify.py``: one record per notification delivered, its idempotency key).

Invariants: a job is ``running`` only under a live lease of one runner; every state change
of a job is one guarded single-document update (``status`` and ``owner`` in the filter), so
a runner that lost its lease can no longer change the job; a file in ``job_files`` belongs
to a job that is not yet ``done`` (others are purged).
"""

from server.services.jobs.queue import Job, JobQueue
from server.services.jobs.runner import JobRunner

__all__ = ["Job", "JobQueue", "JobRunner"]
