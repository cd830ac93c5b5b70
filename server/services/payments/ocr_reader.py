"""Reading transfer screenshots with rapidocr, in a child process with a memory and a time limit.

* :class:`TextReader` loads the PP-OCR models (shipped inside the ``rapidocr`` wheel: no network)
  once and reads any number of pictures with them: ``read(image_bytes) -> Reading``.
* :class:`OcrWorker` keeps one :class:`TextReader` in a child process (started with ``spawn``, so
  nothing of the server's threads or sockets is inherited), niced, its address space capped with
  ``RLIMIT_AS``. A call that runs past its time limit kills the child; a child that dies (killed,
  out of memory) is started again by the next call. Calls are serialised (one picture at a time uses
  both cores already) and waited for on the worker's own thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import resource
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from io import BytesIO
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from PIL import Image

from server.services.payments import ocr_parse
from server.services.payments.phash import phash_image, to_hex

log = logging.getLogger(__name__)

# How running out of address space shows: Python, onnxruntime (C++), the loader mapping a library.
_OUT_OF_MEMORY = ("bad_alloc", "failed to map segment", "Cannot allocate memory")
MAX_SIDE = 2400  # larger pictures are scaled down first (a phone screenshot is about this tall)


@dataclass
class Reading:
    """What one proof picture says (``None`` where it could not be read), its pHash and the time it took."""

    amount_fen: int | None = None
    paid_at: datetime | None = None
    payee_name: str | None = None
    payee_account_tail: str | None = None
    remark: str | None = None
    lines: list[str] = field(default_factory=list)
    seconds: float = 0.0
    phash: str | None = None
    error: str | None = None  # a Chinese sentence when the picture could not be read at all

    def to_doc(self) -> dict[str, Any]:
        """As stored in ``payments.ocr.readings``."""
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Reading:
        """Back from :meth:`to_doc` (unknown keys ignored)."""
        return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})


def reading_from_lines(lines: list[str], *, seconds: float = 0.0, phash: str | None = None) -> Reading:
    """The fields parsed from a screenshot's lines of text."""
    return Reading(
        amount_fen=ocr_parse.parse_amount(lines), paid_at=ocr_parse.parse_time(lines),
        payee_name=ocr_parse.parse_payee(lines), payee_account_tail=ocr_parse.parse_account_tail(lines),
        remark=ocr_parse.parse_remark(lines), lines=lines, seconds=round(seconds, 3), phash=phash,
    )


class TextReader:
    """The OCR engine, loaded once (models from the wheel), reading pictures one after another."""

    def __init__(self) -> None:
        from rapidocr import RapidOCR  # heavy (onnxruntime, opencv): only where pictures are read

        # Screenshots are upright: no angle classifier. Quiet: a reading is logged by its job, not per box.
        self.engine = RapidOCR(params={"Global.use_cls": False, "Global.log_level": "warning"})

    def read(self, image_bytes: bytes) -> Reading:
        """Read one picture (JPEG, PNG, WebP); a picture that cannot be opened gives a reading with ``error``."""
        started = time.perf_counter()
        try:
            with Image.open(BytesIO(image_bytes)) as opened:
                image = opened.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError):
            return Reading(error="图片无法打开，未能识别", seconds=round(time.perf_counter() - started, 3))
        if max(image.size) > MAX_SIDE:
            image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        phash = to_hex(phash_image(image))
        result = self.engine(np.asarray(image)[:, :, ::-1].copy())  # the engine wants BGR, as OpenCV does
        boxes = [
            ocr_parse.TextBox(str(text), float(min(p[0] for p in box)), float(min(p[1] for p in box)),
                              float(max(p[1] for p in box)))
            for box, text in zip(result.boxes if result.boxes is not None else [], result.txts or (), strict=False)
        ]
        return reading_from_lines(ocr_parse.rows(boxes), seconds=time.perf_counter() - started, phash=phash)


