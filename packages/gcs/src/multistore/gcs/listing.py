"""ListObjects on the JSON API's ``objects.list``, with S3's continuation semantics.

The continuation token the client sees is opaque: it wraps GCS's ``pageToken`` together
with the last name the gateway returned. Entries at or before that name are dropped on the
next page, which keeps paging exact even where a store ignores ``maxResults`` (the emulator
returns every object at once) and lets ``start-after`` work where ``startOffset`` is
inclusive.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from multistore.core.backends.base import ListEntry, ListPage, ListRequest
from multistore.core.errors import InvalidArgument
from multistore.gcs.metadata import last_modified, object_size, s3_etag

# Multipart staging lives under this prefix of the bucket; it is never listed.
STAGING_PREFIX = ".multistore-uploads/"
GCS_MAX_RESULTS = 1000


def refuse_reserved(key: str) -> None:
    """Keys under the multipart staging prefix are the gateway's own, never a client's:
    listing hides them, so writing one would make an object nobody can list."""
    if key.startswith(STAGING_PREFIX):
        raise InvalidArgument(
            f"keys starting with {STAGING_PREFIX} are reserved by the gateway on this bucket"
        )


@dataclass(frozen=True, slots=True)
class Continuation:
    page_token: str | None
    after: str
    after_is_prefix: bool

    def encode(self) -> str:
        raw = json.dumps([self.page_token, self.after, self.after_is_prefix]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Continuation:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            page_token, after, after_is_prefix = json.loads(raw)
            if not isinstance(after, str) or not (
                page_token is None or isinstance(page_token, str)
            ):
                raise TypeError
            return cls(page_token, after, bool(after_is_prefix))
        except (ValueError, TypeError):
            raise InvalidArgument("The continuation token provided is incorrect") from None

    def passed(self, name: str) -> bool:
        """Whether ``name`` was already returned (or rolled into a returned prefix)."""
        return name <= self.after or (self.after_is_prefix and name.startswith(self.after))


def list_query(request: ListRequest, continuation: Continuation | None) -> list[tuple[str, str]]:
    query = [("maxResults", str(min(max(request.max_keys, 1), GCS_MAX_RESULTS)))]
    if request.prefix:
        query.append(("prefix", request.prefix))
    if request.delimiter:
        query.append(("delimiter", request.delimiter))
    if continuation is not None and continuation.page_token:
        query.append(("pageToken", continuation.page_token))
    elif continuation is not None and continuation.after:
        # Inclusive on GCS; what was already returned is dropped by ``passed``.
        query.append(("startOffset", continuation.after))
    return query


def starting_point(request: ListRequest) -> Continuation | None:
    if request.continuation_token:
        return Continuation.decode(request.continuation_token)
    if request.start_after:
        return Continuation(None, request.start_after, after_is_prefix=False)
    return None


def build_page(
    request: ListRequest, continuation: Continuation | None, document: dict[str, Any]
) -> ListPage:
    """One S3 page from one ``objects.list`` answer."""
    rows: list[tuple[str, ListEntry | None]] = []
    for item in document.get("items") or ():
        name = str(item.get("name", ""))
        rows.append(
            (
                name,
                ListEntry(
                    key=name,
                    size=object_size(item),
                    last_modified=last_modified(item),
                    etag=s3_etag(item),
                    storage_class=str(item.get("storageClass") or "STANDARD"),
                ),
            )
        )
    rows.extend((str(prefix), None) for prefix in document.get("prefixes") or ())
    rows = [
        (name, entry)
        for name, entry in rows
        if not name.startswith(STAGING_PREFIX)
        and (continuation is None or not continuation.passed(name))
    ]
    rows.sort(key=lambda row: row[0])
    page = ListPage()
    if request.max_keys <= 0:
        return page
    taken = rows[: request.max_keys]
    for name, entry in taken:
        if entry is None:
            page.common_prefixes.append(name)
        else:
            page.entries.append(entry)
    page_token = continuation.page_token if continuation is not None else None
    next_token = document.get("nextPageToken")
    if len(rows) > len(taken):
        # The store gave more than asked: the next page starts within this answer again.
        last, last_entry = taken[-1]
        page.next_continuation_token = Continuation(page_token, last, last_entry is None).encode()
    elif next_token:
        last, last_entry = taken[-1] if taken else ("", None)
        if continuation is not None and not taken:
            last, is_prefix = continuation.after, continuation.after_is_prefix
        else:
            is_prefix = last_entry is None and bool(taken)
        page.next_continuation_token = Continuation(str(next_token), last, is_prefix).encode()
    return page
