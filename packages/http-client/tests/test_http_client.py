"""The backend HTTP client against real servers on 127.0.0.1 (aiohttp, and raw asyncio
servers for what aiohttp would never send)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvloop
from aiohttp import web

from multistore.core.http import TransportError
from multistore.http_client import ClientSettings, HttpClient
from multistore.http_client.origin import parse_origin, split_url
from multistore.testing.tls import TlsFiles

MiB = 1 << 20
PATTERN = bytes(range(256)) * 4096  # 1 MiB that is not all one byte


# --- servers ---------------------------------------------------------------------------------


@dataclass
class BackendState:
    peers: set[tuple[str, int]] = field(default_factory=set)
    in_flight: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)


STATE = web.AppKey("state", BackendState)


def _track(request: web.Request) -> BackendState:
    state = request.app[STATE]
    assert request.transport is not None
    state.peers.add(request.transport.get_extra_info("peername"))
    return state


async def _bytes(request: web.Request) -> web.Response:
    _track(request)
    return web.Response(body=PATTERN[: int(request.match_info["n"])])


async def _chunked(request: web.Request) -> web.StreamResponse:
    _track(request)
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for piece in (b"first-", b"second-", b"third"):
        await response.write(piece)
    await response.write_eof()
    return response


async def _stream(request: web.Request) -> web.StreamResponse:
    _track(request)
    total = int(request.match_info["n"])
    response = web.StreamResponse()
    response.content_length = total
    await response.prepare(request)
    for _ in range(total // MiB):
        await response.write(PATTERN)
    await response.write_eof()
    return response


async def _status(request: web.Request) -> web.Response:
    _track(request)
    return web.Response(status=int(request.match_info["code"]), headers={"ETag": '"e"'})


async def _upload(request: web.Request) -> web.Response:
    _track(request)
    digest = hashlib.md5()
    length = 0
    async for chunk in request.content.iter_any():
        digest.update(chunk)
        length += len(chunk)
    report = {
        "length": length,
        "md5": digest.hexdigest(),
        "content_length": request.headers.get("Content-Length"),
        "transfer_encoding": request.headers.get("Transfer-Encoding"),
    }
    return web.json_response(report)


async def _hold(request: web.Request) -> web.Response:
    state = _track(request)
    state.in_flight += 1
    await state.gate.wait()
    return web.Response(body=b"held")


async def _slow(request: web.Request) -> web.Response:
    _track(request)
    await asyncio.sleep(30)
    return web.Response(body=b"late")


def backend_app() -> web.Application:
    app = web.Application()
    app[STATE] = BackendState()
    app.router.add_get("/bytes/{n}", _bytes)
    app.router.add_get("/chunked", _chunked)
    app.router.add_get("/stream/{n}", _stream)
    app.router.add_get("/status/{code}", _status)
    app.router.add_put("/upload", _upload)
    app.router.add_get("/hold", _hold)
    app.router.add_get("/slow", _slow)
    return app


@asynccontextmanager
async def app_server(
    app: web.Application, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[str]:
    # Handlers stop when their client goes away, as in the gateway itself.
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


@dataclass
class RawServer:
    url: str
    connections: int = 0
    heads: list[bytes] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)


@asynccontextmanager
async def raw_server(handler: RawHandler) -> AsyncIterator[RawServer]:
    """An asyncio server calling ``handler(reader, writer, n)`` for its n-th connection."""
    writers: list[asyncio.StreamWriter] = []
    server_state = RawServer(url="")

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        server_state.connections += 1
        try:
            await handler(reader, writer, server_state.connections)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            server_state.closed.set()

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    server_state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield server_state
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


async def read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


@asynccontextmanager
async def http_client(**settings: Any) -> AsyncIterator[HttpClient]:
    client = HttpClient(settings=ClientSettings(**settings))
    try:
        yield client
    finally:
        await client.close()


async def get_body(
    client: HttpClient, url: str, method: str = "GET", body: bytes | None = None
) -> tuple[int, bytes]:
    response = await client.request(method, url, headers={}, body=body)
    try:
        return response.status, await response.read(100 * MiB)
    finally:
        await response.release()


async def eventually(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met within 5 s")


def open_count(client: HttpClient, url: str) -> int:
    """Connections the client holds open (idle or busy) to the origin of ``url``."""
    pool = client.pool_for(split_url(url)[0])
    assert pool is not None
    return pool.open_count


# --- keep-alive and the pool -----------------------------------------------------------------


async def test_keep_alive_reuses_one_connection() -> None:
    app = backend_app()
    async with app_server(app) as url, http_client() as client:
        for n in (1, 1000, 5000, 0, 70000):
            assert await get_body(client, f"{url}/bytes/{n}") == (200, PATTERN[:n])
        status, body = await get_body(client, f"{url}/chunked")
        assert (status, body) == (200, b"first-second-third")
        assert await get_body(client, f"{url}/bytes/3") == (200, PATTERN[:3])
    assert len(app[STATE].peers) == 1


async def test_pool_limit_makes_the_extra_request_wait() -> None:
    app = backend_app()
    state = app[STATE]
    async with app_server(app) as url, http_client(pool_size=2) as client:
        tasks = [asyncio.create_task(get_body(client, f"{url}/hold")) for _ in range(3)]
        await eventually(lambda: state.in_flight == 2)
        await asyncio.sleep(0.2)
        # Two requests reached the server; the third waits for one of the two connections.
        assert state.in_flight == 2
        assert not any(task.done() for task in tasks)
        assert open_count(client, url) == 2
        state.gate.set()
        assert [await task for task in tasks] == [(200, b"held")] * 3
    assert state.in_flight == 3
    assert len(state.peers) == 2


async def test_waiters_are_served_first_come_first_served() -> None:
    app = backend_app()
    order: list[int] = []

    async def numbered(n: int) -> None:
        await get_body(client, f"{url}/bytes/{n}")
        order.append(n)

    async with app_server(app) as url, http_client(pool_size=1) as client:
        holder = asyncio.create_task(get_body(client, f"{url}/hold"))
        await eventually(lambda: app[STATE].in_flight == 1)
        waiting = []
        for n in range(1, 6):
            waiting.append(asyncio.create_task(numbered(n)))
            await asyncio.sleep(0.01)
        app[STATE].gate.set()
        await holder
        await asyncio.gather(*waiting)
    assert order == [1, 2, 3, 4, 5]
    assert len(app[STATE].peers) == 1


async def test_a_cancelled_request_gives_its_slot_back() -> None:
    app = backend_app()
    async with app_server(app) as url, http_client(pool_size=1) as client:
        slow = asyncio.create_task(get_body(client, f"{url}/slow"))
        await eventually(lambda: bool(app[STATE].peers))
        # Someone waits in line for the only slot, and gives up too.
        waiter = asyncio.create_task(get_body(client, f"{url}/bytes/1"))
        await asyncio.sleep(0.05)
        waiter.cancel()
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert open_count(client, url) == 0
        assert await asyncio.wait_for(get_body(client, f"{url}/bytes/4"), 5) == (200, PATTERN[:4])
    # The half-done exchange was not reused.
    assert len(app[STATE].peers) == 2


async def test_idle_connections_are_closed_after_the_keepalive_timeout() -> None:
    async def answer_until_eof(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        while True:
            await read_head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    async with raw_server(answer_until_eof) as server, http_client(keepalive_timeout=0.2) as client:
        assert await get_body(client, server.url + "/") == (200, b"ok")
        pool = client.pool_for(server.url)
        assert pool is not None
        assert pool.idle_count == 1
        await asyncio.wait_for(server.closed.wait(), 3)
        assert (pool.idle_count, pool.open_count) == (0, 0)
        assert await get_body(client, server.url + "/") == (200, b"ok")
    assert server.connections == 2


# --- response framing ------------------------------------------------------------------------


async def test_head_204_and_304_have_no_body_and_keep_the_connection() -> None:
    app = backend_app()
    async with app_server(app) as url, http_client() as client:
        response = await client.request("HEAD", f"{url}/bytes/1000", headers={})
        assert response.status == 200
        assert response.headers["Content-Length"] == "1000"
        assert [chunk async for chunk in response.iter_chunks()] == []
        await response.release()
        assert await get_body(client, f"{url}/status/204") == (204, b"")
        assert await get_body(client, f"{url}/status/304") == (304, b"")
        assert await get_body(client, f"{url}/bytes/10") == (200, PATTERN[:10])
        assert await get_body(client, f"{url}/bytes/10", "HEAD") == (200, b"")
        assert await get_body(client, f"{url}/chunked") == (200, b"first-second-third")
    assert len(app[STATE].peers) == 1


async def test_body_delimited_by_the_connection_closing() -> None:
    async def http10(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"the end")
        await writer.drain()

    async with raw_server(http10) as server, http_client() as client:
        assert await get_body(client, server.url + "/a") == (200, b"until the end")
        assert await get_body(client, server.url + "/b") == (200, b"until the end")
    assert server.connections == 2


async def test_connection_close_from_the_server_is_honoured() -> None:
    async def answer_with_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        # The socket stays open: only the header says the connection is done.
        await reader.read()

    async with raw_server(answer_with_close) as server, http_client() as client:
        for _ in range(3):
            assert await get_body(client, server.url + "/") == (200, b"ok")
    assert server.connections == 3


async def test_interim_responses_are_skipped() -> None:
    async def interim(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            await read_head(reader)
            writer.write(
                b"HTTP/1.1 100 Continue\r\n\r\n"
                b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                b'HTTP/1.1 201 Created\r\nETag: "x"\r\nContent-Length: 4\r\n\r\ndone'
            )

    async with raw_server(interim) as server, http_client() as client:
        for _ in range(2):
            response = await client.request("PUT", server.url + "/k", headers={}, body=b"data")
            assert response.status == 201
            assert "Link" not in response.headers
            assert response.headers["ETag"] == '"x"'
            assert await response.read(100) == b"done"
            await response.release()
    assert server.connections == 1


async def test_repeated_headers_are_kept_and_bodies_not_decompressed() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_head(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n"
            b"Content-Encoding: gzip\r\nContent-Length: 4\r\n\r\n\x1f\x8b\x08\x00"
        )
        await reader.read()

    async with raw_server(answer) as server, http_client() as client:
        response = await client.request("GET", server.url + "/", headers={})
        assert response.headers.getall("set-cookie") == ["a=1", "b=2"]
        assert await response.read(100) == b"\x1f\x8b\x08\x00"
        await response.release()


async def test_chunks_are_handed_over_as_they_arrive() -> None:
    release_rest = asyncio.Event()

    async def in_two_parts(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nearly\r\n")
        await writer.drain()
        await release_rest.wait()
        writer.write(b"4\r\nlate\r\n0\r\nX-Trailer: t\r\n\r\n")
        await reader.read()

    async with raw_server(in_two_parts) as server, http_client() as client:
        response = await client.request("GET", server.url + "/", headers={})
        chunks = response.iter_chunks()
        assert await asyncio.wait_for(anext(chunks), 5) == b"early"
        release_rest.set()
        assert [chunk async for chunk in chunks] == [b"late"]
        assert "X-Trailer" not in response.headers
        await response.release()


async def test_large_body_is_streamed_with_bounded_buffering() -> None:
    app = backend_app()
    high, low = 1 * MiB, 256 << 10
    size = 64 * MiB
    async with (
        app_server(app) as url,
        http_client(read_buffer_high=high, read_buffer_low=low, read_timeout=1.0) as client,
    ):
        response = await client.request("GET", f"{url}/stream/{size}", headers={})
        assert response.headers["Content-Length"] == str(size)
        digest = hashlib.md5()
        received = peak = 0
        slow_chunks = 0
        paused_long = False
        async for chunk in response.iter_chunks():
            digest.update(chunk)
            received += len(chunk)
            if received < 8 * MiB:
                # A consumer slower than the backend: the buffer fills up to the mark.
                await asyncio.sleep(0.005)
                slow_chunks += 1
                peak = max(peak, response.buffered_bytes)
            if received >= 2 * MiB and not paused_long:
                # Longer than the read timeout: not the backend's delay, so no error.
                await asyncio.sleep(1.5)
                paused_long = True
        await response.release()
    assert received == size
    assert digest.hexdigest() == hashlib.md5(PATTERN * 64).hexdigest()
    assert slow_chunks > 10
    # One socket read (256 KiB) may land after the high-water mark; never more.
    assert low < peak <= high + (256 << 10)


# --- uploads ---------------------------------------------------------------------------------


async def _pieces(count: int, size: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield PATTERN[:size]


async def test_streamed_upload_with_content_length() -> None:
    app = backend_app()
    async with app_server(app) as url, http_client() as client:
        total = 24 * MiB
        response = await client.request(
            "PUT",
            f"{url}/upload",
            headers={"content-length": str(total)},
            body=_pieces(24, MiB),
        )
        report = json.loads(await response.read(1000))
        await response.release()
    assert report == {
        "length": total,
        "md5": hashlib.md5(PATTERN * 24).hexdigest(),
        "content_length": str(total),
        "transfer_encoding": None,
    }


async def test_streamed_upload_without_length_is_chunked() -> None:
    app = backend_app()
    async with app_server(app) as url, http_client() as client:
        for _ in range(2):  # and the connection is fit for reuse afterwards
            response = await client.request(
                "PUT", f"{url}/upload", headers={}, body=_pieces(5, 300_000)
            )
            report = json.loads(await response.read(1000))
            await response.release()
            assert report == {
                "length": 1_500_000,
                "md5": hashlib.md5(PATTERN[:300_000] * 5).hexdigest(),
                "content_length": None,
                "transfer_encoding": "chunked",
            }
    assert len(app[STATE].peers) == 1


async def test_bytes_upload_gets_its_content_length() -> None:
    app = backend_app()
    async with app_server(app) as url, http_client() as client:
        for body in (b"", b"small", PATTERN * 2):
            response = await client.request("PUT", f"{url}/upload", headers={}, body=body)
            report = json.loads(await response.read(1000))
            await response.release()
            assert report["length"] == len(body)
            assert report["content_length"] == str(len(body))
    assert len(app[STATE].peers) == 1


class ClientBodyBroke(Exception):
    """Stands for core's BadDigest / IncompleteBody raised by a verifying body."""


