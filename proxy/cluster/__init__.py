"""Cluster coordination: fill leases with fencing tokens, fill events, the memory-tier registry.

``port.py`` is the interface the core uses; ``embedded.py`` implements it in-process (one node,
no Redis) and ``redis_backend.py`` across pods with Redis. See docs/cluster.md.
"""
