"""The RequestMapper seam: core routes the mapped request but verifies what the client signed.

A toy mapper presents bucket ``real`` as ``alias`` and answers ``GET /virtual`` itself with
a sub-request, which must be authorized and pass the middleware chain like any request.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from multidict import CIMultiDict

from multistore.core.auth.identity import Identity
from multistore.core.backends.base import BackendServices
from multistore.core.backends.file import FileBackend
from multistore.core.backends.pool import BackendPool
from multistore.core.config import AccessScope, Action, BucketConfig, RoleConfig, StoredCredential
from multistore.core.errors import AccessDenied
from multistore.core.gateway import GatewayOptions, ProxyGateway
from multistore.core.http import BytesBody, EmptyBody, GatewayResponse, RequestInfo, Response
from multistore.core.mapping import SubRequests
from multistore.core.middleware import BaseMiddleware, DispatchContext, Next
from multistore.core.registry import BucketEntry, BucketOwner, ResolvedBucket
from multistore.core.s3.operations import S3Request
from multistore.testing.signing import sign

KEY, SECRET = "AKIAMAPPINGTEST00000", "mapping-test-secret"
HOST = "gateway.test"


class Buckets:
    def __init__(self, config: BucketConfig) -> None:
        self.config = config

    async def get_bucket(self, name: str) -> ResolvedBucket | None:
        return ResolvedBucket(self.config) if name == self.config.name else None

    async def list_buckets(self) -> list[BucketEntry]:
        return [BucketEntry(self.config.name, datetime(2024, 1, 1, tzinfo=UTC))]

    def bucket_owner(self) -> BucketOwner:
        return BucketOwner()


class Credentials:
    def __init__(self, *scopes: AccessScope) -> None:
        self.scopes = scopes

    async def get_credential(self, access_key_id: str) -> StoredCredential | None:
        if access_key_id != KEY:
            return None
        return StoredCredential(KEY, SECRET, "tester", allowed_scopes=self.scopes)

    async def get_role(self, role_id: str) -> RoleConfig | None:
        return None


class AliasMapper:
    """``/alias/...`` is bucket ``real``; ``GET /virtual`` lists ``real`` through a sub-request."""

    def __init__(self) -> None:
        self.offered: list[str] = []

    async def map_request(self, request: RequestInfo) -> RequestInfo:
        self.offered.append(request.raw_path)
        if not request.raw_path.startswith("/alias"):
            return request
        path = "/real" + request.raw_path.removeprefix("/alias")
        return replace(request, raw_path=path, _path=None, _query=None)

    async def handler_for(self, operation: S3Request, sub_requests: SubRequests) -> Next | None:
        if operation.bucket != "virtual":
            return None

        async def answer(ctx: DispatchContext) -> GatewayResponse:
            inner = RequestInfo(
                "GET", "/real", "list-type=2", CIMultiDict({"Host": HOST}), request_id="sub"
            )
            return await sub_requests.dispatch_as(ctx.identity, inner, EmptyBody())

        return answer


class Recorder(BaseMiddleware):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def handle(self, ctx: DispatchContext, next: Next) -> GatewayResponse:
        self.seen.append((ctx.operation.op.value, ctx.operation.bucket))
        return await next(ctx)


ALL = frozenset(Action)


@pytest.fixture
async def parts(tmp_path: Path) -> tuple[ProxyGateway, AliasMapper, Recorder, Path]:
    root = tmp_path / "real"
    root.mkdir()
    config = BucketConfig("real", "file", backend_options={"root": str(root)})
    mapper, recorder = AliasMapper(), Recorder()
    gateway = ProxyGateway(
        buckets=Buckets(config),
        credentials=Credentials(AccessScope("real", (), ALL)),
        backends=BackendPool({"file": FileBackend}, BackendServices()),
        middlewares=[recorder],
        mapper=mapper,
        options=GatewayOptions(virtual_host_domain="s3.test"),
    )
    return gateway, mapper, recorder, root


def signed(
    method: str, path: str, *, signed_path: str | None = None, body: bytes = b""
) -> RequestInfo:
    headers = sign(
        method, f"http://{HOST}{signed_path or path}", access_key=KEY, secret_key=SECRET, body=body
    )
    headers.setdefault("Host", HOST)  # botocore signs the URL's host without adding the header
    raw_path, _, raw_query = path.partition("?")
    return RequestInfo(method, raw_path, raw_query, CIMultiDict(headers))


async def test_the_mapped_request_is_routed_but_the_sent_one_is_verified(
    parts: tuple[ProxyGateway, AliasMapper, Recorder, Path],
) -> None:
    gateway, _, _, root = parts
    put = signed("PUT", "/alias/k.txt", body=b"data")
    response = await gateway.handle_request(put, BytesBody(b"data"))
    assert response.status == 200
    assert (root / "k.txt").read_bytes() == b"data"
    # Signed for the internal address, sent to the alias: the signature does not match.
    forged = signed("GET", "/alias/k.txt", signed_path="/real/k.txt")
    refused = await gateway.handle_request(forged, EmptyBody())
    assert isinstance(refused, Response)
    assert refused.status == 403
    assert b"SignatureDoesNotMatch" in refused.body
    assert b"<Resource>/alias/k.txt</Resource>" in refused.body


async def test_a_claimed_operation_runs_sub_requests_through_the_chain(
    parts: tuple[ProxyGateway, AliasMapper, Recorder, Path],
) -> None:
    gateway, _, recorder, root = parts
    (root / "listed.txt").write_bytes(b"x")
    response = await gateway.handle_request(signed("GET", "/virtual"), EmptyBody())
    assert isinstance(response, Response)
    assert response.status == 200
    assert b"<Key>listed.txt</Key>" in response.body
    assert recorder.seen == [("ListObjects", "virtual"), ("ListObjectsV2", "real")]


async def test_sub_requests_are_authorized(
    parts: tuple[ProxyGateway, AliasMapper, Recorder, Path],
) -> None:
    gateway, _, _, _ = parts
    stranger = Identity("stranger", (AccessScope("elsewhere", (), ALL),))
    inner = RequestInfo("GET", "/real", "list-type=2", CIMultiDict({"Host": HOST}))
    with pytest.raises(AccessDenied):
        await gateway.dispatch_as(stranger, inner, EmptyBody())


async def test_virtual_hosted_requests_are_not_offered_to_the_mapper(
    parts: tuple[ProxyGateway, AliasMapper, Recorder, Path],
) -> None:
    gateway, mapper, _, _ = parts
    request = RequestInfo("GET", "/k.txt", "", CIMultiDict({"Host": "alias.s3.test"}))
    response = await gateway.handle_request(request, EmptyBody())
    assert response.status == 403  # anonymous, and "alias" is no bucket
    assert mapper.offered == []
