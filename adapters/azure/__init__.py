"""Azure Blob Storage upstream: ``az://account/container/path`` (and ``https://<account>.blob.core.
windows.net/...``) URLs for prefetch, pins, watches and ``/v1/fetch``, and containers the S3 API
fronts (``Azure.store``), through the Blob REST API over aiohttp.

azure-storage-blob's async client runs on aiohttp too, but brings its own pipeline, session and
retry policy; the core needs one session, its own resumes and the raw response stream, so the
documented REST calls (List Blobs, Get Blob) are made here, SharedKey signed by
``adapters.azure.sharedkey``; azure-identity supplies Entra tokens, refreshed in a worker thread.
"""

from adapters.azure.auth import AzureAuth
from adapters.azure.container import Azure, AzureContainer
from adapters.azure.source import AzureSource

__all__ = ["Azure", "AzureAuth", "AzureContainer", "AzureSource"]
