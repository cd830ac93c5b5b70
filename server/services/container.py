"""The services of one process, wired once at start-up and passed down."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any, TypeVar

from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.db import HealthProbe
from server.integrations.notifier import Notifier
from server.integrations.sms import make_sms_sender
from server.integrations.wechat import WeChatApi, make_wechat_api
from server.services import Principal
from server.services.accounts.accounts import AccountService
from server.services.accounts.admin import AdminAccountService
from server.services.accounts.login import LoginService
from server.services.accounts.passwords import PasswordHasher
from server.services.accounts.sms import SmsCodes
from server.services.accounts.subscriptions import SubscriptionService, subscribe_templates
from server.services.accounts.throttle import RateLimiter
from server.services.accounts.tokens import TokenService
from server.services.accounts.totp import TotpService
from server.services.audit import AuditLog
from server.services.backoffice.dashboard import DashboardService
from server.services.backoffice.roster import SessionRoster
from server.services.catalog.catalog import CatalogService
from server.services.catalog.reconcile import SeatReconciler
from server.services.catalog.seats import SeatLedger
from server.services.catalog.session_list import SessionListService
from server.services.catalog.waitlist import WaitlistService
from server.services.certificates.bundles import JOB_KIND as BUNDLE_JOB_KIND
from server.services.certificates.bundles import CertificateBundles
from server.services.certificates.certificates import CertificateService
from server.services.cpu import Pools, cpu_runner, make_pools
from server.services.enrollment.deadlines import DeadlineReminders
from server.services.enrollment.enrollments import EnrollmentService
from server.services.enrollment.templates import TemplateService
from server.services.jobs.notify import KIND as NOTIFY_KIND
from server.services.jobs.notify import NotificationOutbox, build_notifier, notify_handler
from server.services.jobs.queue import JobQueue
from server.services.jobs.runner import JobRunner
from server.services.notify_texts import NotificationTexts
from server.services.passes.bundle import ScannerBundles
from server.services.passes.checkins import CheckinService
from server.services.passes.documents import PDF_JOB_KIND as PASS_PDF_JOB_KIND
from server.services.passes.documents import PassDocuments
from server.services.passes.keys import PassKeyring
from server.services.passes.numbers import SessionNumbers
from server.services.passes.passes import PassService
from server.services.payments.account import AssociationAccount
from server.services.payments.exports import PaymentExportService
from server.services.payments.invoices import InvoiceService
from server.services.payments.ocr import JOB_KIND as OCR_JOB_KIND
from server.services.payments.ocr import PaymentOcr
from server.services.payments.ocr_reader import OcrWorker, ocr_niceness
from server.services.payments.payments import PaymentService, proof_file_reader
from server.services.pii import FieldCipher
from server.services.privacy import PrivacyService
from server.services.profile.photos import PhotoService
from server.services.profile.profile import ProfileService
from server.services.profile.qualifications import QualificationService
from server.services.results.imports import ResultImportService
from server.services.results.results import ResultService
from server.services.staff.imports import StaffImportService
from server.services.staff.membership import UnitMembershipService
from server.services.staff.photos import PHOTO_JOB_KIND, StaffPhotoService
from server.services.staff.staff import StaffService
from server.services.staff.verification import UnitVerificationService

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Services:
    """Every service of the process, built once and passed down."""

    settings: Settings
    db: AsyncDatabase[dict[str, Any]]
    pools: Pools
    health: HealthProbe
    limiter: RateLimiter
    cipher: FieldCipher
    sms_codes: SmsCodes
    audit: AuditLog
    tokens: TokenService
    accounts: AccountService
    wechat: WeChatApi
    login: LoginService
    totp: TotpService
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
    seats: SeatLedger
    reconciler: SeatReconciler
    unit_verification: UnitVerificationService
    unit_membership: UnitMembershipService
    privacy: PrivacyService
    jobs: JobQueue
    runner: JobRunner
    subscriptions: SubscriptionService
    reminders: DeadlineReminders
    invoices: InvoiceService
    payment_exports: PaymentExportService
    payment_ocr: PaymentOcr
    association_account: AssociationAccount
    payments: PaymentService
    passes: PassService
    checkins: CheckinService
    pass_documents: PassDocuments
    scanner_bundles: ScannerBundles
    results: ResultService
    certificates: CertificateService
    result_imports: ResultImportService
    certificate_bundles: CertificateBundles
    admin_accounts: AdminAccountService
    notification_texts: NotificationTexts
    dashboard: DashboardService
    session_roster: SessionRoster

    async def authenticate(self, token: str) -> Principal | None:
        """The principal behind a bearer token, or None."""
        return await self.tokens.resolve(token)

    @property
    def executor(self) -> Executor:
        """The pool of CPU documents (images, Excel, PDF)."""
        return self.pools.documents

    async def run_cpu(self, fn: Callable[..., T], *args: Any) -> T:
        """Run CPU document work (images, PDF, Excel) off the event loop; 503 ``server_busy`` when full."""
        return await cpu_runner(self.pools.documents)(fn, *args)  # type: ignore[no-any-return]

    def start_periodic(self, name: str, seconds: float, job: Callable[[], Awaitable[Any]]) -> None:
        """Run ``job`` once every ``seconds`` across all processes (claimed per period by the job runner)."""
        self.runner.every(name, seconds, job)

    async def close(self) -> None:
        """Stop the job runner (running jobs released), the WeChat adapter and the pools."""
        await self.runner.stop()
        await self.tokens.close()
        self.payment_ocr.worker.close()
        close_wechat = getattr(self.wechat, "close", None)
        if close_wechat is not None:
            close_wechat()
        close_notifier = getattr(self.notifier, "close", None)
        if close_notifier is not None:
            close_notifier()
        self.pools.shutdown()


def build_pools(settings: Settings) -> Pools:
    """The blocking-work pools of the process, sized from the settings."""
    return make_pools(
        hash_workers=settings.hash_workers, hash_queue=settings.hash_queue,
        document_workers=settings.executor_workers, document_queue=settings.executor_queue,
        document_niceness=settings.executor_niceness,
        network_workers=settings.network_workers, network_queue=settings.network_queue,
    )


def build_services(
    settings: Settings, db: AsyncDatabase[dict[str, Any]], pools: Pools | None = None
) -> Services:
    """Wire every service from the settings and the database."""
    pools = pools or build_pools(settings)
    executor = pools.documents
    run_cpu = cpu_runner(executor)
    secret_key = settings.secret_key.get_secret_value().encode()
    limiter = RateLimiter(db)
    cipher = FieldCipher.from_spec(
        settings.data_keys.get_secret_value(), settings.index_key.get_secret_value()
    )
    sms_codes = SmsCodes(db, make_sms_sender(settings), limiter, cipher, secret_key)
    audit = AuditLog(db)
    tokens = TokenService(db, cache=settings.token_cache)
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib, executor=pools.hashing
    )
    accounts = AccountService(
        db, cipher=cipher, hasher=hasher, tokens=tokens, audit=audit, sms_codes=sms_codes,
        secret_key=secret_key,
    )
    wechat = make_wechat_api(settings, pools.network)
    totp = TotpService(db, cipher=cipher, audit=audit)
    login = LoginService(db, accounts=accounts, limiter=limiter, audit=audit, wechat=wechat, totp=totp,
                         slowdown=settings.login_slowdown_seconds)
    profiles = ProfileService(accounts, cipher=cipher, sms_codes=sms_codes, audit=audit)
    photos = PhotoService(db, profiles=profiles, audit=audit, executor=executor)
    qualifications = QualificationService(db, audit=audit, executor=executor)
    subscriptions = SubscriptionService(db, templates=subscribe_templates(settings), audit=audit)
    notifier = build_notifier(settings, db, accounts=accounts, subscriptions=subscriptions, network=pools.network)
    jobs = JobQueue(db, audit=audit, max_attempts=settings.jobs_max_attempts,
                    backoff_seconds=settings.jobs_backoff_seconds)
    runner = JobRunner(jobs, db, concurrency=settings.jobs_concurrency, lease_seconds=settings.jobs_lease_seconds,
                       poll_seconds=settings.jobs_poll_seconds)
    seats = SeatLedger(db)  # the only writer of a session's seats
    waitlist = WaitlistService(db, seats=seats, jobs=jobs, audit=audit)
    catalog = CatalogService(db, audit=audit, hand_off=waitlist.offer_next)  # raised capacity goes to the waitlist
    session_list = SessionListService(db, catalog=catalog)
    templates = TemplateService(db, cipher=cipher, audit=audit)
    pass_keyring = PassKeyring(db, settings=settings)
    pass_numbers = SessionNumbers(db)
    passes = PassService(db, keyring=pass_keyring, numbers=pass_numbers, audit=audit)
    checkins = CheckinService(db, keyring=pass_keyring, numbers=pass_numbers, passes=passes,
                              drift=timedelta(seconds=settings.pass_clock_drift_seconds),
                              late_after=time.fromisoformat(settings.pass_late_after))
    enrollments = EnrollmentService(
        db, catalog=catalog, templates=templates, waitlist=waitlist, seats=seats, audit=audit,
        payment_term=timedelta(days=settings.payment_term_days), passes=passes,
    )
    reconciler = SeatReconciler(db, seats=seats, waitlist=waitlist, enrollment_service=enrollments, audit=audit)
    association_account = AssociationAccount(db, audit=audit)
    payments = PaymentService(db, enrollments=enrollments, templates=templates, account=association_account,
                              jobs=jobs, audit=audit, cipher=cipher, secret_key=secret_key, run_cpu=run_cpu)
    results = ResultService(db, enrollments=enrollments, catalog=catalog, cipher=cipher, jobs=jobs, audit=audit,
                            checkins=checkins)
    certificates = CertificateService(
        db, results=results, catalog=catalog, photos=photos, cipher=cipher, jobs=jobs, audit=audit, run_cpu=run_cpu,
        association=settings.association_name, prefix=settings.certificate_prefix, base_url=settings.base_url,
        limiter=limiter, verify_rate=settings.verify_rate_per_minute)
    results.has_certificate = certificates.has_valid  # a correction may not take a certified 合格 away
    result_imports = ResultImportService(results=results, accounts=accounts, catalog=catalog, run_cpu=run_cpu)
    certificate_bundles = CertificateBundles(db, certificates=certificates, jobs=jobs, audit=audit, run_cpu=run_cpu)
    outbox = NotificationOutbox(jobs)  # services tell people through the outbox, never the notifier itself
    unit_verification = UnitVerificationService(db, audit=audit, notifier=outbox, executor=executor)
    staff = StaffService(accounts, profiles=profiles, photos=photos, cipher=cipher, limiter=limiter, audit=audit,
                         run_cpu=run_cpu, verification=unit_verification, notifier=outbox)
    unit_membership = UnitMembershipService(db, audit=audit, notifier=outbox, cipher=cipher)
    invoices = InvoiceService(db, jobs=jobs, audit=audit, run_cpu=run_cpu)
    payment_exports = PaymentExportService(db, cipher=cipher, templates=templates, audit=audit, run_cpu=run_cpu)
    privacy = PrivacyService(db, accounts=accounts, profiles=profiles, photos=photos, qualifications=qualifications,
                             tokens=tokens, membership=unit_membership, templates=templates,
                             enrollments=enrollments, payments=payments, limiter=limiter, audit=audit, run_cpu=run_cpu,
                             retention_days=settings.pii_retention_days, invoices=invoices,
                             subscriptions=subscriptions, passes=passes, checkins=checkins, results=results,
                             certificates=certificates)
    staff_imports = StaffImportService(
        db, accounts=accounts, staff=staff, cipher=cipher, audit=audit, run_cpu=run_cpu,
        max_bytes=settings.import_max_bytes, max_rows=settings.import_max_rows,
    )
    staff_photos = StaffPhotoService(db, accounts=accounts, photos=photos, audit=audit, jobs=jobs,
                                     concurrency=settings.executor_workers)
    # Every job kind, in every process: any runner may pick up any job.
    notification_texts = NotificationTexts(db, audit=audit)  # edited wordings, applied when a message goes out
    runner.register(NOTIFY_KIND, notify_handler(notifier, texts=notification_texts))
    runner.register(PHOTO_JOB_KIND, staff_photos.run_job)
    reminders = DeadlineReminders(db, jobs=jobs, window=timedelta(hours=settings.payment_reminder_hours))
    payment_ocr = PaymentOcr(  # its OCR process starts with the first job, then keeps the models loaded
        db, worker=OcrWorker(memory_mb=settings.ocr_memory_mb, timeout=settings.ocr_timeout_seconds,
                            niceness=ocr_niceness(settings.executor_niceness)),
        read_proof=proof_file_reader(db), max_attempts=settings.jobs_max_attempts)
    runner.register(OCR_JOB_KIND, payment_ocr.run_job)
    pass_documents = PassDocuments(db, passes=passes, accounts=accounts, photos=photos, settings=settings,
                                   run_cpu=run_cpu, jobs=jobs)
    runner.register(PASS_PDF_JOB_KIND, pass_documents.run_job)
    runner.register(BUNDLE_JOB_KIND, certificate_bundles.run_job)
    return Services(
        settings=settings, db=db, pools=pools, health=HealthProbe(db), limiter=limiter,
        cipher=cipher, sms_codes=sms_codes, audit=audit, tokens=tokens, accounts=accounts,
        wechat=wechat, login=login, totp=totp,
        profiles=profiles, photos=photos, qualifications=qualifications,
        catalog=catalog, session_list=session_list, templates=templates,
        notifier=notifier, enrollments=enrollments, seats=seats, reconciler=reconciler,
        staff=staff, staff_imports=staff_imports, staff_photos=staff_photos,
        unit_verification=unit_verification,
        unit_membership=unit_membership, privacy=privacy,
        jobs=jobs, runner=runner,
        subscriptions=subscriptions, reminders=reminders,
        invoices=invoices, payment_exports=payment_exports,
        payment_ocr=payment_ocr,
        association_account=association_account, payments=payments,
        passes=passes, checkins=checkins,
        pass_documents=pass_documents,
        scanner_bundles=ScannerBundles(db, passes=passes, photos=photos, hours=settings.pass_bundle_hours,
                                       run_cpu=run_cpu),
        results=results, certificates=certificates, result_imports=result_imports,
        certificate_bundles=certificate_bundles,
        admin_accounts=AdminAccountService(accounts, limiter=limiter, audit=audit),
        notification_texts=notification_texts,
        dashboard=DashboardService(db, checkins=checkins),
        session_roster=SessionRoster(db, catalog=catalog, cipher=cipher, audit=audit, run_cpu=run_cpu),
    )


# The periodic tasks: (name, period in seconds, the service's task). Each runs once per period across all processes.
PERIODIC_TASKS: tuple[tuple[str, float, Callable[[Services], Callable[[], Awaitable[Any]]]], ...] = (
    ("expire_unpaid", 60, lambda s: s.enrollments.expire_unpaid),
    ("finish_ended_sessions", 3600, lambda s: s.enrollments.finish_ended_sessions),
    ("lapse_waitlist_offers", 60, lambda s: s.enrollments.waitlist.lapse_offers),
    # Seats against enrollments and the waitlist, whatever left them apart (a crash, a failover).
    ("reconcile_seats", 300, lambda s: s.reconciler.reconcile),
    # Also the start-up recovery: the first run is immediate. Lease-guarded, so safe in many processes.
    ("rollback_unfinished_imports", 120, lambda s: s.staff_imports.rollback_unfinished_imports),
    ("purge_job_files", 3600, lambda s: s.jobs.purge),
    # 缴费截止提醒: unpaid enrollments whose pay_by is near, once per enrollment and deadline.
    ("remind_payment_deadlines", 600, lambda s: s.reminders.remind),
    ("sweep_orphan_proofs", 3600, lambda s: s.payments.sweep_orphan_proofs),
    ("purge_certificate_bundles", 3600, lambda s: s.certificate_bundles.purge),
)


def start_jobs(services: Services) -> None:
    """Schedule the periodic tasks of ``PERIODIC_TASKS`` and start the runner."""
    for name, seconds, task in PERIODIC_TASKS:
        services.start_periodic(name, seconds, task(services))
    services.runner.start()
