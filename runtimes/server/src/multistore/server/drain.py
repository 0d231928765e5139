"""Graceful shutdown that lets in-flight uploads finish (issue #15).

aiohttp's own shutdown (``ServerRunner.cleanup``) first marks every connection closing, and
a closing connection drops whatever bytes arrive next (``RequestHandler.data_received``
returns early once ``_close``/``_force_close`` is set). A request whose handler is still
reading its body therefore never sees the rest of it: a PUT that was being uploaded hangs
until the shutdown timeout, nothing is stored and no access line is written. Downloads are
not affected, because they need nothing more from the client.

So the server drains in two steps: stop accepting connections, then wait (up to the
shutdown timeout) until no handler is running, reading connections normally all the while;
only then is aiohttp's cleanup called, which finds nothing left to cut off. Responses sent
while draining carry ``Connection: close`` so keep-alive clients move on.
"""

from __future__ import annotations

import asyncio


class InFlight:
    """Counts running handlers and tells the shutdown when none is left."""

    def __init__(self) -> None:
        self._running = 0
        # Only a drain waits for the count to reach zero; until one starts, a request pays
        # for two integer updates and nothing else.
        self._idle: asyncio.Event | None = None
        self.draining = False

    # Called by ``handler.handle`` itself rather than through a wrapping coroutine: one
    # coroutine frame less on every request.

    def enter(self) -> None:
        self._running += 1

    def leave(self) -> None:
        self._running -= 1
        if not self._running and self._idle is not None:
            self._idle.set()

    async def drain(self, *, within: float) -> bool:
        """Wait until no handler runs; ``False`` if ``within`` seconds passed first."""
        self.draining = True
        if not self._running:
            return True
        idle = self._idle = asyncio.Event()
        try:
            async with asyncio.timeout(within):
                await idle.wait()
        except TimeoutError:
            return False
        return True
