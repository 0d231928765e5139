"""ListObjects over a directory tree, in S3 order, one page at a time.

S3 lists keys in the order of their UTF-8 bytes, which is code-point order, which is how
Python compares ``str``. A directory ``d`` holds exactly the keys that start with ``d/``, and
those form one contiguous run in that order, placed where ``d/`` sorts among its siblings'
names. So sorting each directory's entries by ``name`` (files) and ``name + "/"``
(directories) and walking depth-first yields keys in exact S3 order without ever holding
more than one directory's names per level.

Cost of one page: the walk opens the directory named by the prefix directly (no scan of
the levels above it), then reads and sorts only the directories it enters; a directory
whose keys all sort before ``start-after``/the continuation token, or outside the prefix,
or inside a common prefix already returned (or sorting at or before the marker, which S3
does not return), is skipped by comparing names, without reading it. With a delimiter, a
directory that rolls up into one common prefix is not sorted at all: the first regular
file found in it (unordered, early exit) proves the prefix exists.
Only the keys returned are ``stat``-ed and have their sidecar read. A page therefore costs
O(d log d) per directory entered (d = its entries), plus O(max-keys) stats.

File names are mapped back to key segments (:mod:`.names`): ``dir/.%`` is the folder
marker ``dir/``, ``.%..`` the segment ``..``, and so on; entries are sorted by the segments
they stand for, not by their file names.

Never listed: the ``.multistore`` directory at the root, symlinks (not followed, not
shown), special files, empty directories, and names that are no key segment's file name
(not valid UTF-8, raw control characters, a ``.%`` name :mod:`.names` would never write).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import stat
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime

from multistore.core.backends.base import ListEntry, ListPage, ListRequest
from multistore.core.backends.file.layout import INTERNAL_DIRECTORY, BackendState, fallback_etag
from multistore.core.backends.file.names import key_to_names, unescape_name
from multistore.core.backends.file.paths import DIRECTORY_FLAGS, PathBlocked, open_directory
from multistore.core.errors import InvalidArgument, InvalidRequest

_KEY_TOKEN, _PREFIX_TOKEN = "k", "p"


@dataclass(slots=True)
class _Cursor:
    """What the walk must still return: keys after ``after`` not inside ``skip``."""

    prefix: str
    delimiter: str
    after: str | None
    skip: str | None  # a common prefix already returned


def list_page(root_fd: int, state: BackendState, request: ListRequest) -> ListPage:
    """One page of ``request`` (blocking: run it on a worker thread)."""
    page = ListPage()
    max_keys = max(0, request.max_keys)
    if max_keys == 0:
        return page
    after, skip = _start_position(request)
    cursor = _Cursor(prefix=request.prefix, delimiter=request.delimiter, after=after, skip=skip)
    start_directory = request.prefix[: request.prefix.rfind("/") + 1]
    try:
        names = key_to_names(start_directory[:-1]) if start_directory else []
        directory_fd = open_directory(root_fd, names, create=False)
    except (PathBlocked, OSError, ValueError, InvalidRequest):
        return page  # no such directory (or not one we follow): nothing under this prefix
    last: tuple[str, str] | None = None
    with contextlib.closing(_walk(directory_fd, start_directory, cursor, state)) as items:
        for item in items:
            if len(page.entries) + len(page.common_prefixes) == max_keys:
                assert last is not None
                page.next_continuation_token = _encode_token(*last)
                break
            if isinstance(item, ListEntry):
                page.entries.append(item)
                last = (_KEY_TOKEN, item.key)
            else:
                page.common_prefixes.append(item)
                last = (_PREFIX_TOKEN, item)
    return page


def _walk(
    directory_fd: int, directory_key: str, cursor: _Cursor, state: BackendState
) -> Generator[ListEntry | str, None, None]:
    """Keys (as entries) and common prefixes below one directory, in S3 order.

    Takes ownership of ``directory_fd``.
    """
    try:
        for name, segment, is_directory in _sorted_names(directory_fd, at_root=not directory_key):
            if is_directory:
                subtree = f"{directory_key}{segment}/"
                if not _subtree_wanted(subtree, cursor):
                    continue
                common_prefix = _rolled_up_prefix(subtree, cursor)
                if common_prefix is not None:
                    if _prefix_wanted(common_prefix, cursor) and _holds_any_file(
                        directory_fd, name
                    ):
                        cursor.skip = common_prefix
                        yield common_prefix
                    continue
                try:
                    child_fd = os.open(name, DIRECTORY_FLAGS, dir_fd=directory_fd)
                except OSError:
                    continue  # vanished, replaced by a symlink, or not readable
                yield from _walk(child_fd, subtree, cursor, state)
            else:
                key = directory_key + segment
                if not _key_wanted(key, cursor):
                    continue
                common_prefix = _common_prefix_of(key, cursor)
                if common_prefix is not None:
                    if _prefix_wanted(common_prefix, cursor):
                        cursor.skip = common_prefix
                        yield common_prefix
                    continue
                entry = _entry(directory_fd, name, key, state)
                if entry is not None:
                    yield entry
    finally:
        os.close(directory_fd)


def _sorted_names(directory_fd: int, *, at_root: bool) -> list[tuple[str, str, bool]]:
    """``(file name, key segment, is directory)`` of a directory's entries, in S3 order."""
    found: list[tuple[str, str, str, bool]] = []
    with os.scandir(directory_fd) as entries:
        for entry in entries:
            name = entry.name
            if at_root and name == INTERNAL_DIRECTORY:
                continue
            segment = unescape_name(name, at_root=at_root)
            if segment is None:
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    found.append((segment + "/", name, segment, True))
                elif entry.is_file(follow_symlinks=False):
                    found.append((segment, name, segment, False))
            except OSError:
                continue
    found.sort()
    return [(name, segment, is_directory) for _, name, segment, is_directory in found]


