"""The access log: one structured line per request, written without the logging machinery.

``logging`` costs ~30 µs per record (record object, handler locks, formatter, ``asctime``),
which is a measurable share of a small proxied GET. The line keeps the shape of every other
log line (time, level, logger, pid) and still obeys the ``multistore.access`` logger's
level, so operators silence or keep it the usual way. With ``--log-format json`` each line
is one JSON object with the same field names (docs/deployment.md lists them).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from multistore.core.gateway import Handled
from multistore.core.http import RequestInfo
from multistore.server.logs import iso_time

ACCESS_LOGGER = logging.getLogger("multistore.access")


@dataclass(slots=True)
class AccessRecord:
    """What one request did, as logged, metered and counted.

    Read-only by convention, not ``frozen``: one is built per request, and a frozen
    dataclass takes about three times as long to build.
    """

    request_id: str
    ip: str | None
    identity: str | None
    op: str | None
    bucket: str | None
    method: str
    status: int
    error: str | None
    bytes_in: int
    bytes_out: int
    duration: float

    @classmethod
    def of(
        cls,
        info: RequestInfo,
        handled: Handled,
        status: int,
        error: str | None,
        bytes_in: int,
        bytes_out: int,
        duration: float,
    ) -> AccessRecord:
        identity = handled.identity
        return cls(
            request_id=handled.request_id or info.request_id,
            ip=info.source_ip,
            identity=identity.display if identity else None,
            op=operation_name(handled),
            bucket=bucket_name(handled),
            method=info.method,
            status=status,
            error=error,
            bytes_in=bytes_in,
            bytes_out=bytes_out,
            duration=duration,
        )

    def text(self) -> str:
        return (
            f"id={self.request_id or '-'} ip={self.ip or '-'} "
            f"identity={self.identity or '-'} op={self.op or '-'} "
            f"bucket={self.bucket or '-'} method={self.method} "
            f"status={self.status} error={self.error or '-'} "
            f"in={self.bytes_in} out={self.bytes_out} ms={self.duration * 1000:.1f}"
        )

    def fields(self) -> dict[str, Any]:
        return {
            "id": self.request_id or None,
            "ip": self.ip,
            "identity": self.identity,
            "op": self.op,
            "bucket": self.bucket,
            "method": self.method,
            "status": self.status,
            "error": self.error,
            "in": self.bytes_in,
            "out": self.bytes_out,
            "ms": round(self.duration * 1000, 1),
        }


def operation_name(handled: Handled) -> str | None:
    operation = handled.operation
    if operation is not None:
        return operation.op.value
    if handled.response is not None and handled.error is None:
        return "route"  # health, metrics, STS: answered by the Router
    return None


def bucket_name(handled: Handled) -> str | None:
    operation = handled.operation
    return (operation.bucket or None) if operation is not None else None


class AccessLog:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._pid = os.getpid()
        self._second = -1
        self._prefix = ""
        self.json = False

    @property
    def enabled(self) -> bool:
        return ACCESS_LOGGER.isEnabledFor(logging.INFO)

    def _line_prefix(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            # The timestamp changes once a second; format it once a second.
            self._second = second
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._prefix = f"{stamp} INFO multistore.access [{self._pid}] "
        return self._prefix

    def write(self, record: AccessRecord) -> None:
        now = time.time()
        if self.json:
            line = json.dumps(
                {
                    "time": iso_time(now),
                    "level": "INFO",
                    "logger": ACCESS_LOGGER.name,
                    "pid": self._pid,
                    **record.fields(),
                },
                ensure_ascii=False,
            )
        else:
            line = self._line_prefix(now) + record.text()
        self._stream.write(line + "\n")
        self._stream.flush()
