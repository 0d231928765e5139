"""``multistore-server``: run the gateway, in one process or several sharing the port."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Sequence

from multistore.server.demo import DEMO_ACCESS_KEY_ID, DEMO_BUCKET, DEMO_SECRET_ACCESS_KEY
from multistore.server.settings import ServerSettings, SettingsError, load_settings
from multistore.server.startup import StartupError, listen_failure, preflight, ssl_context

logger = logging.getLogger("multistore.server")


def _new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ModuleNotFoundError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


async def serve(
    settings: ServerSettings, *, reuse_port: bool = False, announce: bool = True
) -> None:
    """Serve until SIGTERM/SIGINT, then drain in-flight requests for up to the timeout.

    ``announce``: this process logs what was loaded (one worker does, not all of them).
    """
    # Imported here, not at the top: the main process checks settings and the port before
    # any worker exists, and a refusal should not pay for importing aiohttp and the gateway.
    from aiohttp import web

    from multistore.server.app import assemble, create_server

    try:
        worker = await assemble(settings, announce=announce)
    except ValueError as exc:  # ConfigError is a ValueError too
        logger.error("cannot start: %s", exc)
        raise SystemExit(2) from None
    runner = web.ServerRunner(create_server(worker), shutdown_timeout=settings.shutdown_timeout)
    await runner.setup()
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
    loop.add_signal_handler(signal.SIGHUP, worker.config.reload)
    logger.info("listening on %s://%s:%d", settings.scheme, settings.host, settings.port)
    try:
        await stop.wait()
        logger.info(
            "shutting down: draining in-flight requests (up to %.0fs)", settings.shutdown_timeout
        )
    finally:
        await runner.cleanup()
        await worker.close()


def _run_worker(settings: ServerSettings, reuse_port: bool, announce: bool = True) -> None:
    _configure_logging(settings.log_level)
    try:
        with asyncio.Runner(loop_factory=_new_event_loop) as runner:
            runner.run(serve(settings, reuse_port=reuse_port, announce=announce))
    except KeyboardInterrupt:  # Ctrl-C before the loop's own handler was installed
        raise SystemExit(130) from None


def _run_workers(settings: ServerSettings) -> int:
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(
            target=_run_worker, args=(settings, True, i == 0), name=f"multistore-worker-{i}"
        )
        for i in range(settings.workers)
    ]
    for worker in workers:
        worker.start()

    def forward(signum: int, _frame: object) -> None:
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGHUP, forward)
    signal.signal(signal.SIGINT, lambda *_: forward(signal.SIGTERM, None))
    for worker in workers:
        worker.join()
    return max((w.exitcode or 0) for w in workers)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C during startup: no traceback
        return 130


def _main(argv: Sequence[str] | None) -> int:
    try:
        settings = load_settings(argv)
    except SettingsError as exc:
        _configure_logging("INFO")
        logger.error("cannot start: %s", exc)
        return 2
    _configure_logging(settings.log_level)
    try:
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
        return _run_workers(settings)
    _run_worker(settings, reuse_port=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
