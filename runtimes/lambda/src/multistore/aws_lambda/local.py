"""``multistore-lambda-local --config F --listen H:P``: the handler served over HTTP.

Each HTTP request becomes a Function URL event (payload 2.0, path and query verbatim, body
base64), goes through :func:`multistore.aws_lambda.runtime.Container.invoke`, and the
answer dict goes back out as HTTP. Connections are served concurrently (a kept-alive
client never blocks another) but invocations run one at a time, as one Lambda execution
environment serves them. A chunked request body is read whole first, as the Function URL
front end does. Bodies over the Function URL limit are refused here with 413, as Lambda
refuses such invocations before the function runs.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from multistore.aws_lambda import limits
from multistore.aws_lambda.events import Shape
from multistore.aws_lambda.runtime import Container


def to_event(
    method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes, peer: str
) -> dict[str, Any]:
    """A Function URL event for one HTTP request, shaped as Lambda builds it."""
    path, _, query = target.partition("?")
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
        elif key in joined:
            joined[key] += f",{value}"
        else:
            joined[key] = value
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": joined,
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": peer},
            "domainName": joined.get("host", ""),
            "stage": "$default",
        },
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }
    if cookies:
        event["cookies"] = cookies
    return event


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    container: Invoker
    invocation: threading.Lock

    def _serve(self) -> None:
        try:
            body = self._read_body(limits.body_limit(Shape.FUNCTION_URL))
        except ValueError:
            self.send_error(400, "malformed body framing")
            self.close_connection = True
            return
        if body is None:
            return  # refused
        headers = [(name, _utf8(value)) for name, value in self.headers.items()]
        event = to_event(self.command, _utf8(self.path), headers, body, self.client_address[0])
        with self.invocation:
            answer = self.container.invoke(event)
        self._write(answer)

    def _read_body(self, limit: int) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            self._refuse(length)
            return None
        return self.rfile.read(length) if length else b""

    def handle_expect_100(self) -> bool:
        # An upload Lambda could not carry is refused before its body, not after.
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limits.body_limit(Shape.FUNCTION_URL):
            self._refuse(int(length))
            return False
        return super().handle_expect_100()

    def _read_chunked(self, limit: int) -> bytes | None:
        """The de-chunked body, or None once it has grown past ``limit`` (refused)."""
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > limit:
                self._refuse(total)
                return None
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _refuse(self, length: int) -> None:
        message = limits.too_large_upload(Shape.FUNCTION_URL, length)
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>EntityTooLarge</Code>'
            f"<Message>{message}</Message></Error>"
        ).encode()
        self.send_response(413)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(xml)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(xml)
        self.close_connection = True

    def _write(self, answer: dict[str, Any]) -> None:
        raw = answer.get("body") or ""
        body = base64.b64decode(raw) if answer.get("isBase64Encoded") else raw.encode()
        self.send_response_only(answer["statusCode"])
        headers: dict[str, str] = answer.get("headers") or {}
        for name, value in headers.items():
            # UTF-8 on the wire, as the server sends it (http.server would insist on Latin-1).
            self.send_header(name, value.encode("utf-8", "surrogateescape").decode("latin-1"))
        for cookie in answer.get("cookies") or ():
            self.send_header("Set-Cookie", cookie)
        framed = answer["statusCode"] in (204, 304) or any(
            name.lower() == "content-length" for name in headers
        )
        if not framed:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def _utf8(text: str) -> str:
    """Header and target bytes read as UTF-8, as Lambda's JSON events carry them (and as the
    server reads them); http.server hands them over read as Latin-1. Bytes that are no
    UTF-8 stay distinguishable (surrogate escapes), as in the server."""
    return text.encode("latin-1").decode("utf-8", "surrogateescape")


class Invoker(Protocol):
    def invoke(self, event: Mapping[str, Any]) -> dict[str, Any]: ...


def make_server(container: Invoker, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server (not yet serving) that hands every request to ``container``."""
    handler = type("Handler", (_Handler,), {"container": container, "invocation": threading.Lock()})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="multistore-lambda-local",
        description="Serve the multistore Lambda handler over HTTP, as a Function URL would.",
    )
    parser.add_argument("--config", required=True, help="the gateway config (TOML or JSON)")
    parser.add_argument(
        "--listen", default="127.0.0.1:8080", help="HOST:PORT (default: 127.0.0.1:8080)"
    )
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    env = dict(os.environ, CONFIG_PATH=args.config)
    env.pop("MULTISTORE_CONFIG", None)
    container = Container(env)
    container.gateway()  # build now: a broken config stops here, before listening
    server = make_server(container, host or "127.0.0.1", int(port))
    print(f"multistore-lambda-local serving on http://{args.listen}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        container.close()


if __name__ == "__main__":
    main()
