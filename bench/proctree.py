"""Start, measure and stop the benchmark's processes, each by its own PID.

CPU time and memory are read from ``/proc`` for a whole process tree, because the gateway's
``--workers N`` supervisor starts its workers and every one of them does part of the work.
Memory is the proportional set size (PSS): a page shared by several processes counts a share
in each, so the tree's sum is what it really costs (summed RSS counts shared pages, the
interpreter's and the libraries', once per process).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SAMPLE_INTERVAL = 0.05


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its ")".
    return text[text.rindex(")") + 2 :].split()


def descendants(root: int) -> list[int]:
    """``root`` and every process below it, found through each process's parent PID."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, ()))
    return tree


def cpu_seconds(pids: Sequence[int]) -> float:
    """User plus system CPU time of ``pids`` (processes that are gone count as zero)."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLOCK_TICKS


def rss_bytes(pids: Sequence[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


def pss_bytes(pids: Sequence[int]) -> int:
    """Summed proportional set size of ``pids`` (processes that are gone count as zero)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as rollup:
                for line in rollup:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


def pss_by_process(root: int) -> dict[int, int]:
    """PSS of each process of the tree, for a per-process footprint."""
    return {pid: pss_bytes([pid]) for pid in descendants(root)}


class MemorySampler:
    """Polls the summed PSS of a process tree every 50 ms and keeps the peak per window."""

    def __init__(self, root: int, *, interval: float = PAGE_SAMPLE_INTERVAL) -> None:
        self._root = root
        self._interval = interval
        self._pids = descendants(root)
        self._lock = threading.Lock()
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def start(self) -> MemorySampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def current(self) -> int:
        return pss_bytes(self._pids)

    def reset_peak(self) -> None:
        with self._lock:
            self._peak = self.current()

    def peak(self) -> int:
        with self._lock:
            return max(self._peak, self.current())

    def _run(self) -> None:
        # Walking all of /proc costs milliseconds; the tree is stable, so refresh it rarely.
        rescan_every = max(1, round(1.0 / self._interval))
        tick = 0
        while not self._stop.wait(self._interval):
            tick += 1
            if tick % rescan_every == 0:
                self._pids = descendants(self._root)
            sample = pss_bytes(self._pids)
            with self._lock:
                self._peak = max(self._peak, sample)


@dataclass(slots=True)
class Service:
    """One process the benchmark started; stopped by its PID (then its remaining tree)."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def tree(self) -> list[int]:
        return descendants(self.pid)

    def stop(self, *, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        tree = self.tree()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
        # Workers that outlived their master (killed or not) are ours too.
        for pid in tree[1:]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class ServiceGroup:
    """Everything started for one run; ``stop_all`` is safe to call more than once."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.services: list[Service] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Service:
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                # Own session: a Ctrl-C in the terminal reaches only the runner, which then
                # stops each service itself, in order.
                start_new_session=True,
            )
        service = Service(name, process, log_path)
        self.services.append(service)
        return service

    def stop_all(self) -> None:
        while self.services:
            service = self.services.pop()
            try:
                service.stop()
            except Exception as exc:  # keep stopping the rest
                print(f"warning: could not stop {service.name} (pid {service.pid}): {exc}")

    def check_alive(self) -> None:
        for service in self.services:
            if service.process.poll() is not None:
                tail = service.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{service.name} exited early:\n{tail}")


def wait_listening(port: int, *, sockets: int = 1, timeout: float = 30.0) -> None:
    """Wait until ``sockets`` listening sockets exist on ``port`` (one per SO_REUSEPORT worker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count_listeners(port) >= sockets:
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port} after {timeout:.0f}s")


def count_listeners(port: int) -> int:
    wanted = f":{port:04X}"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[1].endswith(wanted) and parts[3] == "0A":  # 0A = LISTEN
                count += 1
    return count


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
