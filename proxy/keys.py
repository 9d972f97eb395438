"""Every aiohttp AppKey of the application, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import ClientSession, web

from proxy.cache import Cache
from proxy.cluster.membership import Membership
from proxy.cluster.port import Coordinator
from proxy.cluster.usage import SharedUsage
from proxy.config import Settings
from proxy.fills import Fills
from proxy.guard import Guard
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
COORDINATOR = web.AppKey("coordinator", Coordinator)
UPSTREAM_SESSION = web.AppKey("upstream_session", ClientSession)
STATUS = web.AppKey("status", Status)
MEMBERSHIP = web.AppKey("membership", Membership)
CONTROL: web.AppKey[Control] = web.AppKey("control")
SHARED_USAGE = web.AppKey("shared_usage", SharedUsage)
GUARD = web.AppKey("guard", Guard)
