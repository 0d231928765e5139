"""One access line per request however it ends, real byte counts, and quiet logs for
what is not the gateway's fault (client aborts, backend deaths, unsupported features)."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from multistore.testing.gateway import GatewayProcess, running_gateway
from multistore.testing.moto_backend import MotoS3
from multistore.testing.raw_http import (
    connect,
    dying_backend,
    read_response_head,
    request_head,
)
from multistore.testing.signing import send, sign

from .conftest import ALL_ACTIONS, FULL

OBJECT_SIZE = 8 << 20


@pytest.fixture(scope="module")
def logged_gateway(
    moto_s3: MotoS3, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    root = tmp_path_factory.mktemp("access-log-root")
    moto_s3.client().create_bucket(Bucket="access-log")
    with (
        dying_backend(declared=4 << 20, sent=100_000) as dying,
        dying_backend(declared=1000, sent=0) as silent,
    ):
        config = {
            "buckets": [
                {"name": "files", "backend_type": "file", "anonymous_access": True,
                 "backend_options": {"root": str(root)}},
                {"name": "moto", "backend_type": "s3", "anonymous_access": True,
                 "backend_options": moto_s3.backend_options("access-log")},
                {"name": "dying", "backend_type": "s3", "anonymous_access": True,
                 "backend_options": {"endpoint": dying, "bucket_name": "b",
                                     "access_key_id": "k", "secret_access_key": "s"}},
                {"name": "silent", "backend_type": "s3", "anonymous_access": True,
                 "backend_options": {"endpoint": silent, "bucket_name": "b",
                                     "access_key_id": "k", "secret_access_key": "s"}},
            ],
            "credentials": [
                {"access_key_id": FULL[0], "secret_access_key": FULL[1],
                 "principal_name": "full", "created_at": "2024-01-01T00:00:00Z",
                 "allowed_scopes": [{"bucket": "*", "prefixes": [], "actions": ALL_ACTIONS}]},
            ],
        }  # fmt: skip
        with running_gateway(config, tmp_path_factory.mktemp("access-log")) as gateway:
            yield gateway


def access_lines(gateway: GatewayProcess, needle: str) -> list[str]:
    return [
        line
        for line in gateway.log().splitlines()
        if "multistore.access" in line and needle in line
    ]


def field(line: str, name: str) -> str:
    match = re.search(rf"\b{name}=(\S+)", line)
    assert match, line
    return match.group(1)


def wait_for_lines(gateway: GatewayProcess, needle: str, count: int) -> list[str]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        lines = access_lines(gateway, needle)
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    return access_lines(gateway, needle)


def assert_no_tracebacks(gateway: GatewayProcess) -> None:
    log = gateway.log()
    assert "Traceback" not in log, log[-3000:]
    assert " ERROR " not in log, log[-3000:]


@pytest.mark.parametrize("bucket", ["files", "moto"])
def test_aborted_uploads_are_logged_once_each_with_the_bytes_read(
    logged_gateway: GatewayProcess, bucket: str
) -> None:
    declared, sent, uploads = 4 << 20, 1 << 20, 5
    for number in range(uploads):
        url = f"{logged_gateway.url}/{bucket}/aborted-upload-{number}.bin"
        headers = sign(
            "PUT", url, access_key=FULL[0], secret_key=FULL[1],
            headers={"Content-Length": str(declared)}, payload_hash="UNSIGNED-PAYLOAD",
        )  # fmt: skip
        with connect(logged_gateway.url) as sock:
            sock.sendall(request_head("PUT", url, headers))
            sock.sendall(b"u" * sent)
            time.sleep(0.1)  # let the gateway read what was sent before the line goes
    lines = wait_for_lines(logged_gateway, f"bucket={bucket} method=PUT", uploads)
    assert len(lines) == uploads, lines
    for line in lines:
        assert field(line, "status") == "499", line
        assert field(line, "error") == "ClientDisconnected", line
        assert field(line, "op") == "PutObject", line
        assert field(line, "identity") == "full", line
        assert 0 < int(field(line, "in")) <= sent, line
    assert_no_tracebacks(logged_gateway)


@pytest.mark.parametrize("bucket", ["files", "moto"])
def test_aborted_downloads_count_the_bytes_actually_sent(
    logged_gateway: GatewayProcess, bucket: str, tmp_path: Path
) -> None:
    key = "big-download.bin"
    put_url = f"{logged_gateway.url}/{bucket}/{key}"
    body = b"D" * OBJECT_SIZE
    headers = sign("PUT", put_url, access_key=FULL[0], secret_key=FULL[1], body=body)
    assert send("PUT", put_url, headers=headers, body=body).status == 200
    with connect(logged_gateway.url) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(request_head("GET", put_url))
        head, received = read_response_head(sock)
        assert head.startswith(b"HTTP/1.1 200"), head
        while len(received) < 1 << 20:
            received += sock.recv(65536)
    lines = wait_for_lines(logged_gateway, f"bucket={bucket} method=GET status=200", 1)
    assert len(lines) == 1, lines
    line = lines[0]
    assert field(line, "error") == "ClientDisconnected", line
    out = int(field(line, "out"))
    # What reached the socket: at least what the client read, less than the whole object
    # (socket buffers hold a few MiB at most).
    assert len(received) <= out < OBJECT_SIZE, line
    assert_no_tracebacks(logged_gateway)


def test_a_backend_dying_mid_download_is_logged_as_such(logged_gateway: GatewayProcess) -> None:
    with connect(logged_gateway.url) as sock:
        sock.sendall(request_head("GET", f"{logged_gateway.url}/dying/object.bin"))
        head, received = read_response_head(sock)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"Content-Length: 4194304" in head
        sock.settimeout(10)
        while chunk := sock.recv(65536):
            received += chunk
    # The client sees a short body and a closed connection, never a "complete" answer.
    assert len(received) == 100_000
    lines = wait_for_lines(logged_gateway, "bucket=dying method=GET", 1)
    assert len(lines) == 1, lines
    assert field(lines[0], "status") == "200"
    assert field(lines[0], "error") == "BackendDisconnected"
    assert field(lines[0], "out") == "100000"
    assert "backend stream broke after 100000 bytes" in logged_gateway.log()
    assert_no_tracebacks(logged_gateway)


def test_a_backend_dying_before_the_first_body_byte_still_sends_the_head(
    logged_gateway: GatewayProcess,
) -> None:
    # The gateway holds a head back to send it with the first body bytes; when none come,
    # the client must still get the head and then a closed connection, as a short body.
    with connect(logged_gateway.url) as sock:
        sock.sendall(request_head("GET", f"{logged_gateway.url}/silent/object.bin"))
        head, received = read_response_head(sock)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"Content-Length: 1000" in head
        sock.settimeout(10)
        while chunk := sock.recv(65536):
            received += chunk
    assert received == b""
    lines = wait_for_lines(logged_gateway, "bucket=silent method=GET", 1)
    assert len(lines) == 1, lines
    assert field(lines[0], "error") == "BackendDisconnected"
    assert field(lines[0], "out") == "0"
    assert_no_tracebacks(logged_gateway)


def test_unsupported_features_are_not_errors(logged_gateway: GatewayProcess) -> None:
    for _ in range(3):
        answer = send("GET", f"{logged_gateway.url}/files?versioning")
        assert answer.status == 501
    notes = [line for line in logged_gateway.log().splitlines() if "NotImplemented" in line]
    assert len(notes) >= 3
    assert all(" INFO " in line for line in notes), notes
    assert_no_tracebacks(logged_gateway)
