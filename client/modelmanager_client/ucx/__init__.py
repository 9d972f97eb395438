"""The UCX transport: blobs pulled from a UCX sidecar (``ucx_sidecar``) into the caller's memory.

Nothing here imports UCX or NIXL until a transfer is asked for with ``MODELMANAGER_UCX`` set; the
wire protocol (``wire``) is the standard library only and is shared with the sidecar.
"""
