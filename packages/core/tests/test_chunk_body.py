"""``ChunkBody``: a response body already in memory, iterated without an async generator."""

from __future__ import annotations

from multistore.core.http import ChunkBody


async def collect(body: ChunkBody) -> list[bytes]:
    return [chunk async for chunk in body]


async def test_a_chunk_is_yielded_once() -> None:
    body = ChunkBody(b"payload")
    assert await collect(body) == [b"payload"]
    assert await collect(body) == []  # an iterator: exhausted once read


async def test_an_empty_body_yields_nothing() -> None:
    assert await collect(ChunkBody()) == []
    assert await collect(ChunkBody(b"")) == []


async def test_it_is_its_own_iterator() -> None:
    body = ChunkBody(b"x")
    assert aiter(body) is body
