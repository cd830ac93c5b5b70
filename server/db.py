"""The database: client, embedded server, and every index (so every uniqueness rule).

Production talks to a MongoDB replica set (``MONGODB_URL``). A fresh machine,
a developer and the tests start **SecantusDB**, a MongoDB-compatible server, as
a child process on a free loopback port; the same driver code talks to both
over a real socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymongo
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

log = logging.getLogger(__name__)


class EmbeddedDatabaseError(RuntimeError):
    """The embedded database could not be started."""


class EmbeddedMongo:
    """SecantusDB run as a separate child process (it is GPL-2.0-only, never imported)."""

    def __init__(self, storage_path: str | Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.storage_path = str(storage_path)
        self.host = host
        self.port = port or free_port(host)
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0  # successful restarts by the supervisor
        self._log_file: Any = None

    @property
    def url(self) -> str:
        """The connection string (retryable writes off: SecantusDB's bookkeeping slows them)."""
        return f"mongodb://{self.host}:{self.port}/?retryWrites=false&directConnection=true"

    def start(self, timeout: float = 30.0) -> str:
        """Start the server, wait until it accepts connections, return its URL."""
        self._spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return self.url
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise EmbeddedDatabaseError(f"secantusd did not listen on {self.host}:{self.port}")

    async def restart(self, timeout: float = 30.0) -> str:
        """Start the server again on the same port and files, without blocking the event loop.

        The child is spawned from this (the loop's) thread on purpose: PR_SET_PDEATHSIG fires
        when the *thread* that forked it ends, and a worker thread may end before the server.
        """
        self._spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 0.5)
                writer.close()
                await writer.wait_closed()
                return self.url
            except (OSError, TimeoutError):
                await asyncio.sleep(0.05)
        self.stop()
        raise EmbeddedDatabaseError(f"secantusd did not listen on {self.host}:{self.port}")

    def _spawn(self) -> None:
        command = [
            _secantusd_executable(),
            "--host", self.host,
            "--port", str(self.port),
            "--storage-path", self.storage_path,
            "--log-level", "WARNING",
        ]
        if self.storage_path != ":memory:":
            Path(self.storage_path).mkdir(parents=True, exist_ok=True)
            if self._log_file is None:  # kept open across supervised restarts
                self._log_file = open(Path(self.storage_path).parent / "secantusd.log", "ab")
        # A new process group: Ctrl-C in the terminal reaches only us, and we stop
        # the database ourselves, after the server has stopped writing.
        self.process = subprocess.Popen(
            command,
            stdout=self._log_file or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log_file else subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def _check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise EmbeddedDatabaseError(f"secantusd exited with code {self.process.returncode}; see its log")

    async def supervise(
        self, *, every: float = 0.5, first_backoff: float = 0.5, max_backoff: float = 30.0
    ) -> None:
        """Watch the child until cancelled: reap it when it dies and start it again, with backoff.

        ``poll()`` reaps an exited child (no zombie). The restart uses the same port and files,
        so the driver reconnects by itself and ``/healthz`` recovers without anyone's help.
        Each restart is logged; a failed one is retried after twice the delay (up to ``max_backoff``).
        """
        backoff = first_backoff
        while True:
            await asyncio.sleep(every)
            process = self.process
            if process is None or process.poll() is None:
                continue
            log.error("embedded database (pid %s) exited with code %s; restarting in %.1f s",
                      process.pid, process.returncode, backoff)
            await asyncio.sleep(backoff)
            try:
                await self.restart()
            except EmbeddedDatabaseError as exc:
                log.error("embedded database restart failed: %s", exc)
                backoff = min(backoff * 2, max_backoff)
                continue
            self.restarts += 1
            log.warning("embedded database restarted (pid %s, restart #%d) on %s:%s",
                        self.process.pid if self.process else "?", self.restarts, self.host, self.port)
            backoff = first_backoff

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server cleanly (SIGTERM lets WiredTiger checkpoint), then reap it."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("secantusd did not stop in %.0f s; killing it", timeout)
                process.kill()
                process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the server dies without stopping us (no orphan database)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG; Linux only, harmless elsewhere
    except (OSError, AttributeError):
        pass


def _secantusd_executable() -> str:
    beside_python = Path(sys.executable).parent / "secantusd-py"
    found = str(beside_python) if beside_python.exists() else shutil.which("secantusd-py")
    if not found:
        raise EmbeddedDatabaseError(
            "MONGODB_URL is not set and the embedded database is not installed: "
            "pip install '.[embedded]' (make run does this)"
        )
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


DEFAULT_SELECTION_TIMEOUT_MS = 1500


def make_client(url: str, **options: Any) -> AsyncMongoClient[dict[str, Any]]:
    """The one client of the process: UTC-aware datetimes, journaled writes, short timeouts.

    ``journal=True`` (w=1, j=true unless the URL says otherwise) is the client's default write
    concern, so every collection and every transaction commit inherits it: a write is
    acknowledged only once it is in the journal. Nearly every write of this system matters
    (accounts whose one-time secret was shown once, enrollments, seats, audit entries), and a
    per-collection opt-in would silently miss the next collection. Measured on SecantusDB: a
    ``kill -9`` right after 300 acknowledged inserts lost 24–108 of them without it, none with
    it, for about 0.5 ms more per write (tests/test_db_supervision.py).

    ``serverSelectionTimeoutMS`` (1.5 s; ``DB_SELECTION_TIMEOUT_MS``) bounds how long an operation
    waits for a reachable server: during an outage the API answers 503 quickly instead of after
    the driver's default 30 s (or the 5 s this used to be).
    """
    defaults: dict[str, Any] = {
        "tz_aware": True,
        "serverSelectionTimeoutMS": DEFAULT_SELECTION_TIMEOUT_MS,
        "connectTimeoutMS": 2000,
        "appname": "association-training",
    }
    if "journal=" not in url and "w=0" not in url:
        defaults["journal"] = True
    return AsyncMongoClient(url, **{**defaults, **options})


# ---- the embedded database's address, for subcommands beside a running server --------------

DB_URL_FILE = "db.url"


def publish_url(data_dir: Path, url: str) -> Path:
    """Write the embedded database's URL to ``DATA_DIR/db.url`` (mode 0600) for subcommands."""
    path = data_dir / DB_URL_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{DB_URL_FILE}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(url + "\n")
    os.replace(temporary, path)  # readers never see half a URL
    return path


def unpublish_url(data_dir: Path, url: str) -> None:
    """Remove ``DATA_DIR/db.url`` if it still names ``url`` (a newer server may have replaced it)."""
    path = data_dir / DB_URL_FILE
    with contextlib.suppress(OSError):
        if path.read_text().strip() == url:
            path.unlink()


async def published_url(data_dir: Path, timeout: float = 1.0) -> str | None:
    """The URL a running server published, if its database answers a ping; None otherwise (stale)."""
    try:
        url = (data_dir / DB_URL_FILE).read_text().strip()
    except OSError:
        return None
    if not url.startswith("mongodb://127.") and not url.startswith("mongodb://localhost"):
        return None  # only ever a loopback child of ours
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        url, serverSelectionTimeoutMS=int(timeout * 1000), connectTimeoutMS=int(timeout * 1000)
    )
    try:
        alive = await ping(client.admin, timeout)
    finally:
        with pymongo.timeout(timeout):
            await client.close()
    return url if alive else None


