"""Run the application on its socket until SIGINT/SIGTERM: aiohttp's runner, with the connection
guard attached to the protocol factory before the first connection is accepted.

A signal stops the server in order: ``/readyz`` answers 503 (and new connections are still
accepted for ``--shutdown-delay`` seconds), the listening sockets close, fills are handed over (the
application's shutdown hooks), responses in flight get up to ``--shutdown-timeout`` seconds to
finish, and only then is whatever still runs cancelled. (aiohttp's own signal handling raises
``GracefulExit`` out of the event loop, and ``asyncio.run`` then cancels every task at once:
responses in flight were cut at once, and fills were cancelled twice while handing over.) A
second signal skips what is left of the delay or of the drain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from aiohttp import web

from proxy import appkeys
from proxy.config import Settings
from proxy.connections import BACKLOG, runner_options
from proxy.observe.logs import AccessLogger, limit_repeated_loop_errors

log = logging.getLogger("modelmanager")


def serve_forever(app: web.Application, settings: Settings, *, reuse_port: bool = False,
                  unix_path: str | None = None, on_listening: Callable[[str], None] | None = None) -> None:
    """Block until a signal, then stop in order; raise OSError when the address cannot be bound.

    ``reuse_port``: bind with SO_REUSEPORT (the workers of ``--workers N`` share the port);
    ``unix_path``: also serve on this Unix socket (a worker's socket for its siblings);
    ``on_listening``: called once every socket is bound (default: the ``listening`` log line that
    process supervisors and tests wait for).
    """
    with contextlib.suppress(asyncio.CancelledError):  # a second signal cancelled the drain
        asyncio.run(_serve(app, settings, reuse_port, unix_path, on_listening))


async def _serve(app: web.Application, settings: Settings, reuse_port: bool, unix_path: str | None,
                 on_listening: Callable[[str], None] | None) -> None:
    loop = asyncio.get_running_loop()
    limit_repeated_loop_errors(loop)
    stopping = app[appkeys.STOPPING]  # /readyz answers 503 once it is set
    main = asyncio.current_task()
    assert main is not None

    def on_signal(name: str) -> None:
        if not stopping.is_set():
            log.info("stopping", extra={"signal": name, "drain_timeout": settings.shutdown_timeout})
            stopping.set()
        else:
            log.warning("stopping now", extra={"signal": name})
            main.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig.name)
    runner = web.AppRunner(app, handle_signals=False, access_log_class=AccessLogger,
                           access_log=logging.getLogger("modelmanager.access"),
                           shutdown_timeout=settings.shutdown_timeout, **runner_options(settings.idle_timeout))
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
        await stopping.wait()
        await asyncio.sleep(settings.shutdown_delay)  # still accepting, while /readyz turns load balancers away
    finally:
        await runner.cleanup()
