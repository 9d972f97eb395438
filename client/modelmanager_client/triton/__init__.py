"""Triton model repositories from the proxy's cache: the models file, ``sync`` (each version laid
out whole, as hard links of cached blobs), ``watch`` (zero-downtime version updates) and Triton's
repository API (load, unload, config, index) over HTTP or gRPC.

Needs the ``triton`` extra (``pip install 'modelmanager-client[triton]'``: tritonclient, pydantic).
"""
