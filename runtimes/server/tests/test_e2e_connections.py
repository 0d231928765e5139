"""Connection limits on raw sockets: header, keep-alive and body timeouts, and the cap."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from multistore.server.demo import DEMO_ACCESS_KEY_ID, DEMO_BUCKET, DEMO_SECRET_ACCESS_KEY
from multistore.testing.gateway import GatewayProcess, running_gateway
from multistore.testing.raw_http import connect, read_response_head, read_until_closed, request_head
from multistore.testing.signing import send, sign

HEADER, KEEPALIVE, BODY = 1.0, 2.5, 1.0


@pytest.fixture(scope="module")
def strict_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    args = ["--header-timeout", str(HEADER), "--keepalive-timeout", str(KEEPALIVE)]
    with running_gateway(
        None,
        tmp_path_factory.mktemp("strict"),
        args=args,
        env={"MULTISTORE_BODY_TIMEOUT": str(BODY)},  # the variable works as the flag does
    ) as gateway:
        yield gateway


def closed_after(sock: socket.socket, *, limit: float) -> tuple[float, bytes]:
    """Seconds until the gateway closed ``sock``, and what it sent before that."""
    started = time.monotonic()
    received, closed = read_until_closed(sock, timeout=limit)
    assert closed, f"still open after {limit}s"
    return time.monotonic() - started, received


def test_half_a_request_line_is_cut_off_by_the_header_timeout(
    strict_gateway: GatewayProcess,
) -> None:
    with connect(strict_gateway.url) as sock:
        sock.sendall(b"GET /demo/READ")
        elapsed, received = closed_after(sock, limit=10)
    assert HEADER * 0.8 <= elapsed < HEADER + 2, elapsed
    assert received == b""


def test_a_trickled_head_is_cut_off_even_while_bytes_arrive(
    strict_gateway: GatewayProcess,
) -> None:
    head = request_head("GET", f"{strict_gateway.url}/demo/README.txt")
    with connect(strict_gateway.url) as sock:
        started = time.monotonic()
        try:
            for byte in head[:-4]:
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
                if time.monotonic() - started > HEADER + 3:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        received, closed = read_until_closed(sock, timeout=5)
    assert closed
    assert time.monotonic() - started < HEADER + 3
    assert received == b""


def test_a_silent_new_connection_is_closed_by_the_header_timeout(
    strict_gateway: GatewayProcess,
) -> None:
    with connect(strict_gateway.url) as sock:
        elapsed, _ = closed_after(sock, limit=10)
    assert HEADER * 0.8 <= elapsed < HEADER + 2, elapsed


def test_an_idle_kept_alive_connection_is_closed_by_the_keepalive_timeout(
    strict_gateway: GatewayProcess,
) -> None:
    with connect(strict_gateway.url) as sock:
        sock.sendall(request_head("GET", f"{strict_gateway.url}/.multistore/healthz"))
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        # Idle between requests the header timeout does not apply, the keep-alive one does.
        elapsed, _ = closed_after(sock, limit=10)
    assert KEEPALIVE * 0.8 <= elapsed < KEEPALIVE + 2, elapsed


def test_a_later_request_on_a_kept_alive_connection_gets_its_own_header_timeout(
    strict_gateway: GatewayProcess,
) -> None:
    with connect(strict_gateway.url) as sock:
        sock.sendall(request_head("GET", f"{strict_gateway.url}/.multistore/healthz"))
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        # Half a head, started after the first request's header deadline has passed: the
        # deadline that counts is this head's, not the connection's first one.
        time.sleep(HEADER * 0.6)
        sock.sendall(b"GET /demo/READ")
        elapsed, received = closed_after(sock, limit=10)
    assert HEADER * 0.8 <= elapsed < HEADER + 2, elapsed
    assert received == b""


def test_a_stalled_upload_gets_request_timeout(strict_gateway: GatewayProcess) -> None:
    url = f"{strict_gateway.url}/{DEMO_BUCKET}/stalled.bin"
    headers = sign(
        "PUT", url, access_key=DEMO_ACCESS_KEY_ID, secret_key=DEMO_SECRET_ACCESS_KEY,
        headers={"Content-Length": "1000"}, payload_hash="UNSIGNED-PAYLOAD",
    )  # fmt: skip
    with connect(strict_gateway.url) as sock:
        sock.sendall(request_head("PUT", url, headers) + b"x" * 100)
        elapsed, received = closed_after(sock, limit=10)
    assert BODY * 0.8 <= elapsed < BODY + 3, elapsed
    assert received.startswith(b"HTTP/1.1 400"), received[:200]
    assert b"<Code>RequestTimeout</Code>" in received
    assert "error=RequestTimeout in=100 " in strict_gateway.wait_for_log(
        "error=RequestTimeout in=100 "
    )
    assert send("GET", url).status == 404  # nothing half-written was kept


def test_connections_beyond_the_cap_are_refused_with_slowdown(tmp_path: Path) -> None:
    with running_gateway(None, tmp_path, args=["--max-connections", "3"]) as gateway:
        held = [connect(gateway.url) for _ in range(3)]
        try:
            time.sleep(0.2)  # let the gateway accept them
            with connect(gateway.url) as extra:
                received, closed = read_until_closed(extra, timeout=5)
            assert closed, (received, gateway.log())
            assert received.startswith(b"HTTP/1.1 503"), received
            assert b"<Code>SlowDown</Code>" in received
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.2)
        assert send("GET", f"{gateway.url}/.multistore/healthz").status == 200


def test_a_refused_upload_says_the_connection_will_close(strict_gateway: GatewayProcess) -> None:
    # Its body was never read: the connection cannot be reused, and the client must know
    # before it puts the connection back in its pool.
    url = f"{strict_gateway.url}/{DEMO_BUCKET}/refused.bin"
    with connect(strict_gateway.url) as sock:
        sock.sendall(request_head("PUT", url, {"Content-Length": "1000", "Expect": "100-continue"}))
        head, _ = read_response_head(sock)
    assert head.startswith(b"HTTP/1.1 403"), head
    assert b"Connection: close" in head
