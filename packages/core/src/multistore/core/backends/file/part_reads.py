"""GET/HEAD ``?partNumber=N``: one part of a multipart object, as S3 serves it (SPEC §2).

Parallel downloaders (the AWS SDKs' transfer managers) ask for part 1, learn the number of
parts from ``x-amz-mp-parts-count`` and fetch the rest side by side. So:

- a multipart object whose part sizes were recorded at completion (the sidecar's
  ``parts``) answers part *N* with 206, ``Content-Range`` of that part's bytes and
  ``x-amz-mp-parts-count``; a part number beyond the last is 416 ``InvalidPartNumber``;
- any other object is one part: part 1 is the whole object (206 with a ``Content-Range``
  covering it, as S3 does), any other part 416. That includes multipart objects completed
  before part sizes were recorded: the downloader then sees no parts count and fetches the
  object in one piece, which is slower but right;
- ``partNumber`` together with ``Range`` is 400 ``InvalidRequest``, a malformed number 400
  ``InvalidArgument``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from multistore.core.errors import InvalidArgument, InvalidPartNumber, InvalidRequest
from multistore.core.http import Headers

MAX_PART_NUMBER = 10_000


@dataclass(frozen=True, slots=True)
class PartSpan:
    start: int
    length: int
    parts_count: int | None  # None: not a multipart object (no x-amz-mp-parts-count)


def requested_part_number(query: Mapping[str, str], headers: Headers) -> int | None:
    raw = query.get("partNumber")
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_PART_NUMBER:
        raise InvalidArgument(
            f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
        )
    if "Range" in headers:
        raise InvalidRequest("Cannot specify both Range header and partNumber query parameter")
    return int(raw)


def part_span(part_number: int, *, size: int, part_sizes: Sequence[int]) -> PartSpan:
    if not part_sizes:
        if part_number != 1:
            raise InvalidPartNumber()
        return PartSpan(0, size, None)
    if part_number > len(part_sizes):
        raise InvalidPartNumber()
    start = sum(part_sizes[: part_number - 1])
    return PartSpan(start, part_sizes[part_number - 1], len(part_sizes))
