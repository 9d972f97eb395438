"""Wiring of one worker process: its settings, its lifeline to the supervisor, its response tag."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from typing import Any

from aiohttp import web

from proxy.config import Settings
from proxy.workers.env import WorkerEnv, worker_node_id
from proxy.workers.siblings import Siblings

log = logging.getLogger("modelmanager")

HEADER = "X-Modelmanager-Worker"
"""Names the worker (its index) that answered: which core served a request, for operators and tests."""


def prepare(settings: Settings, env: WorkerEnv) -> Settings:
    """The worker's settings: its own node id (``<node-id>.w<i>``: its own tmp dir, its own member
    entry) and the ports the supervisor reserved."""
    return settings.model_copy(update={"node_id": worker_node_id(settings.node_id, env.index),
                                       "port": env.port, "s3_port": env.s3_port})


def wire(app: web.Application, env: WorkerEnv) -> dict[str, Any]:
    """Make ``app`` a worker's: tag responses, answer for sibling workers' jobs, tell the
    supervisor when it listens. Returns ``run_app``'s arguments for the worker's sites."""
    tag(app, env.index)
    app.middlewares.append(Siblings(env).middleware)
    return {"print": Lifeline(env).listening, "reuse_port": True, "path": env.sibling_socket(env.index)}


def tag(app: web.Application, index: int) -> None:
    value = str(index)

    async def add_header(request: web.Request, response: web.StreamResponse) -> None:
        response.headers[HEADER] = value

    app.on_response_prepare.append(add_header)


class Lifeline:
    """This worker's end of the socket pair with the supervisor: ``ready`` goes out once the sockets
    are bound; end-of-file coming in means the supervisor is gone, and the worker shuts down."""

    def __init__(self, env: WorkerEnv) -> None:
        self._env = env
        self._sock = socket.socket(fileno=env.fd)
        self._sock.setblocking(False)

    def listening(self, message: str) -> None:
        """``run_app``'s print callback: every socket of this worker is bound."""
        log.info("worker ready", extra={"worker": self._env.index, "pid": os.getpid()})
        self._sock.send(b"ready\n")
        asyncio.get_running_loop().add_reader(self._sock.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            data = self._sock.recv(64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            log.warning("the supervisor is gone: shutting down", extra={"worker": self._env.index})
            os.kill(os.getpid(), signal.SIGTERM)
