"""The OCR pre-check of a payment: the ``payment_ocr`` job reads its proofs and flags what differs.

Submit enqueues ``payment_ocr`` with ``{"payment_id": hex}`` (and ``ocr: {status: pending}`` on the
payment) in its transaction. A job runner then:

1. loads the payment and its proof pictures (GridFS ``payment_proofs``);
2. reads them in the OCR child process (:class:`~server.services.payments.ocr_reader.OcrWorker`:
   models loaded once per process, a memory cap and a time limit per job);
3. records the proofs' perceptual hashes on the payment, then looks for the same screenshot among the
   other payments' proofs (an indexed lookup on hash bands, then the exact Hamming distance and the
   readings compared);
4. writes ``ocr: {status: "done", readings, flags, at}``.

It writes the ``ocr`` field only, never ``status`` or ``review``: OCR assists the reviewer, it
never approves or rejects. A run repeated (a crash before the job was marked done, an administrator's
retry) computes the same thing again from the same pictures. When the worker fails (out of time, out of
memory) the runner retries with backoff; after the last attempt the payment gets ``ocr.status:
"failed"`` with the Chinese reason, and the job is dead (an administrator may retry it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from gridfs.errors import NoFile
from pymongo.asynchronous.database import AsyncDatabase

from server.services.jobs.queue import Job
from server.services.payments.ocr_flags import PHASH_THRESHOLD, Expected, PriorProof, compute_flags
from server.services.payments.ocr_reader import OcrError, OcrWorker, Reading
from server.services.payments.phash import bands

log = logging.getLogger(__name__)

JOB_KIND = "payment_ocr"
PROOFS_BUCKET = "payment_proofs"
ACCOUNT_SETTING = "bank_account"
PRIORS_LIMIT = 200  # candidate proofs per picture from the band lookup (a hash shares a band with many)

ReadProof = Callable[[ObjectId], Awaitable[bytes]]


def enqueue_args(payment_id: ObjectId) -> dict[str, Any]:
    """What submit passes to ``JobQueue.enqueue`` (besides its ``session``)."""
    return {"kind": JOB_KIND, "payload": {"payment_id": str(payment_id)}, "dedupe_key": f"{JOB_KIND}:{payment_id}"}


READING_FIELDS = ("amount_fen", "paid_at", "payee_name", "payee_account_tail", "remark", "lines", "seconds", "error")


def ocr_for_review(ocr: dict[str, Any] | None) -> dict[str, Any]:
    """What the reviewer (and the API) sees of ``payments.ocr``: status, readings, flags, time, error.

    The bookkeeping of the reused-screenshot check (hashes, bands) and the job id stay inside.
    """
    ocr = ocr or {"status": "pending"}
    return {
        "status": ocr.get("status", "pending"),
        "readings": [{k: r.get(k) for k in READING_FIELDS} for r in ocr.get("readings") or []],
        "flags": [{"code": f["code"], "message": f["message"], "proof_index": f.get("proof_index"),
                   "soft": bool(f.get("soft"))} for f in ocr.get("flags") or []],
        "at": ocr.get("at"),
        "error": ocr.get("error"),
    }


# Flags only reviewers see: the reused-screenshot check points at another payment (someone else's, maybe).
REVIEWER_ONLY_FLAGS = frozenset({"duplicate_screenshot"})


def ocr_for_payer(ocr: dict[str, Any] | None) -> dict[str, Any]:
    """What the payer sees of ``payments.ocr``: the readings of their own pictures and the hints about them.

    The payer can then correct a wrong amount or a missing reference before a reviewer looks; the
    reused-screenshot check (:data:`REVIEWER_ONLY_FLAGS`) stays with the reviewers.
    """
    shown = ocr_for_review(ocr)
    shown["flags"] = [f for f in shown["flags"] if f["code"] not in REVIEWER_ONLY_FLAGS]
    return shown


class PaymentOcr:
    """The ``payment_ocr`` job (:meth:`run_job`); the only writer of ``payments.ocr``."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        worker: OcrWorker,
        read_proof: ReadProof,
        max_attempts: int,
        threshold: int = PHASH_THRESHOLD,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.payments = db["payments"]
        self.worker = worker
        self.read_proof = read_proof
        self.max_attempts = max_attempts
        self.threshold = threshold
        self.now = now or (lambda: datetime.now(UTC))

    async def run_job(self, job: Job) -> dict[str, Any]:
        """Read the payment's proofs and write ``ocr``; :class:`OcrError` (retried by the runner) when the worker fails."""
        try:
            payment_id = ObjectId(str(job.payload.get("payment_id")))
        except InvalidId:
            return {"skipped": "bad payment id"}
        payment = await self.payments.find_one({"_id": payment_id})
        if payment is None:
            return {"skipped": "no such payment"}
        images = [await self._proof_bytes(proof["file_id"]) for proof in payment.get("proofs") or []]
        try:
            readings = await self.worker.read([image for image in images if image is not None])
        except OcrError as exc:
            if job.attempt >= await self._attempts_allowed(job):
                await self._write(payment_id, {"status": "failed", "readings": [], "flags": [], "error": exc.message,
                                               "at": self.now(), "job_id": job.id})
            raise
        readings = self._with_missing(images, readings)
        hashes = self._hashes(readings)
        # The hashes first: a payment checked at the same moment with the same picture then sees this one.
        await self.payments.update_one({"_id": payment_id}, {"$set": hashes})
        expected = await self._expected(payment)
        flags = compute_flags(readings, expected, await self._priors(payment_id, readings), self.threshold)
        await self._write(payment_id, {
            "status": "done", "readings": [r.to_doc() for r in readings], "flags": [f.to_doc() for f in flags],
            "at": self.now(), "job_id": job.id, **{key.removeprefix("ocr."): value for key, value in hashes.items()},
        })
        log.info("payment %s read: %d proof(s), flags %s", payment_id, len(readings), [f.code for f in flags])
        return {"readings": len(readings), "flags": [f.code for f in flags]}

    async def _proof_bytes(self, file_id: ObjectId) -> bytes | None:
        try:
            return await self.read_proof(file_id)
        except NoFile:
            return None  # gone: that proof gets an "unreadable" flag, the others are read

    @staticmethod
    def _with_missing(images: list[bytes | None], readings: list[Reading]) -> list[Reading]:
        found = iter(readings)
        return [next(found) if image is not None else Reading(error="凭证文件缺失，未能识别") for image in images]

    @staticmethod
    def _hashes(readings: list[Reading]) -> dict[str, Any]:
        proofs = [{"phash": r.phash, "amount_fen": r.amount_fen, "paid_at": r.paid_at} if r.phash else None
                  for r in readings]
        return {"ocr.proof_hashes": proofs,
                "ocr.phash_bands": sorted({band for r in readings if r.phash for band in bands(r.phash)})}

    async def _attempts_allowed(self, job: Job) -> int:
        doc = await self.db["jobs"].find_one({"_id": job.id}, {"max_attempts": 1})
        return int((doc or {}).get("max_attempts") or self.max_attempts)

    async def _write(self, payment_id: ObjectId, ocr: dict[str, Any]) -> None:
        # ``ocr`` only: the payment's status and review belong to the reviewers.
        await self.payments.update_one({"_id": payment_id}, {"$set": {"ocr": ocr}})

    async def _expected(self, payment: dict[str, Any]) -> Expected:
        account = await self.db["association_settings"].find_one({"_id": ACCOUNT_SETTING}) or {}
        enrollment_ids = [line["enrollment_id"] for line in payment.get("lines") or []]
        earliest = await self.db["enrollments"].find(
            {"_id": {"$in": enrollment_ids}}, {"created_at": 1}).sort("created_at", 1).limit(1).to_list()
        not_before = earliest[0]["created_at"].replace(tzinfo=UTC) if earliest and earliest[0].get("created_at") else None
        return Expected(
            amount_fen=int(payment["amount_fen"]), reference=str(payment.get("reference") or ""),
            account_name=account.get("account_name"), account_number=account.get("account_number"),
            not_before=not_before, now=self.now(),
        )

    async def _priors(self, payment_id: ObjectId, readings: list[Reading]) -> list[PriorProof]:
        """Other payments' proofs sharing a hash band with one of these (every one within the threshold does).

        Of two payments checked at the same moment with one screenshot, at least one sees the other:
        each wrote its hashes before looking (:meth:`run_job`).
        """
        wanted = sorted({band for r in readings if r.phash for band in bands(r.phash)})
        if not wanted:
            return []
        cursor = self.payments.find(
            {"ocr.phash_bands": {"$in": wanted}, "_id": {"$ne": payment_id}},
            {"reference": 1, "status": 1, "ocr.proof_hashes": 1},
        ).sort("_id", -1).limit(PRIORS_LIMIT)
        priors = []
        async for doc in cursor:
            for index, proof in enumerate((doc.get("ocr") or {}).get("proof_hashes") or []):
                if proof and proof.get("phash"):
                    paid_at = proof.get("paid_at")
                    priors.append(PriorProof(
                        payment_id=str(doc["_id"]), reference=str(doc.get("reference") or ""),
                        status=str(doc.get("status") or ""), proof_index=index, phash=proof["phash"],
                        amount_fen=proof.get("amount_fen"), paid_at=paid_at.replace(tzinfo=UTC) if paid_at else None))
        return priors
