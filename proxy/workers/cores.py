"""How many cores this process may use: its CPU affinity, bounded by a cgroup CPU quota (a
container's CPU limit, which affinity does not show)."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def usable_cores(cgroup: Path = CGROUP) -> int:
    cores = len(os.sched_getaffinity(0))
    quota = cgroup_quota(cgroup)
    return max(1, min(cores, math.ceil(quota))) if quota is not None else cores


def cgroup_quota(cgroup: Path = CGROUP) -> float | None:
    """The CPU quota in cores (cgroup v2 ``cpu.max``, or v1 ``cpu.cfs_quota_us``), None if unlimited."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((cgroup / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((cgroup / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us
