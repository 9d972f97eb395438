"""Run the application on its socket until SIGINT/SIGTERM: aiohttp's runner, with the connection
guard attached to the protocol factory before the first connection is accepted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiohttp import web
from aiohttp.web_runner import GracefulExit

from proxy import appkeys
from proxy.config import Settings
from proxy.connections import BACKLOG, runner_options
from proxy.observe.logs import AccessLogger, limit_repeated_loop_errors

log = logging.getLogger("modelmanager")

SHUTDOWN_TIMEOUT = 10.0


def serve_forever(app: web.Application, settings: Settings, *, reuse_port: bool = False,
                  unix_path: str | None = None, on_listening: Callable[[str], None] | None = None) -> None:
    """Block until a signal; raise OSError when the address cannot be bound.

    ``reuse_port``: bind with SO_REUSEPORT (the workers of ``--workers N`` share the port);
    ``unix_path``: also serve on this Unix socket (a worker's socket for its siblings);
    ``on_listening``: called once every socket is bound (default: the ``listening`` log line that
    process supervisors and tests wait for).
    """
    with contextlib.suppress(GracefulExit, KeyboardInterrupt):
        asyncio.run(_serve(app, settings, reuse_port, unix_path, on_listening))


async def _serve(app: web.Application, settings: Settings, reuse_port: bool, unix_path: str | None,
                 on_listening: Callable[[str], None] | None) -> None:
    limit_repeated_loop_errors(asyncio.get_running_loop())
    runner = web.AppRunner(app, handle_signals=True, access_log_class=AccessLogger,
                           access_log=logging.getLogger("modelmanager.access"), shutdown_timeout=SHUTDOWN_TIMEOUT,
                           **runner_options(settings.idle_timeout))
    await runner.setup()
    try:
        app[appkeys.CONNECTIONS].attach(runner.server)  # type: ignore[arg-type]
        site = web.TCPSite(runner, settings.host, settings.port, backlog=BACKLOG, reuse_port=reuse_port or None)
        await site.start()
        if unix_path is not None:
            await web.UnixSite(runner, unix_path).start()
        message = f"Running on {site.name}"
        if on_listening is None:
            log.info("listening", extra={"detail": message})
        else:
            on_listening(message)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
