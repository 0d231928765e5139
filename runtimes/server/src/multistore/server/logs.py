"""Logging setup: today's text lines, or one JSON object per line (``--log-format json``).

JSON lines carry ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger``, ``pid``
and ``message``, plus ``exception`` (the formatted traceback) when there is one. The access
log writes its own lines in the same shape (``multistore.core.access``). docs/deployment.md
lists the fields; they are a stable interface.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from multistore.core.access import iso_time

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, log_format: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    logging.basicConfig(level=level, handlers=[handler])
