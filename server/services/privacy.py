"""The rights of the person (PIPL): export everything held about them, delete the account, purge.

**Export** (``GET /api/v1/me/data-export``): a ZIP with ``data.json`` — account,
profile (ID number and phone in full: it is theirs), consents, units, licences,
enrollments, waitlist places, shipping and invoice templates, WeChat subscribe-message
consent (``notify_subscriptions``), and the audit entries about them or by them — plus ``photo.jpg`` and the licence images.

**Deletion** (``POST /api/v1/me/deletion``, with the password or an SMS code of
purpose ``delete_account``) is immediate — no grace period: the person asked,
proved it is them, and confirmed; a grace period would keep the data for no
purpose of theirs. In one transaction:

- the account becomes a tombstone ``{_id, role, status: "deleted", login_key:
  "deleted:<id>", name: "已注销用户", created_at, deleted_at}`` — no name, ID
  number, phone, email, address, WeChat, password or profile; the login key is
  freed, so the same ID number can register again;
- licences, shipping addresses, invoice templates and WeChat subscribe-message
  consent are deleted; every login token is revoked;
- enrollments and waitlist places are **kept** (the association must keep its
  records of trainings, and later payments and certificates) with their ids and
  amounts; the shipping address the person copied into their own enrollments is
  removed (``address: null``), a unit's address copy stays (it is the unit's);
- payments are **kept** too (financial records: amounts, lines, proofs, the invoice title and tax
  id), without the sealed contact fields of the invoice copy (e-mail, 地址电话, 开户行及账号).
- exam results and certificates are **kept** (the association's records; a certificate number stays
  taken), anonymized: a certificate's printed name and masked ID number become 已注销 (its
  verification page says so), correction reasons of results are blanked.

Then the photo and licence images are deleted from GridFS and the person leaves
every waitlist (through the waitlist's own ``leave_course``: an offered seat goes
to the next in line). A crash between the commit and these steps leaves files or
places of a tombstone; :meth:`PrivacyService.purge_inactive` also sweeps those.

**Purge** (``python -m server purge-inactive [--dry-run]``, ``POST
/api/v1/admin/privacy/purge-inactive``): trainee accounts with no login
(``last_login_at``), no change (``updated_at``) and no enrollment activity for
``PII_RETENTION_DAYS`` are anonymized exactly as a deletion. Everything is audited
(``privacy.export``, ``privacy.delete``, ``privacy.purge``) with the masked ID only.

This module owns no collection: it orchestrates. A deletion changes collections of
other packages (accounts, profile, enrollment) in one transaction, each through its
owner's method with the transaction's session.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.documents.data_export import render_data_export
from server.models.binding import DeletionIn, DeletionOut, PurgeOut
from server.services import Principal
from server.services.accounts.accounts import AccountService
from server.services.accounts.personal import id_masked_of, trainee_subject
from server.services.accounts.repository import AccountRepository
from server.services.accounts.sms import SmsPurpose
from server.services.accounts.subscriptions import SubscriptionService
from server.services.accounts.throttle import RateLimiter
from server.services.accounts.tokens import TokenService
from server.services.audit import AuditLog
from server.services.certificates.certificates import CertificateService
from server.services.cpu import CpuRunner
from server.services.enrollment.enrollments import EnrollmentService
from server.services.enrollment.templates import TemplateService
from server.services.passes.checkins import CheckinService
from server.services.passes.passes import PassService
from server.services.payments.invoices import InvoiceService
from server.services.payments.payments import PaymentService
from server.services.profile.photos import PhotoService
from server.services.profile.profile import ProfileService
from server.services.profile.qualifications import QualificationService
from server.services.results.results import ResultService
from server.services.staff.membership import UnitMembershipService

log = logging.getLogger(__name__)

DELETED_NAME = "已注销用户"
KEPT_RECORDS = ["enrollments", "waitlist", "payments", "checkins", "results", "certificates"]
DELETION_TRIES_PER_HOUR = 5
EXPORTS_PER_HOUR = 10  # an export reads every image and zips them: enough for a person, not for a loop


class PrivacyService:
    """Data export, account deletion and the purge of inactive accounts."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        accounts: AccountService,
        profiles: ProfileService,
        photos: PhotoService,
        qualifications: QualificationService,
        tokens: TokenService,
        membership: UnitMembershipService,
        templates: TemplateService,
        enrollments: EnrollmentService,
        payments: PaymentService,
        limiter: RateLimiter,
        audit: AuditLog,
        run_cpu: CpuRunner,
        retention_days: int,
        invoices: InvoiceService,
        subscriptions: SubscriptionService | None = None,
        results: ResultService | None = None,
        certificates: CertificateService | None = None,
        now: Callable[[], datetime] | None = None,
        passes: PassService | None = None,
        checkins: CheckinService | None = None,
    ) -> None:
        self.db = db  # for the transaction's session only: every write goes through an owner
        self.accounts = accounts
        self.repository = AccountRepository(db)  # the accounts' repository, on this service's database handle
        self.profiles = profiles
        self.photos = photos
        self.qualifications = qualifications
        self.tokens = tokens
        self.membership = membership
        self.templates = templates
        self.enrollments = enrollments
        self.payments = payments
        self.passes = passes  # a deleted person's passes are revoked; their check-ins kept, anonymized
        self.checkins = checkins
        self.limiter = limiter
        self.audit = audit
        self.run_cpu = run_cpu
        self.retention_days = retention_days
        self.invoices = invoices  # payments are kept; the invoice PDFs of the person's own payments go
        self.subscriptions = subscriptions or SubscriptionService(db, templates={}, audit=audit)
        self.results = results  # exam results and certificates: kept, anonymized
        self.certificates = certificates
        self.now = now or (lambda: datetime.now(UTC))

    # ---- export ---------------------------------------------------------------------------

    async def export(self, principal: Principal, *, ip: str | None) -> tuple[str, str, bytes]:
        """Everything held about the caller, as a ZIP (audited ``privacy.export``)."""
        account = await self.profiles.trainee(principal.account_id)
        me = account["_id"]
        await self.limiter.hit(f"privacy_export|{me}", limit=EXPORTS_PER_HOUR, window_seconds=3600,
                               message="导出过于频繁，请稍后再试")
        qualifications = await self.qualifications.of_person(me)
        enrollments = await self.enrollments.of_trainee(me)
        audit = await self.audit.about_or_by(me)
        data = {
            "generated_at": self.now(),
            "account": {
                "id": me, "role": account["role"], "status": account["status"], "created_at": account["created_at"],
                "last_login_at": account.get("last_login_at"), "wechat_bound": bool(account.get("wechat")),
                "created_by": account.get("created_by"),
            },
            "profile": self.profiles.profile_out(account).model_dump(mode="json"),
            "consents": (account["trainee"].get("consents") or {}),
            "units": (await self.membership.list(principal)).model_dump(mode="json")["items"],
            "qualifications": [{k: v for k, v in q.items() if k != "account_id"} for q in qualifications],
            "enrollments": [self.enrollments.shown(e) for e in enrollments],
            "waitlist": await self.enrollments.waitlist.of_trainee(me),
            "payments": await self.payments.of_payer(me),
            "addresses": (await self.templates.list_addresses(principal)).model_dump(mode="json"),
            "invoice_templates": (await self.templates.list_invoice_templates(principal)).model_dump(mode="json"),
            "audit_log": audit,
            "notify_subscriptions": await self.subscriptions.of_account(me),
            "passes": await self.passes.of_trainee(me) if self.passes else [],
            "checkins": await self.checkins.of_trainee(me) if self.checkins else [],
            "results": await self.results.of_trainee(me) if self.results else [],
            "certificates": await self.certificates.of_trainee(me) if self.certificates else [],
        }
        files = await self._files(account, qualifications)
        await self.audit.record("privacy.export", actor_id=me, actor_role=principal.role,
                                subject=trainee_subject(me), subject_id=me, ip=ip,
                                details={"files": len(files)})
        return await self.run_cpu(render_data_export, data, files)  # type: ignore[no-any-return]

    async def _files(self, account: dict[str, Any], qualifications: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
        files: list[tuple[str, bytes]] = []
        if (data := await self.photos.read_file(account)) is not None:
            files.append(("photo.jpg", data))
        for q in qualifications:
            if q.get("image_file_id") is not None and (data := await self.qualifications.read_image(q["image_file_id"])):
                files.append((f"qualifications/{q['_id']}.jpg", data))
        return files

    # ---- deletion ---------------------------------------------------------------------------

    async def delete_me(self, principal: Principal, body: DeletionIn, *, ip: str | None) -> DeletionOut:
        """Delete the caller's account now, proven by the password or an SMS code; audited."""
        account = await self.profiles.trainee(principal.account_id)
        await self.limiter.hit(f"privacy_delete|{account['_id']}", limit=DELETION_TRIES_PER_HOUR,
                               window_seconds=3600, message="尝试次数过多，请一小时后再试")
        code_id = None
        if body.password:
            if not await self.accounts.hasher.verify(account.get("password_hash"), body.password):
                raise errors.validation("密码错误", {"password": "密码错误"}, code="reproof_invalid")
        else:
            assert body.sms_code is not None
            code_id = await self.accounts.check_sms_proof(account, SmsPurpose.delete_account, body.sms_code)
        deleted_at = await self._anonymize(account)
        if code_id is not None:
            await self.accounts.sms_codes.use(code_id)
        await self.audit.record("privacy.delete", actor_id=account["_id"], actor_role=principal.role,
                                subject=trainee_subject(account["_id"]), subject_id=account["_id"], ip=ip,
                                details={"proof": "password" if body.password else "sms", "kept": KEPT_RECORDS})
        unit_id = account["trainee"].get("unit_id")
        if unit_id is not None:  # the unit loses the person from its staff: tell it why
            masked = id_masked_of(self.accounts.cipher, account["trainee"])
            text = f"学员{account['name']}（{masked}）已注销账号，已不再是贵单位人员。"
            await self.membership.notifier.notify(unit_id, "staff_left", text, {"trainee_id": str(account["_id"])})
        return DeletionOut(deleted_at=deleted_at, kept=KEPT_RECORDS)

    async def _anonymize(self, account: dict[str, Any], *, still: dict[str, Any] | None = None) -> datetime:
        """Remove the person's data in one transaction, then their files (see the module docstring).

        ``still``: more conditions the account must meet at the moment of the write (the
        purge's "still inactive"); 409 ``account_deleted`` when it no longer matches.
        """
        me, now = account["_id"], self.now()
        tombstone = {
            "_id": me, "role": account["role"], "status": "deleted", "login_key": f"deleted:{me}",
            "name": DELETED_NAME, "password_hash": None, "created_at": account["created_at"],
            "created_by": account.get("created_by"), "updated_at": now, "deleted_at": now,
            "trainee": {},
        }

        async def remove(session: AsyncClientSession) -> None:
            replaced = await self.repository.replace_one(
                {"_id": me, "status": {"$ne": "deleted"}, **(still or {})}, tombstone, session=session)
            if replaced.matched_count != 1:
                raise errors.conflict("account_deleted", "该账号已注销或刚刚有变动")
            await self.qualifications.forget_person(me, session=session)
            await self.templates.forget_owner(me, session=session)
            await self.enrollments.forget_address(me, at=now, session=session)
            await self.payments.forget_payer(me, at=now, session=session)
            await self.tokens.revoke_all(me, at=now, session=session)
            await self.invoices.forget_payer(me, at=now, session=session)
            await self.subscriptions.forget_account(me, session=session)
            if self.passes is not None:
                await self.passes.revoke_all_of(me, session=session)
            if self.checkins is not None:  # attendance is a record the association keeps: without the person
                await self.checkins.anonymize(me, session=session)
            if self.results is not None:
                await self.results.anonymize(me, at=now, session=session)
            if self.certificates is not None:
                await self.certificates.anonymize(me, at=now, session=session)

        await self._in_transaction(remove)
        await self._after_commit([me])
        return now

    async def _after_commit(self, account_ids: list[ObjectId]) -> None:
        """The steps outside the transaction: files (GridFS has no transactions) and waitlist places."""
        await self.photos.delete_files_of(account_ids)
        await self.qualifications.delete_images_of(account_ids)
        await self.invoices.delete_files_of(account_ids)
        await self.enrollments.waitlist.leave_all(account_ids)

    async def _in_transaction(self, work: Callable[[AsyncClientSession], Awaitable[None]]) -> None:
        """Run ``work`` in one transaction (retried on transient conflicts)."""
        async with self.db.client.start_session() as session:
            await session.with_transaction(work)

    # ---- purge ------------------------------------------------------------------------------

    async def purge_inactive(self, *, dry_run: bool, by: Principal | None, ip: str | None = None) -> PurgeOut:
        """Anonymize trainee accounts inactive for ``retention_days`` (``by`` None: the command line)."""
        cutoff = self.now() - timedelta(days=self.retention_days)
        old = {"$not": {"$gte": cutoff}}  # older than the cutoff, or never set
        inactive = {"updated_at": old, "last_login_at": old}
        candidates = await self.repository.find(
            {"role": "trainee", "status": {"$ne": "deleted"},
             "created_at": {"$lt": cutoff}, **inactive},
        ).to_list()
        purged: list[ObjectId] = []
        for account in candidates:
            if await self.enrollments.changed_since(account["_id"], cutoff):
                continue  # a recent enrollment (made by a unit, say) is activity
            if not dry_run:
                try:
                    await self._anonymize(account, still=inactive)
                except errors.AppError:
                    continue  # deleted, or active again (a login), meanwhile
                await self.audit.record("privacy.purge", actor_id=by.account_id if by else None,
                                        actor_role=by.role if by else "admin",
                                        subject=trainee_subject(account["_id"]), subject_id=account["_id"], ip=ip,
                                        details={"retention_days": self.retention_days})
            purged.append(account["_id"])
        if not dry_run:
            await self._sweep_orphans()
        await self.audit.record("privacy.purge_run", actor_id=by.account_id if by else None,
                                actor_role=by.role if by else "admin", ip=ip,
                                details={"dry_run": dry_run, "count": len(purged), "retention_days": self.retention_days})
        return PurgeOut(dry_run=dry_run, retention_days=self.retention_days, cutoff=cutoff, count=len(purged),
                        account_ids=[str(i) for i in purged])

    async def _sweep_orphans(self) -> None:
        """Files and waitlist places of deleted accounts left by a crash between a deletion's commit and its
        clean-up steps."""
        deleted = await self.repository.distinct("_id", {"status": "deleted"})
        await self._after_commit(deleted)

