"""Client of the Model Manager proxy: drop-in downloads into the Hugging Face cache layout, a
node-local tier, safetensors streamed into (GPU) memory, and derived artifacts (compiled engines)
built once per cluster (``get_artifact``).

No server code and no asyncio: the standard library's ``http.client`` in threads, ``blake3`` and
``filelock``; ``torch`` only for ``load_safetensors``, imported when it is called.
"""

from __future__ import annotations

from modelmanager_client.artifacts import BuildFailed, NoBuildWorker, get_artifact
from modelmanager_client.download import modelmanager_download, modelmanager_snapshot
from modelmanager_client.errors import AccessDenied, ClientError, IntegrityError, NotFound, Offline, ProxyUnavailable
from modelmanager_client.info import DownloadInfo
from modelmanager_client.tensors import load_safetensors

__all__ = [
    "AccessDenied",
    "BuildFailed",
    "ClientError",
    "DownloadInfo",
    "IntegrityError",
    "NoBuildWorker",
    "NotFound",
    "Offline",
    "ProxyUnavailable",
    "get_artifact",
    "load_safetensors",
    "modelmanager_download",
    "modelmanager_snapshot",
]
