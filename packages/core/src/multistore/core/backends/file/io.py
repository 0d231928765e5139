"""Moving object bytes between the event loop and files without blocking the loop.

Reads and writes go to worker threads in blocks of 1 MiB, so a large transfer costs one
thread hop per MiB rather than one per network chunk. A descriptor is closed only once no
worker still uses it: a client that disconnects mid-transfer cancels the coroutine, not the
thread, and closing under a running ``write`` could hand the number to another file that
the thread would then scribble into.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from multistore.core.errors import EntityTooLarge, IncompleteBody, InternalError, InvalidDigest
from multistore.core.http import Headers, RequestBody

BLOCK_SIZE = 1 << 20
# Reads this small are served from the page cache faster than a thread hop.
INLINE_READ_LIMIT = 64 << 10

_T = TypeVar("_T")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class RunningDigest(Protocol):
    """A hash or checksum fed block by block (hashlib objects, flexible checksums)."""

    def update(self, data: bytes, /) -> None: ...


class OffloadedFd:
    """A descriptor whose blocking calls run on worker threads, one at a time."""

    def __init__(self, fd: int, *, on_close: Callable[[], None] | None = None) -> None:
        self.fd = fd
        self._on_close = on_close
        self._in_flight: asyncio.Future[object] | None = None
        self._closed = False

    def submit(self, work: Callable[[int], _T]) -> asyncio.Future[_T]:
        """Start ``work(fd)`` on a worker thread; the previous call must have finished."""
        if self._closed:
            raise ValueError("descriptor already closed")
        if self._in_flight is not None and not self._in_flight.done():
            raise RuntimeError("a call on this descriptor is still running")
        future = asyncio.get_running_loop().run_in_executor(None, work, self.fd)
        self._in_flight = future  # type: ignore[assignment]
        return future

    async def run(self, work: Callable[[int], _T]) -> _T:
        # shield: cancelling the caller must not pretend the thread stopped.
        return await asyncio.shield(self.submit(work))

    def close(self) -> None:
        """Close now, or as soon as the worker still using the descriptor finishes."""
        if self._closed:
            return
        self._closed = True
        in_flight = self._in_flight
        if in_flight is None or in_flight.done():
            self._finish_close(in_flight)
        else:
            in_flight.add_done_callback(self._finish_close)

    def _finish_close(self, last_call: asyncio.Future[object] | None) -> None:
        if last_call is not None and not last_call.cancelled():
            last_call.exception()  # mark retrieved: its caller may be gone
        try:
            os.close(self.fd)
        finally:
            if self._on_close is not None:
                self._on_close()


class FileRangeBody:
    """An object body streamed from ``length`` bytes at ``start`` of an open file."""

    def __init__(self, handle: OffloadedFd, *, start: int, length: int) -> None:
        self._handle = handle
        self._offset = start
        self._remaining = length

    def __aiter__(self) -> FileRangeBody:
        return self

    async def __anext__(self) -> bytes:
        if self._remaining <= 0:
            self._handle.close()
            raise StopAsyncIteration
        size, offset = min(BLOCK_SIZE, self._remaining), self._offset
        if size <= INLINE_READ_LIMIT:
            chunk = os.pread(self._handle.fd, size, offset)
        else:
            chunk = await self._handle.run(lambda fd: os.pread(fd, size, offset))
        if not chunk:
            self._handle.close()
            # The file shrank under us (edited by hand); the promised length cannot be met.
            raise InternalError("object file shrank while it was being read")
        self._offset += len(chunk)
        self._remaining -= len(chunk)
        return chunk

    async def aclose(self) -> None:
        self._handle.close()


class EmptyStream:
    """The body of a HEAD response."""

    def __aiter__(self) -> EmptyStream:
        return self

    async def __anext__(self) -> bytes:
        raise StopAsyncIteration


@dataclass(frozen=True, slots=True)
class ReceivedBody:
    """A request body written to a file: its size, digests and the file's ``fstat``."""

    size: int
    md5: bytes
    sha256: bytes | None
    info: os.stat_result


async def receive_body(
    body: RequestBody,
    handle: OffloadedFd,
    *,
    content_length: int | None,
    max_size: int,
    hash_sha256: bool,
    durable: bool,
    checksum: RunningDigest | None = None,
) -> ReceivedBody:
    """Stream ``body`` into ``handle``'s file, hashing as it goes; fsync when ``durable``.

    While a worker hashes and writes one block, the loop already receives the next, so a
    fast client is limited by the slower of the two rather than by their sum.

    A body shorter or longer than ``content_length`` is :class:`IncompleteBody`; one larger
    than ``max_size`` (without a declared length) is :class:`EntityTooLarge`. Reading stops
    at the first byte too many, so a lying client cannot make us store more.

    ``checksum``, when given, is updated with every byte on the worker threads too.
    """
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256() if hash_sha256 else None
    extra: tuple[RunningDigest, ...] = tuple(h for h in (sha256, checksum) if h is not None)
    limit = content_length if content_length is not None else max_size
    pending: list[bytes] = []
    pending_size = 0
    total = 0
    writing: asyncio.Future[None] | None = None
    while chunk := await body.read(BLOCK_SIZE):
        total += len(chunk)
        if total > limit:
            if content_length is not None:
                raise IncompleteBody(
                    f"the body is longer than the declared Content-Length of {content_length}"
                )
            raise EntityTooLarge()
        pending.append(chunk)
        pending_size += len(chunk)
        if pending_size >= BLOCK_SIZE:
            block = b"".join(pending)
            pending.clear()
            pending_size = 0
            if writing is not None:
                await asyncio.shield(writing)
            writing = handle.submit(
                functools.partial(_write_hashed, block=block, md5=md5, extra=extra)
            )
    if content_length is not None and total != content_length:
        raise IncompleteBody(f"the body ended after {total} of the declared {content_length} bytes")
    if writing is not None:
        await asyncio.shield(writing)
    tail = b"".join(pending)

    def finish(fd: int) -> os.stat_result:
        _write_hashed(fd, block=tail, md5=md5, extra=extra)
        if durable:
            os.fsync(fd)
        return os.fstat(fd)

    info = await handle.run(finish)
    return ReceivedBody(
        size=total,
        md5=md5.digest(),
        sha256=sha256.digest() if sha256 is not None else None,
        info=info,
    )


def _write_hashed(
    fd: int, block: bytes, md5: hashlib._Hash, extra: tuple[RunningDigest, ...]
) -> None:
    md5.update(block)
    for running in extra:
        running.update(block)
    view = memoryview(block)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def promised_md5(headers: Headers) -> bytes | None:
    """The MD5 a client promised in ``Content-MD5``; malformed is 400 ``InvalidDigest``."""
    value = headers.get("Content-MD5")
    if value is None:
        return None
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidDigest() from None
    if len(digest) != 16:
        raise InvalidDigest()
    return digest


def promised_sha256(headers: Headers) -> bytes | None:
    # Only a hex digest is a promise about these bytes; UNSIGNED-PAYLOAD and the
    # STREAMING-* markers describe the framing the gateway has already removed.
    value = headers.get("x-amz-content-sha256", "")
    return bytes.fromhex(value) if _HEX_SHA256.fullmatch(value) else None
