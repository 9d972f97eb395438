"""Every aiohttp AppKey of the application, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import ClientSession, web

from proxy.cache import Cache
from proxy.config import Settings
from proxy.fill import Fills
from proxy.metrics import Metrics
from proxy.serving import ServeOptions
from proxy.status import Status

if TYPE_CHECKING:
    from proxy.control import Control

SETTINGS = web.AppKey("settings", Settings)
CACHE = web.AppKey("cache", Cache)
FILLS = web.AppKey("fills", Fills)
METRICS = web.AppKey("metrics", Metrics)
SERVE_OPTIONS = web.AppKey("serve_options", ServeOptions)
UPSTREAM_SESSION = web.AppKey("upstream_session", ClientSession)
STATUS = web.AppKey("status", Status)
CONTROL: web.AppKey[Control] = web.AppKey("control")
