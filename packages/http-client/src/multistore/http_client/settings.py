"""The limits of the backend HTTP client, fixed for the life of a process."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Timeouts in seconds, sizes in bytes.

    ``read_timeout`` is the longest the backend may stay silent while a request waits on
    it (for the response head, the next body bytes, or room to send more of an upload);
    the time a slow gateway client takes to consume a body never counts against it.
    A response body is buffered up to ``read_buffer_high`` bytes before the socket stops
    being read, and reading resumes once the consumer has brought it down to
    ``read_buffer_low``: a slow client of the gateway never makes it hold a whole object.
    """

    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    pool_size: int = 256
    keepalive_timeout: float = 30.0
    read_buffer_high: int = 2 << 20
    read_buffer_low: int = 512 << 10

    def __post_init__(self) -> None:
        if self.pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        if not 0 <= self.read_buffer_low < self.read_buffer_high:
            raise ValueError("read_buffer_low must be below read_buffer_high")
