"""``python -m server --processes N``: one parent, N forked HTTP processes sharing one listening socket.

Why a shared socket (the pre-fork model of Tornado's ``fork_processes``) and not ``SO_REUSEPORT``:
with one socket the kernel keeps one accept queue and whichever process is free takes the next
connection; a process that dies loses only the requests it was handling — connections waiting in
the queue are taken by the others. With ``SO_REUSEPORT`` each process has its own queue, connections
are spread by a hash whatever the load, and those queued on a dying process's socket are reset.

Tornado's ``fork_processes`` is not used as is: its parent only waits for children, while this one
also owns the embedded database (started once, before forking, and restarted when it dies — each
child only makes its own client to it), forwards SIGTERM/SIGINT to the children and waits for their
graceful stop (SHUTDOWN_GRACE_SECONDS), restarts a child that died, and stops the database last.

Before forking, the parent runs the migrations and loads the demo data once, in an event loop that
is closed before the first fork (a child never inherits a running loop or a driver connection). The
children run the migrations again at their start — already done, under the lease — and the job
runner in each claims periodic tasks once per period through ``job_schedule``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import tornado.netutil

from server.config import Settings
from server.db import EmbeddedMongo, _die_with_parent, default_storage_path, publish_url, unpublish_url
from server.metrics import mark_process_dead, prepare_multiprocess_dir

# Connections the kernel queues before the server accepts them (Tornado's default is 128). An
# enrollment window opens with hundreds of taps at once: a full queue drops a connection attempt,
# which the phone retries only after a second (measured: one request of 200 then took 1.05 s).
# The kernel caps it at net.core.somaxconn (4096 on current kernels).
LISTEN_BACKLOG = 1024

log = logging.getLogger("server.processes")

RESTART_DELAY_S = 1.0
POLL_S = 0.2

Serve = Callable[[Settings, list[socket.socket]], Coroutine[Any, Any, int]]
Prepare = Callable[[Settings], Coroutine[Any, Any, None]]


class Parent:
    """The supervising parent: database, sockets, children."""

    def __init__(self, settings: Settings, processes: int, serve: Serve, prepare: Prepare) -> None:
        self.settings = settings
        self.processes = processes
        self.serve = serve
        self.prepare = prepare
        self.children: dict[int, int] = {}  # pid -> slot
        self.stopping = False
        self.embedded: EmbeddedMongo | None = None

    def run(self) -> int:
        """Start the database, prepare, fork the children and watch them until a signal; the exit code."""
        child_settings = self.settings
        if not self.settings.mongodb_url:
            self.embedded = EmbeddedMongo(default_storage_path(self.settings.data_dir).resolve())
            url = self.embedded.start()
            publish_url(self.settings.data_dir, url)
            log.info("embedded database started (pid %s), shared by %d processes",
                     self.embedded.process.pid if self.embedded.process else "?", self.processes)
            child_settings = self.settings.model_copy(update={"mongodb_url": url})
        try:
            asyncio.run(self.prepare(child_settings))
            prepare_multiprocess_dir(self.settings.data_dir)  # before any prometheus-client import
            sockets = tornado.netutil.bind_sockets(self.settings.port, self.settings.host, backlog=LISTEN_BACKLOG)
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, self._on_signal)
            for slot in range(self.processes):
                self._fork(slot, child_settings, sockets)
            print(f"服务已启动 / listening: {self.settings.base_url} ({self.processes} processes, "
                  f"parent pid {os.getpid()})", flush=True)
            self._watch(child_settings, sockets)
        finally:
            self._stop_children()
            if self.embedded is not None:
                unpublish_url(self.settings.data_dir, self.embedded.url)
                self.embedded.stop()
                log.info("embedded database stopped")
        return 0

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.stopping:  # a second signal: stop now
            for pid in self.children:
                _signal(pid, signal.SIGKILL)
        self.stopping = True

    def _fork(self, slot: int, settings: Settings, sockets: list[socket.socket]) -> None:
        pid = os.fork()
        if pid == 0:  # the child: serve, then leave without running the parent's clean-ups
            code = 1
            try:
                for signum in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(signum, signal.SIG_DFL)
                _die_with_parent()
                code = asyncio.run(self.serve(settings, sockets))
            except BaseException:
                log.exception("process %d failed", slot)
            finally:
                logging.shutdown()
                os._exit(code)
        self.children[pid] = slot
        log.info("process %d started (pid %d)", slot, pid)

    def _watch(self, settings: Settings, sockets: list[socket.socket]) -> None:
        while not self.stopping:
            time.sleep(POLL_S)
            for pid, status in self._reap():
                slot = self.children.pop(pid)
                mark_process_dead(pid)
                if self.stopping:
                    continue
                log.error("process %d (pid %d) exited (%s); starting it again", slot, pid, _describe(status))
                time.sleep(RESTART_DELAY_S)
                if not self.stopping:
                    self._fork(slot, settings, sockets)
            if self.embedded is not None and self.embedded.process is not None \
                    and self.embedded.process.poll() is not None:
                log.error("embedded database exited with code %s; restarting it",
                          self.embedded.process.returncode)
                try:
                    self.embedded.start()
                except Exception as exc:  # retried at the next poll
                    log.error("embedded database restart failed: %s", exc)

    def _stop_children(self) -> None:
        """SIGTERM to every child, wait for their graceful stop, then SIGKILL the late ones."""
        self.stopping = True
        for pid in self.children:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_grace_seconds + 10
        while self.children and time.monotonic() < deadline:
            for pid, _ in self._reap():
                self.children.pop(pid, None)
            time.sleep(0.05)
        for pid in list(self.children):
            log.error("process pid %d did not stop; killing it", pid)
            _signal(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        self.children.clear()

    def _reap(self) -> list[tuple[int, int]]:
        """The HTTP children that exited (pid, status), without blocking; never the database's process."""
        done = []
        for pid in list(self.children):
            try:
                found, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                found, status = pid, 0
            if found:
                done.append((pid, status))
        return done


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"code {os.waitstatus_to_exitcode(status)}"


def run_processes(settings: Settings, processes: int, serve: Serve, prepare: Prepare) -> int:
    """Run ``processes`` HTTP processes under one supervising parent (see the module doc)."""
    if sys.platform == "win32":  # pragma: no cover
        raise SystemExit("--processes needs fork (Linux, macOS)")
    return Parent(settings, processes, serve, prepare).run()
