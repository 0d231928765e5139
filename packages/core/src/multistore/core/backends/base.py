"""The storage backend abstraction: one object store location behind a virtual bucket.

Backends speak in *backend keys* (the ``backend_prefix`` is already applied by the
gateway) and in S3 terms: they return S3-shaped headers and raise :class:`S3Error`
subclasses, so the gateway and the runtimes never care which store is behind a bucket.
Bodies are streamed both ways; no backend may read a whole object into memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

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
    """Process-wide things backends share: the HTTP transport and the User-Agent."""

    transport: HttpTransport | None = None
    user_agent: str = "multistore"
