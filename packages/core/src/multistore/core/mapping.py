"""The seam through which a plugin presents buckets under other addresses (path mapping).

Core knows nothing about hierarchical addresses. A :class:`RequestMapper`, installed by a
plugin (``multistore-path-mapping``), sees every path-style request before it is parsed:

- ``map_request`` returns the request core should route, parse and authorize (for example
  ``/acme/climate/k`` → ``/acme--climate/k``). The signature is always verified on the
  request exactly as the client sent it, never on the rewritten one.
- ``handler_for`` may claim an operation the mapper answers itself once the caller is
  authenticated (an address that is no configured bucket, such as an account holding
  several products). Such a handler runs inside the middleware chain and reaches the real
  buckets only through :class:`SubRequests`, so every bucket it touches is authorized as usual.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from multistore.core.http import GatewayResponse, RequestBody, RequestInfo
from multistore.core.registry import BucketRegistry

if TYPE_CHECKING:
    from multistore.core.auth.identity import Identity
    from multistore.core.middleware import Next
    from multistore.core.s3.operations import S3Request


class SubRequests(Protocol):
    """Runs an internal, unsigned request on behalf of an already authenticated caller."""

    async def dispatch_as(
        self, identity: Identity, request: RequestInfo, body: RequestBody
    ) -> GatewayResponse:
        """Parse, look up, authorize and dispatch ``request`` (no mapping, no signature)."""
        ...


class RequestMapper(Protocol):
    async def map_request(self, request: RequestInfo) -> RequestInfo:
        """The request to route; return ``request`` itself to leave it alone."""
        ...

    async def handler_for(self, operation: S3Request, sub_requests: SubRequests) -> Next | None:
        """A handler for an operation the mapper answers itself, or ``None``."""
        ...


class AddressMapping(RequestMapper, Protocol):
    """What a request-mapper plugin builds: the mapper and the registry to serve with."""

    @property
    def buckets(self) -> BucketRegistry:
        """The bucket registry the gateway uses (wrapping the configured one)."""
        ...


class RequestMapperFactory(Protocol):
    """Entry point of the ``multistore.request_mappers`` group.

    ``options`` is the plugin's config table (``[path_mapping]``), empty when it was enabled
    by a flag alone; a bad option is a ``ValueError`` that stops startup.
    """

    def __call__(
        self, options: Mapping[str, object], buckets: BucketRegistry
    ) -> AddressMapping: ...


__all__ = ["AddressMapping", "RequestMapper", "RequestMapperFactory", "SubRequests"]
