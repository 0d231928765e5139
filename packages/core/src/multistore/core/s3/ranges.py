"""HTTP byte ranges (RFC 9110 §14) as S3 applies them to GetObject and HeadObject.

S3 serves exactly one range per request. What it does with the rest of the grammar, and
what this module therefore does:

- ``bytes=a-b``, ``bytes=a-`` and the suffix form ``bytes=-n`` select one range; ``b`` past
  the end is clamped to the last byte, and a suffix longer than the object means the whole
  object (polars and pyarrow read parquet footers with ``bytes=-n`` without knowing the size).
- A header S3 cannot use is *ignored* and the whole object is returned with 200: a unit other
  than ``bytes``, anything that is not a number, ``a-b`` with ``b < a``, and several ranges
  (``bytes=0-1,5-6``; S3 answers those with 200 and the full body, it never sends
  ``multipart/byteranges``).
- A well-formed range that selects nothing is 416 ``InvalidRange`` with
  ``Content-Range: bytes */size``: a first byte at or past the end, and ``bytes=-0``. On a
  zero-length object every ``a-b``/``a-`` range is therefore 416, as S3 answers it.
- One exception: a non-zero suffix on a zero-length object (``bytes=-8`` on an empty file) is
  ignored and the empty object is returned with 200. RFC 9110 calls such a range
  satisfiable, yet it has no byte to describe in a ``Content-Range``; tail readers (Trino,
  polars) expect an empty successful read there, which is what S3 gives them.
"""

from __future__ import annotations

import re

from multistore.core.errors import InvalidRange

_SINGLE_RANGE = re.compile(r"([0-9]*)-([0-9]*)", re.ASCII)


class RangeNotSatisfiable(InvalidRange):
    """416 that tells the client how large the object is, so it can ask again."""

    def __init__(self, *, size: int, requested: str) -> None:
        super().__init__(f"The requested range {requested!r} is not satisfiable")
        self.size = size

    def headers(self) -> dict[str, str]:
        return {"Content-Range": f"bytes */{self.size}"}


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` byte positions ``header`` selects in ``size`` bytes.

    Returns ``None`` when the header is absent or must be ignored (serve the whole object
    with 200); raises :class:`RangeNotSatisfiable` (416) when it selects nothing.
    """
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    match = _SINGLE_RANGE.fullmatch(spec.strip())
    if match is None:  # also every multi-range header: it contains a comma
        return None
    first_text, last_text = match.groups()
    if not first_text:
        if not last_text:
            return None
        suffix = int(last_text)
        if suffix == 0:
            raise RangeNotSatisfiable(size=size, requested=header)
        if size == 0:
            return None
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else None
    if last is not None and last < first:
        return None
    if first >= size:
        raise RangeNotSatisfiable(size=size, requested=header)
    return first, size - 1 if last is None else min(last, size - 1)


def is_usable_range(header: str) -> bool:
    """Whether ``header`` is a single byte range S3 would act on, known without the size.

    A header S3 ignores (another unit, several ranges, ``a-b`` with ``b < a``, garbage) is
    dropped before a request goes to an ``s3`` backend, so every backend serves the whole
    object for it, whatever the store behind it would have made of it.
    """
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return False
    match = _SINGLE_RANGE.fullmatch(spec.strip())
    if match is None:
        return False
    first_text, last_text = match.groups()
    if not first_text:
        return bool(last_text)
    return not last_text or int(last_text) >= int(first_text)


def unsatisfied_size(content_range_value: str | None) -> int | None:
    """The object size in a 416's ``Content-Range: bytes */N``, if it carries one."""
    if not content_range_value:
        return None
    unit, _, rest = content_range_value.strip().partition(" ")
    _, slash, total = rest.partition("/")
    if unit.lower() != "bytes" or not slash or not (total.isascii() and total.isdigit()):
        return None
    return int(total)


def content_range(start: int, end: int, size: int) -> str:
    """The ``Content-Range`` value of a 206 response for the inclusive ``start..end``."""
    return f"bytes {start}-{end}/{size}"
