"""Issue #15: the red team's attacks, each replayed as a raw request against a real gateway.

Every test sends what the attacker sent (hand-built, really signed by botocore where a
signature is involved) and checks the answer the gateway now gives.
"""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from multistore.server.demo import DEMO_ACCESS_KEY_ID, DEMO_BUCKET, DEMO_SECRET_ACCESS_KEY
from multistore.testing.gateway import GatewayProcess, running_gateway
from multistore.testing.signing import send, sign

from .conftest import FULL, PREFIXED, BackendUnderTest, gateway_config

DOMAIN = "s3.test"
NOT_SIGNED = b"There were headers present in the request which were not signed"


@pytest.fixture(scope="module")
def vgateway(
    backends_under_test: list[BackendUnderTest],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    """The suite's buckets behind virtual hosts of ``s3.test``, with no --max-object-size."""
    config = gateway_config(backends_under_test)
    with running_gateway(
        config, tmp_path_factory.mktemp("vhost-gateway"), args=["--domain", DOMAIN]
    ) as process:
        yield process


def _local(gateway: GatewayProcess) -> str:
    return gateway.url.split("://", 1)[1]


def _vhost_url(gateway: GatewayProcess, bucket: str, path: str) -> str:
    port = gateway.url.rsplit(":", 1)[1]
    return f"http://{bucket}.{DOMAIN}:{port}{path}"


def _code(body: bytes) -> str:
    return body.split(b"<Code>", 1)[1].split(b"</Code>", 1)[0].decode() if b"<Code>" in body else ""


# --- 1. unsigned x-amz-* headers --------------------------------------------------------------


def test_attack_unsigned_copy_source_header_on_presigned_put_is_refused(
    gateway: GatewayProcess, full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    secret = f"{unique}secret/s.txt"
    full_client.put_object(Bucket=backend.data, Key=secret, Body=b"top secret")
    admin = gateway.client(*FULL, signature_version="s3v4")
    target = f"allowed/{unique}upload1"
    url = admin.generate_presigned_url(
        "put_object", Params={"Bucket": backend.data, "Key": target}, ExpiresIn=300
    )
    attack = send(
        "PUT", url, headers={"x-amz-copy-source": f"{backend.data}/{secret}", "Content-Length": "0"}
    )
    assert attack.status == 403, attack.body
    assert _code(attack.body) == "AccessDenied"
    assert NOT_SIGNED in attack.body
    assert b"<HeadersNotSigned>x-amz-copy-source</HeadersNotSigned>" in attack.body
    with pytest.raises(ClientError):
        full_client.head_object(Bucket=backend.data, Key=target)
    # The URL itself still works for what it was signed for.
    assert send("PUT", url, body=b"honest").status == 200


def test_attack_unsigned_copy_source_header_on_header_signed_put_is_refused(
    gateway: GatewayProcess, full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    secret = f"{unique}secret/s.txt"
    full_client.put_object(Bucket=backend.data, Key=secret, Body=b"top secret")
    url = f"{gateway.url}/{backend.data}/allowed/{unique}upload1"
    # Signed over host;x-amz-content-sha256;x-amz-date only.
    headers = sign("PUT", url, access_key=FULL[0], secret_key=FULL[1])
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date" in headers["Authorization"]
    headers["x-amz-copy-source"] = f"{backend.data}/{secret}"
    attack = send("PUT", url, headers={**headers, "Content-Length": "0"})
    assert attack.status == 403, attack.body
    assert NOT_SIGNED in attack.body
    with pytest.raises(ClientError):
        full_client.head_object(Bucket=backend.data, Key=f"allowed/{unique}upload1")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("x-amz-metadata-directive", "REPLACE"),
        ("x-amz-meta-injected", "evil"),
        ("x-amz-acl", "private"),
        ("x-amz-storage-class", "STANDARD"),
    ],
)
def test_attack_unsigned_amz_header_added_to_header_signed_put_is_refused(
    gateway: GatewayProcess, backend: BackendUnderTest, unique: str, name: str, value: str
) -> None:
    url = f"{gateway.url}/{backend.data}/{unique}object.txt"
    headers = sign("PUT", url, access_key=FULL[0], secret_key=FULL[1], body=b"data")
    attack = send("PUT", url, headers={**headers, name: value}, body=b"data")
    assert attack.status == 403, attack.body
    assert f"<HeadersNotSigned>{name}</HeadersNotSigned>".encode() in attack.body
    # Signed, the same header is fine.
    signed = sign(
        "PUT", url, access_key=FULL[0], secret_key=FULL[1], body=b"data", headers={name: value}
    )
    assert send("PUT", url, headers=signed, body=b"data").status == 200


def test_attack_unsigned_content_md5_on_header_signed_put_is_refused(
    gateway: GatewayProcess, backend: BackendUnderTest, unique: str
) -> None:
    body = b"<p>hello</p>"
    url = f"{gateway.url}/{backend.data}/{unique}page.html"
    headers = sign("PUT", url, access_key=FULL[0], secret_key=FULL[1], body=body)
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    attack = send("PUT", url, headers={**headers, "Content-MD5": md5}, body=body)
    assert attack.status == 403, attack.body
    assert b"<HeadersNotSigned>content-md5</HeadersNotSigned>" in attack.body
    # Content-Type may stay unsigned, as S3 allows: aws-sdk-js v2 never signs it.
    js_v2_style = send("PUT", url, headers={**headers, "Content-Type": "text/html"}, body=body)
    assert js_v2_style.status == 200, js_v2_style.body


def test_minimal_signer_with_unsigned_transport_headers_is_accepted(
    gateway: GatewayProcess, full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    # rclone, DuckDB and GDAL sign host, x-amz-content-sha256 and x-amz-date (plus the
    # x-amz-* headers they send) and leave transport and content headers unsigned.
    key = f"{unique}minimal.txt"
    url = f"{gateway.url}/{backend.data}/{key}"
    headers = sign("PUT", url, access_key=FULL[0], secret_key=FULL[1], body=b"minimal")
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date" in headers["Authorization"]
    unsigned = {
        "User-Agent": "rclone/v1.68",
        "Content-Type": "text/plain",
        "Accept-Encoding": "gzip",
    }
    assert send("PUT", url, headers={**headers, **unsigned}, body=b"minimal").status == 200
    read = sign("GET", url, access_key=FULL[0], secret_key=FULL[1])
    got = send("GET", url, headers={**read, "Range": "bytes=0-2", "User-Agent": "duckdb"})
    assert (got.status, got.body) == (206, b"min")


def test_presigned_urls_from_boto3_keep_working_with_their_own_headers(
    gateway: GatewayProcess, full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    admin = gateway.client(*FULL, signature_version="s3v4")
    key = f"{unique}meta.txt"
    url = admin.generate_presigned_url(
        "put_object",
        Params={"Bucket": backend.data, "Key": key, "Metadata": {"colour": "blue"}},
        ExpiresIn=300,
    )
    # boto3 signs x-amz-meta-colour as a header: the upload must send it, and may.
    sent = send("PUT", url, headers={"x-amz-meta-colour": "blue"}, body=b"m")
    assert sent.status == 200, sent.body
    assert full_client.head_object(Bucket=backend.data, Key=key)["Metadata"] == {"colour": "blue"}
    # A browser adds a Content-Type of its own to a presigned PUT; S3 allows that unsigned.
    plain = admin.generate_presigned_url(
        "put_object", Params={"Bucket": backend.data, "Key": key}, ExpiresIn=300
    )
    assert send("PUT", plain, headers={"Content-Type": "image/png"}, body=b"png").status == 200
    # An x-amz-* value carried in the query is covered by the signature.
    query_signed = admin.generate_presigned_url(
        "get_object", Params={"Bucket": backend.data, "Key": key}, ExpiresIn=300
    )
    assert send("GET", query_signed).body == b"png"


def test_sigv2_presigned_put_with_added_copy_source_fails_its_signature(
    gateway: GatewayProcess, full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    secret = f"{unique}secret/s.txt"
    full_client.put_object(Bucket=backend.data, Key=secret, Body=b"top secret")
    # SigV2 signs every x-amz-* header of the request, so no extra rule is needed there.
    url = gateway.client(*FULL).generate_presigned_url(
        "put_object", Params={"Bucket": backend.data, "Key": f"{unique}v2.txt"}, ExpiresIn=300
    )
    assert "Signature=" in url
    assert "X-Amz-Signature" not in url
    attack = send(
        "PUT", url, headers={"x-amz-copy-source": f"{backend.data}/{secret}", "Content-Length": "0"}
    )
    assert (attack.status, _code(attack.body)) == (403, "SignatureDoesNotMatch")


# --- 2. host not signed -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_attack_request_signed_without_host_replayed_to_another_bucket_is_refused(
    vgateway: GatewayProcess, full_client: Any, backend: BackendUnderTest, unique: str, method: str
) -> None:
    key = f"{unique}victim.txt"
    full_client.put_object(Bucket=backend.data, Key=key, Body=b"victim")
    signed_for = _vhost_url(vgateway, backend.public, f"/{key}")
    headers = sign(
        method, signed_for, access_key=FULL[0], secret_key=FULL[1], leave_unsigned=["host"]
    )
    assert "SignedHeaders=x-amz-content-sha256;x-amz-date" in headers["Authorization"]
    replayed = _vhost_url(vgateway, backend.data, f"/{key}")
    headers["Host"] = urlsplit(replayed).netloc
    attack = send(method, replayed, headers=headers, connect_to=_local(vgateway))
    assert attack.status == 403, attack.body
    assert b"<HeadersNotSigned>host</HeadersNotSigned>" in attack.body
    assert full_client.get_object(Bucket=backend.data, Key=key)["Body"].read() == b"victim"


# --- 3. upload ids bound to their key -----------------------------------------------------------


def test_attack_foreign_upload_id_under_own_key_is_refused(
    gateway: GatewayProcess, full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    victim_key = f"{unique}secret/mp3"
    upload = full_client.create_multipart_upload(Bucket=backend.data, Key=victim_key)["UploadId"]
    victim_part = full_client.upload_part(
        Bucket=backend.data, Key=victim_key, UploadId=upload, PartNumber=1, Body=b"victim"
    )
    own_key = f"allowed/{unique}mp3"
    base = f"{gateway.url}/{backend.data}/{own_key}"

    def attack(method: str, query: str, body: bytes = b"") -> tuple[int, str]:
        url = f"{base}?{query}"
        headers = sign(method, url, access_key=PREFIXED[0], secret_key=PREFIXED[1], body=body)
        response = send(method, url, headers=headers, body=body)
        return response.status, _code(response.body)

    assert attack("PUT", f"partNumber=2&uploadId={upload}", b"evil") == (404, "NoSuchUpload")
    assert attack("GET", f"uploadId={upload}") == (404, "NoSuchUpload")
    complete = (
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
        f"<ETag>{victim_part['ETag']}</ETag></Part></CompleteMultipartUpload>"
    ).encode()
    assert attack("POST", f"uploadId={upload}", complete) == (404, "NoSuchUpload")
    assert attack("DELETE", f"uploadId={upload}") == (404, "NoSuchUpload")
    with pytest.raises(ClientError):
        full_client.head_object(Bucket=backend.data, Key=victim_key)
    # The owner's upload is untouched and completes.
    parts = full_client.list_parts(Bucket=backend.data, Key=victim_key, UploadId=upload)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1]
    full_client.complete_multipart_upload(
        Bucket=backend.data,
        Key=victim_key,
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": victim_part["ETag"]}]},
    )
    assert full_client.get_object(Bucket=backend.data, Key=victim_key)["Body"].read() == b"victim"


# --- 5. invalid UTF-8 in the path ---------------------------------------------------------------


@pytest.mark.parametrize("raw", ["%FF", "%C0%AF", "%ED%A0%80", "dir/%FF/x"])
def test_attack_invalid_utf8_path_is_400_invalid_uri(gateway: GatewayProcess, raw: str) -> None:
    response = send("GET", f"{gateway.url}/s3-public/{raw}")
    assert response.status == 400, response.body
    assert _code(response.body) == "InvalidURI"
    assert response.headers.get("Content-Type") == "application/xml"
    assert f"<Resource>/s3-public/{raw}</Resource>".encode() in response.body


# --- 6. tidy-ups ---------------------------------------------------------------------------------


def test_attack_backend_error_resource_hides_backend_prefix(
    gateway: GatewayProcess, backend: BackendUnderTest, unique: str
) -> None:
    url = f"{gateway.url}/{backend.prefixed}/{unique}missing.txt"
    response = send("GET", url, headers=sign("GET", url, access_key=FULL[0], secret_key=FULL[1]))
    assert (response.status, _code(response.body)) == (404, "NoSuchKey")
    assert f"<Resource>/{backend.prefixed}/{unique}missing.txt</Resource>".encode() in response.body
    assert b"team/a" not in response.body


def test_unsatisfiable_range_is_416_with_content_range_on_every_backend(
    gateway: GatewayProcess, full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    key = f"{unique}ten.bin"
    full_client.put_object(Bucket=backend.data, Key=key, Body=b"0123456789")
    url = f"{gateway.url}/{backend.data}/{key}"
    headers = sign("GET", url, access_key=FULL[0], secret_key=FULL[1])
    response = send("GET", url, headers={**headers, "Range": "bytes=100-200"})
    assert (response.status, _code(response.body)) == (416, "InvalidRange")
    assert response.headers.get("Content-Range") == "bytes */10"


@pytest.mark.parametrize(
    "value", ["bytes=5-1", "items=0-1", "bytes=0-1,4-5", "bytes=x-y", "bytes=-"]
)
def test_range_syntax_s3_ignores_serves_the_whole_object_on_every_backend(
    gateway: GatewayProcess, full_client: Any, backend: BackendUnderTest, unique: str, value: str
) -> None:
    key = f"{unique}ten.bin"
    full_client.put_object(Bucket=backend.data, Key=key, Body=b"0123456789")
    url = f"{gateway.url}/{backend.data}/{key}"
    headers = sign("GET", url, access_key=FULL[0], secret_key=FULL[1])
    response = send("GET", url, headers={**headers, "Range": value})
    assert (response.status, response.body) == (200, b"0123456789")
    assert "Content-Range" not in response.headers


def test_virtual_host_matching_ignores_case(
    vgateway: GatewayProcess, full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    full_client.put_object(Bucket=backend.public, Key=f"{unique}open.txt", Body=b"open")
    url = _vhost_url(vgateway, backend.public.upper(), f"/{unique}open.txt").replace(
        DOMAIN, DOMAIN.upper()
    )
    response = send("GET", url, connect_to=_local(vgateway))
    assert (response.status, response.body) == (200, b"open")


def test_client_caused_backend_400_is_passed_through_not_502(
    gateway: GatewayProcess, unique: str
) -> None:
    # moto refuses an object-lock legal hold without Content-MD5 with a 400 whose code the
    # gateway has no class for; it describes the caller's request, so the caller sees it.
    url = f"{gateway.url}/s3-prefixed/{unique}locked.txt"
    headers = sign(
        "PUT",
        url,
        access_key=FULL[0],
        secret_key=FULL[1],
        body=b"x",
        headers={"x-amz-object-lock-legal-hold": "ON"},
    )
    response = send("PUT", url, headers=headers, body=b"x")
    assert response.status == 400, response.body
    assert _code(response.body) == "MissingUploadObjectWithObjectLockHeaders"
    assert b"backend-shared" not in response.body
    assert b"team/a" not in response.body


def test_attack_duplicated_presigned_signature_is_refused(
    gateway: GatewayProcess, full_client: Any, unique: str
) -> None:
    full_client.put_object(Bucket="s3-data", Key=f"{unique}x.txt", Body=b"x")
    admin = gateway.client(*FULL, signature_version="s3v4")
    url = admin.generate_presigned_url(
        "get_object", Params={"Bucket": "s3-data", "Key": f"{unique}x.txt"}, ExpiresIn=300
    )
    assert send("GET", url).status == 200
    for extra in ("&X-Amz-Signature=" + "0" * 64, "&X-Amz-Credential=AKIAOTHER/x"):
        response = send("GET", url + extra)
        assert (response.status, _code(response.body)) == (
            400,
            "AuthorizationQueryParametersError",
        ), extra
    v2 = gateway.client(*FULL).generate_presigned_url(
        "get_object", Params={"Bucket": "s3-data", "Key": f"{unique}x.txt"}, ExpiresIn=300
    )
    response = send("GET", v2 + "&Signature=AAAA")
    assert (response.status, _code(response.body)) == (400, "AuthorizationQueryParametersError")


def test_attack_invalid_utf8_query_value_is_refused(gateway: GatewayProcess) -> None:
    response = send("GET", f"{gateway.url}/s3-public?list-type=2&prefix=%FF")
    assert (response.status, _code(response.body)) == (400, "InvalidURI")


def test_attack_declared_huge_put_to_s3_bucket_fails_at_once(vgateway: GatewayProcess) -> None:
    # No --max-object-size on this gateway: S3's own 5 GiB single-PUT limit applies.
    six_tib = str(6 << 40)
    url = f"{vgateway.url}/s3-data/huge.bin"
    headers = sign(
        "PUT",
        url,
        access_key=FULL[0],
        secret_key=FULL[1],
        headers={"Content-Length": six_tib},
        payload_hash="UNSIGNED-PAYLOAD",
    )
    parts = urlsplit(vgateway.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        lines = ["PUT /s3-data/huge.bin HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "host"]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        sock.sendall(b"x" * 1024)  # a client that starts sending without waiting
        first = sock.recv(65536).decode(errors="replace")
    assert first.startswith("HTTP/1.1 400"), first[:300]
    assert "<Code>EntityTooLarge</Code>" in first


# --- 4. SIGTERM while an upload is still arriving ------------------------------------------------


def test_attack_sigterm_during_slow_upload_lets_it_finish(tmp_path: Path) -> None:
    size = 4 << 20
    with running_gateway(None, tmp_path, args=["--shutdown-timeout", "15"]) as gateway:
        url = f"{gateway.url}/{DEMO_BUCKET}/drained.bin"
        headers = sign(
            "PUT",
            url,
            access_key=DEMO_ACCESS_KEY_ID,
            secret_key=DEMO_SECRET_ACCESS_KEY,
            headers={"Content-Length": str(size)},
            payload_hash="UNSIGNED-PAYLOAD",
        )
        parts = urlsplit(gateway.url)
        with socket.create_connection((parts.hostname, parts.port), timeout=20) as sock:
            lines = [f"PUT /{DEMO_BUCKET}/drained.bin HTTP/1.1", f"Host: {parts.netloc}"]
            lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "host"]
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            sock.sendall(b"a" * (1 << 20))
            time.sleep(0.3)  # the handler is now reading the body
            os.kill(gateway.pid, signal.SIGTERM)
            time.sleep(0.5)  # the gateway is draining
            for _ in range(6):  # a slow uploader: the rest trickles in after the signal
                sock.sendall(b"b" * ((size - (1 << 20)) // 6))
                time.sleep(0.1)
            sock.sendall(b"c" * ((size - (1 << 20)) % 6))
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
        assert b"Connection: close" in answer
        stored = tmp_path / "data" / DEMO_BUCKET / "drained.bin"
        assert stored.stat().st_size == size
        assert _wait_until(
            lambda: "op=PutObject" in gateway.log() and "status=200" in gateway.log()
        )


def _wait_until(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
