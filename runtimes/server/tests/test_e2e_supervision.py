"""``--workers N`` under a supervisor: deaths are logged and repaired, loops give up loudly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from multistore.testing.ports import free_port
from multistore.testing.signing import send


@dataclass(frozen=True, slots=True)
class Supervised:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def workers(self) -> set[int]:
        """Live (not zombie) child processes of the supervisor."""
        return children_of(self.process.pid)


def children_of(parent: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: split after it.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == parent and state != "Z":
            found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@contextmanager
def supervised(tmp_path: Path, workers: int = 2) -> Iterator[Supervised]:
    port = free_port()
    command = [sys.executable, "-m", "multistore.server", "--listen", f"127.0.0.1:{port}",
               "--workers", str(workers), "--data-dir", str(tmp_path / "data")]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("MULTISTORE_")}
    log_path = tmp_path / "supervised.log"
    with log_path.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = Supervised(process, f"http://127.0.0.1:{port}", log_path)
    try:
        assert wait_until(lambda: server.log().count("listening on") >= workers), server.log()
        yield server
    finally:
        leftovers = server.workers()
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        for pid in leftovers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def readyz(server: Supervised) -> int:
    try:
        return send("GET", f"{server.url}/.multistore/readyz", timeout=5).status
    except OSError:
        return 0


def test_a_killed_worker_is_logged_replaced_and_readyz_shows_the_gap(tmp_path: Path) -> None:
    with supervised(tmp_path) as server:
        assert wait_until(lambda: readyz(server) == 200)
        before = server.workers()
        assert len(before) == 2
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        # The survivor reports the instance as not whole until the replacement is up.
        assert wait_until(lambda: readyz(server) == 503, timeout=10), server.log()
        assert wait_until(lambda: f"(pid {victim}) killed by signal 9 (SIGKILL)" in server.log())
        assert "restarting it in" in server.log()
        assert wait_until(lambda: server.log().count("listening on") == 3), server.log()
        assert wait_until(lambda: readyz(server) == 200), server.log()
        after = server.workers()
        assert len(after) == 2
        assert victim not in after
        assert send("GET", f"{server.url}/demo/README.txt").status == 200
        os.kill(server.process.pid, signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0


def test_a_crash_loop_makes_the_supervisor_give_up_loudly(tmp_path: Path) -> None:
    with supervised(tmp_path) as server:
        killed: set[int] = set()

        def kill_new_workers() -> bool:
            for pid in server.workers() - killed:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            return server.process.poll() is not None

        assert wait_until(kill_new_workers, timeout=60), server.log()
        assert server.process.returncode == 1
        log = server.log()
        assert "crash-looping, giving up" in log
        assert " CRITICAL " in log
        assert not any(alive(pid) for pid in killed)


def test_workers_do_not_outlive_a_killed_supervisor(tmp_path: Path) -> None:
    with supervised(tmp_path) as server:
        workers = server.workers()
        assert len(workers) == 2
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
        assert wait_until(lambda: not any(alive(pid) for pid in workers)), server.log()
        assert server.log().count("the supervisor went away") == 2


def test_a_config_that_cannot_be_served_stops_every_worker(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        '{"buckets": [{"name": "gone", "backend_type": "file", "anonymous_access": true,'
        f' "backend_options": {{"root": "{tmp_path / "missing"}"}}}}]}}'
    )
    command = [sys.executable, "-m", "multistore.server", "--config", str(config),
               "--listen", f"127.0.0.1:{free_port()}", "--workers", "2"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("MULTISTORE_")}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert result.returncode == 2, result.stderr
    assert "cannot start" in result.stderr
    assert "before serving: stopping" in result.stderr
