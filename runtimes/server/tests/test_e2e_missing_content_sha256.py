"""Header-signed SigV4 without ``x-amz-content-sha256`` (issue #8 defect 14), with real curl.

S3 requires the header; generic SigV4 signers (``curl --aws-sigv4``, botocore's ``SigV4Auth``)
leave it out and sign the body's SHA-256. The gateway verifies that hash where it knows the
body before reading it (no body at all) and otherwise answers 400 naming the header, never a
misleading ``SignatureDoesNotMatch``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from multistore.testing.gateway import GatewayProcess
from multistore.testing.signing import send
from multistore.testing.tools import debian_tool

from .conftest import FULL, BackendUnderTest


@pytest.fixture(scope="session")
def curl() -> str:
    return debian_tool("curl", "curl")


def run_curl(curl: str, url: str, *args: str) -> tuple[int, bytes]:
    """``curl --aws-sigv4`` as a user would type it; returns the status and the body."""
    command = [
        curl, "--silent", "--show-error", "--max-time", "30",
        "--aws-sigv4", "aws:amz:us-east-1:s3", "--user", f"{FULL[0]}:{FULL[1]}",
        "--write-out", "\n%{http_code}", *args, url,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, timeout=60, check=True)
    body, _, status = done.stdout.rpartition(b"\n")
    return int(status), body


def object_url(gateway: GatewayProcess, bucket: str, key: str) -> str:
    return f"{gateway.url}/{bucket}/{quote(key)}"


def test_curl_sigv4_reads_and_deletes_without_the_header(
    curl: str, gateway: GatewayProcess, full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    key = f"{unique}hello.txt"
    full_client.put_object(Bucket=backend.data, Key=key, Body=b"hello curl")
    url = object_url(gateway, backend.data, key)
    assert run_curl(curl, url) == (200, b"hello curl")
    status, _ = run_curl(curl, url, "--head")
    assert status == 200
    listing_url = f"{gateway.url}/{backend.data}?prefix={quote(unique, safe='')}"
    listing_status, listing = run_curl(curl, listing_url)
    assert listing_status == 200
    assert f"<Key>{key}</Key>".encode() in listing
    assert run_curl(curl, url, "--request", "DELETE")[0] == 204
    with pytest.raises(ClientError):
        full_client.head_object(Bucket=backend.data, Key=key)


def test_curl_sigv4_upload_without_the_header_is_refused_naming_it(
    curl: str,
    gateway: GatewayProcess,
    full_client: Any,
    backend: BackendUnderTest,
    unique: str,
    tmp_path: Path,
) -> None:
    key = f"{unique}upload.bin"
    source = tmp_path / "upload.bin"
    source.write_bytes(b"\x00binary upload\xff" * 100)
    url = object_url(gateway, backend.data, key)
    status, body = run_curl(
        curl,
        url,
        "--upload-file",
        str(source),
        "--header",
        "Content-Type: application/octet-stream",
    )
    assert status == 400
    assert b"<Code>InvalidRequest</Code>" in body
    assert b"x-amz-content-sha256" in body
    with pytest.raises(ClientError):
        full_client.head_object(Bucket=backend.data, Key=key)

    # The remedy the message points at: send the header (curl then signs it).
    status, _ = run_curl(
        curl,
        url,
        "--upload-file",
        str(source),
        "--header",
        "Content-Type: application/octet-stream",
        "--header",
        "x-amz-content-sha256: UNSIGNED-PAYLOAD",
    )
    assert status == 200
    got = full_client.get_object(Bucket=backend.data, Key=key)["Body"].read()
    assert got == source.read_bytes()


def generic_sign(method: str, url: str, body: bytes = b"") -> dict[str, str]:
    """botocore's plain SigV4 signer: no x-amz-content-sha256, the body's hash signed."""
    request = AWSRequest(method=method, url=url, data=body)
    botocore.auth.SigV4Auth(Credentials(*FULL), "s3", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    assert "X-Amz-Content-SHA256" not in headers
    return headers


def test_botocore_generic_signer_without_the_header(
    gateway: GatewayProcess, full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    key = f"{unique}generic.txt"
    full_client.put_object(Bucket=backend.data, Key=key, Body=b"generic")
    url = object_url(gateway, backend.data, key)
    got = send("GET", url, headers=generic_sign("GET", url))
    assert (got.status, got.body) == (200, b"generic")

    body = b"replacement"
    refused = send(
        "PUT",
        url,
        headers={**generic_sign("PUT", url, body), "Content-Type": "text/plain"},
        body=body,
    )
    assert refused.status == 400
    assert b"Missing required header for this request: x-amz-content-sha256" in refused.body
    assert full_client.get_object(Bucket=backend.data, Key=key)["Body"].read() == b"generic"
