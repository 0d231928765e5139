"""The ``az``/``azure`` backend: one Azure Blob Storage container behind a virtual bucket.

Reads, PutObject, DeleteObject and listing live here; multipart uploads (``uploads.py``)
and copies and batch deletes (``copying.py``) are mixed in. Every body streams through the
runtime's pooled transport; conditional reads and writes are handed to Azure as its own
preconditions, so they are evaluated atomically by the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.utils import parsedate_to_datetime

from multidict import CIMultiDict, MultiMapping

from multistore.azure.completions import AzureRecordStore
from multistore.azure.copying import AzureCopies
from multistore.azure.listing import (
    RESERVED_PREFIX,
    STATE_ROOT,
    build_page,
    decode_token,
    encode_token,
    parse_blobs,
)
from multistore.azure.preconditions import read_conditions, refuse_reserved, write_conditions
from multistore.azure.properties import (
    PARTS_META,
    azure_etag_list,
    object_read_headers,
    object_write_headers,
    s3_etag,
)
from multistore.azure.stale_uploads import remove_stale_markers
from multistore.azure.uploads import AzureUploads
from multistore.azure.wire import AzureWire
from multistore.core.backends.base import (
    BackendServices,
    ListEntry,
    ListPage,
    ListRequest,
    ObjectRequest,
    UploadRemoved,
)
from multistore.core.backends.completed_uploads import CompletionRecords
from multistore.core.backends.file.part_reads import part_span, requested_part_number
from multistore.core.backends.s3.writes import read_backend_body, refuse_oversized
from multistore.core.config import BucketConfig
from multistore.core.errors import (
    BadGateway,
    MissingContentLength,
    NoSuchKey,
    NotModified,
    PreconditionFailed,
)
from multistore.core.http import (
    Headers,
    RequestBody,
    Response,
    StreamingResponse,
    TransportResponse,
    backend_body,
)
from multistore.core.s3.conditions import (
    ObjectState,
    delete_conditions,
    evaluate_delete_conditions,
)
from multistore.core.s3.ranges import (
    RangeNotSatisfiable,
    content_range,
    is_usable_range,
    parse_range,
)
from multistore.core.s3.upload_body import iter_committing, verify_empty

MAX_LIST_BODY = 32 << 20
# Pages of up to 5000 names Azure may be asked for while skipping to a start-after key
# (Azure cannot start after a key); beyond that the page is returned as it is, truncated.
MAX_SKIPPED_PAGES = 50
# Azure's own limit for one Put Blob (API 2019-12-12 and later) is above S3's 5 GiB.


class AzureBackend(AzureWire, AzureUploads, AzureCopies):
    """One Azure container (optionally under a key prefix) behind a virtual bucket."""

    def __init__(self, config: BucketConfig, services: BackendServices) -> None:
        AzureWire.__init__(self, config, services)
        AzureUploads.__init__(self, CompletionRecords(AzureRecordStore(self)))

    # --- reads -----------------------------------------------------------------------------

    async def get_object(self, request: ObjectRequest) -> StreamingResponse:
        return await self._read("GET", request)

    async def head_object(self, request: ObjectRequest) -> StreamingResponse:
        return await self._read("HEAD", request)

    async def _read(self, method: str, request: ObjectRequest) -> StreamingResponse:
        refuse_reserved(request.key)
        part_number = requested_part_number(request.query, request.headers)
        headers = read_conditions(request.headers)
        extra: dict[str, str] = {}
        requested_range = request.headers.get("range")
        if part_number is not None:
            first, length, parts = await self._part_span(request.key, part_number, headers)
            if length:
                headers["range"] = f"bytes={first}-{first + length - 1}"
            if parts is not None:
                extra["x-amz-mp-parts-count"] = str(parts)
        elif requested_range is not None and is_usable_range(requested_range):
            if requested_range.replace(" ", "").startswith("bytes=-"):
                # Azure has no suffix ranges: one HEAD turns the suffix into positions.
                state = await self._object_state(request.key)
                if state is None:
                    raise NoSuchKey(resource=self.client_resource(request.key))
                span = parse_range(requested_range, state.size)
                if span is not None:
                    headers["range"] = f"bytes={span[0]}-{span[1]}"
            else:
                headers["range"] = requested_range
        response = await self.send(method, self.blob_path(request.key), headers=headers)
        if response.status == 304:
            await response.release()
            await self._not_modified(request.key, response.headers)
        if response.status == 416 and "range" in headers:
            await response.release()
            await self._unsatisfiable(request.key, requested_range or headers["range"])
        await self.raise_for_status(response, request.key)
        if response.status == 206 and part_number is None:
            size = _past_the_end(response.headers.get("content-range", ""))
            if size is not None:
                # A range starting at or after the end is 416 (S3, Azure); the emulator
                # answers some of them with a 206 whose Content-Range says so.
                await response.release()
                error = RangeNotSatisfiable(size=size, requested=requested_range or "")
                error.resource = self.client_resource(request.key)
                raise error
        out = object_read_headers(
            response.headers,
            request.query,
            # A whole-object checksum describes a 200's body only (S3 sends none with a 206).
            checksums=response.status == 200
            and part_number is None
            and request.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED",
        )
        out.update(extra)
        if method == "HEAD" and "range" in headers and response.status == 200:
            # Get Blob Properties ignores Range; S3 answers a ranged HEAD (and a part's HEAD)
            # with 206 and the range's length, which the size makes exact.
            size = int(response.headers.get("content-length") or 0)
            span = parse_range(headers["range"], size)
            if span is not None:
                out["Content-Range"] = content_range(span[0], span[1], size)
                return self._streaming(
                    response, out, head=True, status=206, length=span[1] - span[0] + 1
                )
        if part_number is not None and response.status == 200:
            # Part 1 of a one-part object is the whole object, served as a 206 (as S3 does).
            size = int(response.headers.get("content-length") or 0)
            if size:
                out["Content-Range"] = content_range(0, size - 1, size)
            return self._streaming(response, out, head=method == "HEAD", status=206)
        return self._streaming(response, out, head=method == "HEAD")

    def _streaming(
        self,
        response: TransportResponse,
        headers: CIMultiDict[str],
        *,
        head: bool,
        status: int | None = None,
        length: int | None = None,
    ) -> StreamingResponse:
        declared = response.headers.get("Content-Length", "")
        if length is None and declared.isascii() and declared.isdigit():
            length = int(declared)
        body, release = backend_body(response, head=head)
        return StreamingResponse(
            status=status or response.status,
            headers=headers,
            body=body,
            content_length=length,
            release=release,
        )

    async def _not_modified(self, key: str, answer: MultiMapping[str]) -> None:
        """Raise the 304 with the validators a cache needs (ETag, Last-Modified)."""
        if "etag" not in answer or "last-modified" not in answer:
            # Azure repeats them on a 304; the emulator does not, so one HEAD finds them.
            response = await self.send("HEAD", self.blob_path(key))
            await self.raise_for_status(response, key)
            await response.release()
            answer = response.headers
        kept = object_read_headers(answer, {})
        for name in list(kept):
            if name.lower() not in ("etag", "last-modified", "cache-control", "expires"):
                kept.popall(name, None)
        raise NotModified(headers=kept)

    async def _unsatisfiable(self, key: str, requested: str) -> None:
        """Raise the 416 with ``Content-Range: bytes */size`` the client needs to retry."""
        state = await self._object_state(key)
        resource = self.client_resource(key)
        if state is None:
            raise NoSuchKey(resource=resource)
        error = RangeNotSatisfiable(size=state.size, requested=requested)
        error.resource = resource
        raise error

    async def _part_span(
        self, key: str, part_number: int, conditions: dict[str, str]
    ) -> tuple[int, int, int | None]:
        """``(first byte, length, parts count)`` of one part of ``key``."""
        response = await self.send("HEAD", self.blob_path(key), headers=conditions)
        if response.status == 304:
            await response.release()
            await self._not_modified(key, response.headers)
        await self.raise_for_status(response, key)
        await response.release()
        size = int(response.headers.get("content-length") or 0)
        sizes: list[int] = []
        if response.headers.get(f"x-ms-meta-{PARTS_META}"):
            sizes = await self.committed_block_sizes(key)
        span = part_span(part_number, size=size, part_sizes=sizes)
        return span.start, span.length, span.parts_count

    async def _object_state(self, key: str) -> ObjectState | None:
        """ETag, Last-Modified and size of ``key`` from a HEAD; ``None`` if there is none."""
        response = await self.send("HEAD", self.blob_path(key))
        if response.status == 404:
            await response.release()
            return None
        await self.raise_for_status(response, key)
        await response.release()
        headers = response.headers
        length = headers.get("Content-Length", "")
        try:
            last_modified = parsedate_to_datetime(headers.get("Last-Modified", ""))
        except (TypeError, ValueError, IndexError):
            raise BadGateway("azure answered HEAD without Last-Modified") from None
        etag = headers.get("ETag", "")
        if not etag or not length.isdigit():
            raise BadGateway("azure answered HEAD without ETag or Content-Length")
        return ObjectState(
            s3_etag(etag, headers.get(f"x-ms-meta-{PARTS_META}")), last_modified, int(length)
        )

    # --- writes ----------------------------------------------------------------------------

    async def put_object(
        self, request: ObjectRequest, body: RequestBody, content_length: int | None
    ) -> Response:
        refuse_reserved(request.key)
        if content_length is None:
            raise MissingContentLength()
        refuse_oversized(content_length)
        headers = object_write_headers(request.headers)
        headers.update(write_conditions(request.headers))
        headers["x-ms-blob-type"] = "BlockBlob"
        headers["content-length"] = str(content_length)
        md5 = request.headers.get("content-md5")
        if md5:
            headers["content-md5"] = md5  # Azure checks the body against it, and keeps it
        if not content_length:
            await verify_empty(body)
        response = await self.send(
            "PUT",
            self.blob_path(request.key),
            headers=headers,
            body=iter_committing(body) if content_length else b"",
        )
        await self.check_write(response, request.key, request.headers)
        await response.release()
        out: CIMultiDict[str] = CIMultiDict()
        out["ETag"] = s3_etag(response.headers.get("ETag", ""), None)
        return Response(200, out)

    async def check_write(
        self, response: TransportResponse, key: str, client_headers: Headers
    ) -> None:
        """``raise_for_status`` for a conditional write, with S3's answer to ``If-Match`` on a
        missing key (404 ``NoSuchKey``, where Azure says 412)."""
        if response.status == 412 and "if-match" in client_headers:
            await response.release()
            if await self._object_state(key) is None:
                raise NoSuchKey(
                    "If-Match was given but the object does not exist",
                    resource=self.client_resource(key),
                )
            raise PreconditionFailed(resource=self.client_resource(key))
        await self.raise_for_status(response, key)

    async def delete_object(self, request: ObjectRequest) -> Response:
        refuse_reserved(request.key)
        conditions = delete_conditions(request.headers)
        headers: dict[str, str] = {}
        if conditions.present:
            # Azure honours If-Match on a delete but knows neither size nor a Last-Modified
            # equality: those are checked against a HEAD, and the DELETE is then pinned to the
            # object seen with If-Match, so a change in between still fails with 412.
            existing = await self._object_state(request.key)
            if not evaluate_delete_conditions(conditions, existing=existing):
                return Response(204)
            assert existing is not None
            headers["if-match"] = azure_etag_list(existing.etag)
        response = await self.send("DELETE", self.blob_path(request.key), headers=headers)
        if response.status == 404:
            await response.release()  # S3 answers 204 for a key that is not there
            return Response(204)
        await self.raise_for_status(response, request.key)
        await response.release()
        return Response(204)

    # --- listing ---------------------------------------------------------------------------

    async def list_objects(self, request: ListRequest) -> ListPage:
        if request.max_keys <= 0:
            return ListPage()
        marker: str | None = None
        start_after = request.start_after
        if request.continuation_token:
            marker, start_after = decode_token(request.continuation_token)
            marker = marker or None
        for _ in range(MAX_SKIPPED_PAGES):
            blobs, prefixes, next_marker = await self._list_blobs(
                request, marker, 5000 if start_after else request.max_keys
            )
            hidden = frozenset({RESERVED_PREFIX})
            if STATE_ROOT in prefixes and await self._holds_only_upload_state():
                hidden |= {STATE_ROOT}
            page = build_page(blobs, prefixes, start_after=start_after, hidden_prefixes=hidden)
            listed: list[tuple[str, ListEntry | None]] = [(e.key, e) for e in page.entries]
            listed += [(p, None) for p in page.common_prefixes]
            names = sorted(
                listed,
                key=lambda item: item[0].encode(),
            )
            if len(names) > request.max_keys:
                kept = names[: request.max_keys]
                result = _page_of(kept)
                result.next_continuation_token = encode_token(marker or "", kept[-1][0])
                return result
            if names or next_marker is None:
                result = _page_of(names)
                if next_marker is not None:
                    last = names[-1][0] if names else start_after
                    result.next_continuation_token = encode_token(next_marker, last)
                return result
            marker = next_marker
        return ListPage(next_continuation_token=encode_token(marker or "", start_after))

    async def _holds_only_upload_state(self) -> bool:
        """Whether ``.multistore/`` holds nothing but the upload markers (a user's own keys
        below ``.multistore/`` elsewhere keep the group visible)."""
        blobs, prefixes, next_marker = await self._list_blobs(
            ListRequest(prefix=STATE_ROOT, delimiter="/"), None, 2
        )
        return not blobs and prefixes == [RESERVED_PREFIX] and next_marker is None

    async def _list_blobs(
        self, request: ListRequest, marker: str | None, max_results: int
    ) -> tuple[list[dict[str, object]], list[str], str | None]:
        query = [
            ("restype", "container"),
            ("comp", "list"),
            ("maxresults", str(max(1, min(max_results, 5000)))),
            ("include", "metadata"),
        ]
        if request.prefix:
            query.append(("prefix", request.prefix))
        if request.delimiter:
            query.append(("delimiter", request.delimiter))
        if marker:
            query.append(("marker", marker))
        response = await self.send("GET", self.container_path(), query=query)
        await self.raise_for_status(response, None)
        return parse_blobs(await read_backend_body(response, MAX_LIST_BODY))

    # --- housekeeping ----------------------------------------------------------------------

    def upload_state_location(self) -> str:
        """The container's URL: every bucket on it shares its upload markers."""
        return f"{self.endpoint}/{self.container_name}"

    async def cleanup_stale_uploads(
        self, older_than_seconds: float, *, on_removed: UploadRemoved | None = None
    ) -> int:
        """Delete the markers of uploads started more than ``older_than_seconds`` ago
        (``stale_uploads.py``); their staged blocks Azure discards by itself."""
        return await remove_stale_markers(self, older_than_seconds, on_removed)


def _past_the_end(value: str) -> int | None:
    """The object size when a 206's ``Content-Range`` starts at or past the end."""
    unit, _, rest = value.strip().partition(" ")
    span, _, total = rest.partition("/")
    first = span.partition("-")[0]
    if unit != "bytes" or not (first.isdigit() and total.isdigit()):
        return None
    return int(total) if int(first) >= int(total) else None


def _page_of(names: Sequence[tuple[str, ListEntry | None]]) -> ListPage:
    page = ListPage()
    for name, entry in names:
        if entry is None:
            page.common_prefixes.append(name)
        else:
            page.entries.append(entry)
    return page


__all__ = ["AzureBackend"]
