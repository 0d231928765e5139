"""Housekeeping a worker does on a timer: removing abandoned multipart uploads (S3 leaves
that to lifecycle rules; 7 days is the age they commonly use) of every backend that keeps
upload state of its own (:class:`StaleUploadCleaner`: ``file``, ``azure``, ``gcs``).

With several workers, one does it: whoever holds an ``flock`` on a file in the
supervisor's shared directory. If that worker dies, the lock goes with it and another
worker takes over at its next round.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from pathlib import Path

from multistore.core.backends.base import StaleUploadCleaner
from multistore.core.backends.pool import BackendPool
from multistore.static_config import ReloadableProvider

logger = logging.getLogger("multistore.server.housekeeping")

MAX_INTERVAL = 3600.0


def cleanup_interval(max_age: float) -> float:
    """Often enough that an upload goes within about a quarter of its age past the limit."""
    return min(MAX_INTERVAL, max(1.0, max_age / 4))


async def remove_stale_uploads(
    config: ReloadableProvider, backends: BackendPool, *, max_age: float
) -> int:
    """One round over every location holding upload state; returns how many uploads went."""
    removed = 0
    done: set[str] = set()
    for bucket in config.current.config.buckets:
        factory = backends.factory(bucket.backend_type)
        if not (isinstance(factory, type) and issubclass(factory, StaleUploadCleaner)):
            continue  # e.g. s3: the store keeps its uploads, and its lifecycle rules apply;
            # asked of the class, so no backend is built for such buckets
        try:
            backend = backends.get(bucket)
        except Exception:  # a bucket that cannot be built is reported when it is served
            continue
        if not isinstance(backend, StaleUploadCleaner):
            continue
        location = backend.upload_state_location()
        if location in done:
            continue  # buckets sharing a location share its uploads

        def report(upload_id: str, key: str | None, location: str = location) -> None:
            logger.info(
                "removed abandoned multipart upload %s of %r under %s (older than %s)",
                upload_id, key if key is not None else "<unknown key>", location,
                describe_age(max_age),
            )  # fmt: skip

        try:
            removed += await backend.cleanup_stale_uploads(max_age, on_removed=report)
        except Exception as exc:  # one store failing must not stop the others
            # Not marked done: another bucket on the same location (other credentials) may
            # be allowed to clean it.
            logger.warning("could not clean up stale uploads under %s: %s", location, exc)
        else:
            done.add(location)
    return removed


async def clean_periodically(
    config: ReloadableProvider,
    backends: BackendPool,
    *,
    max_age: float,
    shared_dir: Path | None,
) -> None:
    interval = cleanup_interval(max_age)
    lock_fd: int | None = None
    while True:
        if shared_dir is not None and lock_fd is None:
            lock_fd = _try_lock(shared_dir / "housekeeping.lock")
        if shared_dir is None or lock_fd is not None:
            try:
                removed = await remove_stale_uploads(config, backends, max_age=max_age)
            except Exception:
                logger.exception("stale upload cleanup failed")
            else:
                if removed:
                    logger.info("stale upload cleanup: removed %d uploads", removed)
        await asyncio.sleep(interval)


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd  # held for the rest of this worker's life


def describe_age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
