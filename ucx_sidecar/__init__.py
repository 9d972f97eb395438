"""The UCX sidecar: committed blobs of the cache volume served over UCX (ucxx) or NIXL.

An optional process beside the proxy (``python -m ucx_sidecar``; ``pip install 'modelmanager[ucx]'``).
A client asks on a small authenticated control channel for (blob digest, offset, length); the
sidecar checks the digest against the index, maps the committed and verified blob read-only, and
moves the bytes with UCX into the buffer the client registered. See docs/ucx.md.

Importing this package imports neither UCX nor NIXL: each engine is imported when it is chosen.
"""
