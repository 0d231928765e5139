"""The storage backend abstraction: one object store location behind a virtual bucket.

Backends speak in *backend keys* (the ``backend_prefix`` is already applied by the
gateway) and in S3 terms: they return S3-shaped headers and raise :class:`S3Error`
subclasses, so the gateway and the runtimes never care which store is behind a bucket.
Bodies are streamed both ways; no backend may read a whole object into memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from multistore.core.backends.credentials import BackendCredentialSource
from multistore.core.config import BucketConfig
from multistore.core.http import Headers, HttpTransport, RequestBody, Response, StreamingResponse


@dataclass(frozen=True, slots=True)
class ListRequest:
    """One page of a listing, in backend keys."""

    prefix: str = ""
    delimiter: str = ""
    max_keys: int = 1000
    continuation_token: str | None = None
    start_after: str | None = None


@dataclass(frozen=True, slots=True)
class ListEntry:
    key: str
    size: int
    last_modified: datetime
    etag: str  # with its quotes, as S3 returns it
    storage_class: str = "STANDARD"


@dataclass(slots=True)
class ListPage:
    """What one backend listing call returned, still in backend keys."""

    entries: list[ListEntry] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    next_continuation_token: str | None = None

    @property
    def is_truncated(self) -> bool:
        return self.next_continuation_token is not None


@dataclass(frozen=True, slots=True)
class ObjectRequest:
    """A single-object read or write as the backend receives it.

    ``headers`` are the client's request headers; each backend forwards or honours the ones
    that apply (Range, conditionals, content and ``x-amz-meta-*`` headers). ``query`` holds
    the client's ``response-*`` overrides for GET.
    """

    key: str
    headers: Headers
    query: Mapping[str, str] = field(default_factory=dict)
    version_id: str | None = None


class ProxyBackend(Protocol):
    """Operations every backend implements for the core S3 surface."""

    async def get_object(self, request: ObjectRequest) -> StreamingResponse: ...

    async def head_object(self, request: ObjectRequest) -> StreamingResponse: ...

    async def put_object(
        self, request: ObjectRequest, body: RequestBody, content_length: int | None
    ) -> Response: ...

    async def delete_object(self, request: ObjectRequest) -> Response: ...

    async def list_objects(self, request: ListRequest) -> ListPage: ...

    async def close(self) -> None: ...


class BackendFactory(Protocol):
    """Builds a backend for a bucket configuration (one ``backend_type``)."""

    def __call__(self, config: BucketConfig, services: BackendServices) -> ProxyBackend: ...


@dataclass(frozen=True, slots=True)
class BackendServices:
    """Process-wide things backends share: the HTTP transport, the User-Agent, and the
    installed credential sources by ``auth_type`` (``multistore.backend_credentials``)."""

    transport: HttpTransport | None = None
    user_agent: str = "multistore"
    credential_sources: Mapping[str, BackendCredentialSource] = field(default_factory=dict)


# --- multipart uploads, copies and batch deletes (the write paths beyond PutObject) -------


@dataclass(frozen=True, slots=True)
class CompletedPart:
    """One ``<Part>`` of a CompleteMultipartUpload request, as the client listed it."""

    part_number: int
    etag: str
    checksums: Mapping[str, str] = field(default_factory=dict)  # e.g. {"ChecksumCRC32": "..."}


@dataclass(frozen=True, slots=True)
class PartInfo:
    part_number: int
    etag: str
    size: int
    last_modified: datetime
    checksums: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class PartsPage:
    parts: list[PartInfo] = field(default_factory=list)
    next_part_number_marker: int | None = None  # set when truncated
    storage_class: str = "STANDARD"
    checksum_algorithm: str | None = None


@dataclass(frozen=True, slots=True)
class UploadInfo:
    key: str  # backend key
    upload_id: str
    initiated: datetime
    storage_class: str = "STANDARD"


@dataclass(slots=True)
class UploadsPage:
    uploads: list[UploadInfo] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    next_key_marker: str | None = None  # set when truncated
    next_upload_id_marker: str | None = None


@dataclass(frozen=True, slots=True)
class ListUploadsRequest:
    prefix: str = ""
    delimiter: str = ""
    key_marker: str | None = None
    upload_id_marker: str | None = None
    max_uploads: int = 1000


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a completed write reports back: S3 response headers (ETag, checksums, version)."""

    etag: str
    headers: Mapping[str, str] = field(default_factory=dict)
    last_modified: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeleteOutcome:
    key: str  # backend key
    error_code: str | None = None
    error_message: str | None = None


