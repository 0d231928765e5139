"""The supervisor of ``--workers N``: start the workers, replace the ones that die, say so.

It is a small process on purpose: it imports neither aiohttp nor the gateway (each worker
is a fresh interpreter, ``python -m multistore.server.worker``), holds no sockets but one
channel per worker, and spends its life in ``select``.

- A worker that dies is logged with its exit status or signal and restarted after a
  backoff that doubles with each quick death (one that did not live ``STABLE_AFTER``).
- After ``MAX_QUICK_DEATHS`` quick deaths in a row of one worker the pool is crash-looping:
  the supervisor stops the others and exits with status 1 for an outer supervisor to see.
- A worker that dies before any worker ever got ready is a startup failure (a bad config):
  the supervisor stops and exits with that worker's status.
- ``SIGTERM``/``SIGINT`` drain the workers; ``SIGHUP`` is passed on for a config reload.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from multistore.server.settings import ServerSettings
from multistore.server.worker_link import READY, PoolStatus, encode_settings

logger = logging.getLogger("multistore.server.supervisor")

BACKOFF_FIRST = 0.25
BACKOFF_MAX = 30.0
STABLE_AFTER = 30.0
"""A worker that lived this long died of something new: its backoff starts over."""
MAX_QUICK_DEATHS = 5
CRASH_LOOP_EXIT = 1
# Seconds the other workers get to fail on their own when one fails before any served.
STARTUP_FAILURE_GRACE = 5.0


@dataclass(slots=True)
class Slot:
    """One worker position: the process filling it now and its recent history."""

    index: int
    process: subprocess.Popen[bytes] | None = None
    channel: socket.socket | None = None
    started: float = 0.0
    ready: bool = False
    quick_deaths: int = 0
    restart_at: float | None = None
    inbox: bytes = field(default=b"", repr=False)


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {-returncode} ({name})"
    return f"exited with status {returncode}"


class Supervisor:
    def __init__(self, settings: ServerSettings, *, python: str | None = None) -> None:
        self._settings = settings
        self._python = python or sys.executable
        self._slots = [Slot(index) for index in range(settings.workers)]
        self._restarts = 0
        self._stopping = False
        self._ever_ready = False
        self._signals: list[int] = []
        self._exit_codes: list[int] = []

    # -- the loop ---------------------------------------------------------------------

    def run(self) -> int:
        shared_dir = Path(tempfile.mkdtemp(prefix="multistore-metrics-"))
        self._settings = dataclasses.replace(self._settings, shared_dir=shared_dir)
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        previous_wakeup = signal.set_wakeup_fd(wake_write)
        handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD)
        previous = {signum: signal.signal(signum, self._on_signal) for signum in handled}
        try:
            for slot in self._slots:
                self._spawn(slot)
            return self._loop(wake_read)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            signal.set_wakeup_fd(previous_wakeup)
            os.close(wake_read)
            os.close(wake_write)
            for slot in self._slots:
                self._close_channel(slot)
            shutil.rmtree(shared_dir, ignore_errors=True)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals.append(signum)

    def _loop(self, wake_read: int) -> int:
        while True:
            channels = {
                slot.channel.fileno(): slot for slot in self._slots if slot.channel is not None
            }
            readable, _, _ = select.select([wake_read, *channels], [], [], self._timeout())
            for fd in readable:
                if fd == wake_read:
                    _drain(wake_read)
                else:
                    self._read_channel(channels[fd])
            self._handle_signals()
            outcome = self._reap()
            if outcome is not None:
                return outcome
            if self._stopping:
                if all(slot.process is None for slot in self._slots):
                    return max(self._exit_codes, default=0)
                continue
            self._restart_due()

    def _timeout(self) -> float | None:
        due = [slot.restart_at for slot in self._slots if slot.restart_at is not None]
        if self._stopping or not due:
            # Signals wake the select; the periodic wake-up guards against a lost SIGCHLD.
            return 1.0
        return max(0.0, min(due) - time.monotonic())

    # -- workers ----------------------------------------------------------------------

    def _spawn(self, slot: Slot) -> None:
        ours, theirs = socket.socketpair()
        try:
            slot.process = subprocess.Popen(
                [self._python, "-m", "multistore.server.worker"], stdin=theirs.fileno()
            )
        finally:
            theirs.close()
        # The first worker reports what was loaded (and a config it cannot serve), once.
        settings = encode_settings(dataclasses.replace(self._settings, announce=slot.index == 0))
        try:
            ours.sendall(settings)
        except OSError as exc:
            # Killed before it could read them (a crash loop, kill -9 at once): it has
            # exited or is exiting, and reaping it counts it like any other death.
            logger.debug("worker %d went away before its settings were sent: %s", slot.index, exc)
        ours.setblocking(False)
        slot.channel, slot.inbox = ours, b""
        slot.started, slot.ready, slot.restart_at = time.monotonic(), False, None
        logger.debug("worker %d started (pid %d)", slot.index, slot.process.pid)

    def _read_channel(self, slot: Slot) -> None:
        assert slot.channel is not None
        try:
            data = slot.channel.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            # The worker closed its end: it is exiting; _reap will see it go.
            self._close_channel(slot)
            return
        slot.inbox += data
        if READY in slot.inbox and not slot.ready:
            slot.ready = True
            self._ever_ready = True
            if self._restarts:
                assert slot.process is not None
                logger.info("worker %d is back (pid %d)", slot.index, slot.process.pid)
            self._broadcast()
        slot.inbox = slot.inbox.rpartition(b"\n")[2]

    def _reap(self) -> int | None:
        for slot in self._slots:
            process = slot.process
            if process is None or process.poll() is None:
                continue
            returncode = process.returncode
            slot.process, slot.ready = None, False
            self._close_channel(slot)
            if self._stopping:
                self._exit_codes.append(returncode)
                logger.debug("worker %d %s", slot.index, describe_exit(returncode))
                continue
            outcome = self._worker_died(slot, process.pid, returncode)
            if outcome is not None:
                return outcome
        return None

    def _worker_died(self, slot: Slot, pid: int, returncode: int) -> int | None:
        lived = time.monotonic() - slot.started
        if not self._ever_ready:
            logger.error(
                "worker %d (pid %d) %s before serving: stopping", slot.index, pid,
                describe_exit(returncode),
            )  # fmt: skip
            self._let_others_finish(within=STARTUP_FAILURE_GRACE)
            self._stop_all()
            return returncode if returncode > 0 else CRASH_LOOP_EXIT
        slot.quick_deaths = slot.quick_deaths + 1 if lived < STABLE_AFTER else 1
        if slot.quick_deaths >= MAX_QUICK_DEATHS:
            logger.critical(
                "worker %d (pid %d) %s after %.1fs; %d quick deaths in a row: "
                "the workers are crash-looping, giving up",
                slot.index, pid, describe_exit(returncode), lived, slot.quick_deaths,
            )  # fmt: skip
            self._stop_all()
            return CRASH_LOOP_EXIT
        delay = min(BACKOFF_FIRST * 2 ** (slot.quick_deaths - 1), BACKOFF_MAX)
        logger.error(
            "worker %d (pid %d) %s after %.1fs; restarting it in %.2fs",
            slot.index, pid, describe_exit(returncode), lived, delay,
        )  # fmt: skip
        slot.restart_at = time.monotonic() + delay
        self._broadcast()
        return None

    def _restart_due(self) -> None:
        now = time.monotonic()
        for slot in self._slots:
            if slot.restart_at is not None and slot.restart_at <= now:
                self._restarts += 1
                self._spawn(slot)

    # -- signals and shutdown ---------------------------------------------------------

    def _handle_signals(self) -> None:
        pending, self._signals = self._signals, []
        for signum in pending:
            if signum in (signal.SIGTERM, signal.SIGINT):
                if not self._stopping:
                    logger.info("stopping %d workers", len(self._slots))
                self._stopping = True
                self._send_all(signal.SIGTERM)
            elif signum == signal.SIGHUP:
                self._send_all(signal.SIGHUP)

    def _send_all(self, signum: int) -> None:
        for slot in self._slots:
            if slot.process is not None and slot.process.poll() is None:
                os.kill(slot.process.pid, signum)
            slot.restart_at = None

    def _let_others_finish(self, *, within: float) -> None:
        """Give the other workers a moment to fail on their own before they are stopped.

        They build the same configuration, so they most likely fail the same way, and only
        the first worker says why (the others keep quiet to avoid repeating it): stopping
        it before it has logged would leave the operator without the reason.
        """
        deadline = time.monotonic() + within
        for slot in self._slots:
            if slot.process is None:
                continue
            with contextlib.suppress(subprocess.TimeoutExpired):
                slot.process.wait(timeout=max(0.0, deadline - time.monotonic()))

    def _stop_all(self) -> None:
        """Stop the remaining workers and wait for them (a shutdown without drain budget)."""
        self._stopping = True
        self._send_all(signal.SIGTERM)
        deadline = time.monotonic() + self._settings.shutdown_timeout + 5
        for slot in self._slots:
            process = slot.process
            if process is None:
                continue
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            slot.process = None

    def _broadcast(self) -> None:
        status = PoolStatus(
            ready=sum(slot.ready for slot in self._slots),
            expected=len(self._slots),
            restarts=self._restarts,
        )
        line = status.line()
        for slot in self._slots:
            if slot.channel is not None and slot.ready:
                with contextlib.suppress(OSError):  # a worker on its way out; _reap sees it
                    slot.channel.send(line)

    @staticmethod
    def _close_channel(slot: Slot) -> None:
        if slot.channel is not None:
            slot.channel.close()
            slot.channel = None


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
