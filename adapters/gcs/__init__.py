"""Google Cloud Storage upstream: ``gs://bucket/path`` URLs (prefetch, pins, watches, ``/v1/fetch``)
and buckets the S3 API fronts (``Gcs.store``), through the JSON API over aiohttp.

Google's Python client (google-cloud-storage) is synchronous (requests); the data path stays on
the event loop with the documented JSON API instead, and google-auth supplies credentials (ADC),
refreshed in a worker thread.
"""

from adapters.gcs.auth import GcsAuth
from adapters.gcs.bucket import Gcs, GcsBucket
from adapters.gcs.source import GcsSource

__all__ = ["Gcs", "GcsAuth", "GcsBucket", "GcsSource"]