class OcrError(Exception):
    """The worker could not read the pictures: ``message`` is the Chinese sentence the reviewer sees."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(detail)
        self.message = message


OCR_BEHIND_DOCUMENTS = 9  # nice levels below the document threads


def ocr_niceness(executor_niceness: int) -> int:
    """The OCR process's nice value: below the document threads (a payer waits for their pictures to be
    cleaned; nobody waits for the OCR reading), at most 19; 0 (not niced) when the documents are not."""
    return min(19, executor_niceness + OCR_BEHIND_DOCUMENTS) if executor_niceness else 0


def _serve(conn: Connection, memory_mb: int, niceness: int) -> None:
    """The child process: cap the memory, lower the priority, load the models once, read on request."""
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if niceness:
        with contextlib.suppress(OSError):
            os.nice(niceness)  # requests of the server come first
    try:
        reader = TextReader()
    except Exception as exc:  # MemoryError, or onnxruntime's bad_alloc: reported, then this process ends
        conn.send(("error", type(exc).__name__, str(exc)[:300]))
        return
    conn.send(("ready", None, None))
    while True:
        try:
            images = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", [reader.read(image).to_doc() for image in images], None))
        except Exception as exc:
            conn.send(("error", type(exc).__name__, str(exc)[:300]))
            return  # a process that failed mid-reading (out of memory, most likely) is not trusted further


class OcrWorker:
    """One OCR child process with a memory cap (``memory_mb``), a time limit per call (``timeout``), niced."""

    def __init__(self, *, memory_mb: int, timeout: float, niceness: int = 10) -> None:
        self.memory_mb = memory_mb
        self.timeout = timeout
        self.niceness = niceness
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocr-worker")
        self.pid: int | None = None

    async def read(self, images: list[bytes]) -> list[Reading]:
        """Read the pictures in the child process (started when needed); :class:`OcrError` when it fails."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self.read_blocking, images)

    def read_blocking(self, images: list[bytes]) -> list[Reading]:
        """:meth:`read`, for a thread of its own (the bench)."""
        if not images:
            return []  # nothing to read: no process started for it
        with self._lock:
            deadline = time.monotonic() + self.timeout
            conn = self._ensure_started(deadline)
            conn.send(images)
            kind, value, detail = self._receive(conn, deadline)
            if kind != "ok":
                self._kill()
                raise OcrError(self._failure_message(value, detail), f"{value}: {detail}")
            return [Reading.from_doc(doc) for doc in value]

    def _ensure_started(self, deadline: float) -> Connection:
        if self._process is not None and self._process.is_alive() and self._conn is not None:
            return self._conn
        self._kill()
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_serve, args=(child, self.memory_mb, self.niceness), name="ocr-worker",
                                        daemon=True)
        process.start()
        child.close()
        self._process, self._conn, self.pid = process, parent, process.pid
        kind, value, detail = self._receive(parent, deadline)  # the models load within the same time limit
        if kind != "ready":
            self._kill()
            raise OcrError(self._failure_message(value, detail), f"{value}: {detail}")
        return parent

    def _receive(self, conn: Connection, deadline: float) -> tuple[str, Any, Any]:
        try:
            if not conn.poll(max(0.0, deadline - time.monotonic())):
                self._kill()
                raise OcrError(f"识别超时（超过 {self.timeout:g} 秒）", "timeout")
            return conn.recv()  # type: ignore[no-any-return]
        except (EOFError, OSError) as exc:
            code = self._process.exitcode if self._process is not None else None
            self._kill()
            raise OcrError(self._memory_message(), f"the OCR process died (exit code {code})") from exc

    def _memory_message(self) -> str:
        return f"识别进程异常退出（可能超出 {self.memory_mb} MB 内存限制）"

    def _failure_message(self, kind: str, detail: str) -> str:
        if kind == "MemoryError" or any(sign in (detail or "") for sign in _OUT_OF_MEMORY):
            return f"识别所需内存超出 {self.memory_mb} MB 限制"
        return f"识别程序出错（{kind}）"

    def _kill(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(5)
            self._process = None

    def close(self) -> None:
        """Stop the child process (a call waiting on it fails at once) and the waiting thread."""
        process = self._process
        if process is not None and process.is_alive():
            process.kill()
        with self._lock:
            self._kill()
        self._thread.shutdown(wait=False, cancel_futures=True)
