"""Reading the small request bodies the gateway must parse (XML), always under a cap."""

from __future__ import annotations

from multistore.core.errors import EntityTooLarge, IncompleteBody
from multistore.core.http import RequestBody


async def read_capped(body: RequestBody, *, declared: int | None, limit: int) -> bytes:
    """The whole body, refusing anything over ``limit`` bytes — before reading it if declared.

    A declared length over the cap fails before a single byte is read; an undeclared
    (chunked) body fails as soon as it passes the cap.
    """
    if declared is not None and declared > limit:
        raise EntityTooLarge(f"this request body may not exceed {limit} bytes")
    data = bytearray()
    while True:
        chunk = await body.read(min(65536, limit + 1 - len(data)))
        if not chunk:
            break
        data += chunk
        if len(data) > limit:
            raise EntityTooLarge(f"this request body may not exceed {limit} bytes")
    if declared is not None and declared != len(data):
        raise IncompleteBody()
    return bytes(data)
