"""``multistore-server``: run the gateway, in one process or several sharing the port."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence

from multistore.server import heap
from multistore.server.demo import DEMO_ACCESS_KEY_ID, DEMO_BUCKET, DEMO_SECRET_ACCESS_KEY
from multistore.server.settings import ServerSettings, SettingsError, load_settings
from multistore.server.startup import StartupError, listen_failure, preflight, ssl_context
from multistore.server.worker_link import WorkerLink

# The app (aiohttp, the gateway, botocore) is imported inside the functions that serve: a
# supervisor of several workers never loads it (docs/performance.md, Memory).

logger = logging.getLogger("multistore.server")
# Seconds aiohttp's cleanup may take after the drain, to finish writing the last responses.
_FINAL_GRACE = 2.0


def _new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ModuleNotFoundError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


async def serve(
    settings: ServerSettings, *, reuse_port: bool = False, link: WorkerLink | None = None
) -> None:
    """Serve until SIGTERM/SIGINT, then drain in-flight requests for up to the timeout."""
    from aiohttp import web

    from multistore.server.app import assemble, connection_limits, create_server
    from multistore.server.drain import InFlight
    from multistore.server.handler import access_log
    from multistore.server.health import READINESS

    access_log.json_lines = settings.log_format == "json"

    try:
        worker = await assemble(settings, announce=settings.announce)
    except ValueError as exc:  # ConfigError is a ValueError too
        # Every worker loads the same config: the one that announces reports it, once.
        logger.log(logging.ERROR if settings.announce else logging.DEBUG, "cannot start: %s", exc)
        raise SystemExit(2) from None
    in_flight = InFlight()
    # aiohttp's own shutdown only gets a short grace: by the time it runs, the drain below
    # has already waited for in-flight requests (it cannot: it stops reading request bodies).
    runner = web.ServerRunner(
        create_server(worker, connection_limits(settings), in_flight=in_flight),
        shutdown_timeout=min(_FINAL_GRACE, settings.shutdown_timeout),
    )
    await runner.setup()
    # Everything the worker keeps for its lifetime exists now; the first request is not
    # accepted before this (a full collection) is done.
    heap.settle()
    site = web.TCPSite(
        runner,
        settings.host,
        settings.port,
        ssl_context=ssl_context(settings),
        reuse_port=reuse_port or None,
        backlog=1024,
    )
    try:
        await site.start()
    except OSError as exc:  # lost a race for the port since the main process checked it
        logger.error("cannot start: %s", listen_failure(settings.host, settings.port, exc))
        await runner.cleanup()
        await worker.close()
        raise SystemExit(2) from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, worker.reload)
    logger.info("listening on %s://%s:%d", settings.scheme, settings.host, settings.port)
    if link is not None:
        link.attach(loop, on_status=READINESS.update, on_gone=_supervisor_gone(stop))
    try:
        await stop.wait()
        logger.info(
            "shutting down: draining in-flight requests (up to %.0fs)", settings.shutdown_timeout
        )
        await site.stop()  # no new connections; open ones keep being read
        if not await in_flight.drain(within=settings.shutdown_timeout):
            logger.warning("shutdown timeout reached with requests still in flight")
    finally:
        await runner.cleanup()
        await worker.close()


def _supervisor_gone(stop: asyncio.Event) -> Callable[[], None]:
    def gone() -> None:
        # A worker never outlives its supervisor (killed with -9, say): it drains and exits.
        logger.warning("the supervisor went away: shutting down")
        stop.set()

    return gone


def run_worker(
    settings: ServerSettings, *, reuse_port: bool = False, link: WorkerLink | None = None
) -> None:
    _configure_logging(settings)
    try:
        with asyncio.Runner(loop_factory=_new_event_loop) as runner:
            runner.run(serve(settings, reuse_port=reuse_port, link=link))
    except KeyboardInterrupt:  # Ctrl-C before the loop's own handler was installed
        raise SystemExit(130) from None


def _configure_logging(settings: ServerSettings) -> None:
    from multistore.server.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C during startup: no traceback
        return 130


def _main(argv: Sequence[str] | None) -> int:
    try:
        settings = load_settings(argv)
    except SettingsError as exc:
        _configure_logging(ServerSettings())
        logger.error("cannot start: %s", exc)
        return 2
    _configure_logging(settings)
    try:
        # Once, here, before any worker exists: one line instead of a traceback per worker.
        preflight(settings)
    except StartupError as exc:
        logger.error("cannot start: %s", exc)
        return 2
    if settings.config is None:
        logger.warning(
            "no --config given: serving the demo bucket %r from %s (anonymous read; "
            "write with access key %s / secret %s). Not for production.",
            DEMO_BUCKET,
            settings.data_dir.resolve(),
            DEMO_ACCESS_KEY_ID,
            DEMO_SECRET_ACCESS_KEY,
        )
    if settings.workers > 1:
        from multistore.server.supervisor import Supervisor

        return Supervisor(settings).run()
    run_worker(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
