"""Child processes: a free port, start and stop with logs to a file, wait for an HTTP health check."""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Self


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (bind to port 0 and let the kernel pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _limit_descriptors(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


class ChildProcess:
    """A child process whose stdout and stderr go to ``log``. ``stop`` is idempotent."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, cwd: Path | None = None,
                 fd_limit: int | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self._log_file = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            self.argv, stdout=self._log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd,
            preexec_fn=None if fd_limit is None else functools.partial(_limit_descriptors, fd_limit),
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds. Returns the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if not self._log_file.closed:
            self._log_file.close()
        return self.popen.returncode

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            text = self.log.read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""


class Server:
    """A server the harness started: its child process and the directory it owns (``owned``),
    both gone after ``stop`` or the ``with`` block."""

    child: ChildProcess
    owned: Path | None = None

    def _launch(self, child: ChildProcess, ready_url: str, timeout: float = 20.0, any_status: bool = False) -> None:
        """Take ``child`` on and wait until ``ready_url`` answers; stop everything if it never does."""
        self.child = child
        try:
            wait_http_ok(ready_url, child, timeout=timeout, any_status=any_status)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.child.pid

    def stop(self) -> int | None:
        code = self.child.stop()
        if self.owned is not None:
            shutil.rmtree(self.owned, ignore_errors=True)
        return code

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ChildExited(RuntimeError):
    """A child process exited before it answered its health check."""

    def __init__(self, child: ChildProcess, url: str) -> None:
        self.code = child.popen.returncode
        self.tail = child.log_tail()
        super().__init__(f"{child.name} exited with {self.code} before answering {url}:\n{self.tail}")


def wait_http_ok(url: str, child: ChildProcess, timeout: float = 20.0, any_status: bool = False) -> None:
    """Poll ``url`` until it answers 200 (any HTTP status with ``any_status``); fail early if ``child`` exits."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        if not child.alive():
            raise ChildExited(child, url)
        try:
            with urllib.request.urlopen(url, timeout=0.5) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            if any_status:
                return
            last = exc
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(
        f"{child.name} did not answer {url} within {timeout} s (last error: {last!r}):\n{child.log_tail()}"
    )


def children(pid: int) -> list[int]:
    """The pids of a process's direct children (read from /proc/<pid>/task/*/children)."""
    found: list[int] = []
    try:
        for task in os.scandir(f"/proc/{pid}/task"):
            with open(f"{task.path}/children") as f:
                found += [int(c) for c in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        return found
    return found


def proc_status_kib(pid: int, field: str) -> int | None:
    """A ``kB`` field of /proc/<pid>/status (VmRSS, VmHWM, ...), or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def thread_cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) a process has used so far: in its main thread (the proxy's
    event loop), and in all its other threads together; zeros if it is gone. Threads that already
    ended are not counted."""
    ticks = os.sysconf("SC_CLK_TCK")
    main, others = 0.0, 0.0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return main, others
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15)
        if int(tid) == pid:
            main += seconds
        else:
            others += seconds
    return main, others
