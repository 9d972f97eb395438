"""What the supervisor tells a worker process: internal variables, not settings.

Settings read ``MODELMANAGER_*`` and forbid unknown names, so these use their own prefix. Their
presence is what makes a ``serve`` process a worker.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

PREFIX = "MMWORKER_"


@dataclass(frozen=True, slots=True)
class WorkerEnv:
    index: int
    count: int
    fd: int
    """This worker's end of a socket pair with the supervisor: it writes ``ready`` on it once its
    sockets are bound, and reads end-of-file when the supervisor is gone."""
    port: int
    """The main port the supervisor reserved (the real one when ``--port 0`` was asked for)."""
    s3_port: int | None
    socket: str | None
    """The node-local coordinator's Unix socket; None when the workers use Redis."""
    rundir: str = ""
    """The supervisor's private directory: each worker also listens on ``w<index>.sock`` there."""

    def sibling_socket(self, index: int) -> str:
        """Where worker ``index`` answers its siblings (``proxy.workers.siblings``)."""
        return f"{self.rundir}/w{index}.sock"

    def to_environ(self) -> dict[str, str]:
        env = {"INDEX": str(self.index), "COUNT": str(self.count), "FD": str(self.fd), "PORT": str(self.port),
               "DIR": self.rundir}
        if self.s3_port is not None:
            env["S3_PORT"] = str(self.s3_port)
        if self.socket is not None:
            env["SOCKET"] = self.socket
        return {PREFIX + k: v for k, v in env.items()}

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> WorkerEnv | None:
        if PREFIX + "INDEX" not in environ:
            return None
        s3_port = environ.get(PREFIX + "S3_PORT")
        return cls(index=int(environ[PREFIX + "INDEX"]), count=int(environ[PREFIX + "COUNT"]),
                   fd=int(environ[PREFIX + "FD"]), port=int(environ[PREFIX + "PORT"]),
                   s3_port=int(s3_port) if s3_port is not None else None, socket=environ.get(PREFIX + "SOCKET"),
                   rundir=environ.get(PREFIX + "DIR", ""))


def current() -> WorkerEnv | None:
    """This process's worker identity, or None when it is not a worker (a plain ``serve``, tests)."""
    return WorkerEnv.from_environ(os.environ)


def worker_node_id(base: str, index: int) -> str:
    """The node id of worker ``index`` of node ``base``: ``<base>.w<index>``, within 63 characters."""
    suffix = f".w{index}"
    return base[: 63 - len(suffix)] + suffix
