"""Conditional requests (RFC 9110 §13) with the precedence and answers S3 gives.

Reads (GetObject, HeadObject) are evaluated in RFC order, which is also what S3 documents
for its header combinations:

1. ``If-Match`` fails → 412. When present, ``If-Unmodified-Since`` is not consulted
   (S3: If-Match true + If-Unmodified-Since false → 200).
2. otherwise ``If-Unmodified-Since`` earlier than Last-Modified → 412.
3. ``If-None-Match`` matches → 304. When present, ``If-Modified-Since`` is not consulted
   (S3: If-None-Match false + If-Modified-Since true → 304).
4. otherwise ``If-Modified-Since`` not earlier than Last-Modified → 304.

Entity tags compare by their opaque value: quotes and a ``W/`` prefix are dropped, because
clients send S3 ETags both quoted and bare (``aws s3api --if-match abc…``). ``*`` matches any
existing object. Dates that do not parse are ignored, as RFC 9110 requires; so is an
``If-Modified-Since`` in the future (the RFC 2616 rule S3 and most servers keep), since it
would otherwise turn every later GET into a 304. Last-Modified is compared at one-second
resolution, the resolution of an HTTP date, or an object would always look modified since
its own ``Last-Modified`` header.

Deletes (DeleteObject, and each ``<Object>`` of DeleteObjects) follow S3's conditional
deletes: ``If-Match`` fails with 412 on an ETag mismatch and with 404 ``NoSuchKey`` when there
is no object; ``x-amz-if-match-last-modified-time`` (an HTTP date, compared at one-second
resolution) and ``x-amz-if-match-size`` fail with 412 when they differ, and a missing object
is simply 204, as S3 documents. Any combination may be given; all must hold.

Writes (PutObject, CompleteMultipartUpload, CopyObject) follow S3's conditional writes:
``If-None-Match: *`` fails with 412 when the key exists; ``If-Match`` fails with 412 on an ETag
mismatch and with 404 ``NoSuchKey`` when there is no object at all (S3 answers that case
with 404, not 412). S3 accepts only ``*`` in ``If-None-Match`` on a write; any other value
is answered 501 ``NotImplemented`` rather than silently ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from multistore.core.errors import (
    InvalidArgument,
    NoSuchKey,
    NotImplementedOperation,
    NotModified,
    PreconditionFailed,
)
from multistore.core.http import Headers
from multistore.core.s3.xml import http_date

# One entity tag per match: quoted (may contain commas) or a bare token such as ``*``.
_ENTITY_TAG = re.compile(r'(?:W/)?"([^"]*)"|([^\s,]+)')


class ObjectNotModified(NotModified):
    """304 carrying the validators RFC 9110 §15.4.5 requires a 304 to repeat."""

    def __init__(self, *, etag: str, last_modified: datetime) -> None:
        super().__init__()
        self.etag = etag
        self.last_modified = last_modified

    def headers(self) -> dict[str, str]:
        return {"ETag": self.etag, "Last-Modified": http_date(self.last_modified)}


def evaluate_read_conditions(headers: Headers, *, etag: str, last_modified: datetime) -> None:
    """Raise 412 :class:`PreconditionFailed` or 304 :class:`ObjectNotModified` for a GET/HEAD."""
    last_modified = _whole_seconds(last_modified)
    if_match = _joined(headers, "If-Match")
    if if_match is not None:
        if not _etag_listed(if_match, etag):
            raise PreconditionFailed("If-Match does not match the object's ETag")
    else:
        unmodified_since = parse_http_date(headers.get("If-Unmodified-Since"))
        if unmodified_since is not None and last_modified > unmodified_since:
            raise PreconditionFailed("the object was modified after If-Unmodified-Since")

    if_none_match = _joined(headers, "If-None-Match")
    if if_none_match is not None:
        if _etag_listed(if_none_match, etag):
            raise ObjectNotModified(etag=etag, last_modified=last_modified)
        return
    modified_since = parse_http_date(headers.get("If-Modified-Since"))
    if (
        modified_since is not None
        and modified_since <= datetime.now(UTC)
        and last_modified <= modified_since
    ):
        raise ObjectNotModified(etag=etag, last_modified=last_modified)


def evaluate_write_conditions(headers: Headers, *, existing_etag: str | None) -> None:
    """Check ``If-Match``/``If-None-Match`` of a write against the object it would replace.

    ``existing_etag`` is the current object's ETag, ``None`` when the key does not exist.
    Callers that must be atomic evaluate this while holding the key's write lock.
    """
    if_match = _joined(headers, "If-Match")
    if if_match is not None:
        if existing_etag is None:
            raise NoSuchKey("If-Match was given but the object does not exist")
        if not _etag_listed(if_match, existing_etag):
            raise PreconditionFailed("If-Match does not match the object's ETag")
    if_none_match = _joined(headers, "If-None-Match")
    if if_none_match is not None:
        if if_none_match.strip() != "*":
            raise NotImplementedOperation("If-None-Match on a write only supports '*'")
        if existing_etag is not None:
            raise PreconditionFailed("If-None-Match: * was given but the object already exists")


IF_MATCH_LAST_MODIFIED_TIME = "x-amz-if-match-last-modified-time"
IF_MATCH_SIZE = "x-amz-if-match-size"


@dataclass(frozen=True, slots=True)
class DeleteConditions:
    """What must hold for a delete to go ahead (``None`` = not asked)."""

    if_match: str | None = None
    last_modified: datetime | None = None
    size: int | None = None

    @property
    def present(self) -> bool:
        return self.if_match is not None or self.last_modified is not None or self.size is not None


@dataclass(frozen=True, slots=True)
class ObjectState:
    """What conditional deletes compare against: the object as it is now."""

    etag: str
    last_modified: datetime
    size: int


def delete_conditions(headers: Headers) -> DeleteConditions:
    """The conditions of a DeleteObject request; malformed ones are 400 ``InvalidArgument``."""
    raw_time = headers.get(IF_MATCH_LAST_MODIFIED_TIME)
    last_modified = None
    if raw_time is not None:
        last_modified = parse_http_date(raw_time)
        if last_modified is None:
            raise InvalidArgument(f"{IF_MATCH_LAST_MODIFIED_TIME} must be an HTTP date")
    raw_size = headers.get(IF_MATCH_SIZE)
    size = None
    if raw_size is not None:
        if not (raw_size.isascii() and raw_size.isdigit()):
            raise InvalidArgument(f"{IF_MATCH_SIZE} must be a non-negative integer")
        size = int(raw_size)
    return DeleteConditions(_joined(headers, "If-Match"), last_modified, size)


def evaluate_delete_conditions(
    conditions: DeleteConditions, *, existing: ObjectState | None
) -> bool:
    """Whether there is an object to delete; raises 412/404 when a condition fails.

    ``existing`` is ``None`` when the key holds no object. Callers that must be atomic
    evaluate this while holding the key's lock.
    """
    if existing is None:
        if conditions.if_match is not None:
            raise NoSuchKey("If-Match was given but the object does not exist")
        return False
    if conditions.if_match is not None and not _etag_listed(conditions.if_match, existing.etag):
        raise PreconditionFailed("If-Match does not match the object's ETag")
    if conditions.last_modified is not None and _whole_seconds(
        conditions.last_modified
    ) != _whole_seconds(existing.last_modified):
        raise PreconditionFailed(
            f"{IF_MATCH_LAST_MODIFIED_TIME} does not match the object's Last-Modified"
        )
    if conditions.size is not None and conditions.size != existing.size:
        raise PreconditionFailed(f"{IF_MATCH_SIZE} does not match the object's size")
    return True


def has_write_conditions(headers: Headers) -> bool:
    """Whether a write needs the existing object's ETag at all (skips a lookup otherwise)."""
    return "If-Match" in headers or "If-None-Match" in headers


def normalize_etag(value: str) -> str:
    """The opaque part of an entity tag: without ``W/`` and surrounding quotes."""
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value


def _etag_listed(header_value: str, etag: str) -> bool:
    wanted = normalize_etag(etag)
    for match in _ENTITY_TAG.finditer(header_value):
        quoted, bare = match.groups()
        candidate = quoted if quoted is not None else bare
        if candidate == "*" or candidate == wanted:
            return True
    return False


def _joined(headers: Headers, name: str) -> str | None:
    values = headers.getall(name, [])
    return ",".join(values) if values else None


def parse_http_date(value: str | None) -> datetime | None:
    """An RFC 9110 HTTP date (aware, UTC when the zone is ``-0000``), or ``None``."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:  # "-0000" zone: RFC 5322 says UTC without a claim of locality
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _whole_seconds(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.replace(microsecond=0)
