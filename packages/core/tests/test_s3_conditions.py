"""Conditional GET/HEAD and conditional writes: RFC 9110 precedence, S3 answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from multidict import CIMultiDict

from multistore.core.errors import (
    InvalidArgument,
    MalformedXML,
    NoSuchKey,
    NotImplementedOperation,
    NotModified,
    PreconditionFailed,
)
from multistore.core.s3.conditions import (
    DeleteConditions,
    ObjectNotModified,
    ObjectState,
    delete_conditions,
    evaluate_delete_conditions,
    evaluate_read_conditions,
    evaluate_write_conditions,
    http_date,
    normalize_etag,
)
from multistore.core.s3.write_xml import parse_delete

ETAG = '"0123456789abcdef0123456789abcdef"'
MODIFIED = datetime(2024, 5, 1, 12, 0, 0, 500_000, tzinfo=UTC)  # sub-second, like an mtime
BEFORE = format_datetime(MODIFIED - timedelta(hours=1), usegmt=True)
AT = format_datetime(MODIFIED.replace(microsecond=0), usegmt=True)
AFTER = format_datetime(MODIFIED + timedelta(hours=1), usegmt=True)


def read(**headers: str) -> None:
    evaluate_read_conditions(
        CIMultiDict({k.replace("_", "-"): v for k, v in headers.items()}),
        etag=ETAG,
        last_modified=MODIFIED,
    )


def test_no_conditions_pass() -> None:
    read()


@pytest.mark.parametrize(
    "value",
    [
        ETAG,
        "0123456789abcdef0123456789abcdef",  # aws-cli sends it bare
        f"W/{ETAG}",
        "*",
        f'"other", {ETAG}',
        f'"other",{ETAG}',
    ],
)
def test_if_match_matching(value: str) -> None:
    read(If_Match=value)


@pytest.mark.parametrize("value", ['"other"', "other", '"a,b"', ""])
def test_if_match_mismatch_is_412(value: str) -> None:
    with pytest.raises(PreconditionFailed):
        read(If_Match=value)


def test_if_unmodified_since() -> None:
    read(If_Unmodified_Since=AFTER)
    read(If_Unmodified_Since=AT)  # whole-second resolution: not modified *after* that second
    with pytest.raises(PreconditionFailed):
        read(If_Unmodified_Since=BEFORE)


def test_if_match_wins_over_if_unmodified_since() -> None:
    # S3: If-Match true and If-Unmodified-Since false -> 200.
    read(If_Match=ETAG, If_Unmodified_Since=BEFORE)


def test_if_none_match_is_304_with_validators() -> None:
    with pytest.raises(ObjectNotModified) as caught:
        read(If_None_Match=ETAG)
    assert caught.value.status == 304
    assert isinstance(caught.value, NotModified)
    assert caught.value.headers() == {"ETag": ETAG, "Last-Modified": AT}
    with pytest.raises(NotModified):
        read(If_None_Match="*")
    read(If_None_Match='"other"')


def test_if_modified_since() -> None:
    with pytest.raises(NotModified):
        read(If_Modified_Since=AT)  # the object's own Last-Modified: not modified since
    with pytest.raises(NotModified):
        read(If_Modified_Since=AFTER)
    read(If_Modified_Since=BEFORE)


def test_if_modified_since_in_the_future_is_ignored() -> None:
    future = format_datetime(datetime.now(UTC) + timedelta(days=2), usegmt=True)
    read(If_Modified_Since=future)


def test_if_none_match_wins_over_if_modified_since() -> None:
    # S3: If-None-Match false and If-Modified-Since true -> 304.
    with pytest.raises(NotModified):
        read(If_None_Match=ETAG, If_Modified_Since=BEFORE)
    # If-None-Match true: If-Modified-Since is not consulted at all.
    read(If_None_Match='"other"', If_Modified_Since=AFTER)


def test_412_takes_precedence_over_304() -> None:
    with pytest.raises(PreconditionFailed):
        read(If_Match='"other"', If_None_Match=ETAG)


@pytest.mark.parametrize("value", ["yesterday", "", "Mon, 99 Foo 2024 99:99:99 GMT", "1714564800"])
def test_unparseable_dates_are_ignored(value: str) -> None:
    read(If_Modified_Since=value)
    read(If_Unmodified_Since=value)


def test_other_date_formats_parse() -> None:
    # RFC 850 and asctime forms are still legal HTTP dates.
    with pytest.raises(PreconditionFailed):
        read(If_Unmodified_Since="Wednesday, 01-May-24 11:00:00 GMT")
    with pytest.raises(NotModified):
        read(If_Modified_Since="Wed May  1 13:00:00 2024")


def write(existing: str | None, **headers: str) -> None:
    evaluate_write_conditions(
        CIMultiDict({k.replace("_", "-"): v for k, v in headers.items()}), existing_etag=existing
    )


def test_write_if_none_match_star() -> None:
    write(None, If_None_Match="*")
    with pytest.raises(PreconditionFailed):
        write(ETAG, If_None_Match="*")


def test_write_if_none_match_other_than_star_is_not_implemented() -> None:
    with pytest.raises(NotImplementedOperation):
        write(None, If_None_Match=ETAG)


def test_write_if_match() -> None:
    write(ETAG, If_Match=ETAG)
    write(ETAG, If_Match="0123456789abcdef0123456789abcdef")
    with pytest.raises(PreconditionFailed):
        write(ETAG, If_Match='"other"')
    with pytest.raises(NoSuchKey):  # S3 answers 404 when there is nothing to match
        write(None, If_Match=ETAG)


def test_unconditional_write_passes() -> None:
    write(None)
    write(ETAG)


def test_helpers() -> None:
    assert normalize_etag('W/"abc"') == "abc"
    assert normalize_etag(" abc ") == "abc"
    assert http_date(MODIFIED) == "Wed, 01 May 2024 12:00:00 GMT"


# --- conditional deletes ------------------------------------------------------------------

STATE = ObjectState(etag=ETAG, last_modified=MODIFIED, size=5)


def _delete_headers(**values: str) -> CIMultiDict[str]:
    names = {
        "if_match": "If-Match",
        "time": "x-amz-if-match-last-modified-time",
        "size": "x-amz-if-match-size",
    }
    return CIMultiDict({names[k]: v for k, v in values.items()})


@pytest.mark.parametrize(
    "values",
    [{}, {"if_match": ETAG}, {"if_match": "*"}, {"time": AT}, {"size": "5"},
     {"if_match": ETAG.strip('"'), "time": AT, "size": "5"}],
)  # fmt: skip
def test_delete_conditions_that_hold(values: dict[str, str]) -> None:
    conditions = delete_conditions(_delete_headers(**values))
    assert conditions.present == bool(values)
    assert evaluate_delete_conditions(conditions, existing=STATE) is True


@pytest.mark.parametrize(
    "values",
    [{"if_match": '"other"'}, {"time": BEFORE}, {"time": AFTER}, {"size": "4"},
     {"if_match": ETAG, "size": "6"}],
)  # fmt: skip
def test_delete_conditions_that_fail_are_412(values: dict[str, str]) -> None:
    with pytest.raises(PreconditionFailed):
        evaluate_delete_conditions(delete_conditions(_delete_headers(**values)), existing=STATE)


def test_delete_conditions_on_a_missing_object() -> None:
    # S3: If-Match needs an object (404); the other two are a plain 204 with nothing to do.
    with pytest.raises(NoSuchKey):
        evaluate_delete_conditions(DeleteConditions(if_match="*"), existing=None)
    for conditions in (DeleteConditions(size=1), DeleteConditions(last_modified=MODIFIED)):
        assert evaluate_delete_conditions(conditions, existing=None) is False


@pytest.mark.parametrize("values", [{"size": "-1"}, {"size": "1.5"}, {"time": "yesterday"}])
def test_malformed_delete_conditions_are_invalid_argument(values: dict[str, str]) -> None:
    with pytest.raises(InvalidArgument):
        delete_conditions(_delete_headers(**values))


def test_delete_objects_conditions_parse_from_the_body() -> None:
    body = (
        b"<Delete><Object><Key>a</Key><ETag>&quot;x&quot;</ETag><Size>3</Size></Object>"
        b"<Object><Key>b</Key><LastModifiedTime>Wed, 01 May 2024 12:00:00 GMT"
        b"</LastModifiedTime></Object>"
        b"<Object><Key>c</Key><LastModifiedTime>2024-05-01T12:00:00.000Z</LastModifiedTime>"
        b"</Object><Object><Key>d</Key></Object></Delete>"
    )
    request = parse_delete(body)
    assert request.keys == ["a", "b", "c", "d"]
    a, b, c, d = request.conditions
    assert (a.if_match, a.size, a.last_modified) == ('"x"', 3, None)
    assert b.last_modified == c.last_modified == MODIFIED.replace(microsecond=0)
    assert not d.present
    with pytest.raises(MalformedXML):
        parse_delete(b"<Delete><Object><Key>a</Key><Size>big</Size></Object></Delete>")
