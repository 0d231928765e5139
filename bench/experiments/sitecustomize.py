"""What-if patches for pricing proposed changes, applied in every gateway process.

``run.py --experiment NAME[,NAME]`` puts this directory on the gateway's PYTHONPATH and
names the patches in ``MULTISTORE_BENCH_EXPERIMENTS``. Measurement only: each patch stands
in for a change proposed in docs/performance.md and is deleted once the real change lands.

- ``coalesce``: response headers go out with the first body bytes (one send, not two).
- ``lowlevel``: the aiohttp low-level ``web.Server`` instead of an ``Application`` with a
  catch-all route (no router, no middleware machinery).
"""

from __future__ import annotations

import os

_WANTED = {
    name.strip()
    for name in os.environ.get("MULTISTORE_BENCH_EXPERIMENTS", "").split(",")
    if name.strip()
}


def _coalesce() -> None:
    from aiohttp import web_response

    web_response.StreamResponse._send_headers_immediately = False  # type: ignore[attr-defined]


def _lowlevel() -> None:
    import asyncio
    import signal

    from aiohttp import web

    from multistore.server import app, cli, handler

    async def serve(settings, *, reuse_port=False):  # type: ignore[no-untyped-def]
        # The app still builds the gateway (its cleanup context); only the HTTP layer
        # in front of it changes.
        application = app.create_app(settings)
        application.freeze()
        await application.startup()
        gateway = application[app.GATEWAY]

        async def handle(request):  # type: ignore[no-untyped-def]
            return await handler.handle(request, gateway)

        server = web.Server(
            handle, handler_cancellation=True, max_field_size=16 << 10, access_log=None
        )
        runner = web.ServerRunner(server, shutdown_timeout=settings.shutdown_timeout)
        await runner.setup()
        site = web.TCPSite(
            runner, settings.host, settings.port, reuse_port=reuse_port or None, backlog=1024
        )
        await site.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
            await application.cleanup()

    cli.serve = serve  # type: ignore[assignment]


_PATCHES = {"coalesce": _coalesce, "lowlevel": _lowlevel}

for _name in sorted(_WANTED):
    if _name not in _PATCHES:
        raise SystemExit(f"unknown experiment {_name!r}; known: {', '.join(_PATCHES)}")
    _PATCHES[_name]()
