"""UCX settings the sidecar and the client start from, unless the environment sets them.

- ``UCX_WARN_UNUSED_ENV_VARS=n``: ucxx sets ``UCX_MEMTYPE_CACHE``, which UCX 1.21 no longer knows.
- ``UCX_RNDV_SCHEME=put_zcopy`` only when ``UCX_TLS`` names tcp and no shared-memory transport:
  over tcp, UCX's default rendezvous for one device is a fragmented copy (about 1.2 GB/s on the
  test VM) where put_zcopy reached 4-5 GB/s; with shared memory (sm, cma) put_zcopy was 10x
  slower than the default (docs/ucx.md has the table).

``UCX_TLS`` and ``UCX_NET_DEVICES`` are left to the operator (docs/ucx.md: ``sm,self`` on one
node, ``rc``/``dc``/``ud`` with ``mlx5_0:1`` or ``efa`` between nodes).
"""

from __future__ import annotations

import os

SHARED_MEMORY = ("sm", "cma", "posix", "sysv", "all")


def defaults(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """The settings to add to ``environ`` (nothing it already sets)."""
    wanted = {"UCX_WARN_UNUSED_ENV_VARS": "n"}
    transports = [t.strip() for t in environ.get("UCX_TLS", "all").split(",")]
    if "tcp" in transports and not any(t in SHARED_MEMORY for t in transports):
        wanted["UCX_RNDV_SCHEME"] = "put_zcopy"
    return {k: v for k, v in wanted.items() if k not in environ}


def apply_ucx_defaults() -> None:
    """Set each default the environment leaves unset (before UCX is initialised)."""
    os.environ.update(defaults(os.environ))
