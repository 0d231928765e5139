"""The server's access log: core's access line, with the worker's pid, on stderr.

It obeys the ``multistore.access`` logger's level, so operators silence or keep it the usual
way, although the lines bypass ``logging`` (``multistore.core.access`` says why). With
``--log-format json`` each line is one JSON object (docs/deployment.md lists the fields).
"""

from __future__ import annotations

import logging
import os
from typing import TextIO

from multistore.core.access import ACCESS_LOGGER_NAME, AccessLineWriter

ACCESS_LOGGER = logging.getLogger(ACCESS_LOGGER_NAME)


class AccessLog(AccessLineWriter):
    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream, pid=os.getpid())

    @property
    def enabled(self) -> bool:
        return ACCESS_LOGGER.isEnabledFor(logging.INFO)
