"""How file system obstacles become S3 errors for the file backend.

Reads treat anything that is not a regular file as a missing object (404), except a symlink
or a permission problem (403: the object may exist, but it is not ours to serve). Writes add
the one conflict a file system has and S3 does not: ``a`` and ``a/b`` cannot both exist. That
is 400 ``InvalidRequest`` with a message naming the conflict; S3 has no code for it, and 400
rather than 409 because retrying cannot help until the other object is deleted.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator

from multistore.core.backends.file.paths import Obstacle, PathBlocked
from multistore.core.errors import AccessDenied, InvalidRequest, NoSuchKey, S3Error


@contextlib.contextmanager
def unwritable_is_access_denied() -> Iterator[None]:
    """A root (or its ``.multistore``) we may not write to makes writes 403, not 500."""
    try:
        yield
    except PathBlocked as blocked:
        if blocked.obstacle is Obstacle.DENIED:
            raise AccessDenied("the file backend's directory is not writable") from None
        raise
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise AccessDenied("the file backend's directory is not writable") from None
        raise


class ParentVanished(Exception):
    """The key's directory disappeared between creating it and renaming into it."""


def read_error(blocked: PathBlocked, key: str) -> S3Error:
    if blocked.obstacle is Obstacle.SYMLINK:
        return AccessDenied(
            f"the path of {key!r} contains a symbolic link, which is never followed"
        )
    if blocked.obstacle is Obstacle.DENIED:
        return AccessDenied(f"the file backend may not read {key!r}")
    return NoSuchKey()


def write_error(blocked: PathBlocked, key: str) -> S3Error:
    if blocked.obstacle is Obstacle.FILE_IN_THE_WAY:
        return InvalidRequest(
            f"cannot store {key!r}: {blocked.segment!r} on its path is an object, and the file "
            "backend cannot hold an object and a prefix of the same name"
        )
    if blocked.obstacle is Obstacle.NAME_TOO_LONG:
        return InvalidRequest(f"a segment of {key!r} is longer than the file system allows")
    if blocked.obstacle is Obstacle.INVALID_NAME:
        return InvalidRequest(f"invalid object key {key!r}")
    return read_error(blocked, key)


def write_error_from_os(exc: OSError, key: str) -> S3Error:
    if exc.errno == errno.ENAMETOOLONG:
        return InvalidRequest(f"a segment of {key!r} is longer than the file system allows")
    if exc.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
        return prefix_in_the_way(key)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return AccessDenied(f"the file backend may not write {key!r}")
    raise exc


def prefix_in_the_way(key: str) -> InvalidRequest:
    return InvalidRequest(
        f"cannot store {key!r}: objects exist below the prefix {key + '/'!r}, and "
        "the file backend cannot hold an object and a prefix of the same name"
    )
