"""CORS: the origin policy, preflight answers and response decoration (SPEC §2)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from multidict import CIMultiDict

from multistore.core.backends.base import BackendServices
from multistore.core.backends.file import FileBackend
from multistore.core.backends.pool import BackendPool
from multistore.core.config import BucketConfig, RoleConfig, StoredCredential
from multistore.core.cors import (
    EXPOSE_HEADERS_VALUE,
    AccessForbidden,
    CorsPolicy,
    OriginSet,
    add_vary,
    is_preflight,
    normalize_origin,
)
from multistore.core.gateway import GatewayOptions, ProxyGateway
from multistore.core.http import EmptyBody, GatewayResponse, RequestInfo, Response
from multistore.core.registry import BucketEntry, BucketOwner, ResolvedBucket
from multistore.core.router import Router

VIEWER = "https://viewer.example"
APP = "https://app.example"
EVIL = "https://evil.example"

OWN = BucketConfig(name="own", backend_type="file", cors_origins=(VIEWER,))
INHERITING = BucketConfig(name="inheriting", backend_type="file")
OPEN = BucketConfig(name="open", backend_type="file", cors_origins=("*",))


def request(
    method: str, path: str, headers: dict[str, str] | None = None, query: str = ""
) -> RequestInfo:
    return RequestInfo(
        method=method, raw_path=path, raw_query=query, headers=CIMultiDict(headers or {})
    )


def preflight(
    path: str, origin: str, method: str = "PUT", requested: str | None = None
) -> RequestInfo:
    headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if requested is not None:
        headers["Access-Control-Request-Headers"] = requested
    return request("OPTIONS", path, headers)


# --- origin lists --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("configured", "browser_sends"),
    [
        ("https://Viewer.Example", "https://viewer.example"),
        ("HTTPS://viewer.example:443", "https://viewer.example"),
        ("http://viewer.example:80", "http://viewer.example"),
        ("http://localhost:5173", "http://localhost:5173"),
        ("https://viewer.example:8443", "https://viewer.example:8443"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_configured_origins_match_what_browsers_send(configured: str, browser_sends: str) -> None:
    assert normalize_origin(configured) == browser_sends
    assert OriginSet.parse((configured,)).allow(browser_sends) == browser_sends


@pytest.mark.parametrize(
    "other",
    [
        "https://viewer.example:8443",  # another port is another origin
        "http://viewer.example",  # another scheme too
        "https://sub.viewer.example",
        "https://viewer.example.evil",
        "null",  # sandboxed frames and file:// pages
        "",
    ],
)
def test_exact_origins_match_nothing_else(other: str) -> None:
    assert OriginSet.parse((VIEWER,)).allow(other) is None


def test_wildcard_answers_star_for_any_origin() -> None:
    origins = OriginSet.parse((VIEWER, "*"))
    assert origins.allow(EVIL) == "*"
    assert origins.allow(VIEWER) == "*"
    assert origins.allow("null") == "*"


def test_an_empty_list_allows_nothing() -> None:
    assert not OriginSet.parse(()).enabled
    assert OriginSet.parse(()).allow(VIEWER) is None


def test_bucket_origins_replace_the_default_and_empty_inherits_it() -> None:
    policy = CorsPolicy((APP,))
    assert policy.allowed_origin(VIEWER, OWN) == VIEWER
    assert policy.allowed_origin(APP, OWN) is None
    assert policy.allowed_origin(APP, INHERITING) == APP
    assert policy.allowed_origin(VIEWER, INHERITING) is None
    # Unknown buckets and bucket-less paths get the default, like a bucket of their own.
    assert policy.allowed_origin(APP, None) == APP


def test_without_any_list_cors_is_off() -> None:
    policy = CorsPolicy()
    assert policy.allowed_origin(VIEWER, INHERITING) is None
    assert policy.allowed_origin(VIEWER, None) is None
    assert policy.allowed_origin(VIEWER, OWN) == VIEWER


# --- preflight answers ---------------------------------------------------------------------


def test_preflight_detection() -> None:
    assert is_preflight(preflight("/own/k", VIEWER))
    assert not is_preflight(request("OPTIONS", "/own/k", {"Origin": VIEWER}))
    assert not is_preflight(request("OPTIONS", "/own/k", {"Access-Control-Request-Method": "GET"}))
    assert not is_preflight(
        request("GET", "/own/k", {"Origin": VIEWER, "Access-Control-Request-Method": "GET"})
    )


def test_allowed_preflight_grants_methods_and_echoes_requested_headers() -> None:
    requested = "authorization,content-type,x-amz-content-sha256,x-amz-date"
    response = CorsPolicy().preflight(preflight("/own/k", VIEWER, "PUT", requested), OWN)
    assert response.status == 200
    assert response.body == b""
    headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == VIEWER
    assert headers["Access-Control-Allow-Methods"] == "GET, HEAD, PUT, POST, DELETE"
    assert headers["Access-Control-Allow-Headers"] == requested
    assert headers["Access-Control-Max-Age"] == "3600"
    assert headers["Access-Control-Expose-Headers"] == EXPOSE_HEADERS_VALUE
    assert "Origin" in headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in headers


def test_preflight_without_requested_headers_grants_none() -> None:
    response = CorsPolicy().preflight(preflight("/open/k", EVIL, "GET"), OPEN)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Headers" not in response.headers
    assert response.headers["Vary"] == "Origin"


@pytest.mark.parametrize(
    ("origin", "method", "bucket"),
    [
        (EVIL, "GET", OWN),  # origin not listed
        (VIEWER, "PATCH", OWN),  # method S3 never serves
        (VIEWER, "put", OWN),  # methods are case-sensitive in a preflight
        (VIEWER, "GET", INHERITING),  # no origins anywhere
        (VIEWER, "GET", None),  # unknown bucket
    ],
)
def test_refused_preflights(origin: str, method: str, bucket: BucketConfig | None) -> None:
    with pytest.raises(AccessForbidden) as info:
        CorsPolicy().preflight(preflight("/x/k", origin, method), bucket)
    assert info.value.status == 403
    assert info.value.code == "AccessForbidden"
    assert info.value.message.startswith("CORSResponse: This CORS request is not allowed.")


# --- decoration ----------------------------------------------------------------------------


def test_decorate_adds_the_grant_only_for_allowed_origins() -> None:
    headers: CIMultiDict[str] = CIMultiDict({"ETag": '"x"'})
    assert CorsPolicy().decorate(headers, VIEWER, OWN)
    assert headers["Access-Control-Allow-Origin"] == VIEWER
    assert headers["Access-Control-Expose-Headers"] == EXPOSE_HEADERS_VALUE
    assert headers["Vary"] == "Origin"
    untouched: CIMultiDict[str] = CIMultiDict({"ETag": '"x"'})
    assert not CorsPolicy().decorate(untouched, EVIL, OWN)
    assert untouched == CIMultiDict({"ETag": '"x"'})


def test_expose_headers_name_etag_and_keep_the_wildcard() -> None:
    names = [name.strip() for name in EXPOSE_HEADERS_VALUE.split(",")]
    # ETag is what browser multipart uploaders read; "*" covers x-amz-meta-* where allowed.
    assert {"ETag", "Content-Range", "x-amz-request-id", "x-amz-version-id", "*"} <= set(names)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, "Origin"),
        ("Accept-Encoding", "Accept-Encoding, Origin"),
        ("origin", "origin"),
        ("Accept, Origin", "Accept, Origin"),
        ("*", "*"),
    ],
)
def test_vary_is_merged(before: str | None, after: str) -> None:
    headers: CIMultiDict[str] = CIMultiDict()
    if before is not None:
        headers["Vary"] = before
    add_vary(headers, "Origin")
    assert headers.getall("Vary") == [after]


# --- through the gateway -------------------------------------------------------------------


class Buckets:
    def __init__(self, *configs: BucketConfig) -> None:
        self._configs = {config.name: config for config in configs}

    async def get_bucket(self, name: str) -> ResolvedBucket | None:
        config = self._configs.get(name)
        return ResolvedBucket(config) if config is not None else None

    async def list_buckets(self) -> list[BucketEntry]:
        return [BucketEntry(name, datetime(2024, 1, 1, tzinfo=UTC)) for name in self._configs]

    def bucket_owner(self) -> BucketOwner:
        return BucketOwner()


class NoCredentials:
    async def get_credential(self, access_key_id: str) -> StoredCredential | None:
        return None

    async def get_role(self, role_id: str) -> RoleConfig | None:
        return None


async def _health(request: RequestInfo) -> Response | None:
    return Response(200, CIMultiDict({"Content-Type": "text/plain"}), b"ok\n")


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[ProxyGateway]:
    def file_bucket(name: str, **extra: object) -> BucketConfig:
        root = tmp_path / name
        root.mkdir()
        (root / "hello.txt").write_bytes(b"hello")
        return BucketConfig(
            name=name,
            backend_type="file",
            backend_options={"root": str(root)},
            **extra,  # type: ignore[arg-type]
        )

    pool = BackendPool({"file": FileBackend}, BackendServices())
    gateway = ProxyGateway(
        buckets=Buckets(
            file_bucket("own", anonymous_access=True, cors_origins=(VIEWER,)),
            file_bucket("inheriting", anonymous_access=True),
            file_bucket("private", anonymous_access=False, cors_origins=(VIEWER,)),
        ),
        credentials=NoCredentials(),
        backends=pool,
        router=Router().route("/.multistore/healthz", _health),
        options=GatewayOptions(virtual_host_domain="s3.example", cors_origins=(APP,)),
    )
    yield gateway
    await pool.close()


async def call(gateway: ProxyGateway, req: RequestInfo) -> GatewayResponse:
    response = await gateway.handle_request(req, EmptyBody())
    if not isinstance(response, Response):
        await response.close()
    return response


async def test_gateway_answers_preflights_before_authentication(gateway: ProxyGateway) -> None:
    # A private bucket: the preflight needs no credentials; the actual request will.
    response = await call(gateway, preflight("/private/hello.txt", VIEWER, "GET", "authorization"))
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == VIEWER
    assert response.headers["Access-Control-Allow-Headers"] == "authorization"
    assert response.headers["x-amz-request-id"]


async def test_gateway_finds_virtual_hosted_buckets(gateway: ProxyGateway) -> None:
    req = preflight("/hello.txt", VIEWER, "GET")
    req.headers = CIMultiDict({**req.headers, "Host": "own.s3.example:8080"})
    assert (await call(gateway, req)).status == 200
    req.headers = CIMultiDict({**req.headers, "Host": "inheriting.s3.example"})
    assert (await call(gateway, req)).status == 403


async def test_unknown_bucket_is_answered_like_one_without_origins(gateway: ProxyGateway) -> None:
    for origin, status in ((VIEWER, 403), (APP, 200)):
        known = await call(gateway, preflight("/inheriting/k", origin))
        unknown = await call(gateway, preflight("/no-such-bucket/k", origin))
        assert known.status == unknown.status == status
        assert isinstance(known, Response)
        assert isinstance(unknown, Response)
        assert known.headers.get("Access-Control-Allow-Origin") == unknown.headers.get(
            "Access-Control-Allow-Origin"
        )
        if status == 403:
            assert b"<Code>AccessForbidden</Code>" in known.body
            # Identical apart from the echoed path and the request id.
            assert known.body.split(b"<Resource>")[0] == unknown.body.split(b"<Resource>")[0]


async def test_streamed_objects_and_errors_carry_the_grant(gateway: ProxyGateway) -> None:
    read = await call(gateway, request("GET", "/own/hello.txt", {"Origin": VIEWER}))
    assert read.status == 200
    assert read.headers["Access-Control-Allow-Origin"] == VIEWER
    assert read.headers["Vary"] == "Origin"
    denied = await call(gateway, request("PUT", "/own/new.txt", {"Origin": VIEWER}))
    assert denied.status == 403
    assert denied.headers["Access-Control-Allow-Origin"] == VIEWER
    missing = await call(gateway, request("GET", "/own/missing.txt", {"Origin": VIEWER}))
    assert missing.status == 404
    assert missing.headers["Access-Control-Allow-Origin"] == VIEWER


async def test_refusals_before_bucket_lookup_still_carry_the_grant(
    gateway: ProxyGateway,
) -> None:
    # An unknown access key fails authentication, long before the bucket is resolved.
    bad_signature = request(
        "GET",
        "/own/hello.txt",
        {
            "Origin": VIEWER,
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAUNKNOWN000000000/20240101/"
            "us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + "0" * 64,
            "x-amz-date": "20240101T000000Z",
            "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        },
    )
    response = await call(gateway, bad_signature)
    assert response.status in (400, 403)
    assert response.headers["Access-Control-Allow-Origin"] == VIEWER


async def test_no_origin_no_cors_headers(gateway: ProxyGateway) -> None:
    for req in (
        request("GET", "/own/hello.txt"),
        request("PUT", "/own/new.txt"),
        request("GET", "/.multistore/healthz"),
    ):
        response = await call(gateway, req)
        assert not [name for name in response.headers if name.lower().startswith("access-")]
        assert "Vary" not in response.headers


async def test_routes_and_bucket_less_paths_use_the_default(gateway: ProxyGateway) -> None:
    health = await call(gateway, request("GET", "/.multistore/healthz", {"Origin": APP}))
    assert health.headers["Access-Control-Allow-Origin"] == APP
    listing = await call(gateway, request("GET", "/", {"Origin": APP}))
    assert listing.status == 200
    assert listing.headers["Access-Control-Allow-Origin"] == APP
    other = await call(gateway, request("GET", "/", {"Origin": VIEWER}))
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_plain_options_stays_not_implemented(gateway: ProxyGateway) -> None:
    response = await call(gateway, request("OPTIONS", "/own/hello.txt", {"Origin": VIEWER}))
    assert response.status == 501
    # Still readable by the allowed page, like every other error.
    assert response.headers["Access-Control-Allow-Origin"] == VIEWER
    bare = await call(gateway, request("OPTIONS", "/own/hello.txt"))
    assert bare.status == 501


async def test_cors_is_off_without_configuration(tmp_path: Path) -> None:
    pool = BackendPool({"file": FileBackend}, BackendServices())
    plain = ProxyGateway(buckets=Buckets(INHERITING), credentials=NoCredentials(), backends=pool)
    try:
        refused = await call(plain, preflight("/inheriting/k", VIEWER, "GET"))
        assert refused.status == 403
        assert "Access-Control-Allow-Origin" not in refused.headers
        listing = await call(plain, request("GET", "/", {"Origin": VIEWER}))
        assert "Access-Control-Allow-Origin" not in listing.headers
    finally:
        await pool.close()
