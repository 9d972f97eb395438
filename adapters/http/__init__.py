"""Generic HTTP(S) adapter: ``GET|HEAD /v1/fetch?url=<http(s) url>`` through the cache."""

from adapters.http.routes import HttpFrontend, StoreUrls

__all__ = ["HttpFrontend", "StoreUrls"]