async def ping(db: AsyncDatabase[dict[str, Any]], timeout: float = 2.0) -> bool:
    """True when the database answers within ``timeout`` seconds."""
    try:
        # The driver's own deadline (not a cancellation, which could strand a socket).
        with pymongo.timeout(timeout):
            await db.command("ping")
        return True
    except Exception:  # any failure means "not reachable" to a health check
        return False


class HealthProbe:
    """Database reachability for ``/healthz``, pinged at most once per ``max_age`` seconds.

    Load balancers poll health often; a ping per request costs about half the
    server's CPU per request (measured in bench/healthz). One ping at a time,
    its answer shared for ``max_age``: a stopped database shows within that delay.
    """

    def __init__(self, db: AsyncDatabase[dict[str, Any]], max_age: float = 1.0) -> None:
        self.db = db
        self.max_age = max_age
        self._checked_at = float("-inf")
        self._healthy = False
        self._lock = asyncio.Lock()

    async def healthy(self) -> bool:
        """The latest answer, refreshed when older than ``max_age``."""
        if time.monotonic() - self._checked_at < self.max_age:
            return self._healthy
        async with self._lock:
            if time.monotonic() - self._checked_at >= self.max_age:  # nobody refreshed meanwhile
                self._healthy = await ping(self.db)
                self._checked_at = time.monotonic()
        return self._healthy


