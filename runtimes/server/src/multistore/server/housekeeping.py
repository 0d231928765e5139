"""Housekeeping a worker does on a timer: removing abandoned multipart uploads of ``file``
buckets (S3 leaves that to lifecycle rules; 7 days is the age they commonly use).

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

from multistore.core.backends.file import FileBackend
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
    """One round over every ``file`` bucket root; returns how many uploads went."""
    removed = 0
    roots: set[str] = set()
    for bucket in config.current.config.buckets:
        root = bucket.option("root")
        if bucket.backend_type != "file" or not root or root in roots:
            continue
        roots.add(root)  # buckets sharing a root share its uploads
        backend = backends.get(bucket)
        if not isinstance(backend, FileBackend):
            continue

        def report(upload_id: str, key: str | None, root: str = root) -> None:
            logger.info(
                "removed abandoned multipart upload %s of %r under %s (older than %s)",
                upload_id, key if key is not None else "<unreadable manifest>", root,
                describe_age(max_age),
            )  # fmt: skip

        try:
            removed += await backend.cleanup_stale_uploads(max_age, on_removed=report)
        except OSError as exc:
            logger.warning("could not clean up stale uploads under %s: %s", root, exc)
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
