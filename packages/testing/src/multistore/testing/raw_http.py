"""Raw HTTP over plain sockets: half-sent requests, abandoned transfers, idle connections.

What a well-behaved client library cannot do on purpose, and what timeouts, connection
caps and the access log of aborted transfers must be tested with.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import urlsplit


def connect(url: str, *, timeout: float = 10.0) -> socket.socket:
    """A TCP connection to the ``http://host:port`` of ``url``."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout)


def request_head(
    method: str, url: str, headers: Mapping[str, str] | None = None, *, version: str = "1.1"
) -> bytes:
    """The request line and headers of a request to ``url``, ready to send."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/{version}"]
    given = {name.lower() for name in (headers or {})}
    if "host" not in given:
        lines.append(f"Host: {parts.netloc}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_until_closed(sock: socket.socket, *, timeout: float) -> tuple[bytes, bool]:
    """Everything the peer sends until it closes (``True``) or ``timeout`` passes (``False``)."""
    sock.settimeout(timeout)
    received = bytearray()
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return bytes(received), True
            received += chunk
    except ConnectionResetError:
        return bytes(received), True
    except TimeoutError:
        return bytes(received), False


def read_response_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The response head (up to the blank line) and whatever body bytes came with it."""
    data = bytearray()
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response head: {bytes(data)!r}")
        data += chunk
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    return head, rest


@contextmanager
def dying_backend(*, declared: int, sent: int) -> Iterator[str]:
    """An HTTP server that answers every request with ``200``, a ``Content-Length`` of
    ``declared`` bytes, then sends ``sent`` of them and drops the connection: a backend
    killed in the middle of a download. Yields its ``http://127.0.0.1:port`` endpoint.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                request = b""
                try:
                    while b"\r\n\r\n" not in request:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        request += chunk
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                        + f'Content-Length: {declared}\r\nETag: "dying"\r\n\r\n'.encode()
                        + b"d" * sent
                    )
                except OSError:
                    continue

    thread = threading.Thread(target=serve, name="dying-backend", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
