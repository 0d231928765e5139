"""CORS through the real server: preflights without auth, grants on responses and errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from multistore.testing.gateway import GatewayProcess, running_gateway
from multistore.testing.runtimes import runtime_options
from multistore.testing.signing import RawResponse, send, sign

VIEWER = "https://viewer.example"  # listed by the "viewer" bucket itself
APP = "https://app.example"  # the [server] default
EVIL = "https://evil.example"
UPLOAD_HEADERS = "authorization,content-type,x-amz-content-sha256,x-amz-date"


@pytest.fixture(scope="module")
def cors_gateway(
    gateway_runtime: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    base = tmp_path_factory.mktemp("cors")
    buckets: list[dict[str, Any]] = []
    for name, origins in (("viewer", [VIEWER]), ("plain", None)):
        root = base / name
        root.mkdir()
        (root / "hello.txt").write_bytes(b"hello")
        bucket: dict[str, Any] = {
            "name": name,
            "backend_type": "file",
            "anonymous_access": True,
            "backend_options": {"root": str(root)},
        }
        if origins is not None:
            bucket["cors_origins"] = origins
        buckets.append(bucket)
    config = {"server": {"cors_origins": [APP]}, "buckets": buckets}
    with running_gateway(config, base / "gateway", **runtime_options(gateway_runtime)) as process:
        yield process


def lower(response: RawResponse) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers.items()}


def preflight(gateway: GatewayProcess, path: str, origin: str, method: str = "PUT") -> RawResponse:
    return send(
        "OPTIONS",
        f"{gateway.url}{path}",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": UPLOAD_HEADERS,
        },
    )


def cors_headers(response: RawResponse) -> dict[str, str]:
    return {k: v for k, v in lower(response).items() if k.startswith("access-control-")}


def test_allowed_preflight_needs_no_authentication(cors_gateway: GatewayProcess) -> None:
    response = preflight(cors_gateway, "/viewer/upload.bin", VIEWER)
    assert response.status == 200
    headers = lower(response)
    assert headers["access-control-allow-origin"] == VIEWER
    assert set(headers["access-control-allow-methods"].replace(" ", "").split(",")) == {
        "GET", "HEAD", "PUT", "POST", "DELETE",
    }  # fmt: skip
    assert headers["access-control-allow-headers"] == UPLOAD_HEADERS
    assert int(headers["access-control-max-age"]) > 0
    assert "ETag" in headers["access-control-expose-headers"]
    assert "Origin" in headers["vary"]
    assert headers["x-amz-request-id"]


def test_disallowed_origin_is_refused(cors_gateway: GatewayProcess) -> None:
    response = preflight(cors_gateway, "/viewer/upload.bin", EVIL)
    assert response.status == 403
    assert b"<Code>AccessForbidden</Code>" in response.body
    assert b"CORSResponse: This CORS request is not allowed." in response.body
    assert cors_headers(response) == {}


def test_bucket_without_origins_and_unknown_bucket_refuse_alike(
    cors_gateway: GatewayProcess,
) -> None:
    without = preflight(cors_gateway, "/plain/hello.txt", VIEWER)
    unknown = preflight(cors_gateway, "/no-such-bucket/hello.txt", VIEWER)
    assert without.status == unknown.status == 403
    assert cors_headers(without) == cors_headers(unknown) == {}
    # Same code and message: a preflight does not tell whether the bucket exists.
    assert without.body.split(b"<Resource>")[0] == unknown.body.split(b"<Resource>")[0]


def test_server_default_applies_where_a_bucket_sets_nothing(cors_gateway: GatewayProcess) -> None:
    for path in ("/plain/hello.txt", "/no-such-bucket/hello.txt"):
        response = preflight(cors_gateway, path, APP, "GET")
        assert response.status == 200, path
        assert lower(response)["access-control-allow-origin"] == APP
    # A bucket's own list replaces the default instead of adding to it.
    assert preflight(cors_gateway, "/viewer/hello.txt", APP).status == 403


def test_actual_anonymous_get_carries_the_grant(cors_gateway: GatewayProcess) -> None:
    response = send("GET", f"{cors_gateway.url}/viewer/hello.txt", headers={"Origin": VIEWER})
    assert response.status == 200
    assert response.body == b"hello"
    headers = lower(response)
    assert headers["access-control-allow-origin"] == VIEWER
    assert "ETag" in headers["access-control-expose-headers"]
    assert headers["vary"] == "Origin"


def test_errors_carry_the_grant_so_the_page_can_read_them(cors_gateway: GatewayProcess) -> None:
    url = f"{cors_gateway.url}/viewer/new.txt"
    anonymous_write = send("PUT", url, headers={"Origin": VIEWER}, body=b"x")
    assert anonymous_write.status == 403
    assert b"<Code>AccessDenied</Code>" in anonymous_write.body
    assert lower(anonymous_write)["access-control-allow-origin"] == VIEWER
    # Refused at authentication, before the gateway ever looked at the bucket.
    signed = sign(
        "GET",
        url,
        access_key="AKIANOSUCHKEY0000000",
        secret_key="whatever",
        headers={"Origin": VIEWER},
    )
    unknown_key = send("GET", url, headers=signed)
    assert unknown_key.status == 403
    assert b"<Code>InvalidAccessKeyId</Code>" in unknown_key.body
    assert lower(unknown_key)["access-control-allow-origin"] == VIEWER


def test_no_grant_for_other_origins_or_without_origin(cors_gateway: GatewayProcess) -> None:
    url = f"{cors_gateway.url}/viewer/hello.txt"
    other = send("GET", url, headers={"Origin": EVIL})
    assert other.status == 200
    assert cors_headers(other) == {}
    plain = send("GET", url)
    assert plain.status == 200
    assert cors_headers(plain) == {}
    assert "vary" not in lower(plain)


def test_options_without_request_method_is_still_not_implemented(
    cors_gateway: GatewayProcess,
) -> None:
    response = send("OPTIONS", f"{cors_gateway.url}/viewer/hello.txt")
    assert response.status == 501
    assert b"<Code>NotImplemented</Code>" in response.body
