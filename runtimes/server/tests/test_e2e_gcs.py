"""What only the ``gcs`` kind has: a 64 MiB multipart object composed on the store, the
service-account token flow, and the store's names kept out of client-facing errors.

Everything else the gcs backend does is proven by the parameterised suite (``[gcs]``).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from multistore.testing.aws_cli import run_aws_cli
from multistore.testing.gateway import GatewayProcess, running_gateway
from multistore.testing.runtimes import FIVE_MIB_PARTS
from multistore.testing.signing import send, sign

from .backend_gcs import GCS_BUCKETS, GcsUnderTest
from .conftest import ALL_ACTIONS, FULL

MiB = 1 << 20


@pytest.mark.server_only(reason=FIVE_MIB_PARTS)
def test_a_64_mib_multipart_object_is_byte_exact(
    full_client: Any, gcs_backend_under_test: GcsUnderTest, unique: str, tmp_path: Path
) -> None:
    gcs = gcs_backend_under_test
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(64 * MiB))
    key = f"{unique}sixty-four.bin"
    eight = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB)
    full_client.upload_file(str(source), gcs.data, key, Config=eight)
    head = full_client.head_object(Bucket=gcs.data, Key=key)
    assert head["ContentLength"] == 64 * MiB
    # S3's multipart ETag: the MD5 of the eight part MD5s, then "-8".
    data = source.read_bytes()
    part_md5s = b"".join(
        hashlib.md5(data[i : i + 8 * MiB]).digest() for i in range(0, len(data), 8 * MiB)
    )
    assert head["ETag"] == f'"{hashlib.md5(part_md5s).hexdigest()}-8"'
    assert hashlib.sha256(gcs.get_raw(gcs.data, key)).digest() == hashlib.sha256(data).digest()
    got = full_client.get_object(Bucket=gcs.data, Key=key)["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    # Part reads follow the recorded part sizes (parallel downloaders rely on them).
    part = full_client.get_object(Bucket=gcs.data, Key=key, PartNumber=3)
    assert (part["PartsCount"], part["ContentRange"]) == (
        8,
        f"bytes {16 * MiB}-{24 * MiB - 1}/{64 * MiB}",
    )
    # Nothing of the upload stays staged on the store.
    assert full_client.list_multipart_uploads(Bucket=gcs.data, Prefix=unique).get("Uploads") is None
    staged = gcs.emulator.keys(GCS_BUCKETS[gcs.data], prefix=".multistore-uploads/")
    assert not any(
        (gcs.emulator.describe(GCS_BUCKETS[gcs.data], name) or {}).get("metadata", {}).get("key")
        == key
        for name in staged
    )


def test_the_gateway_authenticates_with_the_service_account(
    full_client: Any, gcs_backend_under_test: GcsUnderTest, unique: str
) -> None:
    gcs = gcs_backend_under_test
    tokens = gcs.tokens

    def gateway_exchanges() -> int:
        return sum(agent.startswith("multistore/") for agent in tokens.issued_to)

    full_client.put_object(Bucket=gcs.data, Key=f"{unique}warm", Body=b"w")
    exchanged = gateway_exchanges()
    assert exchanged >= 1  # the gateway obtained its token from the key's token_uri
    for n in range(10):
        full_client.put_object(Bucket=gcs.data, Key=f"{unique}{n}", Body=b"%d" % n)
        assert full_client.get_object(Bucket=gcs.data, Key=f"{unique}{n}")["Body"].read() == (
            b"%d" % n
        )
    # Every assertion the gateway signed was accepted, and the cached token served every
    # request since: no further exchange.
    assert not [agent for agent in tokens.refused_to if agent.startswith("multistore/")]
    assert gateway_exchanges() == exchanged


def test_errors_never_name_the_store(
    gateway: GatewayProcess, full_client: Any, gcs_backend_under_test: GcsUnderTest, unique: str
) -> None:
    gcs = gcs_backend_under_test
    secrets = [GCS_BUCKETS[gcs.data], gcs.emulator.endpoint, str(gcs.emulator.port), "googleapis"]
    with pytest.raises(ClientError) as missing:
        full_client.get_object(Bucket=gcs.data, Key=f"{unique}missing")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"
    # A name the emulator cannot store breaks its connection: the store failed, and the
    # client learns that without learning where the store is.
    url = f"{gateway.url}/{gcs.data}/{quote(unique)}a/../b"
    failed = send(
        "PUT",
        url,
        headers=sign("PUT", url, access_key=FULL[0], secret_key=FULL[1], body=b"x"),
        body=b"x",
    )
    assert failed.status == 503
    for body in (failed.body, str(missing.value.response).encode()):
        for secret in secrets:
            assert secret.encode() not in body


def test_response_overrides_and_expires(
    full_client: Any, gcs_backend_under_test: GcsUnderTest, unique: str
) -> None:
    gcs = gcs_backend_under_test
    key = f"{unique}report.csv"
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    full_client.put_object(
        Bucket=gcs.data, Key=key, Body=b"a,b\n", ContentType="text/csv", Expires=expires,
        ContentEncoding="identity", Metadata={"Owner": "ops"},
    )  # fmt: skip
    stored = gcs.emulator.describe(GCS_BUCKETS[gcs.data], key) or {}
    # On the store: GCS's own fields and custom metadata, Expires as reserved metadata.
    assert (stored["contentType"], stored["contentEncoding"]) == ("text/csv", "identity")
    assert stored["metadata"]["owner"] == "ops"
    got = full_client.get_object(
        Bucket=gcs.data,
        Key=key,
        ResponseContentType="application/octet-stream",
        ResponseContentDisposition="attachment; filename=r.csv",
        ResponseCacheControl="no-store",
    )
    assert got["Body"].read() == b"a,b\n"
    assert got["ContentType"] == "application/octet-stream"
    assert got["ContentDisposition"] == "attachment; filename=r.csv"
    assert got["CacheControl"] == "no-store"
    assert got["Expires"] == expires
    assert got["Metadata"] == {"owner": "ops"}  # the reserved keys never show


def test_the_documented_emulator_config_serves_aws_cli(
    gcs_backend_under_test: GcsUnderTest, tmp_path: Path
) -> None:
    # The first TOML example of the gcs section of docs/backends.md, pointed at this
    # session's emulator, with one credential added: what a reader would run.
    docs = (Path(__file__).parents[3] / "docs" / "backends.md").read_text()
    section = docs[docs.index("## `gcs`") :]
    example = section[
        section.index("```toml") + len("```toml") : section.index("```\n", section.index("```toml"))
    ]
    emulator = gcs_backend_under_test.emulator
    toml = example.replace("http://127.0.0.1:9023", emulator.endpoint)
    emulator.create_bucket("scratch")
    config = tmp_path / "multistore.toml"
    config.write_text(
        toml
        + "\n[[credentials]]\n"
        + f'access_key_id = "{FULL[0]}"\nsecret_access_key = "{FULL[1]}"\n'
        + 'principal_name = "reader"\ncreated_at = "2024-01-01T00:00:00Z"\n'
        + '[[credentials.allowed_scopes]]\nbucket = "scratch"\nprefixes = []\n'
        + 'actions = ["get_object", "put_object", "list_bucket", "delete_object"]\n'
    )
    (tmp_path / "hello.txt").write_bytes(b"hello from the docs\n")
    with running_gateway(config, tmp_path / "run") as gateway:
        copied = run_aws_cli(gateway, "s3", "cp", "hello.txt", "s3://scratch/docs/hello.txt",
                             credentials=FULL, cwd=tmp_path)  # fmt: skip
        assert copied.returncode == 0, copied.stderr
        listed = run_aws_cli(
            gateway, "s3", "ls", "s3://scratch/docs/", credentials=FULL, cwd=tmp_path
        )
        assert "hello.txt" in listed.stdout, listed.stderr
    assert emulator.get("scratch", "docs/hello.txt") == b"hello from the docs\n"


class _Recorder(BaseHTTPRequestHandler):
    """Forwards every request to the emulator and remembers its method and target."""

    upstream: tuple[str, int]
    seen: list[str]

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        self.seen.append(f"{self.command} {self.path}")
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
        finally:
            connection.close()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_conditional_writes_reach_gcs_as_generation_preconditions(
    gcs_backend_under_test: GcsUnderTest, tmp_path: Path
) -> None:
    # The emulator ignores ifGenerationMatch, so what makes conditional writes atomic on GCS
    # is shown on the wire instead: a recording proxy between the gateway and the emulator.
    emulator = gcs_backend_under_test.emulator
    emulator.create_bucket("preconditions")
    seen: list[str] = []
    handler = type(
        "Recorder", (_Recorder,), {"upstream": ("127.0.0.1", emulator.port), "seen": seen}
    )
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    everything = {"bucket": "*", "prefixes": [], "actions": ALL_ACTIONS}
    config = {
        "buckets": [{"name": "wired", "backend_type": "gcs", "anonymous_access": False,
                     "backend_options": {"bucket_name": "preconditions", "skip_signature": "true",
                                         "endpoint": f"http://127.0.0.1:{proxy.server_address[1]}"}}],
        "credentials": [{"access_key_id": FULL[0], "secret_access_key": FULL[1],
                         "principal_name": "full", "created_at": "2024-01-01T00:00:00Z",
                         "allowed_scopes": [everything]}],
    }  # fmt: skip
    try:
        with running_gateway(config, tmp_path / "run") as gateway:
            client = gateway.client(*FULL)
            client.put_object(Bucket="wired", Key="k", Body=b"one", IfNoneMatch="*")
            uploads = [line for line in seen if line.startswith("POST /upload/")]
            assert "ifGenerationMatch=0" in uploads[-1]
            generation = (emulator.describe("preconditions", "k") or {})["generation"]
            etag = client.head_object(Bucket="wired", Key="k")["ETag"]
            client.put_object(Bucket="wired", Key="k", Body=b"two", IfMatch=etag)
            uploads = [line for line in seen if line.startswith("POST /upload/")]
            assert f"ifGenerationMatch={generation}" in uploads[-1]
            generation = (emulator.describe("preconditions", "k") or {})["generation"]
            assert client.get_object(Bucket="wired", Key="k")["Body"].read() == b"two"
            media = [line for line in seen if "alt=media" in line]
            assert f"ifGenerationMatch={generation}" in media[-1]  # bytes of that generation
            etag = client.head_object(Bucket="wired", Key="k")["ETag"]
            client.delete_object(Bucket="wired", Key="k", IfMatch=etag)
            deletes = [line for line in seen if line.startswith("DELETE ")]
            assert f"ifGenerationMatch={generation}" in deletes[-1]
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(timeout=10)
