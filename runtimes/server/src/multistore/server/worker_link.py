"""The channel between the supervisor and one worker: a socket pair on the worker's stdin.

Down it go the worker's settings (once, length-prefixed) and then one line whenever the
pool changes (``workers <ready> <expected> <restarts>``); up it goes ``ready`` once the
worker listens. End of file tells a worker that its supervisor is gone, so a worker never
outlives it. Standard library only: the supervisor imports this and nothing of the app.
"""

from __future__ import annotations

import os
import pickle
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from multistore.server.settings import ServerSettings

if TYPE_CHECKING:  # the supervisor never loads asyncio
    import asyncio

READY = b"ready\n"
_LENGTH = struct.Struct("!I")


@dataclass(frozen=True, slots=True)
class PoolStatus:
    """The worker pool as the supervisor sees it."""

    ready: int
    expected: int
    restarts: int

    def line(self) -> bytes:
        return f"workers {self.ready} {self.expected} {self.restarts}\n".encode()

    @classmethod
    def parse(cls, line: bytes) -> PoolStatus | None:
        parts = line.split()
        if len(parts) != 4 or parts[0] != b"workers" or not all(p.isdigit() for p in parts[1:]):
            return None
        return cls(int(parts[1]), int(parts[2]), int(parts[3]))


def encode_settings(settings: ServerSettings) -> bytes:
    # The supervisor's own settings, handed to its own children: pickle is safe here.
    data = pickle.dumps(settings)
    return _LENGTH.pack(len(data)) + data


def receive_settings(fd: int) -> ServerSettings:
    (length,) = _LENGTH.unpack(_read_exactly(fd, _LENGTH.size))
    settings = pickle.loads(_read_exactly(fd, length))
    if not isinstance(settings, ServerSettings):
        raise TypeError(f"expected ServerSettings from the supervisor, got {type(settings)}")
    return settings


def _read_exactly(fd: int, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            raise EOFError("the supervisor closed the channel")
        data += chunk
    return bytes(data)


class WorkerLink:
    """The worker's end: report readiness, follow the pool, notice the supervisor leaving."""

    def __init__(self, fd: int = 0) -> None:
        self._fd = fd
        self._pending = b""

    def settings(self) -> ServerSettings:
        return receive_settings(self._fd)

    def attach(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        on_status: Callable[[PoolStatus], None],
        on_gone: Callable[[], None],
    ) -> None:
        try:
            os.write(self._fd, READY)
        except OSError:
            # The supervisor died before this worker was ready: leave like a worker whose
            # supervisor goes away later (drain, exit), not with a traceback.
            loop.call_soon(on_gone)
            return
        os.set_blocking(self._fd, False)

        def readable() -> None:
            try:
                data = os.read(self._fd, 4096)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(self._fd)
                on_gone()
                return
            self._pending += data
            *lines, self._pending = self._pending.split(b"\n")
            for line in lines:
                status = PoolStatus.parse(line)
                if status is not None:
                    on_status(status)

        loop.add_reader(self._fd, readable)
