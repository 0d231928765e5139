"""Start-up and shutdown of the service processes the fixtures run (emulators, stores)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable


def wait_until_ready(
    process: subprocess.Popen[bytes], name: str, ready: Callable[[], bool], timeout: float
) -> None:
    """Poll ``ready`` until it says yes; fail at once if ``process`` exits meanwhile.

    ``ready`` may raise ``OSError`` while the service is not listening yet.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{name} did not answer in {timeout}s")


def terminate(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM the process we started, SIGKILL it if it does not stop within 10 s."""
    if process is None or process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
