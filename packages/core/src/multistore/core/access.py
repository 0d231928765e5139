"""The access line: one per request, the same in every runtime.

Both runtimes write it (the server to its stderr, Lambda to CloudWatch Logs through its
stderr), so operators read one format wherever the gateway runs, and the text and JSON
forms are built here once. docs/deployment.md lists the fields; they are a stable interface.

The line is written without ``logging``: a log record costs ~30 µs (record object, handler
locks, formatter, ``asctime``), a measurable share of a small proxied GET. The line keeps
the shape of the other log lines (time, level, logger, and the process id where the runtime
has several processes).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from multistore.core.gateway import Handled
from multistore.core.http import RequestInfo
from multistore.core.middleware import CompletedRequest

ACCESS_LOGGER_NAME = "multistore.access"


@dataclass(slots=True)
class AccessRecord:
    """What one request did, as logged, metered and counted.

    Read-only by convention, not ``frozen``: the server builds one per request when the
    access log is on or a middleware listens, and a frozen dataclass takes about three
    times as long to build.
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
    """Seconds, from receiving the request to the end of the response body."""

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
        # operation_name and bucket_name inlined, arguments by position: this runs per
        # request on the server's hot path.
        identity = handled.identity
        operation = handled.operation
        if operation is not None:
            op: str | None = operation.op.value
            bucket = operation.bucket or None
        else:
            op = "route" if handled.response is not None and handled.error is None else None
            bucket = None
        return cls(
            handled.request_id or info.request_id,
            info.source_ip,
            identity.display if identity is not None else None,
            op,
            bucket,
            info.method,
            status,
            error,
            bytes_in,
            bytes_out,
            duration,
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
        """The JSON form's own fields: what :meth:`text` shows as ``-`` is ``None``."""
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

    def completed(self, handled: Handled) -> CompletedRequest:
        """The same request as middlewares hear of it (``ProxyGateway.complete``)."""
        return CompletedRequest(
            request_id=self.request_id,
            identity=handled.identity,
            operation=handled.operation,
            bucket=self.bucket,
            status=self.status,
            bytes_in=self.bytes_in,
            bytes_out=self.bytes_out,
            source_ip=self.ip,
            duration=self.duration,
            error_code=self.error,
        )


def operation_name(handled: Handled) -> str | None:
    """``op=``: the S3 operation, ``route`` for the Router's answers, else ``None``."""
    operation = handled.operation
    if operation is not None:
        return operation.op.value
    if handled.response is not None and handled.error is None:
        return "route"  # health, metrics, STS: answered by the Router
    return None


def bucket_name(handled: Handled) -> str | None:
    """``bucket=``: the bucket the request named, else ``None``."""
    operation = handled.operation
    return (operation.bucket or None) if operation is not None else None


def iso_time(now: float) -> str:
    """UTC with milliseconds, the form log pipelines parse without configuration."""
    millis = int(now * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{millis:03d}Z"


class AccessLineWriter:
    """Writes access lines to a stream (``sys.stderr`` as it is at each write by default).

    ``pid`` goes into each line where the runtime has several processes (the server's
    workers); ``json_lines`` switches from the text form to one JSON object per line.
    """

    def __init__(
        self, stream: TextIO | None = None, *, json_lines: bool = False, pid: int | None = None
    ) -> None:
        self.json_lines = json_lines
        self._stream = stream
        self._pid = pid
        self._tag = f"INFO {ACCESS_LOGGER_NAME} " + (f"[{pid}] " if pid is not None else "")
        self._second = -1
        self._prefix = ""

    def write(self, record: AccessRecord) -> None:
        now = time.time()
        if self.json_lines:
            line = self.json_line(record, now)
        else:
            second = int(now)
            if second != self._second:
                # The text form's timestamp has whole seconds: format it once a second.
                self._second = second
                stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
                self._prefix = f"{stamp} {self._tag}"
            line = self._prefix + record.text()
        stream = self._stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()

    def json_line(self, record: AccessRecord, now: float) -> str:
        entry: dict[str, Any] = {"time": iso_time(now), "level": "INFO"}
        entry["logger"] = ACCESS_LOGGER_NAME
        if self._pid is not None:
            entry["pid"] = self._pid
        entry.update(record.fields())
        return json.dumps(entry, ensure_ascii=False)
