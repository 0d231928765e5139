"""How a key's ``/``-separated segments become file names below ``root``, and back.

Every key S3 accepts must be storable (SPEC §2), but a file system refuses some names
(empty, ``.``, ``..``) and others are best kept off disk as they are (control characters;
``.multistore`` at the top, which holds the backend's own state). Such a segment is stored
*escaped*: the prefix ``.%`` followed by the segment with ``%`` and control characters
written as ``%XX``. Every other segment is its own file name, exactly as before, so data
written by earlier versions and files placed by hand keep their keys.

==========================  ================================
key                         path below root
==========================  ================================
``a/b.txt``, ``100%.txt``   ``a/b.txt``, ``100%.txt``
``dir/`` (folder marker)    ``dir/.%``
``a//b``                    ``a/.%/b``
``../x``, ``./x``           ``.%../x``, ``.%./x``
``/lead``                   ``.%/lead``
``tab<TAB>x``               ``.%tab%09x``
``.multistore/x``           ``.%.multistore/x``
``.%odd``                   ``.%.%25odd``
==========================  ================================

A segment that itself starts with ``.%`` is escaped too, so the mapping is one to one and
reversible: a name below ``root`` is the image of exactly one segment or of none. Names of
none (``.%`` followed by something :func:`escape_segment` would never write, raw names with
control characters, undecodable bytes) are not objects: listings skip them and no key
reaches them.

The one thing no scheme can fix is length: a file name is at most 255 bytes on the usual
file systems, so a key with a segment whose file name would be longer is refused with 400
``InvalidRequest`` naming this rule.
"""

from __future__ import annotations

import re

from multistore.core.backends.file.layout import INTERNAL_DIRECTORY
from multistore.core.errors import InvalidRequest

ESCAPE = ".%"
NAME_MAX = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NEEDS_PERCENT = re.compile(r"[%\x00-\x1f\x7f]")
_PERCENT_ESCAPE = re.compile(r"%([0-9A-F]{2})")


def needs_escape(segment: str, *, at_root: bool) -> bool:
    return (
        segment in ("", ".", "..")
        or segment.startswith(ESCAPE)
        or (at_root and segment == INTERNAL_DIRECTORY)
        or _CONTROL.search(segment) is not None
    )


def escape_segment(segment: str, *, at_root: bool) -> str:
    """The file name of one key segment (``at_root``: it is the key's first segment)."""
    if not needs_escape(segment, at_root=at_root):
        return segment
    return ESCAPE + _NEEDS_PERCENT.sub(lambda m: f"%{ord(m.group()):02X}", segment)


def unescape_name(name: str, *, at_root: bool) -> str | None:
    """The key segment stored under file name ``name``; ``None`` if it stores none."""
    try:
        name.encode("utf-8")  # undecodable bytes arrive as lone surrogates
    except UnicodeEncodeError:
        return None
    if not name.startswith(ESCAPE):
        # The common case, kept cheap: listings call this for every directory entry.
        # (Directory entries are never "", "." or "..".)
        if _CONTROL.search(name) is not None or (at_root and name == INTERNAL_DIRECTORY):
            return None
        return name
    segment = _PERCENT_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), name[len(ESCAPE) :])
    return segment if escape_segment(segment, at_root=at_root) == name else None


def key_to_names(key: str) -> list[str]:
    """The file names along ``key``'s path; ``InvalidRequest`` if one would be too long."""
    names = [
        escape_segment(segment, at_root=index == 0) for index, segment in enumerate(key.split("/"))
    ]
    for name in names:
        if len(name) * 4 > NAME_MAX and len(name.encode("utf-8")) > NAME_MAX:
            raise InvalidRequest(
                f"cannot store {key!r}: the file backend stores each '/'-separated segment of "
                f"a key as a file name of at most {NAME_MAX} bytes (segments that are empty, "
                "'.', '..' or hold control characters take a few more when escaped)"
            )
    return names
