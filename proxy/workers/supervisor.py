"""``modelmanager serve --workers N`` (N > 1): a small supervisor over N worker processes.

It reserves the ports (``ports``), starts each worker as ``python -m proxy <the same arguments>``
with its identity in ``MMWORKER_*`` variables (``env``), runs the node-local coordinator the
workers share fills through (``server``; not with Redis, where each worker is a cluster member),
and points prometheus-client's multiprocess mode at a fresh directory so ``/metrics`` on any
worker reports the node's totals.

It logs ``listening`` once every worker has bound its sockets, restarts a worker that dies (with
backoff), forwards SIGTERM/SIGINT as SIGTERM (each worker hands its fills over and drains), and
exits 1 when a worker fails to start ``START_ATTEMPTS`` times in a row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import multiprocess

from proxy.config import Settings
from proxy.storage.blobstore import FsBlobStore
from proxy.storage.layout import Layout
from proxy.workers.env import WorkerEnv, worker_node_id
from proxy.workers.ports import PortInUse, bound_port, reserve
from proxy.workers.server import CoordinatorServer

log = logging.getLogger("modelmanager")

START_ATTEMPTS = 3
"""Consecutive failures to start (exit before binding) after which the supervisor gives up."""
BACKOFF_FIRST, BACKOFF_MAX = 0.25, 10.0
STABLE_AFTER = 30.0
"""A worker that ran this long before dying is restarted without accumulated backoff."""
STOP_GRACE = 30.0
"""Seconds the workers get to drain after SIGTERM before they are killed."""


def run(settings: Settings, argv: Sequence[str]) -> int:
    try:
        held = [reserve(settings.host, settings.port)]
        if settings.s3_port is not None:
            held.append(reserve(settings.host, settings.s3_port))
    except PortInUse as exc:
        log.error("cannot serve", extra={"error": exc.strerror})
        return 1
    try:
        ports = [bound_port(s) for s in held]
        supervisor = Supervisor(settings, argv, ports[0], ports[1] if len(ports) > 1 else None)
        return asyncio.run(supervisor.run())
    finally:
        for sock in held:
            sock.close()


class Supervisor:
    def __init__(self, settings: Settings, argv: Sequence[str], port: int, s3_port: int | None) -> None:
        self.settings = settings
        self.argv = list(argv)
        self.port = port
        self.s3_port = s3_port
        self.count = settings.worker_count()
        self.rundir = Path(tempfile.mkdtemp(prefix="modelmanager-", dir=os.environ.get("XDG_RUNTIME_DIR")))
        self.metrics_dir = self.rundir / "metrics"
        self.server = CoordinatorServer(str(self.rundir / "coordinator.sock")) if settings.embedded else None
        self.stopping = asyncio.Event()
        self.failed = False
        self._procs: dict[int, asyncio.subprocess.Process] = {}
        self._ready: set[int] = set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        self.metrics_dir.mkdir()
        try:
            if self.server is not None:
                await self.server.start()
            await loop.run_in_executor(None, self._sweep_all)
            log.info("starting workers", extra={"workers": self.count, "host": self.settings.host,
                                                "port": self.port, "s3_port": self.s3_port,
                                                "coordinator": "node-local" if self.server else "redis"})
            tasks = [asyncio.create_task(self._keep(i), name=f"worker {i}") for i in range(self.count)]
            await self.stopping.wait()
            for proc in self._procs.values():
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
            _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE)
            if pending:
                log.warning("workers did not stop in time: killing them", extra={"workers": len(pending)})
                for proc in self._procs.values():
                    if proc.returncode is None:
                        with contextlib.suppress(ProcessLookupError):
                            proc.kill()
                await asyncio.wait(pending)
        finally:
            if self.server is not None:
                await self.server.close()
            shutil.rmtree(self.rundir, ignore_errors=True)
        log.info("stopped", extra={"failed": self.failed})
        return 1 if self.failed else 0

    # -- one worker slot ----------------------------------------------------------------------

    async def _keep(self, index: int) -> None:
        """Run worker ``index`` until the supervisor stops, restarting it when it dies."""
        loop = asyncio.get_running_loop()
        start_failures = crashes = 0
        while not self.stopping.is_set():
            began = loop.time()
            ready, code = await self._run_once(index)
            if self.stopping.is_set():
                return
            start_failures = 0 if ready else start_failures + 1
            if start_failures >= START_ATTEMPTS:
                log.error("worker keeps failing at start: giving up", extra={"worker": index, "exit_code": code})
                self.failed = True
                self.stopping.set()
                return
            crashes = 1 if loop.time() - began > STABLE_AFTER else crashes + 1
            backoff = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (crashes - 1))
            log.warning("worker exited: restarting", extra={"worker": index, "exit_code": code, "retry_in": backoff})
            await loop.run_in_executor(None, self._sweep, index)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    await self.stopping.wait()

    async def _run_once(self, index: int) -> tuple[bool, int]:
        """Start the worker, wait until it is ready (or dead), then until it exits."""
        mine, theirs = socket.socketpair()
        with mine:
            env = WorkerEnv(index, self.count, theirs.fileno(), self.port, self.s3_port,
                            self.server.path if self.server is not None else None, str(self.rundir))
            environ = {**os.environ, **env.to_environ(), "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir)}
            try:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "proxy", *self.argv, env=environ, pass_fds=(theirs.fileno(),),
                    start_new_session=True)  # a terminal's ^C reaches the supervisor only; it forwards once
            finally:
                theirs.close()
            self._procs[index] = proc
            log.info("worker started", extra={"worker": index, "pid": proc.pid})
            if self.stopping.is_set():  # the stop began while it was starting: it missed the broadcast
                proc.send_signal(signal.SIGTERM)
            reader, writer = await asyncio.open_unix_connection(sock=mine)
            ready = await reader.readline() == b"ready\n"  # end of file: it died first
            if ready:
                self._became_ready(index)
            code = await proc.wait()
            writer.close()
        multiprocess.mark_process_dead(proc.pid, str(self.metrics_dir))  # type: ignore[no-untyped-call]
        return ready, code

    def _became_ready(self, index: int) -> None:
        first = len(self._ready) < self.count
        self._ready.add(index)
        if first and len(self._ready) == self.count:
            log.info("listening", extra={"detail": f"Running on http://{self.settings.host}:{self.port} "
                                                   f"with {self.count} workers", "workers": self.count,
                                         "port": self.port, "s3_port": self.s3_port})

    # -- temp files ---------------------------------------------------------------------------

    def _sweep_all(self) -> None:
        """At start: what earlier workers of this node left in their tmp dirs."""
        for i in range(self.count):
            self._store(i).sweep_tmp()

    def _sweep(self, index: int) -> None:
        """Before a restart: a dead worker's temp files, except partial fills a successor may adopt
        (with Redis their records are not visible here: a restart sweeps like a pod restart)."""
        keep = {Path(t).name for t in self.server.referenced_tmp()} if self.server is not None else set()
        self._store(index).sweep_tmp(keep)

    def _store(self, index: int) -> FsBlobStore:
        return FsBlobStore(Layout(self.settings.cache_dir), worker_node_id(self.settings.node_id, index))