def _subtree_wanted(subtree: str, cursor: _Cursor) -> bool:
    """Whether any key starting with ``subtree`` can still be returned."""
    if not (subtree.startswith(cursor.prefix) or cursor.prefix.startswith(subtree)):
        return False
    if cursor.skip is not None and subtree.startswith(cursor.skip):
        return False
    after = cursor.after
    # Every key in the subtree starts with it; if ``after`` is past it without being inside
    # it, every such key sorts before ``after``.
    return not (after is not None and after > subtree and not after.startswith(subtree))


def _rolled_up_prefix(subtree: str, cursor: _Cursor) -> str | None:
    """The one common prefix every key of ``subtree`` rolls up into, if the name decides it."""
    if not cursor.delimiter or not subtree.startswith(cursor.prefix):
        return None
    if cursor.skip is not None and cursor.skip.startswith(subtree):
        return None
    rest = subtree[len(cursor.prefix) :]
    position = rest.find(cursor.delimiter)
    if position < 0:
        return None
    return cursor.prefix + rest[: position + len(cursor.delimiter)]


def _prefix_wanted(common_prefix: str, cursor: _Cursor) -> bool:
    # S3 returns a common prefix only if it sorts after the marker: that is how a V1
    # NextMarker naming a common prefix resumes after all of its keys, and a start-after
    # inside a common prefix skips the rest of it.
    return cursor.after is None or common_prefix > cursor.after


def _key_wanted(key: str, cursor: _Cursor) -> bool:
    return (
        key.startswith(cursor.prefix)
        and (cursor.after is None or key > cursor.after)
        and (cursor.skip is None or not key.startswith(cursor.skip))
    )


def _common_prefix_of(key: str, cursor: _Cursor) -> str | None:
    if not cursor.delimiter:
        return None
    rest = key[len(cursor.prefix) :]
    position = rest.find(cursor.delimiter)
    if position < 0:
        return None
    return cursor.prefix + rest[: position + len(cursor.delimiter)]


def _holds_any_file(parent_fd: int, name: str) -> bool:
    """Whether the directory ``name`` contains a listable regular file at any depth."""
    try:
        directory_fd = os.open(name, DIRECTORY_FLAGS, dir_fd=parent_fd)
    except OSError:
        return False
    try:
        subdirectories: list[str] = []
        with os.scandir(directory_fd) as entries:
            for entry in entries:
                if unescape_name(entry.name, at_root=False) is None:
                    continue
                try:
                    if entry.is_file(follow_symlinks=False):
                        return True
                    if entry.is_dir(follow_symlinks=False):
                        subdirectories.append(entry.name)
                except OSError:
                    continue
        return any(_holds_any_file(directory_fd, child) for child in subdirectories)
    finally:
        os.close(directory_fd)


def _entry(directory_fd: int, name: str, key: str, state: BackendState) -> ListEntry | None:
    try:
        info = os.stat(name, dir_fd=directory_fd, follow_symlinks=False)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    metadata = state.read_metadata(key, info)
    return ListEntry(
        key=key,
        size=info.st_size,
        last_modified=modification_time(info),
        etag=metadata.etag if metadata is not None else fallback_etag(info),
        storage_class=metadata.storage_class if metadata is not None else "STANDARD",
    )


def modification_time(info: os.stat_result) -> datetime:
    """Last-Modified of a file, whole seconds like S3 (and like the HTTP date of HEAD)."""
    return datetime.fromtimestamp(info.st_mtime_ns // 1_000_000_000, UTC)


def _start_position(request: ListRequest) -> tuple[str | None, str | None]:
    """``(after, skip)`` from the continuation token, else from ``start-after``."""
    if request.continuation_token is not None:
        kind, value = _decode_token(request.continuation_token)
        return value, (value if kind == _PREFIX_TOKEN else None)
    return (request.start_after or None), None


def _encode_token(kind: str, value: str) -> str:
    return base64.urlsafe_b64encode((kind + value).encode("utf-8")).decode("ascii")


def _decode_token(token: str) -> tuple[str, str]:
    try:
        decoded = base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (UnicodeError, ValueError, binascii.Error):
        decoded = ""
    if decoded[:1] not in (_KEY_TOKEN, _PREFIX_TOKEN) or len(decoded) < 2:
        raise InvalidArgument("The continuation token provided is incorrect")
    return decoded[0], decoded[1:]