async def test_a_failing_body_surfaces_its_own_error_and_the_connection_is_dropped() -> None:
    app = backend_app()

    async def breaks_halfway() -> AsyncIterator[bytes]:
        yield PATTERN
        yield PATTERN
        raise ClientBodyBroke("the digest does not match")

    async with app_server(app) as url, http_client() as client:
        assert await get_body(client, f"{url}/bytes/1") == (200, PATTERN[:1])
        with pytest.raises(ClientBodyBroke, match="digest"):
            await client.request(
                "PUT",
                f"{url}/upload",
                headers={"content-length": str(4 * MiB)},
                body=breaks_halfway(),
            )
        assert open_count(client, url) == 0
        assert await get_body(client, f"{url}/bytes/2") == (200, PATTERN[:2])
    # The connection of the broken upload was never handed out again.
    assert len(app[STATE].peers) == 2


async def test_a_body_shorter_than_its_content_length_fails() -> None:
    app = backend_app()
    async with app_server(app) as url, http_client() as client:
        with pytest.raises(TransportError, match="content-length"):
            await client.request(
                "PUT", f"{url}/upload", headers={"content-length": "10"}, body=_pieces(1, 5)
            )
        assert open_count(client, url) == 0


# --- failures --------------------------------------------------------------------------------


async def test_server_closing_mid_body_is_a_transport_error() -> None:
    async def short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_head(reader)
        if n == 1:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await writer.drain()

    async with raw_server(short) as server, http_client() as client:
        for _ in range(2):
            response = await client.request("GET", server.url + "/", headers={})
            assert response.status == 200
            with pytest.raises(TransportError, match="mid-response"):
                async for _chunk in response.iter_chunks():
                    pass
            await response.release()
        assert open_count(client, server.url) == 0


