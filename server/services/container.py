"""The services of one process, wired once at start-up and passed down."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.db import HealthProbe
from server.integrations.notifier import Notifier, make_notifier
from server.integrations.sms import make_sms_sender
from server.integrations.wechat import WeChatApi, make_wechat_api
from server.services import Principal
from server.services.accounts.accounts import AccountService
from server.services.accounts.login import LoginService
from server.services.accounts.passwords import PasswordHasher
from server.services.accounts.sms import SmsCodes
from server.services.accounts.throttle import RateLimiter
from server.services.accounts.tokens import TokenService
from server.services.audit import AuditLog
from server.services.catalog.catalog import CatalogService
from server.services.catalog.session_list import SessionListService
from server.services.catalog.waitlist import WaitlistService
from server.services.cpu import cpu_runner
from server.services.enrollment.enrollments import EnrollmentService
from server.services.enrollment.templates import TemplateService
from server.services.jobs.notify import KIND as NOTIFY_KIND
from server.services.jobs.notify import notify_handler
from server.services.jobs.queue import JobQueue
from server.services.jobs.runner import JobRunner
from server.services.pii import FieldCipher
from server.services.profile.photos import PhotoService
from server.services.profile.profile import ProfileService
from server.services.profile.qualifications import QualificationService
from server.services.staff.imports import StaffImportService
from server.services.staff.photos import PHOTO_JOB_KIND, StaffPhotoService
from server.services.staff.staff import StaffService

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Services:
    """Every service of the process, built once and passed down."""

    settings: Settings
    db: AsyncDatabase[dict[str, Any]]
    executor: Executor
    health: HealthProbe
    limiter: RateLimiter
    cipher: FieldCipher
    sms_codes: SmsCodes
    audit: AuditLog
    tokens: TokenService
    accounts: AccountService
    wechat: WeChatApi
    login: LoginService
    profiles: ProfileService
    photos: PhotoService
    qualifications: QualificationService
    catalog: CatalogService
    session_list: SessionListService
    templates: TemplateService
    notifier: Notifier
    staff: StaffService
    staff_imports: StaffImportService
    staff_photos: StaffPhotoService
    enrollments: EnrollmentService
    jobs: JobQueue
    runner: JobRunner

    async def authenticate(self, token: str) -> Principal | None:
        """The principal behind a bearer token, or None."""
        return await self.tokens.resolve(token)

    async def run_cpu(self, fn: Callable[..., T], *args: Any) -> T:
        """Run CPU work (images, PDF, Excel, hashing) off the event loop."""
        return await cpu_runner(self.executor)(fn, *args)  # type: ignore[no-any-return]

    def start_periodic(self, name: str, seconds: float, job: Callable[[], Awaitable[Any]]) -> None:
        """Run ``job`` once every ``seconds`` across all processes (claimed per period by the job runner)."""
        self.runner.every(name, seconds, job)

    async def close(self) -> None:
        """Stop the job runner (running jobs released), the WeChat adapter and the executor."""
        await self.runner.stop()
        close_wechat = getattr(self.wechat, "close", None)
        if close_wechat is not None:
            close_wechat()
        self.executor.shutdown(wait=True, cancel_futures=True)


def build_services(
    settings: Settings, db: AsyncDatabase[dict[str, Any]], executor: Executor | None = None
) -> Services:
    """Wire every service from the settings and the database."""
    executor = executor or ThreadPoolExecutor(
        max_workers=settings.executor_workers, thread_name_prefix="cpu"
    )
    run_cpu = cpu_runner(executor)
    secret_key = settings.secret_key.get_secret_value().encode()
    limiter = RateLimiter(db)
    cipher = FieldCipher.from_spec(
        settings.data_keys.get_secret_value(), settings.index_key.get_secret_value()
    )
    sms_codes = SmsCodes(db, make_sms_sender(settings), limiter, cipher, secret_key)
    audit = AuditLog(db)
    tokens = TokenService(db)
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib, executor=executor
    )
    accounts = AccountService(
        db, cipher=cipher, hasher=hasher, tokens=tokens, audit=audit, sms_codes=sms_codes,
        secret_key=secret_key,
    )
    wechat = make_wechat_api(settings, executor)
    login = LoginService(db, accounts=accounts, limiter=limiter, audit=audit, wechat=wechat,
                         slowdown=settings.login_slowdown_seconds)
    profiles = ProfileService(accounts, cipher=cipher, sms_codes=sms_codes, audit=audit)
    photos = PhotoService(db, profiles=profiles, audit=audit, executor=executor)
    qualifications = QualificationService(db, audit=audit, executor=executor)
    notifier = make_notifier(settings)
    jobs = JobQueue(db, audit=audit, max_attempts=settings.jobs_max_attempts,
                    backoff_seconds=settings.jobs_backoff_seconds)
    runner = JobRunner(jobs, db, concurrency=settings.jobs_concurrency, lease_seconds=settings.jobs_lease_seconds,
                       poll_seconds=settings.jobs_poll_seconds)
    waitlist = WaitlistService(db, jobs=jobs, audit=audit)
    catalog = CatalogService(db, audit=audit, waitlist=waitlist)  # raised capacity goes to the waitlist
    session_list = SessionListService(db, catalog=catalog)
    templates = TemplateService(db, cipher=cipher, audit=audit)
    enrollments = EnrollmentService(
        db, catalog=catalog, templates=templates, waitlist=waitlist, audit=audit,
        payment_term=timedelta(days=settings.payment_term_days),
    )
    staff = StaffService(accounts, profiles=profiles, photos=photos, cipher=cipher, limiter=limiter, audit=audit,
                         run_cpu=run_cpu)
    staff_imports = StaffImportService(
        db, accounts=accounts, staff=staff, cipher=cipher, audit=audit, run_cpu=run_cpu,
        max_bytes=settings.import_max_bytes, max_rows=settings.import_max_rows,
    )
    staff_photos = StaffPhotoService(db, accounts=accounts, photos=photos, audit=audit, jobs=jobs,
                                     concurrency=settings.executor_workers)
    # Every job kind, in every process: any runner may pick up any job.
    runner.register(NOTIFY_KIND, notify_handler(notifier))
    runner.register(PHOTO_JOB_KIND, staff_photos.run_job)
    return Services(
        settings=settings, db=db, executor=executor, health=HealthProbe(db), limiter=limiter,
        cipher=cipher, sms_codes=sms_codes, audit=audit, tokens=tokens, accounts=accounts,
        wechat=wechat, login=login,
        profiles=profiles, photos=photos, qualifications=qualifications,
        catalog=catalog, session_list=session_list, templates=templates,
        notifier=notifier, enrollments=enrollments,
        staff=staff, staff_imports=staff_imports, staff_photos=staff_photos, jobs=jobs, runner=runner,
    )


def start_jobs(services: Services) -> None:
    """Schedule the periodic tasks (each runs once per period across all processes) and start the runner."""
    services.start_periodic("expire_unpaid", 60, services.enrollments.expire_unpaid)
    services.start_periodic("lapse_waitlist_offers", 60, services.enrollments.waitlist.lapse_offers)
    services.start_periodic("repair_reservations", 300, services.enrollments.repair)
    services.start_periodic("repair_waitlist", 300, services.enrollments.waitlist.repair)
    # Also the start-up recovery: the first run is immediate. Lease-guarded, so safe in many processes.
    services.start_periodic("rollback_unfinished_imports", 120, services.staff_imports.rollback_unfinished_imports)
    services.start_periodic("purge_job_files", 3600, services.jobs.purge)
    services.runner.start()
