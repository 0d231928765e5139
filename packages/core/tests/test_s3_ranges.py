"""Byte ranges as S3 applies them: one range, clamped, suffixes, ignored garbage, 416."""

from __future__ import annotations

import pytest

from multistore.core.errors import InvalidRange
from multistore.core.s3.ranges import (
    RangeNotSatisfiable,
    content_range,
    is_usable_range,
    parse_range,
    unsatisfied_size,
)


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-10", 100, (0, 10)),
        ("bytes=0-0", 1, (0, 0)),
        ("bytes=5-", 100, (5, 99)),
        ("bytes=90-200", 100, (90, 99)),  # last byte past the end is clamped
        ("bytes=99-99", 100, (99, 99)),
        ("bytes=-10", 100, (90, 99)),  # suffix: the parquet footer read
        ("bytes=-100", 100, (0, 99)),
        ("bytes=-1000", 100, (0, 99)),  # suffix longer than the object: whole object
        ("Bytes=1-2", 100, (1, 2)),  # the unit is case-insensitive
        (" bytes = 1-2 ", 100, (1, 2)),
        ("bytes=00-09", 100, (0, 9)),
        ("bytes=0-99999999999999999999999", 10, (0, 9)),
    ],
)
def test_satisfiable_ranges(header: str, size: int, expected: tuple[int, int]) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    "header",
    [
        "",
        "bytes",
        "bytes=",
        "bytes=-",
        "bytes=abc",
        "bytes=1-x",
        "bytes=5-2",  # last before first: syntactically invalid, S3 serves the whole object
        "bytes=0-1,5-6",  # several ranges: S3 answers 200 with the whole object
        "bytes=0-1,",
        "items=0-1",
        "0-1",
        "bytes=+1-2",
        "bytes=1_0-20",
        "bytes=\u0661-\u0662",  # non-ASCII digits are not digits in HTTP
    ],
)
def test_ignored_headers(header: str) -> None:
    assert parse_range(header, 100) is None


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=100-", 100),
        ("bytes=100-200", 100),
        ("bytes=150-160", 100),
        ("bytes=-0", 100),
        ("bytes=0-", 0),  # any positional range of an empty object, as S3 answers it
        ("bytes=0-0", 0),
        ("bytes=-0", 0),
    ],
)
def test_unsatisfiable_ranges_are_416_with_the_size(header: str, size: int) -> None:
    with pytest.raises(InvalidRange) as caught:
        parse_range(header, size)
    assert caught.value.status == 416
    assert caught.value.code == "InvalidRange"
    assert isinstance(caught.value, RangeNotSatisfiable)
    assert caught.value.headers() == {"Content-Range": f"bytes */{size}"}


def test_suffix_of_an_empty_object_serves_the_empty_object() -> None:
    assert parse_range("bytes=-8", 0) is None


def test_content_range() -> None:
    assert content_range(0, 10, 100) == "bytes 0-10/100"
    assert content_range(99, 99, 100) == "bytes 99-99/100"


@pytest.mark.parametrize(
    ("header", "usable"),
    [
        ("bytes=0-1", True),
        ("bytes=5-", True),
        ("bytes=-5", True),
        ("bytes=-0", True),  # usable: it is the backend's 416 to give
        ("Bytes = 1-2", True),
        ("bytes=5-1", False),
        ("items=0-1", False),
        ("bytes=0-1,4-5", False),
        ("bytes=x-y", False),
        ("bytes=-", False),
        ("bytes", False),
    ],
)
def test_is_usable_range_matches_what_parse_range_ignores(header: str, usable: bool) -> None:
    assert is_usable_range(header) is usable
    # Whatever the gateway forwards, parse_range acts on; whatever it drops, parse_range ignores.
    try:
        acted_on = parse_range(header, 10) is not None
    except RangeNotSatisfiable:
        acted_on = True
    assert acted_on is usable


@pytest.mark.parametrize(
    ("value", "size"),
    [("bytes */10", 10), ("bytes */0", 0), (None, None), ("bytes 0-1/10", 10), ("bytes */x", None)],
)
def test_unsatisfied_size(value: str | None, size: int | None) -> None:
    assert unsatisfied_size(value) == size
