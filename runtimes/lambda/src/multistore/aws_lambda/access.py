"""The access line: one per invocation, with the same fields as the server's access log.

Lambda sends whatever the function writes to CloudWatch Logs, so the line goes to stderr.
``x-amz-request-id`` in an answer is the ``id=`` of its line, which is how an error a client
reports is found in the logs. ``MULTISTORE_LOG_FORMAT=json`` writes one JSON object per
line (CloudWatch Logs Insights reads its fields); a log level above INFO turns it off.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from multistore.core.gateway import Handled


@dataclass(frozen=True, slots=True)
class AccessLine:
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
            "id": self.request_id or None, "ip": self.ip, "identity": self.identity,
            "op": self.op, "bucket": self.bucket, "method": self.method,
            "status": self.status, "error": self.error, "in": self.bytes_in,
            "out": self.bytes_out, "ms": round(self.duration * 1000, 1),
        }  # fmt: skip


def operation_name(handled: Handled) -> str | None:
    if handled.operation is not None:
        return handled.operation.op.value
    if handled.response is not None and handled.error is None:
        return "route"  # health, STS: answered by the Router
    return None


def bucket_name(handled: Handled) -> str | None:
    operation = handled.operation
    return (operation.bucket or None) if operation is not None else None


class AccessLog:
    def __init__(self, *, json_lines: bool = False, stream: TextIO | None = None) -> None:
        self.json_lines = json_lines
        self._stream = stream

    def write(self, line: AccessLine) -> None:
        now = time.time()
        if self.json_lines:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
            fields = {"time": f"{stamp}.{int(now % 1 * 1000):03d}Z", "level": "INFO",
                      "logger": "multistore.access", **line.fields()}  # fmt: skip
            text = json.dumps(fields, ensure_ascii=False)
        else:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
            text = f"{stamp} INFO multistore.access {line.text()}"
        stream = self._stream or sys.stderr
        stream.write(text + "\n")
        stream.flush()
