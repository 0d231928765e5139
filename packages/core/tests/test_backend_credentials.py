"""The s3 backend's credential-source hook: ``auth_type`` buckets sign with what the source
hands out at each request, and the source's failures reach the client unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from multistore.core.auth.signing import SigningCredentials
from multistore.core.backends.base import BackendServices, ObjectRequest
from multistore.core.backends.s3 import S3Backend
from multistore.core.config import BucketConfig
from multistore.core.errors import AccessDenied
from multistore.core.http import OutboundBody


class Answer:
    status = 204
    headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        return
        yield b""

    async def read(self, limit: int) -> bytes:
        return b""

    async def release(self) -> None:
        return None


class RecordingTransport:
    """Stands in for the network: what matters here is what the backend hands it."""

    def __init__(self) -> None:
        self.sent: list[Mapping[str, str]] = []

    async def request(
        self, method: str, url: str, *, headers: Mapping[str, str], body: OutboundBody = None
    ) -> Answer:
        self.sent.append(dict(headers))
        return Answer()


class RotatingSource:
    def __init__(self) -> None:
        self.current_credentials = SigningCredentials("ASIAFIRST", "secret-1", "token-1")
        self.failure: Exception | None = None
        self.configs: list[BucketConfig] = []

    def for_bucket(self, config: BucketConfig) -> RotatingSource:
        self.configs.append(config)
        return self

    async def current(self) -> SigningCredentials:
        if self.failure is not None:
            raise self.failure
        return self.current_credentials


def config(**options: str) -> BucketConfig:
    return BucketConfig(
        name="federated", backend_type="s3",
        backend_options=MappingProxyType({"endpoint": "http://127.0.0.1:9", "bucket_name": "b",
                                          **options}),
    )  # fmt: skip


async def test_requests_are_signed_with_the_sources_current_credentials() -> None:
    source, transport = RotatingSource(), RecordingTransport()
    services = BackendServices(transport, "test", credential_sources={"custom": source})
    backend = S3Backend(config(auth_type="custom"), services)
    assert [c.name for c in source.configs] == ["federated"]

    request = ObjectRequest(key="k", headers=CIMultiDict())
    await backend.delete_object(request)
    source.current_credentials = SigningCredentials("ASIASECOND", "secret-2", "token-2")
    await backend.delete_object(request)

    first, second = transport.sent
    assert "Credential=ASIAFIRST/" in first["authorization"]
    assert first["x-amz-security-token"] == "token-1"
    assert "Credential=ASIASECOND/" in second["authorization"]
    assert second["x-amz-security-token"] == "token-2"


async def test_the_sources_refusal_is_the_clients_answer() -> None:
    source = RotatingSource()
    source.failure = AccessDenied("the role refused")
    services = BackendServices(RecordingTransport(), credential_sources={"custom": source})
    backend = S3Backend(config(auth_type="custom"), services)
    with pytest.raises(AccessDenied):
        await backend.delete_object(ObjectRequest(key="k", headers=CIMultiDict()))


def test_an_auth_type_nobody_serves_is_refused_when_the_backend_is_built() -> None:
    with pytest.raises(ValueError, match="bucket 'federated': auth_type 'oidc' is not available"):
        S3Backend(config(auth_type="oidc"), BackendServices(RecordingTransport()))
