"""abuse: normal clients' latency while hundreds of slow or half-open connections are held.

The proxy runs with a descriptor limit of ``FD_LIMIT`` (a stand-in for a busy pod whose limit the
attack can reach). ``ATTACKERS`` sockets are opened against it: half-open ones (connect, send
nothing), request heads trickled a byte at a time, and request bodies that stall. Meanwhile
``CLIENTS`` threads download a cached file in a loop. The row compares the clients' p50/p99 with
and without the attack, for this build and, when ``$BENCH_BASELINE`` names another build's
``modelmanager`` script, for that one too (the "before").
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import statistics
import threading
import time
from dataclasses import dataclass, field

from bench.files import read_through
from bench.proxy_proc import ProxyOptions, ProxyProcess
from bench.report import Row
from bench.scenarios.env import ABUSE_FILE, Emit, Env

FD_LIMIT = 256
ATTACKERS = 500
CLIENTS = 8
PHASE = 6.0
"""Seconds each phase (quiet, under attack) lasts."""
BASELINE = "BENCH_BASELINE"
SLOW_HEAD = b"GET /healthz HTTP/1.1\r\nHost: p\r\nX-Slow: "
SLOW_BODY = (b"POST /api/models/org/m/paths-info/main HTTP/1.1\r\nHost: p\r\n"
             b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000\r\n\r\n")


@dataclass
class Phase:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    def quantile(self, q: float) -> float:
        if len(self.latencies) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q * 100) - 1]


def _clients(port: int, path: str, size: int, seconds: float) -> Phase:
    phase = Phase()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop() -> None:
        while time.monotonic() < deadline:
            start = time.monotonic()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", path)
                body = conn.getresponse().read()
                conn.close()
                ok = len(body) == size
            except OSError:
                ok = False
            with lock:
                if ok:
                    phase.latencies.append(time.monotonic() - start)
                else:
                    phase.errors += 1

    threads = [threading.Thread(target=loop) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return phase


class Attack:
    """Hold ``ATTACKERS`` abusive sockets; keep trickling; count how many the server closed."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sockets: list[tuple[str, socket.socket]] = []
        self.stop = threading.Event()
        self.refused = 0
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> Attack:
        self._thread.start()
        return self

    def _open(self, kind: str) -> None:
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        except OSError:
            self.refused += 1
            return
        s.setblocking(False)
        first = {"half-open": b"", "slow head": SLOW_HEAD, "slow body": SLOW_BODY}[kind]
        if first:
            with contextlib.suppress(OSError):
                s.send(first)
        self.sockets.append((kind, s))

    def _run(self) -> None:
        kinds = ["half-open"] * (ATTACKERS // 2) + ["slow head"] * (ATTACKERS * 3 // 10)
        kinds += ["slow body"] * (ATTACKERS - len(kinds))
        for kind in kinds:
            self._open(kind)
        while not self.stop.wait(1.0):
            for _, s in self.sockets:
                with contextlib.suppress(OSError):
                    s.send(b"a")

    def closed_by_server(self) -> dict[str, int]:
        """How many sockets of each kind the server closed (read EOF or reset)."""
        closed = dict.fromkeys(("half-open", "slow head", "slow body"), 0)
        for kind, s in self.sockets:
            try:
                if s.recv(1 << 16) == b"":
                    closed[kind] += 1
            except BlockingIOError:
                pass
            except OSError:
                closed[kind] += 1
        return closed

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join()
        for _, s in self.sockets:
            s.close()


def _measure(env: Env, label: str, command: list[str] | None) -> tuple[Phase, Phase, int, dict[str, int]]:
    f = env.files[ABUSE_FILE]
    read_through(f.path)
    options = ProxyOptions(extra=("--hf-endpoint", "http://127.0.0.1:9"), fd_limit=FD_LIMIT)
    with ProxyProcess(env.workdir, options, f"abuse-{label}", command=command) as proxy:
        url = env.upstream.url(f.name)
        target = proxy.fetch_url(url).removeprefix(proxy.base)
        warm = _clients(proxy.port, target, f.size, 0.5)
        if not warm.latencies:
            raise RuntimeError(f"abuse {label}: the proxy did not serve the file")
        quiet = _clients(proxy.port, target, f.size, PHASE)
        with Attack(proxy.port) as attack:
            time.sleep(1.0)  # every attacker connected (or refused)
            loud = _clients(proxy.port, target, f.size, PHASE)
            closed = attack.closed_by_server()
            held = len(attack.sockets)
    return quiet, loud, held, closed


def abuse(env: Env, emit: Emit) -> None:
    builds: list[tuple[str, list[str] | None]] = [("this build", None)]
    if other := os.environ.get(BASELINE):
        builds.insert(0, (f"baseline ({other})", [other]))
    for label, command in builds:
        quiet, loud, held, closed = _measure(env, label.split()[0], command)
        ratio = loud.quantile(0.99) / quiet.quantile(0.99)
        emit(Row(
            "abuse",
            f"proxy, {label}",
            f"p99 {loud.quantile(0.99) * 1000:,.1f} ms under attack ({ratio:,.1f}x quiet), "
            f"{loud.errors} failed of {loud.errors + len(loud.latencies)}",
            f"quiet: p50 {quiet.quantile(0.5) * 1000:,.1f} ms, p99 {quiet.quantile(0.99) * 1000:,.1f} ms, "
            f"{quiet.errors} failed",
            f"{CLIENTS} clients, {ATTACKERS} attack sockets ({held} connected; seen closed (EOF or reset): "
            f"{', '.join(f'{n} {kind}' for kind, n in closed.items())}), "
            f"descriptor limit {FD_LIMIT}",
        ))