async def test_stale_keep_alive_connection_is_retried_once_for_replayable_bodies() -> None:
    async def one_answer_per_connection(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        # The next request on this connection finds it closed, as when a server's
        # keep-alive timeout strikes just as the client reuses the connection.
        await read_head(reader)

    async with raw_server(one_answer_per_connection) as server, http_client() as client:
        assert await get_body(client, server.url + "/1") == (200, b"ok")
        assert await get_body(client, server.url + "/2") == (200, b"ok")
        assert await get_body(client, server.url + "/3", "PUT", b"replay me") == (200, b"ok")
        assert server.connections == 3
        # A streamed body cannot be replayed: the failure is the caller's to handle.
        with pytest.raises(TransportError, match="before answering"):
            await client.request(
                "PUT", server.url + "/4", headers={"content-length": "5"}, body=_pieces(1, 5)
            )


async def test_connection_closed_by_the_server_while_idle_is_not_reused() -> None:
    async def answer_then_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    async with raw_server(answer_then_close) as server, http_client() as client:
        assert await get_body(client, server.url + "/") == (200, b"ok")
        await asyncio.wait_for(server.closed.wait(), 3)
        await asyncio.sleep(0.05)
        assert open_count(client, server.url) == 0
        assert await get_body(client, server.url + "/") == (200, b"ok")
    assert server.connections == 2


async def test_connection_refused_is_a_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with http_client() as client:
        with pytest.raises(TransportError, match="cannot connect"):
            await client.request("GET", f"http://127.0.0.1:{port}/", headers={})
        assert open_count(client, f"http://127.0.0.1:{port}") == 0


async def test_a_silent_server_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_head(reader)
        await reader.read()

    async with raw_server(silent) as server, http_client(read_timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(TransportError, match=r"sent nothing for 0\.3 s"):
            await client.request("GET", server.url + "/", headers={})
        assert 0.25 < time.monotonic() - started < 3
        assert open_count(client, server.url) == 0


async def test_a_server_stalling_mid_body_times_out() -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await reader.read()

    async with raw_server(stall) as server, http_client(read_timeout=0.3) as client:
        response = await client.request("GET", server.url + "/", headers={})
        with pytest.raises(TransportError, match="sent nothing"):
            await response.read(100)
        await response.release()


async def test_malformed_responses_are_transport_errors() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_head(reader)
        writer.write(
            b"SMTP is ready\r\n\r\n" if n == 1 else b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"
        )
        await reader.read()

    async with raw_server(garbage) as server, http_client() as client:
        for _ in range(2):
            with pytest.raises(TransportError, match="malformed"):
                await client.request("GET", server.url + "/", headers={})
        assert open_count(client, server.url) == 0


async def test_read_refuses_a_body_over_its_limit() -> None:
    app = backend_app()
    async with app_server(app) as url, http_client() as client:
        response = await client.request("GET", f"{url}/stream/{8 * MiB}", headers={})
        with pytest.raises(TransportError, match="larger than 4096"):
            await response.read(4096)
        await response.release()
        # The rest of the body was never read: the connection cannot carry another request.
        assert open_count(client, url) == 0


# --- what goes on the wire -------------------------------------------------------------------


async def test_request_line_and_headers_go_out_exactly_as_given() -> None:
    captured: list[bytes] = []

    async def capture(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            captured.append(await read_head(reader))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    async with raw_server(capture) as server, http_client() as client:
        authority = server.url.removeprefix("http://")
        signed = {
            "host": authority,
            "x-amz-date": "20240101T000000Z",
            "X-Amz-Meta-Mixed": "Value With  Spaces",
        }
        for url, headers in (
            (server.url + "/b/100%25.txt?prefix=a%2Fb", signed),
            (server.url + "?list-type=2", {"x-a": "1"}),
        ):
            response = await client.request("GET", url, headers=headers)
            await response.release()
    assert captured == [
        b"GET /b/100%25.txt?prefix=a%2Fb HTTP/1.1\r\n"
        + f"host: {authority}\r\n".encode()
        + b"x-amz-date: 20240101T000000Z\r\nX-Amz-Meta-Mixed: Value With  Spaces\r\n\r\n",
        b"GET /?list-type=2 HTTP/1.1\r\nx-a: 1\r\n" + f"Host: {authority}\r\n\r\n".encode(),
    ]


async def test_headers_that_would_split_the_request_are_refused() -> None:
    async with http_client() as client:
        for headers in ({"x-a": "1\r\nx-b: 2"}, {"x-a\n": "1"}):
            with pytest.raises(ValueError, match="CR or LF"):
                await client.request("GET", "http://127.0.0.1:9/", headers=headers)


# --- TLS -------------------------------------------------------------------------------------


def _server_context(tls_files: TlsFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files.server_cert, tls_files.server_key)
    return context


async def test_https_with_an_explicit_ca(tls_files: TlsFiles) -> None:
    app = backend_app()
    trusted = ssl.create_default_context(cafile=str(tls_files.ca_cert))
    async with app_server(app, ssl_context=_server_context(tls_files)) as url:
        client = HttpClient(ssl_context=trusted)
        try:
            assert await get_body(client, f"{url}/bytes/100") == (200, PATTERN[:100])
            assert await get_body(client, f"{url}/chunked") == (200, b"first-second-third")
            response = await client.request("GET", f"{url}/stream/{8 * MiB}", headers={})
            assert await response.read(8 * MiB) == PATTERN * 8
            await response.release()
        finally:
            await client.close()
        # Certificates are verified: the system's CAs do not know the test CA.
        untrusting = HttpClient()
        try:
            with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
                await untrusting.request("GET", f"{url}/bytes/1", headers={})
        finally:
            await untrusting.close()
    assert len(app[STATE].peers) == 1


async def test_https_default_context_honours_ssl_cert_file(
    tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca_cert))
    async with (
        app_server(backend_app(), ssl_context=_server_context(tls_files)) as url,
        http_client() as client,
    ):
        assert await get_body(client, f"{url}/bytes/7") == (200, PATTERN[:7])


# --- the same behaviour on uvloop (the server's default loop) --------------------------------


@pytest.mark.parametrize(
    "scenario",
    [
        test_keep_alive_reuses_one_connection,
        test_pool_limit_makes_the_extra_request_wait,
        test_head_204_and_304_have_no_body_and_keep_the_connection,
        test_body_delimited_by_the_connection_closing,
        test_large_body_is_streamed_with_bounded_buffering,
        test_streamed_upload_with_content_length,
        test_streamed_upload_without_length_is_chunked,
        test_a_failing_body_surfaces_its_own_error_and_the_connection_is_dropped,
        test_server_closing_mid_body_is_a_transport_error,
        test_stale_keep_alive_connection_is_retried_once_for_replayable_bodies,
        test_a_silent_server_times_out,
    ],
    ids=lambda scenario: scenario.__name__.removeprefix("test_"),
)
def test_on_uvloop(scenario: Callable[[], Awaitable[None]]) -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())  # type: ignore[arg-type]


def test_tls_on_uvloop(tls_files: TlsFiles) -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(test_https_with_an_explicit_ca(tls_files))


# --- URL splitting (pure) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "origin", "target", "host", "port"),
    [
        ("http://s3.local", "http://s3.local", "/", "s3.local", 80),
        ("https://s3.local/b/k%2F?x=1", "https://s3.local", "/b/k%2F?x=1", "s3.local", 443),
        (
            "http://127.0.0.1:9000?list-type=2",
            "http://127.0.0.1:9000",
            "/?list-type=2",
            "127.0.0.1",
            9000,
        ),
        ("HTTP://[::1]:8080/a", "HTTP://[::1]:8080", "/a", "::1", 8080),
    ],
)
def test_urls_are_split_without_reencoding(
    url: str, origin: str, target: str, host: str, port: int
) -> None:
    assert split_url(url) == (origin, target)
    parsed = parse_origin(origin)
    assert (parsed.host, parsed.port) == (host, port)


@pytest.mark.parametrize(
    "url", ["ftp://h/x", "http://user@h/x", "http://h:99999/", "http://h/x#frag", "h/x"]
)
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each URL fails for its own reason
        parse_origin(split_url(url)[0])
