"""Resolving object keys to files below a root without ever leaving it.

Every lookup walks the key one segment at a time with ``openat(2)`` relative to the parent
directory's descriptor and ``O_NOFOLLOW``, so a symbolic link anywhere on the way (placed in
the served directory by hand, or swapped in while a request runs) stops the walk instead of
being followed. Nothing here ever joins a key onto a path string, so ``..``, absolute keys
and symlinks cannot reach outside the root even if key validation upstream were bypassed.
"""

from __future__ import annotations

import enum
import errno
import os
import stat
from collections.abc import Sequence

DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO someone left in the tree must not hang the worker.
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_UNUSABLE_SEGMENTS = frozenset({"", ".", ".."})


class Obstacle(enum.Enum):
    """Why a key's path cannot be followed."""

    MISSING = "missing"
    FILE_IN_THE_WAY = "a non-directory where a directory is needed"
    SYMLINK = "symbolic link"
    NAME_TOO_LONG = "name too long"
    DENIED = "permission denied"
    INVALID_NAME = "invalid name"


class PathBlocked(Exception):
    """A segment of a key's path is missing, a symlink, a file, or otherwise unusable."""

    def __init__(self, obstacle: Obstacle, segment: str) -> None:
        super().__init__(f"{obstacle.value}: {segment!r}")
        self.obstacle = obstacle
        self.segment = segment


class EntryKind(enum.Enum):
    MISSING = "missing"
    REGULAR = "regular file"
    DIRECTORY = "directory"
    SYMLINK = "symbolic link"
    OTHER = "special file"


def entry_kind(parent_fd: int, name: str) -> EntryKind:
    """What ``name`` in ``parent_fd`` is, without following a symlink."""
    try:
        mode = os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return EntryKind.MISSING
    except NotADirectoryError:
        return EntryKind.MISSING
    if stat.S_ISREG(mode):
        return EntryKind.REGULAR
    if stat.S_ISDIR(mode):
        return EntryKind.DIRECTORY
    if stat.S_ISLNK(mode):
        return EntryKind.SYMLINK
    return EntryKind.OTHER


def open_directory_chain(root_fd: int, segments: Sequence[str], *, create: bool) -> list[int]:
    """Descriptors of each directory along ``segments`` below ``root_fd`` (caller closes them).

    With ``create`` missing directories are made (``mkdir -p``); a file or symlink on the way
    raises :class:`PathBlocked` either way.
    """
    chain: list[int] = []
    try:
        parent = root_fd
        for segment in segments:
            parent = _open_child_directory(parent, segment, create=create)
            chain.append(parent)
    except BaseException:
        close_all(chain)
        raise
    return chain


def open_directory(root_fd: int, segments: Sequence[str], *, create: bool) -> int:
    """Descriptor of the directory ``segments`` below ``root_fd`` (``os.dup`` of root if empty)."""
    if not segments:
        return os.dup(root_fd)
    chain = open_directory_chain(root_fd, segments, create=create)
    close_all(chain[:-1])
    return chain[-1]


def open_regular_file(root_fd: int, segments: Sequence[str]) -> tuple[int, os.stat_result]:
    """An open descriptor and the ``fstat`` of the regular file at ``segments``.

    A directory, FIFO or device at that place counts as :attr:`Obstacle.MISSING`: it is not
    an object.
    """
    parent = open_directory(root_fd, segments[:-1], create=False)
    name = segments[-1]
    try:
        _check_name(name)
        try:
            fd = os.open(name, READ_FLAGS, dir_fd=parent)
        except OSError as exc:
            raise _blocked(exc, parent, name) from exc
    finally:
        os.close(parent)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PathBlocked(Obstacle.MISSING, name)
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def stat_regular_file(root_fd: int, segments: Sequence[str]) -> os.stat_result:
    """``lstat`` of the regular file at ``segments``; anything else is :class:`PathBlocked`."""
    parent = open_directory(root_fd, segments[:-1], create=False)
    name = segments[-1]
    try:
        _check_name(name)
        try:
            info = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except OSError as exc:
            raise _blocked(exc, parent, name) from exc
    finally:
        os.close(parent)
    if stat.S_ISLNK(info.st_mode):
        raise PathBlocked(Obstacle.SYMLINK, name)
    if not stat.S_ISREG(info.st_mode):
        raise PathBlocked(Obstacle.MISSING, name)
    return info


def remove_empty_directories(root_fd: int, segments: Sequence[str]) -> None:
    """``rmdir`` the directories ``segments`` from the deepest up while they are empty.

    Stops at the first directory that is not empty (or vanished, or is not ours to remove);
    never removes the root itself.
    """
    if not segments:
        return  # a key directly in root: no directory of its own
    try:
        chain = open_directory_chain(root_fd, segments, create=False)
    except (PathBlocked, OSError):
        return
    try:
        parents = [root_fd, *chain[:-1]]
        for parent, name in zip(reversed(parents), reversed(segments), strict=True):
            try:
                os.rmdir(name, dir_fd=parent)
            except OSError:
                return
    finally:
        close_all(chain)


def close_all(fds: Sequence[int]) -> None:
    for fd in fds:
        os.close(fd)


def _open_child_directory(parent: int, name: str, *, create: bool) -> int:
    _check_name(name)
    for _ in range(3):  # a concurrent rmdir/mkdir may race us; settle within a few tries
        try:
            return os.open(name, DIRECTORY_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise PathBlocked(Obstacle.MISSING, name) from None
        except OSError as exc:
            raise _blocked(exc, parent, name) from exc
        try:
            os.mkdir(name, 0o777, dir_fd=parent)
        except FileExistsError:
            continue
        except OSError as exc:
            raise _blocked(exc, parent, name) from exc
    raise PathBlocked(Obstacle.MISSING, name)


def _check_name(name: str) -> None:
    # Defence in depth: keys reach backends validated, but ".." here would be the escape.
    if name in _UNUSABLE_SEGMENTS or "/" in name or "\0" in name:
        raise PathBlocked(Obstacle.INVALID_NAME, name)


def _blocked(exc: OSError, parent: int, name: str) -> PathBlocked:
    if exc.errno == errno.ENAMETOOLONG:
        return PathBlocked(Obstacle.NAME_TOO_LONG, name)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return PathBlocked(Obstacle.DENIED, name)
    if exc.errno == errno.ENOENT:
        return PathBlocked(Obstacle.MISSING, name)
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        kind = entry_kind(parent, name)
        if kind is EntryKind.SYMLINK:
            return PathBlocked(Obstacle.SYMLINK, name)
        if kind is EntryKind.MISSING:
            return PathBlocked(Obstacle.MISSING, name)
        return PathBlocked(Obstacle.FILE_IN_THE_WAY, name)
    raise exc
