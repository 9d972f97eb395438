"""CPU used by other processes on the machine: wait for quiet before a scenario, measure it during one.

The machine's busy time comes from /proc/stat (user, nice, system and the hypervisor's steal;
not irq and softirq, which are mostly our own network traffic). Ours is this process, its
waited-for children (curl, stopped proxies: ``os.times``) and any still-running child named by
pid (the upstream, a proxy). Kernel threads work for us too (writeback of the cache's dirty
pages, memory reclaim), so their time is not counted either. What is left is someone else's,
e.g. a test suite running next to the benchmark, or another VM on the same host (steal).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

TICK = os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """Core-seconds the machine has spent busy (user, nice, system, steal) since boot."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = fields[:8]
    return (user + nice + system + steal) / TICK


def pid_cpu_split(pid: int) -> tuple[float, float]:
    """Core-seconds of (user, system) time one process has used, or zeros if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0, 0.0
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def pid_cpu(pid: int) -> float:
    """Core-seconds (user + system) one process has used, or 0.0 if it is gone."""
    return sum(pid_cpu_split(pid))


def kernel_threads_cpu() -> float:
    """Core-seconds used by the kernel's own threads (children of kthreadd, pid 2)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if fields[1] == "2" or entry.name == "2":
            total += int(fields[11]) + int(fields[12])
    return total / TICK


def own_cpu(pids: Sequence[int]) -> float:
    """Ours: this process, its waited-for children, the running children in ``pids``, kernel threads."""
    t = os.times()
    mine = t.user + t.system + t.children_user + t.children_system + sum(pid_cpu(p) for p in pids)
    return mine + kernel_threads_cpu()


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: float
    busy: float
    ours: float


def snapshot(pids: Sequence[int]) -> Snapshot:
    return Snapshot(time.monotonic(), machine_busy(), own_cpu(pids))


def foreign_cores(before: Snapshot, after: Snapshot) -> float:
    """Average number of cores others kept busy between two snapshots."""
    span = after.at - before.at
    if span <= 0:
        return 0.0
    return max(0.0, (after.busy - before.busy) - (after.ours - before.ours)) / span


def wait_for_quiet(pids: Sequence[int], threshold: float = 0.2, patience: float = 45.0) -> float:
    """Wait (up to ``patience`` seconds) until others use less than ``threshold`` cores over 1 s.

    Returns the last measured foreign load.
    """
    deadline = time.monotonic() + patience
    told = False
    while True:
        before = snapshot(pids)
        time.sleep(1.0)
        load = foreign_cores(before, snapshot(pids))
        if load < threshold or time.monotonic() > deadline:
            if told:
                print(f"   other processes now use {load:.2f} cores; going on", flush=True)
            return load
        if not told:
            print(f"   other processes use {load:.2f} cores; waiting up to {patience:.0f} s for quiet", flush=True)
            told = True