@dataclass(frozen=True)
class CollectionIndexes:
    """The indexes of one collection."""

    collection: str
    indexes: tuple[IndexModel, ...]


# Every index of the system, in one place. Each uniqueness rule of the product is
# a unique index here; services catch DuplicateKeyError and never check first.
INDEXES: tuple[CollectionIndexes, ...] = (
    CollectionIndexes(
        "accounts",
        (
            # The login key (blind index of the ID number, USCC or username) is unique:
            # concurrent registrations of one person make exactly one account.
            IndexModel([("login_key", ASCENDING)], unique=True, name="login_key_unique"),
            IndexModel([("wechat.openid", ASCENDING)], unique=True,
                       partialFilterExpression={"wechat.openid": {"$type": "string"}},
                       name="wechat_openid_unique"),
            IndexModel([("phone_index", ASCENDING)], name="phone_index"),
            # The back office's staff list: a few dozen accounts among many trainees (sparse: staff only,
            # so no query by role alone changes plan or order because of it).
            IndexModel([("staff.username", ASCENDING)], sparse=True, name="staff_username"),
        ),
    ),
    CollectionIndexes(
        "tokens",
        (
            IndexModel([("hash", ASCENDING)], unique=True, name="hash_unique"),
            IndexModel([("account_id", ASCENDING)], name="account"),
            IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl"),
        ),
    ),
    CollectionIndexes(
        "wechat_bind_tickets",
        (IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl"),),
    ),
    CollectionIndexes(
        "enrollments",
        (
            # One active enrollment per trainee per course, whoever enrolls (manual §4.1);
            # cancelled and expired ones drop ``active`` and no longer count.
            IndexModel([("trainee_id", ASCENDING), ("course_id", ASCENDING)], unique=True,
                       partialFilterExpression={"active": True}, name="one_active_per_course"),
            IndexModel([("trainee_id", ASCENDING), ("created_at", DESCENDING)], name="trainee_newest"),
            IndexModel([("unit_id", ASCENDING), ("created_at", DESCENDING)], name="unit_newest"),
            IndexModel([("status", ASCENDING), ("pay_by", ASCENDING)], name="status_pay_by"),
            IndexModel([("session_id", ASCENDING), ("status", ASCENDING)], name="session_status"),
            # The session list's my_status: one trainee's enrollments in the sessions of a page.
            IndexModel([("trainee_id", ASCENDING), ("session_id", ASCENDING)], name="trainee_session"),
        ),
    ),
    CollectionIndexes(
        "payments",
        (
            # The reference in the transfer remark; also refuses a second submission of the same enrollments.
            IndexModel([("reference", ASCENDING)], unique=True, name="reference_unique"),
            # The review queue: each filter (status; session or unit, then status) followed by its sort
            # (submitted_at, _id), so a page is read in index order, never sorted in memory.
            IndexModel([("status", ASCENDING), ("submitted_at", ASCENDING), ("_id", ASCENDING)], name="queue_page"),
            IndexModel([("submitted_at", ASCENDING), ("_id", ASCENDING)], name="queue_all_page"),
            IndexModel([("session_ids", ASCENDING), ("status", ASCENDING), ("submitted_at", ASCENDING),
                        ("_id", ASCENDING)], name="by_session_page"),
            IndexModel([("unit_id", ASCENDING), ("status", ASCENDING), ("submitted_at", ASCENDING),
                        ("_id", ASCENDING)], name="by_unit_page"),
            IndexModel([("payer.account_id", ASCENDING), ("submitted_at", DESCENDING)], name="payer_newest"),
            IndexModel([("proofs.file_id", ASCENDING)], name="proof_files"),
        ),
    ),
    CollectionIndexes(
        "payment_proofs.files",
        (IndexModel([("filename", ASCENDING), ("uploadDate", ASCENDING)], name="filename_1_uploadDate_1"),),
    ),
    CollectionIndexes(
        "payment_proofs.chunks",
        (IndexModel([("files_id", ASCENDING), ("n", ASCENDING)], unique=True, name="files_id_1_n_1"),),
    ),
    CollectionIndexes(
        "waitlist",
        (
            IndexModel([("session_id", ASCENDING), ("trainee_id", ASCENDING)], unique=True,
                       partialFilterExpression={"active": True}, name="once_in_line"),
            IndexModel([("session_id", ASCENDING), ("status", ASCENDING), ("created_at", ASCENDING)],
                       name="line_order"),
            IndexModel([("status", ASCENDING), ("offer_until", ASCENDING)], name="offers"),
            # Enrolling in a course drops the trainee's places in its lines (every enrollment asks).
            IndexModel([("trainee_id", ASCENDING), ("course_id", ASCENDING)], name="trainee_course"),
        ),
    ),
    CollectionIndexes(
        "audit_log",
        (
            IndexModel([("at", DESCENDING)], name="at"),
            IndexModel([("action", ASCENDING), ("at", DESCENDING)], name="action_at"),
            IndexModel([("subject_id", ASCENDING), ("at", DESCENDING)], name="subject_at"),
            # The back office's audit filters: by actor. (Not by subject name: with an index on
            # ``subject`` the embedded database answers no document to a regex on it, which the PII
            # migration uses; a subject filter is rare and runs along the ``at`` index.)
            IndexModel([("actor_id", ASCENDING), ("at", DESCENDING)], name="actor_at"),
        ),
    ),
    CollectionIndexes(
        "rate_limits",
        (
            # TTL is eventual; the throttle code ignores expired documents by itself.
            IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_at_ttl"),
        ),
    ),
    CollectionIndexes(
        "sms_codes",
        (
            IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_at_ttl"),
            # verify: the newest live code of one phone (blind index) and purpose.
            IndexModel([("phone_index", ASCENDING), ("purpose", ASCENDING), ("created_at", DESCENDING)],
                       name="phone_purpose_created"),
        ),
    ),
    CollectionIndexes(
        "qualifications",
        (IndexModel([("account_id", ASCENDING), ("created_at", ASCENDING)], name="account_created"),),
    ),
    # GridFS buckets (ID photos, licence images): the driver's own indexes, declared here so
    # that they exist before the first upload; the chunk index is what keeps a file whole.
    CollectionIndexes(
        "photos.files",
        (IndexModel([("filename", ASCENDING), ("uploadDate", ASCENDING)], name="filename_1_uploadDate_1"),),
    ),
    CollectionIndexes(
        "photos.chunks",
        (IndexModel([("files_id", ASCENDING), ("n", ASCENDING)], unique=True, name="files_id_1_n_1"),),
    ),
    CollectionIndexes(
        "qualification_images.files",
        (IndexModel([("filename", ASCENDING), ("uploadDate", ASCENDING)], name="filename_1_uploadDate_1"),),
    ),
    CollectionIndexes(
        "qualification_images.chunks",
        (IndexModel([("files_id", ASCENDING), ("n", ASCENDING)], unique=True, name="files_id_1_n_1"),),
    ),
    # ---- catalog and templates (issue 5) ----
    CollectionIndexes(
        "courses",
        (IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created"),),
    ),
    CollectionIndexes(
        "sessions",
        (
            # 班次编号 is unique: concurrent creations with one code make exactly one session.
            IndexModel([("code", ASCENDING)], unique=True, name="code_unique"),
            IndexModel([("course_id", ASCENDING)], name="course"),
            # The session list: visible statuses, newest first.
            IndexModel([("status", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
                       name="status_created"),
        ),
    ),
    CollectionIndexes(
        "addresses",
        (
            IndexModel([("owner_id", ASCENDING), ("created_at", DESCENDING)], name="owner_created"),
            # At most one default address per owner (trainee or unit).
            IndexModel([("owner_id", ASCENDING)], unique=True, partialFilterExpression={"is_default": True},
                       name="one_default_per_owner"),
        ),
    ),
    CollectionIndexes(
        "invoice_templates",
        (
            IndexModel([("owner_id", ASCENDING), ("created_at", DESCENDING)], name="owner_created"),
            IndexModel([("owner_id", ASCENDING)], unique=True, partialFilterExpression={"is_default": True},
                       name="one_default_per_owner"),
        ),
    ),
    # ---- unit staff (issue 6) ----
    CollectionIndexes(
        "accounts",
        (
            # A unit's staff list and lookups (trainee.unit_id is the binding).
            IndexModel([("trainee.unit_id", ASCENDING), ("name", ASCENDING)], name="unit_staff",
                       partialFilterExpression={"trainee.unit_id": {"$type": "objectId"}}),
            # Roll-back / publish of an Excel import batch.
            IndexModel([("import_id", ASCENDING)], name="import_batch",
                       partialFilterExpression={"import_id": {"$type": "objectId"}}),
            # Recovery: hidden import accounts whose batch vanished (only hidden ones are indexed).
            IndexModel([("created_at", ASCENDING)], name="import_pending_age",
                       partialFilterExpression={"import_pending": True}),
        ),
    ),
    CollectionIndexes(
        "staff_imports",
        (
            IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl"),
            IndexModel([("status", ASCENDING), ("lease_until", ASCENDING)], name="status_lease"),
        ),
    ),
    CollectionIndexes(
        # A batch's rows, payload and secrets, in documents of at most a few MiB each.
        "staff_import_chunks",
        (
            IndexModel([("batch_id", ASCENDING), ("kind", ASCENDING), ("seq", ASCENDING)], unique=True,
                       name="batch_kind_seq"),
            IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl"),
        ),
    ),
    CollectionIndexes(
        "photo_jobs",
        (IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl"),),
    ),
    # ---- unit verification and personal data rights (issue 10) ----
    CollectionIndexes(
        "accounts",
        (
            # The administrators' queue of units by verification status, oldest submission first.
            IndexModel([("unit.verification.status", ASCENDING), ("unit.verification.submitted_at", ASCENDING)],
                       name="unit_verification", partialFilterExpression={"role": "unit"}),
        ),
    ),
    CollectionIndexes(
        "unit_licences.files",
        (IndexModel([("filename", ASCENDING), ("uploadDate", ASCENDING)], name="filename_1_uploadDate_1"),),
    ),
    CollectionIndexes(
        "unit_licences.chunks",
        (IndexModel([("files_id", ASCENDING), ("n", ASCENDING)], unique=True, name="files_id_1_n_1"),),
    ),
    # A deletion finds every file of the person by its metadata (also files a crash left behind).
    CollectionIndexes("photos.files", (IndexModel([("metadata.account_id", ASCENDING)], name="account"),)),
    CollectionIndexes("qualification_images.files",
                      (IndexModel([("metadata.account_id", ASCENDING)], name="account"),)),
    # ---- background jobs (issue 9) ----
    CollectionIndexes(
        "jobs",
        (
            # Claiming: due queued/failed jobs, and running ones whose lease lapsed.
            IndexModel([("status", ASCENDING), ("run_at", ASCENDING)], name="status_run_at"),
            IndexModel([("status", ASCENDING), ("lease_until", ASCENDING)], name="status_lease"),
            # An outbox entry is enqueued at most once per key (a repeated step adds no second message).
            IndexModel([("dedupe_key", ASCENDING)], unique=True,
                       partialFilterExpression={"dedupe_key": {"$type": "string"}}, name="dedupe_key_unique"),
            IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created"),
            IndexModel([("files", ASCENDING)], name="files"),
            IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl"),  # done jobs only
        ),
    ),
    CollectionIndexes(
        "job_files.files",
        (IndexModel([("filename", ASCENDING), ("uploadDate", ASCENDING)], name="filename_1_uploadDate_1"),),
    ),
    CollectionIndexes(
        "job_files.chunks",
        (IndexModel([("files_id", ASCENDING), ("n", ASCENDING)], unique=True, name="files_id_1_n_1"),),
    ),
    CollectionIndexes(
        # One document per (periodic task, period): its unique _id is the once-per-period claim.
        "job_schedule",
        (IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl"),),
    ),
    # One document per notification delivered (its idempotency record), kept 30 days.
    CollectionIndexes("notify_deliveries", (IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl"),)),
    # ---- payments: the OCR pre-check (issue 11) ----
    # The same screenshot in another payment: proofs sharing a band of their perceptual hash (phash.py).
    CollectionIndexes("payments", (IndexModel([("ocr.phash_bands", ASCENDING)], name="ocr_phash_bands"),)),
    # ---- passes and check-in (issue 12) ----
    CollectionIndexes(
        "passes",
        (
            IndexModel([("serial", ASCENDING)], unique=True, name="serial_unique"),
            # One valid pass per enrollment: two first requests racing issue one pass.
            IndexModel([("enrollment_id", ASCENDING)], unique=True, partialFilterExpression={"status": "valid"},
                       name="one_valid_per_enrollment"),
            IndexModel([("session_id", ASCENDING), ("status", ASCENDING)], name="session_status"),
            IndexModel([("trainee_id", ASCENDING)], name="trainee"),
        ),
    ),
    CollectionIndexes("pass_keys", (IndexModel([("public_key", ASCENDING)], unique=True, name="public_key_unique"),)),
    CollectionIndexes("pass_session_numbers",
                      (IndexModel([("session_id", ASCENDING)], unique=True, name="session_unique"),)),
    CollectionIndexes(
        "checkins",
        (
            # At most one check-in per pass per training day: 20 concurrent scans record one.
            IndexModel([("pass_id", ASCENDING), ("day", ASCENDING)], unique=True, name="one_per_pass_per_day"),
            # A scan resent by its scanner (same client id) is recorded once.
            IndexModel([("scanner_id", ASCENDING), ("client_id", ASCENDING)], unique=True, name="client_once"),
            IndexModel([("session_id", ASCENDING), ("day", ASCENDING), ("at", ASCENDING)], name="session_day"),
            IndexModel([("trainee_id", ASCENDING)], name="trainee"),
            IndexModel([("enrollment_id", ASCENDING)], name="enrollment"),  # attendance beside results
        ),
    ),
    CollectionIndexes("pass_pdf_jobs", (IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl"),)),
    CollectionIndexes(
        "checkin_conflicts",
        (
            IndexModel([("scanner_id", ASCENDING), ("client_id", ASCENDING)], unique=True, name="client_once"),
            IndexModel([("session_id", ASCENDING), ("day", ASCENDING)], name="session_day"),
            IndexModel([("trainee_id", ASCENDING)], name="trainee"),
        ),
    ),
    # ---- results and certificates (issue 13) ----
    CollectionIndexes(
        "results",
        (
            IndexModel([("enrollment_id", ASCENDING)], unique=True, name="one_per_enrollment"),
            IndexModel([("session_id", ASCENDING), ("status", ASCENDING)], name="session_status"),
            IndexModel([("trainee_id", ASCENDING), ("published_at", DESCENDING)], name="trainee_published"),
            IndexModel([("unit_id", ASCENDING), ("published_at", DESCENDING)], name="unit_published"),
        ),
    ),
    CollectionIndexes(
        "certificates",
        (
            # Gapless and unique per type and year: the counter allocates, this index refuses a duplicate.
            IndexModel([("type", ASCENDING), ("year", ASCENDING), ("seq", ASCENDING)], unique=True,
                       name="number_unique"),
            IndexModel([("code", ASCENDING)], unique=True, name="code_unique"),
            # One valid certificate per enrollment (a revoked one unsets ``live``).
            IndexModel([("live", ASCENDING)], unique=True, partialFilterExpression={"live": {"$type": "objectId"}},
                       name="one_valid_per_enrollment"),
            IndexModel([("session_id", ASCENDING), ("seq", ASCENDING)], name="session"),
            IndexModel([("trainee_id", ASCENDING)], name="trainee"),
            IndexModel([("unit_id", ASCENDING), ("session_id", ASCENDING)], name="unit_session"),
        ),
    ),
    CollectionIndexes("certificate_bundles", (IndexModel([("expires_at", ASCENDING)], name="expires_at"),)),
)


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Create every index; idempotent, run at every start."""
    for spec in INDEXES:
        await db[spec.collection].create_indexes(list(spec.indexes))


def default_storage_path(data_dir: Path) -> Path:
    """Where the embedded database keeps its files."""
    return data_dir / "db"

