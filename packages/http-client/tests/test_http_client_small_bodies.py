"""What the client offers for small answers: header fields as received, a body that came
with its head taken at once, and the connection pooled as soon as the body is handed out.
Against raw asyncio servers on 127.0.0.1, which control how the answer is cut."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from multistore.http_client import ClientResponse, HttpClient
from multistore.http_client.origin import split_url
from multistore.http_client.pool import OriginPool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A server running ``handler`` per connection; yields its URL and a connection count."""
    connections: list[int] = []
    writers: list[asyncio.StreamWriter] = []

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        writers.append(writer)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", connections
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


def pool_of(client: HttpClient, url: str) -> OriginPool:
    pool = client.pool_for(split_url(url)[0])
    assert pool is not None
    return pool


async def answer_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One segment per request: head and a 2-byte body together."""
    while True:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 2\r\nX-Bin: caf\xe9\r\n\r\nok"
        )
        await writer.drain()


async def test_raw_headers_are_the_fields_as_received_and_headers_decode_them() -> None:
    async with serving(answer_each) as (url, _):
        client = HttpClient()
        try:
            response = await client.request("GET", url + "/", headers={})
            assert response.raw_headers == [
                (b"X-A", b"1"),
                (b"x-a", b"2"),
                (b"Content-Length", b"2"),
                (b"X-Bin", b"caf\xe9"),
            ]
            assert response.headers.getall("X-A") == ["1", "2"]
            # Not UTF-8: kept as the bytes it was, as aiohttp's parser keeps it.
            assert response.headers["x-bin"] == "caf\udce9"
            assert response.headers is response.headers  # decoded once
            await response.release()
        finally:
            await client.close()


async def test_a_body_that_came_with_its_head_is_taken_and_the_connection_pooled() -> None:
    async with serving(answer_each) as (url, connections):
        client = HttpClient()
        try:
            for _ in range(3):
                response = await client.request("GET", url + "/", headers={})
                assert response.take_complete_body(1024) == b"ok"
                # Back in the pool before anyone released it.
                assert pool_of(client, url).idle_count == 1
                assert response.buffered_bytes == 0
                await response.release()
                assert pool_of(client, url).idle_count == 1
        finally:
            await client.close()
        assert len(connections) == 1


async def test_a_body_over_the_limit_or_still_arriving_is_left_to_stream() -> None:
    gate = asyncio.Event()
    async with serving(_in_two_parts(gate)) as (url, connections):
        client = HttpClient()
        try:
            response = await client.request("GET", url + "/", headers={})
            assert await asyncio.wait_for(_buffered(response, 5), 5)
            assert response.take_complete_body(1024) is None  # half of it is still to come
            gate.set()
            assert await response.read(1024) == b"first-last"
            await response.release()

            response = await client.request("GET", url + "/", headers={})
            assert await asyncio.wait_for(_buffered(response, 2), 5)
            assert response.take_complete_body(1) is None  # whole, but over the limit
            assert await response.read(1024) == b"ok"
            await response.release()
        finally:
            await client.close()
        assert len(connections) == 1


def _in_two_parts(gate: asyncio.Event) -> Handler:
    """A server whose first answer sends half its body, and the rest once ``gate`` is set."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst")
        await writer.drain()
        await gate.wait()
        writer.write(b"-last")
        await answer_each(reader, writer)

    return answer


async def _buffered(response: ClientResponse, size: int) -> bool:
    for _ in range(500):
        if response.buffered_bytes >= size:
            return True
        await asyncio.sleep(0.01)
    return False


async def test_the_last_chunk_hands_the_connection_back_before_the_iteration_ends() -> None:
    gate = asyncio.Event()
    async with serving(_in_two_parts(gate)) as (url, connections):
        client = HttpClient()
        try:
            response = await client.request("GET", url + "/", headers={})
            chunks = response.iter_chunks()
            assert await anext(chunks) == b"first"
            assert pool_of(client, url).idle_count == 0
            gate.set()
            assert await anext(chunks) == b"-last"
            # The body is complete and handed out: the connection serves others already.
            assert pool_of(client, url).idle_count == 1
            assert await anext(chunks, None) is None
            await response.release()
            again = await client.request("GET", url + "/", headers={})
            assert await again.read(1024) == b"ok"
            await again.release()
        finally:
            await client.close()
        assert len(connections) == 1
