"""Copying bytes between two open files, on a worker thread, never holding more than 1 MiB.

When nothing needs to see the bytes (assembling parts whose MD5s are already known), the
kernel copies them with ``copy_file_range`` — no trip through user space, and on file
systems with reflinks (XFS, Btrfs) no data copy at all. When a digest is wanted, or the
kernel cannot copy between these two files, it reads and writes 1 MiB blocks instead.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence

from multistore.core.backends.file.io import BLOCK_SIZE, RunningDigest
from multistore.core.errors import InternalError

# Errors meaning "not between these files" (other file systems, old kernels, special files),
# after which the plain loop takes over from where the kernel stopped.
_NO_KERNEL_COPY = frozenset(
    {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF, errno.EPERM}
)
_KERNEL_COPY_STEP = 1 << 30


def copy_bytes(
    source_fd: int,
    target_fd: int,
    *,
    offset: int,
    length: int,
    digests: Sequence[RunningDigest] = (),
) -> None:
    """Append ``length`` bytes at ``offset`` of ``source_fd`` to ``target_fd`` (blocking).

    Every digest in ``digests`` sees the bytes in order. A source shorter than promised
    (a file truncated by hand under us) is an ``InternalError``.
    """
    copied = 0
    if not digests and hasattr(os, "copy_file_range"):
        copied = _copy_in_kernel(source_fd, target_fd, offset=offset, length=length)
    while copied < length:
        block = os.pread(source_fd, min(BLOCK_SIZE, length - copied), offset + copied)
        if not block:
            raise InternalError("a file being copied ended before its recorded size")
        for digest in digests:
            digest.update(block)
        view = memoryview(block)
        while view:
            view = view[os.write(target_fd, view) :]
        copied += len(block)


def _copy_in_kernel(source_fd: int, target_fd: int, *, offset: int, length: int) -> int:
    copied = 0
    while copied < length:
        try:
            count = os.copy_file_range(
                source_fd,
                target_fd,
                min(_KERNEL_COPY_STEP, length - copied),
                offset + copied,
            )
        except OSError as exc:
            if exc.errno in _NO_KERNEL_COPY:
                return copied
            raise
        if count == 0:
            raise InternalError("a file being copied ended before its recorded size")
        copied += count
    return copied