class MultipartBackend(Protocol):
    """Multipart uploads. ``ObjectRequest.key`` is the backend key; headers are the client's.

    Conditional headers on completion (``If-None-Match: *``, ``If-Match``) must be honoured
    atomically with the commit. A completed or aborted upload leaves nothing staged behind.
    """

    async def create_multipart_upload(self, request: ObjectRequest) -> str:
        """Start an upload; returns the upload id. Object headers (content type,
        ``x-amz-meta-*``, checksum algorithm) apply to the final object."""
        ...

    async def upload_part(
        self,
        request: ObjectRequest,
        upload_id: str,
        part_number: int,
        body: RequestBody,
        content_length: int | None,
    ) -> WriteResult: ...

    async def complete_multipart_upload(
        self, request: ObjectRequest, upload_id: str, parts: list[CompletedPart]
    ) -> WriteResult: ...

    async def abort_multipart_upload(self, request: ObjectRequest, upload_id: str) -> None: ...

    async def list_parts(
        self, request: ObjectRequest, upload_id: str, *, max_parts: int, part_number_marker: int
    ) -> PartsPage: ...

    async def list_multipart_uploads(self, request: ListUploadsRequest) -> UploadsPage: ...


class CopyingBackend(Protocol):
    """Server-side copy within one backend (the gateway streams copies between backends)."""

    def can_copy_from(self, source: ProxyBackend) -> bool:
        """Whether ``source`` is reachable by this backend's server-side copy."""
        ...

    async def copy_object(
        self,
        request: ObjectRequest,
        source: ProxyBackend,
        source_key: str,
        source_version: str | None,
    ) -> WriteResult:
        """Copy ``source_key`` of ``source`` to ``request.key``. Honours the client's
        ``x-amz-metadata-directive`` / ``x-amz-copy-source-if-*`` / ``If-*`` headers."""
        ...

    async def upload_part_copy(
        self,
        request: ObjectRequest,
        upload_id: str,
        part_number: int,
        source: ProxyBackend,
        source_key: str,
        source_range: tuple[int, int] | None,
        *,
        source_version: str | None = None,
    ) -> WriteResult: ...


class BatchDeleteBackend(Protocol):
    async def delete_objects(self, keys: list[str]) -> list[DeleteOutcome]:
        """Delete up to 1000 backend keys; one outcome per key, in order."""
        ...


# Told of each abandoned upload a cleanup removed: its upload id and backend key (``None``
# when the upload's own record of its key could not be read).
UploadRemoved = Callable[[str, "str | None"], None]


@runtime_checkable
class StaleUploadCleaner(Protocol):
    """A backend that keeps multipart upload state of its own, which nothing but the gateway
    ever removes (S3 leaves abandoned uploads to lifecycle rules; a store without those
    needs the gateway's housekeeping)."""

    def upload_state_location(self) -> str:
        """Where the upload state lives (a directory, a container's or a bucket's URL):
        buckets sharing a location share their uploads, so one cleanup covers them all."""
        ...

    async def cleanup_stale_uploads(
        self, older_than_seconds: float, *, on_removed: UploadRemoved | None = None
    ) -> int:
        """Remove uploads started more than ``older_than_seconds`` ago, and nothing else;
        returns how many went, each also reported to ``on_removed``."""
        ...
